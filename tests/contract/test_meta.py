"""Meta-tests: the routes match the documented wire protocol, and RemoteStore implements
every TrackingStore method with the protocol's signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import tornado.web

from jupyter_mltrack.service.api import API_BASE, make_handlers
from jupyter_mltrack.service.api_routes import ROUTES
from jupyter_mltrack.store.base import TrackingStore
from jupyter_mltrack.store.remote import RemoteStore, remote_store_factory

DESIGN = Path(__file__).parents[2] / "docs" / "service-design.md"
VERBS = ("get", "post", "patch", "delete", "put")


def documented_routes() -> set[tuple[str, str]]:
    """``(VERB, /path)`` pairs of the wire-protocol table, ``{id}``-style names as ``{}``."""
    found = set()
    for line in DESIGN.read_text().splitlines():
        for verb, path in re.findall(r"(GET|POST|PATCH|DELETE|PUT) `([^`]+)`", line):
            found.add((verb, re.sub(r"\{[a-z_]+\}", "{}", path.split("?")[0])))
    return found


def implemented_routes() -> set[tuple[str, str]]:
    found = set()
    for pattern, handler in ROUTES:
        path = pattern.replace("\\.", ".").replace("([^/]+)", "{}").replace("(.+)", "{}")
        for verb in VERBS:
            if getattr(handler, verb) is not getattr(tornado.web.RequestHandler, verb):
                found.add((verb.upper(), path))
    return found


def test_every_documented_route_is_implemented_and_vice_versa():
    assert documented_routes() == implemented_routes()


def test_routes_carry_the_base_path_and_a_json_fallback():
    routes = make_handlers(lambda: None)  # type: ignore[arg-type, return-value]
    assert all(pattern.startswith(API_BASE + "/") for pattern, _, _ in routes)
    assert routes[-1][0] == API_BASE + "/(.*)"
    assert len({id(kw["api"]) for _, _, kw in routes}) == 1


def test_authenticated_handlers_are_jupyter_api_handlers():
    from jupyter_server.base.handlers import APIHandler

    plain = make_handlers(lambda: None)  # type: ignore[arg-type, return-value]
    secured = make_handlers(lambda: None, authenticated=True)  # type: ignore[arg-type, return-value]
    for (_, cls, _), (_, jcls, _) in zip(plain, secured, strict=True):
        assert not issubclass(cls, APIHandler)
        assert issubclass(jcls, APIHandler) and issubclass(jcls, cls) and jcls.jupyter
        for verb in VERBS:
            if getattr(cls, verb) is not getattr(tornado.web.RequestHandler, verb):
                assert getattr(jcls, verb) is not getattr(cls, verb)  # wrapped by @authenticated
                assert getattr(jcls, verb).__wrapped__ is getattr(cls, verb)


def protocol_methods() -> list[str]:
    return [n for n, v in vars(TrackingStore).items() if callable(v) and not n.startswith("_")]


def test_remote_store_implements_the_protocol_with_the_same_signatures():
    assert {"log_metric_table", "run_state", "sql", "gc"} <= set(protocol_methods())
    for name in protocol_methods():
        proto = inspect.signature(getattr(TrackingStore, name))
        remote = inspect.signature(getattr(RemoteStore, name))
        positional = [p for p in remote.parameters.values() if p.kind != p.KEYWORD_ONLY]
        assert [p.name for p in positional] == list(proto.parameters), name
    store = RemoteStore("duckdb:///x", "unix:///nowhere.sock")
    assert isinstance(store, TrackingStore)
    store.close()


def test_http_factory_builds_a_remote_store_for_the_url():
    store = remote_store_factory("http://127.0.0.1:5000/team")
    assert (store.uri, store.endpoint, store.transport.prefix) == (
        "http://127.0.0.1:5000/team",
        "http://127.0.0.1:5000/team",
        "/team",
    )
    store.close()
