"""The JupyterLab API (``/mltrack/api/lab``) of a real ``jupyter server``, under a base URL,
over a real DuckDB store that the server owns: every route, the error shape, auth on every
route of the app's handler list, and the coalesced live feed."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tornado.web

from jupyter_mltrack.server.app import MltrackExtension
from jupyter_mltrack.service.openapi import openapi_document
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.tracking.core import TrackingCore

pytestmark = pytest.mark.slow

BASE = "/base/"
LAB = "mltrack/api/lab"


def _populate(path: Path) -> dict[str, Any]:
    """Experiments, nested runs with params/metrics/tags, artifacts: written directly (no
    server runs yet), then closed so the server can own the file."""
    store = DuckDBStore(f"duckdb://{path}")
    core = TrackingCore(store)
    eid = core.create_experiment("lab-api")
    parent = core.create_run(eid, run_name="sweep", start_time=1_000)
    ids = []
    for i in range(5):
        run = core.create_run(
            eid, run_name=f"child-{i}", start_time=2_000 + i, parent_run_id=parent.info.run_id
        )
        rid = run.info.run_id
        core.log_param(rid, "lr", str(0.1 * (i + 1)))
        for step in range(20):
            core.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step, timestamp=10_000 + step)
        core.log_metric(rid, "acc", 0.5 + i / 10, step=0, timestamp=10_000)
        core.set_tag(rid, "team", "a" if i % 2 else "b")
        core.update_run(rid, "FINISHED", end_time=3_000 + i)
        ids.append(rid)
    core.log_text(ids[0], "hello artifact", "notes/readme.txt")
    core.log_dict(ids[0], {"k": 1}, "config.json")
    store.close()
    return {"experiment_id": eid, "parent": parent.info.run_id, "children": ids}


@pytest.fixture(scope="module")
def lab(start_jupyter, tmp_path_factory):
    store = tmp_path_factory.mktemp("lab-api") / "store.duckdb"
    facts = _populate(store)
    server = start_jupyter(
        "server",
        "--MltrackExtension.live_interval_s=0.2",
        env={"MLTRACK_TRACKING_URI": f"duckdb://{store}", "MLTRACK_STORE_MODE": None},
        base_url=BASE,
    )
    server.facts = facts  # type: ignore[attr-defined]
    server.store_path = store  # type: ignore[attr-defined]
    yield server
    server.stop()


def _url(route: str, **query: Any) -> str:
    return f"{LAB}{route}" + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")


def call(server, method: str, route: str, body: Any = None, token: bool = True, **query: Any):
    request = urllib.request.Request(
        server.url + _url(route, **query),
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"token {server.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def ok(server, method: str, route: str, body: Any = None, **query: Any) -> Any:
    status, _, data = call(server, method, route, body, **query)
    assert status == 200, (route, status, data[:400])
    return json.loads(data)


# ------------------------------------------------------------------------- runs views
def test_runs_page_sorts_pages_and_projects_columns_on_the_server(lab) -> None:
    eid = lab.facts["experiment_id"]
    page = ok(
        lab, "GET", "/runs", experiment_ids=eid, order_by="metrics.acc DESC", limit=2,
        columns=["metrics.acc", "params.lr", "tags.team", "metrics.nope"],
    )  # fmt: skip
    assert page["total"] == 6 and page["offset"] == 0 and page["has_more"] is True
    assert [r["run_name"] for r in page["runs"]] == ["child-4", "child-3"]
    first = page["runs"][0]
    assert first["values"] == {
        "metrics.acc": pytest.approx(0.9),
        "params.lr": "0.5",
        "tags.team": "b",
        "metrics.nope": None,
    }
    assert first["status"] == "FINISHED" and first["parent_run_id"] == lab.facts["parent"]
    rest = ok(lab, "GET", "/runs", experiment_ids=eid, order_by="metrics.acc DESC", offset=2,
              limit=10)  # fmt: skip
    names = [r["run_name"] for r in rest["runs"]]
    assert names[:3] == ["child-2", "child-1", "child-0"] and len(names) == 4
    assert rest["has_more"] is False and rest["runs"][0]["values"] == {}


def test_nested_runs_group_under_their_parent(lab) -> None:
    eid = lab.facts["experiment_id"]
    top = ok(lab, "GET", "/runs", experiment_ids=eid, top_level="true")
    assert [(r["run_name"], r["child_count"]) for r in top["runs"]] == [("sweep", 5)]
    assert top["total"] == 1
    kids = ok(lab, "GET", "/runs", experiment_ids=eid, parent_run_id=lab.facts["parent"])
    assert kids["total"] == 5 and {r["child_count"] for r in kids["runs"]} == {0}


def test_a_filtered_view_counts_separately_and_a_bad_filter_says_where(lab) -> None:
    eid = lab.facts["experiment_id"]
    query = {"experiment_ids": eid, "filter": "metrics.acc > 0.65 and tags.team = 'b'"}
    page = ok(lab, "GET", "/runs", **query)
    assert page["total"] is None  # not cheap: asked of /runs/count
    assert sorted(r["run_name"] for r in page["runs"]) == ["child-2", "child-4"]
    assert ok(lab, "GET", "/runs/count", **query)["total"] == 2
    status, _, body = call(lab, "GET", "/runs", experiment_ids=eid, filter="metrics.acc >> 1")
    error = json.loads(body)
    assert status == 400 and error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert error["error_class"] == "InvalidFilter" and error["details"] == {"position": 13}
    for bad, needle in [
        ({"limit": 0}, "limit must be in 1..5000"),
        ({"columns": "lr"}, "params.<key>"),
        ({"top_level": "maybe"}, "true or false"),
    ]:
        status, _, body = call(lab, "GET", "/runs", experiment_ids=eid, **bad)
        assert status == 400 and needle in json.loads(body)["message"], body
    status, _, body = call(lab, "GET", "/runs")
    assert status == 400 and "experiment_ids" in json.loads(body)["message"]


def test_columns_and_experiments(lab) -> None:
    eid = lab.facts["experiment_id"]
    keys = ok(lab, "GET", "/columns", experiment_ids=eid)
    assert keys["params"] == ["lr"] and keys["metrics"] == ["acc", "loss"]
    assert "team" in keys["tags"] and keys["tags"] == sorted(keys["tags"])
    names = [e["name"] for e in ok(lab, "GET", "/experiments")["experiments"]]
    assert "lab-api" in names and "Default" in names


# ------------------------------------------------------------------- one run, changes
def test_run_detail_and_patch(lab) -> None:
    rid, parent = lab.facts["children"][1], lab.facts["parent"]
    detail = ok(lab, "GET", f"/runs/{rid}")
    assert detail["run"]["info"]["run_id"] == rid
    assert detail["experiment"]["name"] == "lab-api"
    assert detail["parent"] == {"run_id": parent, "run_name": "sweep", "status": "RUNNING"}
    assert len(ok(lab, "GET", f"/runs/{parent}")["children"]) == 5

    patched = ok(lab, "PATCH", f"/runs/{rid}", {"run_name": "renamed", "set_tags": {"x": "1"}})
    assert patched["run"]["info"]["run_name"] == "renamed"
    assert patched["run"]["data"]["tags"]["x"] == "1"
    patched = ok(lab, "PATCH", f"/runs/{rid}", {"delete_tags": ["x"], "lifecycle_stage": "deleted"})
    assert "x" not in patched["run"]["data"]["tags"]
    assert patched["run"]["info"]["lifecycle_stage"] == "deleted"
    eid = lab.facts["experiment_id"]
    deleted = ok(lab, "GET", "/runs", experiment_ids=eid, view_type="DELETED_ONLY")
    assert [r["run_id"] for r in deleted["runs"]] == [rid] and deleted["total"] == 1
    restored = ok(
        lab, "PATCH", f"/runs/{rid}", {"lifecycle_stage": "active", "run_name": "child-1"}
    )
    assert restored["run"]["info"]["lifecycle_stage"] == "active"

    for body, needle in [
        ({"lifecycle_stage": "gone"}, "'active' or 'deleted'"),
        ({"run_name": "  "}, "cannot be empty"),
        ({"colour": "red"}, "Unknown field"),
        ({"set_tags": {"a": 1}}, "object of strings"),
    ]:
        status, _, data = call(lab, "PATCH", f"/runs/{rid}", body)
        assert status == 400 and needle in json.loads(data)["message"], data
    status, _, data = call(lab, "GET", "/runs/no-such-run")
    assert status == 404 and json.loads(data)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_artifacts_list_and_download(lab) -> None:
    rid = lab.facts["children"][0]
    root = ok(lab, "GET", f"/runs/{rid}/artifacts")
    assert {(f["path"], f["is_dir"]) for f in root["files"]} == {
        ("notes", True),
        ("config.json", False),
    }
    notes = ok(lab, "GET", f"/runs/{rid}/artifacts", path="notes")
    assert [f["path"] for f in notes["files"]] == ["notes/readme.txt"]
    status, headers, data = call(lab, "GET", f"/runs/{rid}/artifact", path="notes/readme.txt")
    assert status == 200 and data == b"hello artifact"
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, data = call(lab, "GET", f"/runs/{rid}/artifact", path="config.json")
    assert json.loads(data) == {"k": 1} and headers["Content-Type"] == "application/json"
    status, _, data = call(lab, "GET", f"/runs/{rid}/artifact", path="missing.png")
    assert status == 404 and json.loads(data)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, _, data = call(lab, "GET", f"/runs/{rid}/artifact", path="notes")
    assert status == 400 and "is a directory" in json.loads(data)["message"]


def test_series_is_downsampled_to_the_width(lab) -> None:
    a, b = lab.facts["children"][:2]
    reply = ok(lab, "GET", "/series", run_ids=[a, b], key="loss", width=2)
    assert reply["key"] == "loss" and [t["run_id"] for t in reply["traces"]] == [a, b]
    for trace in reply["traces"]:
        assert 2 <= len(trace["x"]) <= 8 and len(trace["x"]) == len(trace["y"])
        assert trace["x"] == sorted(trace["x"]) and trace["x"][0] == 0 and trace["x"][-1] == 19
    full = ok(lab, "GET", "/series", run_ids=a, key="loss", width=1000)["traces"][0]
    assert full["x"] == list(range(20)) and full["y"][0] == 1.0
    status, _, data = call(lab, "GET", "/series", run_ids=a)
    assert status == 400 and "'key'" in json.loads(data)["message"]


def test_the_openapi_document_is_served(lab) -> None:
    assert ok(lab, "GET", "/openapi.json") == json.loads(json.dumps(openapi_document()))


# ----------------------------------------------------------------------- live feed
class Stream:
    """One reader of ``GET /changes`` on its own thread (like a browser tab)."""

    def __init__(self, server) -> None:
        url = urllib.parse.urlsplit(server.url)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.conn.request(
            "GET", url.path + LAB + "/changes", headers={"Authorization": f"token {server.token}"}
        )
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.events: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.response:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # the test closed the connection (http.client then has no socket)

    def close(self) -> None:
        self.conn.close()


def _wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_many_tabs_share_one_store_poll_and_all_hear_a_change(lab) -> None:
    streams = [Stream(lab) for _ in range(6)]
    try:
        _wait(lambda: all(s.events for s in streams), "a first event on every stream")
        start = ok(lab, "GET", "/changes/stats")
        assert start["subscribers"] == 6 and start["interval_s"] == pytest.approx(0.2)
        version = max(s.events[-1]["version"] for s in streams)
        _wait(lambda: ok(lab, "GET", "/changes/stats")["ticks"] >= start["ticks"] + 5, "5 ticks")
        later = ok(lab, "GET", "/changes/stats")
        # one store read per tick, whatever the number of listeners
        assert later["store_reads"] - start["store_reads"] == later["ticks"] - start["ticks"]

        rid = lab.facts["children"][3]
        ok(lab, "PATCH", f"/runs/{rid}", {"set_tags": {"live": "yes"}})
        _wait(
            lambda: all(s.events[-1]["version"] > version for s in streams),
            "every stream to hear the new version",
        )
        assert {s.events[-1]["version"] for s in streams} == {version + 1}
        # pages read at the live version come from the cache: equal answers
        eid = lab.facts["experiment_id"]
        first = ok(lab, "GET", "/runs", experiment_ids=eid, columns="tags.live")
        assert first == ok(lab, "GET", "/runs", experiment_ids=eid, columns="tags.live")
        assert first["version"] == version + 1
    finally:
        for s in streams:
            s.close()
    _wait(lambda: ok(lab, "GET", "/changes/stats")["subscribers"] == 0, "streams to close")


# --------------------------------------------------------------------------- auth
class _NoRedirectHandler(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_NoRedirectHandler)


def _extension_routes(store: Path) -> list[tuple[str, type]]:
    """The extension's handler list as a server builds it (no store is opened)."""
    ext = MltrackExtension(tracking_uri=f"duckdb://{store}", own_store=False)
    ext.serverapp = None  # no server of its own: only the handler list is built
    ext.initialize_settings()
    ext.initialize_handlers()
    return [(pattern, handler) for pattern, handler, *_ in ext.handlers]


