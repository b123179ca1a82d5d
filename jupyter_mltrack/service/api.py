"""The store API as tornado routes: one set of handlers for the service and the Jupyter server.

The wire protocol is the table in docs/service-design.md; the handlers live in
:mod:`.api_routes`, the request/reply/error plumbing in :mod:`.api_base`. Collaborators
reach the handlers through the route's init kwargs (no globals).

Example (the unix-socket service)::

    app = make_app(DuckDBStore("duckdb:///data/store.duckdb"))
    server = tornado.httpserver.HTTPServer(app)
    server.add_socket(tornado.netutil.bind_unix_socket("/data/store.duckdb.sock", mode=0o600))

Inside jupyter_server: ``self.handlers.extend(make_handlers(provider, authenticated=True))``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import tornado.web

from ..settings import API_BASE
from ..store.base import TrackingStore
from .api_base import (
    ApiContext,
    ApiHandler,
    FallbackHandler,
    Heartbeat,
    Info,
    Ingest,
    IngestMany,
)
from .api_routes import ROUTES

__all__ = [
    "API_BASE",
    "EXECUTOR_SETTING",
    "authenticated_variant",
    "make_app",
    "make_handlers",
    "shutdown_app",
]

#: The ``Application.settings`` key holding the executor that :func:`make_app` created.
EXECUTOR_SETTING = "mltrack_executor"
_VERBS = ("get", "post", "patch", "delete", "put")

RouteSpec = tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]


def make_handlers(
    store_provider: Callable[[], TrackingStore],
    base_path: str = API_BASE,
    *,
    ingest: Ingest | None = None,
    ingest_many: IngestMany | None = None,
    heartbeat: Heartbeat | None = None,
    info: Info | None = None,
    authenticated: bool = False,
    executor: Executor | None = None,
) -> list[RouteSpec]:
    """Tornado route specs ``(pattern, handler, init kwargs)`` for every API route.

    Args:
        store_provider: returns the store; called on the store executor for each request
            (and on the IOLoop by the default ``info``), so it must be cheap.
        base_path: prefix of every route (jupyter_server prepends its own base URL).
        ingest: ``(table, client_id, seq) -> {"committed": n, "duplicate": bool}`` for
            ``POST /metric-batches``; default ``store.log_metric_table`` (not idempotent).
        ingest_many: ``(tables, client_id, first_seq) -> {"committed", "duplicate",
            "duplicates"}`` for a ``POST /metric-batches`` of several chunks (committed
            together); default ``ingest`` per chunk.
        heartbeat: receives each ``POST /heartbeats`` body on the IOLoop; default no-op.
        info: the body of ``GET /info``; runs on the IOLoop, so it answers while a long
            query holds the store.
        authenticated: build jupyter_server ``APIHandler`` subclasses whose verbs are
            ``@tornado.web.authenticated``; otherwise plain handlers (the unix socket's
            0600 permissions are the access control).
        executor: where store calls run; default a new single-thread executor.
    """
    ctx = ApiContext(
        store_provider=store_provider,
        executor=executor or ThreadPoolExecutor(1, thread_name_prefix="mltrack-store"),
        ingest=ingest or _default_ingest(store_provider),
        heartbeat=heartbeat or _no_heartbeat,
        info=info or _default_info(store_provider),
        ingest_many=ingest_many,
    )
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    routes: list[RouteSpec] = [
        (base + path, _variant(cls, authenticated), {"api": ctx}) for path, cls in ROUTES
    ]
    routes.append((base + "/(.*)", _variant(FallbackHandler, authenticated), {"api": ctx}))
    return routes


def make_app(
    store: TrackingStore,
    *,
    base_path: str = API_BASE,
    ingest: Ingest | None = None,
    ingest_many: IngestMany | None = None,
    heartbeat: Heartbeat | None = None,
    info: Info | None = None,
    **settings: Any,
) -> tornado.web.Application:
    """A standalone ``Application`` serving ``store`` (the service process, tests).

    The app owns a single-thread store executor, kept in ``settings[EXECUTOR_SETTING]``;
    :func:`shutdown_app` stops it. ``settings`` go to ``tornado.web.Application``.
    """
    executor = ThreadPoolExecutor(1, thread_name_prefix="mltrack-store")
    routes = make_handlers(
        lambda: store,
        base_path,
        ingest=ingest,
        ingest_many=ingest_many,
        heartbeat=heartbeat,
        info=info,
        executor=executor,
    )
    return tornado.web.Application(routes, **{EXECUTOR_SETTING: executor, **settings})


def shutdown_app(app: tornado.web.Application) -> None:
    """Stop the store executor of an app from :func:`make_app` (waits for running calls)."""
    executor = app.settings.get(EXECUTOR_SETTING)
    if executor is not None:
        executor.shutdown(wait=True)


def _variant(cls: type[ApiHandler], authenticated: bool) -> type[tornado.web.RequestHandler]:
    return _jupyter_variant(cls) if authenticated else cls


def authenticated_variant(cls: type[ApiHandler]) -> type[tornado.web.RequestHandler]:
    """``cls`` as served inside jupyter_server: on ``APIHandler``, every verb
    ``@tornado.web.authenticated`` (the lab API's routes use it too)."""
    return _jupyter_variant(cls)


_jupyter_variants: dict[type[ApiHandler], type[tornado.web.RequestHandler]] = {}


def _jupyter_variant(cls: type[ApiHandler]) -> type[tornado.web.RequestHandler]:
    """``cls`` on jupyter_server's ``APIHandler``, every verb ``@tornado.web.authenticated``.

    ``cls`` comes first in the MRO, so its error path and replies win over APIHandler's.
    """
    if cls in _jupyter_variants:
        return _jupyter_variants[cls]
    from jupyter_server.base.handlers import APIHandler

    namespace: dict[str, Any] = {"jupyter": True, "__module__": cls.__module__}
    for verb in _VERBS:
        method = getattr(cls, verb)
        if method is not getattr(tornado.web.RequestHandler, verb):
            namespace[verb] = tornado.web.authenticated(method)
    variant = type(cls.__name__, (cls, APIHandler), namespace)
    _jupyter_variants[cls] = variant
    return variant


def _default_ingest(store_provider: Callable[[], TrackingStore]) -> Ingest:
    def ingest(table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        store_provider().log_metric_table(table)
        return {"committed": table.num_rows, "duplicate": False}

    return ingest


def _no_heartbeat(body: dict[str, Any]) -> None:
    return None


def _default_info(store_provider: Callable[[], TrackingStore]) -> Info:
    from .._version import __version__

    def info() -> dict[str, Any]:
        store = store_provider()
        path = getattr(store, "path", None)
        from ..store.duckdb.migrations import SCHEMA_VERSION
        from ..store.duckdb.store import DuckDBStore

        schema_version = SCHEMA_VERSION if isinstance(store, DuckDBStore) else None
        return {
            "version": __version__,
            "store_path": str(path) if path is not None else None,
            "pid": os.getpid(),
            "kind": "service",
            "schema_version": schema_version,
        }

    return info
