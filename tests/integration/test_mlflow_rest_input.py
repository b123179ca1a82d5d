"""Bad input on MLflow's routes of a real ``mltrack server``: always a 4xx in MLflow's shape.

Malformed JSON, wrong types, missing fields, oversized bodies (413), invalid filters,
unsafe artifact paths; then hypothesis fuzzes JSON bodies and filter strings: no answer is
ever a 500. Last, the artifact proxy streams a 200 MB file both ways while the server's
peak RSS grows by less than 50 MB.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import ServerProcess, start_mltrack_server

ERROR_CODES = {
    "INVALID_PARAMETER_VALUE",
    "BAD_REQUEST",
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_ALREADY_EXISTS",
    "INVALID_STATE",
    "ENDPOINT_NOT_FOUND",
    "RESOURCE_LIMIT_EXCEEDED",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_mltrack_server(tmp_path_factory.mktemp("mlflow-input")) as proc:
        yield proc


def call(
    server: ServerProcess, method: str, path: str, body: bytes | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw


def assert_mlflow_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code and body["message"], body


@pytest.fixture(scope="module")
def run_id(server: ServerProcess) -> str:
    status, body = call(
        server, "POST", "/api/2.0/mlflow/runs/create", json.dumps({"experiment_id": "0"}).encode()
    )
    assert status == 200, body
    return str(body["run"]["info"]["run_id"])


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/2.0/mlflow/experiments/create", b"{not json", 400, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/mlflow/experiments/create", b"[1, 2]", 400, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/mlflow/experiments/create", b"{}", 400, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/mlflow/experiments/create", b'{"name": 5}', 400, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/mlflow/experiments/create", b'{"name": ""}', 400, "INVALID_PARAMETER_VALUE"),
        (
            "/api/2.0/mlflow/runs/create",
            b'{"experiment_id": "424242"}',
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "/api/2.0/mlflow/runs/log-metric",
            b'{"key": "k", "value": 1}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/runs/log-batch",
            b'{"run_id": 7, "metrics": "x"}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/runs/search",
            b'{"experiment_ids": ["0"], "filter": "params.a ="}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/runs/search",
            b'{"experiment_ids": ["0"], "max_results": -1}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/runs/search",
            b'{"experiment_ids": ["0"], "run_view_type": "X"}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/experiments/search",
            b'{"filter": "name LIKE"}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/api/2.0/mlflow/logged-models/search",
            b'{"filter": "x == 1"}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("/api/2.0/mlflow/runs/frobnicate", b"{}", 404, "ENDPOINT_NOT_FOUND"),
    ],
)
def test_bad_requests_get_mlflow_errors(
    server: ServerProcess, path: str, body: bytes, status: int, code: str
) -> None:
    assert_mlflow_error(*call(server, "POST", path, body), status, code)


def test_wrong_types_on_a_real_run(server: ServerProcess, run_id: str) -> None:
    for payload in (
        {"run_id": run_id, "key": "m", "value": "not a number", "timestamp": 1},
        {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": "soon"},
        {"run_id": run_id, "key": "", "value": 1.0, "timestamp": 1},
        {"run_id": run_id, "key": "a/../b", "value": 1.0, "timestamp": 1, "step": [1]},
    ):
        result = call(
            server, "POST", "/api/2.0/mlflow/runs/log-metric", json.dumps(payload).encode()
        )
        assert_mlflow_error(*result, 400, "INVALID_PARAMETER_VALUE")
    too_many = {"run_id": run_id, "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}
    result = call(server, "POST", "/api/2.0/mlflow/runs/log-batch", json.dumps(too_many).encode())
    assert_mlflow_error(*result, 400, "INVALID_PARAMETER_VALUE")
    call(
        server,
        "POST",
        "/api/2.0/mlflow/runs/log-parameter",
        json.dumps({"run_id": run_id, "key": "p", "value": "1"}).encode(),
    )
    again = {"run_id": run_id, "key": "p", "value": "2"}
    result = call(server, "POST", "/api/2.0/mlflow/runs/log-parameter", json.dumps(again).encode())
    assert_mlflow_error(*result, 400, "INVALID_PARAMETER_VALUE")
    result = call(
        server,
        "GET",
        f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=m&max_results=x",
    )
    assert_mlflow_error(*result, 400, "INVALID_PARAMETER_VALUE")


def test_oversized_json_body_is_413(server: ServerProcess) -> None:
    """The limit is checked on the headers: a client that waits (``Expect: 100-continue``)
    gets the 413 without sending the 17 MB, and the server never reads them."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest("POST", "/api/2.0/mlflow/experiments/create")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(17 * 1024 * 1024))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert_mlflow_error(response.status, body, 413, "RESOURCE_LIMIT_EXCEEDED")


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "0/%2e%2e/%2e%2e/etc/passwd",
        "0/%252e%252e/x",
        "%2Fetc%2Fpasswd",
        "0/a\\..\\b",
        ".mltrack-meta/logged-models/x.json",
        "0/x%23y",
    ],
)
def test_artifact_traversal_is_refused(server: ServerProcess, path: str) -> None:
    for method, body in (("GET", None), ("PUT", b"data"), ("DELETE", None)):
        status, reply = call(server, method, "/api/2.0/mlflow-artifacts/artifacts/" + path, body)
        assert status in (400, 404), (method, path, status, reply)
        assert isinstance(reply, dict) and reply.get("error_code") in ERROR_CODES, reply
    assert not (server.artifacts.parent / "etc").exists()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "run_id",
        "experiment_id",
        "key",
        "value",
        "timestamp",
        "step",
        "name",
        "metrics",
        "params",
        "tags",
        "filter",
        "max_results",
        "order_by",
        "experiment_ids",
        "datasets",
        "run_view_type",
        "page_token",
        "models",
        "status",
        "new_name",
        "start_time",
    ]
)
BODIES = st.dictionaries(FIELDS, JSON, max_size=6)
POST_ROUTES = st.sampled_from(
    [
        "experiments/create",
        "experiments/search",
        "experiments/update",
        "experiments/delete",
        "experiments/set-experiment-tag",
        "experiments/delete-experiment-tag",
        "runs/create",
        "runs/update",
        "runs/log-metric",
        "runs/log-parameter",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/log-batch",
        "runs/log-inputs",
        "runs/outputs",
        "runs/log-model",
        "runs/search",
        "logged-models",
        "logged-models/search",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=POST_ROUTES, body=BODIES)
def test_fuzzed_json_bodies_never_500(
    server: ServerProcess, route: str, body: dict[str, Any]
) -> None:
    status, reply = call(server, "POST", "/api/2.0/mlflow/" + route, json.dumps(body).encode())
    assert status < 500, (route, body, reply)
    if status >= 400:
        assert isinstance(reply, dict) and reply["error_code"] in ERROR_CODES, reply


FILTER_ATOMS = st.sampled_from(
    [
        "metrics.acc",
        "params.lr",
        "tags.`a b`",
        "attributes.status",
        "name",
        "run_name",
        "=",
        "!=",
        ">",
        "<=",
        "LIKE",
        "ILIKE",
        "IN",
        "AND",
        "OR",
        "(",
        ")",
        "'x'",
        "0.5",
        "-1e9",
        "NULL",
        "IS",
        "NOT",
        ",",
        "`",
        "'",
        '"',
        "%",
        "datasets.digest",
    ]
)
FILTERS = st.lists(FILTER_ATOMS, max_size=8).map(" ".join) | st.text(max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=FILTERS)
def test_fuzzed_filters_never_500(server: ServerProcess, text: str) -> None:
    for route, body in (
        ("runs/search", {"experiment_ids": ["0"], "filter": text, "order_by": [text]}),
        ("experiments/search", {"filter": text}),
        ("logged-models/search", {"experiment_ids": ["0"], "filter": text}),
    ):
        status, reply = call(server, "POST", "/api/2.0/mlflow/" + route, json.dumps(body).encode())
        assert status in (200, 400), (route, text, status, reply)
        if status == 400:
            assert reply["error_code"] == "INVALID_PARAMETER_VALUE", reply


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def test_artifact_proxy_streams_200_mb_both_ways_in_bounded_memory(
    server: ServerProcess, tmp_path: Path
) -> None:
    import http.client

    size, chunk = 200 * 1024 * 1024, 1024 * 1024
    block = os.urandom(chunk)
    digest = hashlib.sha256()
    for _ in range(size // chunk):
        digest.update(block)
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM)
    base = _rss_kb(server.pid, "VmRSS")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.putrequest("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/big/blob.bin")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(size // chunk):
        conn.send(block)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    response.read()
    stored = server.artifacts / "0" / "big" / "blob.bin"
    assert stored.stat().st_size == size
    upload_peak = _rss_kb(server.pid, "VmHWM") - base

    Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    base = _rss_kb(server.pid, "VmRSS")
    conn.request("GET", "/api/2.0/mlflow-artifacts/artifacts/0/big/blob.bin")
    response = conn.getresponse()
    assert response.status == 200
    assert int(response.getheader("Content-Length")) == size
    got, received = hashlib.sha256(), 0
    while piece := response.read(chunk):
        got.update(piece)
        received += len(piece)
    conn.close()
    download_peak = _rss_kb(server.pid, "VmHWM") - base
    assert received == size and got.hexdigest() == digest.hexdigest()
    print(
        f"server RSS growth: upload {upload_peak / 1024:.1f} MB, "
        f"download {download_peak / 1024:.1f} MB"
    )
    assert upload_peak < 50 * 1024 and download_peak < 50 * 1024
    status, listing = call(server, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/big")
    assert listing == {"files": [{"path": "blob.bin", "is_dir": False, "file_size": size}]}
    status, _ = call(server, "DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/big")
    assert status == 200 and not stored.exists()


def test_concurrent_uploads_do_not_mix(server: ServerProcess) -> None:
    def put(i: int) -> None:
        data = bytes([i]) * (3 * 1024 * 1024 + i)
        request = urllib.request.Request(
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/many/f{i}", data=data, method="PUT"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        assert (server.artifacts / "0" / "many" / f"f{i}").read_bytes() == bytes([i]) * (
            3 * 1024 * 1024 + i
        )
