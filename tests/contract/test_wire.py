"""What only the remote leg has: the HTTP error shapes, request parsing, collaborators,
content types, keep-alive and unreachable services (docs/service-design.md)."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import threading
import time
from typing import Any

import pyarrow as pa
import pytest

from jupyter_mltrack.errors import (
    InvalidFilter,
    InvalidParameter,
    MltrackError,
    ParamOverwrite,
    RunNotFound,
    StoreUnavailable,
)
from jupyter_mltrack.service.api import make_app
from jupyter_mltrack.service.api_base import REQUEST_ID_HEADER
from jupyter_mltrack.service.api_thread import ServerThread
from jupyter_mltrack.store.arrow import METRIC_SCHEMA, rows_to_table
from jupyter_mltrack.store.base import RunQuery
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.remote import RemoteStore
from jupyter_mltrack.store.remote.transport import Response, Transport
from jupyter_mltrack.store.remote.wire import (
    ARROW_CONTENT_TYPE,
    FRAMES_CONTENT_TYPE,
    table_to_ipc,
)

API = "/mltrack/api/v1"


def call(t: Transport, method: str, path: str, body: Any = None, **kw: Any) -> Response:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    return t.request(method, API + path, body=data, **kw)


def error_of(fn: Any) -> MltrackError:
    with pytest.raises(MltrackError) as info:
        fn()
    return info.value


# ------------------------------------------------------------------ error shapes
def test_error_body_is_exactly_to_dict(served):
    t, direct = served.remote.transport, served.direct
    answer = call(t, "GET", "/runs/nope")
    expected = error_of(lambda: direct.get_run("nope"))
    assert isinstance(expected, RunNotFound)
    assert (answer.status, answer.json()) == (404, expected.to_dict())
    assert answer.headers["content-type"] == "application/json"

    run_id = direct.create_run("0", "r", 1, "u", {}, None).info.run_id
    direct.log_batch([], [(run_id, "lr", "1")], [])
    answer = call(t, "POST", "/runs/batch", {"params": [[run_id, "lr", "2"]]})
    expected = error_of(lambda: direct.log_batch([], [(run_id, "lr", "2")], []))
    assert isinstance(expected, ParamOverwrite) and expected.details
    assert (answer.status, answer.json()) == (400, expected.to_dict())

    answer = t.request("GET", API + "/runs", query=[("experiment_ids", "0"), ("filter", "a >")])
    expected = error_of(
        lambda: direct.search_runs(RunQuery(("0",), "a >", "ACTIVE_ONLY", None, (), None))
    )
    assert isinstance(expected, InvalidFilter)
    assert (answer.status, answer.json()) == (400, expected.to_dict())


def test_unexpected_exception_is_a_500_with_a_request_id(duckdb_store, socket_path, caplog):
    def broken_ingest(table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    with ServerThread(make_app(duckdb_store, ingest=broken_ingest), socket_path) as server:
        t = Transport(server.endpoint)
        with caplog.at_level(logging.ERROR, logger="jupyter_mltrack.service.api"):
            answer = call(t, "POST", "/metric-batches", table_to_ipc(rows_to_table([])))
        t.close()
    body = answer.json()
    assert answer.status == 500
    assert set(body) == {"error_code", "message", "request_id"}
    assert body["error_code"] == "INTERNAL_ERROR"
    assert body["request_id"] == answer.headers[REQUEST_ID_HEADER.lower()]
    assert "ZeroDivisionError" in body["message"] and body["request_id"] in body["message"]
    [record] = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError
    with pytest.raises(MltrackError, match=body["request_id"][:4]) as info:
        answer.raise_for_error()
    assert type(info.value) is MltrackError


@pytest.mark.parametrize(
    "method, path, body, named",
    [
        ("POST", "/experiments", b"{not json", "not valid JSON"),
        ("POST", "/experiments", b"[1, 2]", "JSON object"),
        ("POST", "/experiments", {}, "'name'"),
        ("POST", "/experiments", {"name": 5}, "'name'"),
        ("POST", "/experiments", {"name": "x", "tags": {"a": 1}}, "'tags'"),
        (
            "POST",
            "/runs",
            {"experiment_id": "0", "run_name": "r", "user_id": "u"},
            "'start_time_ms'",
        ),
        (
            "POST",
            "/runs",
            {"experiment_id": "0", "run_name": "r", "user_id": "u", "start_time_ms": True},
            "'start_time_ms'",
        ),
        ("POST", "/runs/batch", {"metrics": [["r", "k", "much", 1, 0]]}, "metrics[0].value"),
        ("POST", "/runs/batch", {"metrics": [["r", "k", 1.0, 1]]}, "metrics[0]"),
        ("POST", "/runs/batch", {"params": [["r", "k"]]}, "params[0]"),
        ("PATCH", "/runs/abc", {"lifecycle_stage": "limbo"}, "'lifecycle_stage'"),
        ("GET", "/experiments-by-name", None, "'name'"),
        ("GET", "/runs?experiment_ids=0&max_results=ten", None, "'max_results'"),
        ("GET", "/series?run_ids=a&key=k&x_min=left", None, "'x_min'"),
        ("GET", "/sql", None, "'q'"),
        ("POST", "/gc", {"run_ids": "all"}, "'run_ids'"),
        ("POST", "/heartbeats", {"client_id": "c", "run_ids": []}, "'pid'"),
        ("POST", "/runs/abc/inputs", {"datasets": [[{"name": "d"}, {}]]}, "'digest'"),
        ("POST", "/metric-batches", b"not arrow", "Arrow IPC"),
    ],
)
def test_bad_requests_are_400_naming_the_field(served, method, path, body, named):
    answer = call(served.remote.transport, method, path, body)
    assert answer.status == 400, answer.body
    with pytest.raises(InvalidParameter) as info:
        answer.raise_for_error()
    assert named in info.value.message


def test_metric_batch_headers_and_columns_are_checked(served):
    t = served.remote.transport
    ipc = table_to_ipc(rows_to_table([]))
    answer = call(t, "POST", "/metric-batches", ipc, headers={"X-Mltrack-Seq": "seven"})
    assert answer.status == 400 and "X-Mltrack-Seq" in answer.json()["message"]
    partial = table_to_ipc(pa.table({"run_id": ["r"], "key": ["k"]}))
    answer = call(t, "POST", "/metric-batches", partial)
    assert answer.status == 400 and "value, timestamp_ms, step" in answer.json()["message"]


def test_unknown_routes_and_verbs_answer_json(served):
    t = served.remote.transport
    answer = call(t, "GET", "/no/such/route")
    assert answer.status == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    answer = call(t, "DELETE", "/info")
    assert answer.status == 405 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"


# ----------------------------------------------------------------- collaborators
def test_metric_batches_are_validated_by_the_core(duckdb_store, socket_path):
    deleted = duckdb_store.create_run("0", "gone", 1, "u", {}, None).info.run_id
    duckdb_store.delete_run(deleted)
    with ServerThread(make_app(duckdb_store), socket_path) as server:
        t = Transport(server.endpoint)
        for rows, what in (
            ([("nope", "k", 1.0, 1, 0)], "No run with id 'nope'"),
            ([(deleted, "k", 1.0, 1, 0)], "is deleted"),
            ([(deleted, "", 1.0, 1, 0)], "Metric key"),
        ):
            answer = t.request(
                "POST", API + "/metric-batches", body=table_to_ipc(rows_to_table(rows))
            )
            assert answer.status in (400, 404), answer.json()
            assert what in answer.json()["message"]
        t.close()
    assert duckdb_store.db.read("SELECT count(*) FROM store.metrics") == [(0,)]


def test_ingest_and_heartbeat_collaborators(duckdb_store, socket_path):
    batches: list[tuple[int, str | None, int | None]] = []
    beats: list[dict[str, Any]] = []

    def ingest(table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        assert table.schema == METRIC_SCHEMA
        batches.append((table.num_rows, client_id, seq))
        return {
            "committed": 0 if seq == 1 and len(batches) > 1 else table.num_rows,
            "duplicate": len(batches) > 1,
        }

    app = make_app(duckdb_store, ingest=ingest, heartbeat=beats.append)
    rid = duckdb_store.create_run("0", "r", 1, "u", {}, None).info.run_id
    with ServerThread(app, socket_path) as server:
        remote = RemoteStore(duckdb_store.uri, server.endpoint)
        table = rows_to_table([(rid, "k", math.nan, 1, 0)] * 3)
        assert remote.post_metric_batch(table, client_id="host-1-ab", seq=1) == {
            "committed": 3,
            "duplicate": False,
        }
        assert remote.post_metric_batch(table, client_id="host-1-ab", seq=1)["duplicate"]
        # The spool file's schema metadata stands in for missing headers.
        tagged = table.replace_schema_metadata({"client_id": "host-2-cd", "seq": "9"})
        remote.log_metric_table(tagged)
        remote.heartbeat("host-1-ab", 1234, [rid])
        remote.close()
    assert batches == [(3, "host-1-ab", 1), (3, "host-1-ab", 1), (3, "host-2-cd", 9)]
    assert beats == [{"client_id": "host-1-ab", "pid": 1234, "run_ids": [rid]}]


@pytest.mark.parametrize("grouped", [True, False])
def test_several_metric_batches_in_one_request(duckdb_store, socket_path, grouped):
    batches: list[tuple[int, str | None, int | None]] = []

    def ingest(table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        batches.append((table.num_rows, client_id, seq))
        return {"committed": 0 if seq == 1 else table.num_rows, "duplicate": seq == 1}

    def ingest_many(tables: list[pa.Table], client_id: str | None, seq: int | None):
        assert seq is not None
        for i, table in enumerate(tables):
            batches.append((table.num_rows, client_id, seq + i))
        return {"committed": 3, "duplicate": False, "duplicates": 1}

    app = make_app(duckdb_store, ingest=ingest, ingest_many=ingest_many if grouped else None)
    rid = duckdb_store.create_run("0", "r", 1, "u", {}, None).info.run_id
    with ServerThread(app, socket_path) as server:
        remote = RemoteStore(duckdb_store.uri, server.endpoint)
        tables = [rows_to_table([(rid, "k", 1.0, 1, s)] * n) for s, n in enumerate((1, 2, 1))]
        ack = remote.post_metric_chunks(tables, client_id="host-1-ab", seq=1)
        remote.close()
    assert ack == {"committed": 3, "duplicate": False, "duplicates": 1}
    assert batches == [(1, "host-1-ab", 1), (2, "host-1-ab", 2), (1, "host-1-ab", 3)]


def test_info_answers_while_a_store_call_is_running(duckdb_store, socket_path):
    release, entered = threading.Event(), threading.Event()

    def slow_ingest(table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        entered.set()
        release.wait(10)
        return {"committed": 0, "duplicate": False}

    with ServerThread(make_app(duckdb_store, ingest=slow_ingest), socket_path) as server:
        remote = RemoteStore(duckdb_store.uri, server.endpoint)
        writer = threading.Thread(target=remote.log_metric_table, args=(rows_to_table([]),))
        writer.start()
        assert entered.wait(10)
        started = time.perf_counter()
        info = remote.info()
        waited = time.perf_counter() - started
        release.set()
        writer.join(10)
        remote.close()
    assert waited < 1.0
    assert set(info) == {"version", "store_path", "pid", "kind", "schema_version"}
    assert (info["store_path"], info["pid"]) == (str(duckdb_store.path), os.getpid())


# ------------------------------------------------------------------- transport
def test_arrow_answers_have_arrow_content_types(served):
    t = served.remote.transport
    run_id = served.direct.create_run("0", "r", 1, "u", {}, None).info.run_id
    answer = call(t, "GET", f"/runs/{run_id}/metrics/loss")
    assert (answer.status, answer.headers["content-type"]) == (200, ARROW_CONTENT_TYPE)
    answer = call(t, "GET", "/runs.arrow?experiment_ids=0")
    assert (answer.status, answer.headers["content-type"]) == (200, FRAMES_CONTENT_TYPE)


def test_socket_is_private_and_connections_are_reused(served):
    assert stat.S_IMODE(served.server.socket_path.stat().st_mode) == 0o600
    remote = served.remote
    remote.get_experiment("0")
    first = remote.transport._local.conn
    for _ in range(20):
        remote.get_experiment("0")
    assert remote.transport._local.conn is first


def test_client_survives_a_service_restart(duckdb_store, socket_path):
    server = ServerThread(make_app(duckdb_store), socket_path).start()
    remote = RemoteStore(duckdb_store.uri, server.endpoint)
    assert remote.get_experiment("0").name == "Default"
    server.stop()
    with pytest.raises(StoreUnavailable, match=str(socket_path)):
        remote.get_experiment("0")
    with ServerThread(make_app(duckdb_store), socket_path):
        assert remote.get_experiment("0").name == "Default"  # the stale connection is replaced
    remote.close()


def test_unreachable_endpoints_raise_store_unavailable(tmp_path):
    missing = tmp_path / "nobody-home.sock"
    remote = RemoteStore("duckdb:///x", f"unix://{missing}")
    err = error_of(lambda: remote.get_run("r"))
    assert isinstance(err, StoreUnavailable)
    assert str(missing) in err.message and "service.log" in err.message
    remote = RemoteStore("http://127.0.0.1:9", "http://127.0.0.1:9", timeout=2)
    err = error_of(lambda: remote.get_run("r"))
    assert isinstance(err, StoreUnavailable) and "http://127.0.0.1:9" in err.message
    with pytest.raises(InvalidParameter, match="endpoint"):
        RemoteStore("x", "ftp://host/")


def test_keys_with_slashes_spaces_and_percent_signs_travel_in_paths(served):
    remote, direct = served.remote, served.direct
    run_id = direct.create_run("0", "r", 1, "u", {"a/b %2F c": "v"}, None).info.run_id
    direct.log_batch([(run_id, "x/%20 y", 1.5, 1, 0)], [], [])
    assert list(remote.get_metric_history(run_id, "x/%20 y").values) == [1.5]
    remote.delete_tag(run_id, "a/b %2F c")
    assert direct.get_run(run_id).data.tags == {}


def test_closed_direct_store_behind_the_api_still_answers_json(tmp_path, socket_path):
    store = DuckDBStore("duckdb://" + str(tmp_path / "c.duckdb"))
    with ServerThread(make_app(store), socket_path) as server:
        store.close()
        transport = Transport(server.endpoint)
        answer = call(transport, "GET", "/runs/x")
        transport.close()
    assert answer.status >= 400 and "error_code" in answer.json()


def test_threads_get_their_own_connections(served):
    remote, errors = served.remote, []

    def work() -> None:
        try:
            for _ in range(30):
                assert remote.get_experiment("0").name == "Default"
        except Exception as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == [] and len(remote.transport._all) == 6


def test_error_answers_without_an_mltrack_body():
    with pytest.raises(StoreUnavailable, match="502 for GET /x on here"):
        Response(502, {}, b"<html>bad gateway</html>", "GET /x on here").raise_for_error()
    with pytest.raises(MltrackError, match="418") as info:
        Response(418, {}, b'{"not": "ours"}', "GET /x on here").raise_for_error()
    assert type(info.value) is MltrackError
    ok = Response(200, {}, b"", "GET /x on here")
    assert ok.raise_for_error() is ok and ok.json() is None