def _example_path(pattern: str) -> str:
    return re.sub(r"\((?:[^()]|\\\(|\\\))*\)", "x", pattern).replace("\\", "")


def test_every_route_of_the_extension_refuses_an_anonymous_request(lab, tmp_path) -> None:
    routes = _extension_routes(tmp_path / "unused.duckdb")
    patterns = [p for p, _ in routes]
    assert any(p.startswith("/mltrack/api/lab/") for p in patterns)
    assert any(p.startswith("/mltrack/api/v1/") for p in patterns)
    checked = 0
    for pattern, handler in routes:
        verbs = [
            v
            for v in ("get", "post", "patch", "delete", "put")
            if getattr(handler, v) is not getattr(tornado.web.RequestHandler, v)
        ]
        assert verbs, pattern
        for verb in verbs:
            path = _example_path(pattern).lstrip("/")
            request = urllib.request.Request(
                lab.url + path, method=verb.upper(), data=b"{}" if verb != "get" else None
            )
            try:
                with _NO_REDIRECT.open(request, timeout=30) as answer:
                    status, location = answer.status, ""
            except urllib.error.HTTPError as err:
                status, location = err.code, err.headers.get("Location", "")
            # refused: 403 for API routes, a redirect to the login page for pages
            refused = status in (401, 403) or (status == 302 and "/login" in location)
            assert refused, (verb, pattern, status)
            checked += 1
    assert checked >= len(routes)
