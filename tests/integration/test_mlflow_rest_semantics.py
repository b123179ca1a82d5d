"""MLflow's semantics on our REST routes, as MLflow's own REST tests showed them.

Each test pins one behaviour of MLflow's server that ``tests/conformance/
run_mlflow_rest_suite.py`` found different on ``mltrack server`` (messages MLflow's
clients and tests match on, validation order, routes), against a real server process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from server_support import ServerProcess, start_mltrack_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_mltrack_server(tmp_path_factory.mktemp("mlflow-semantics")) as proc:
        yield proc


def post(server: ServerProcess, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/api/2.0/mlflow/{path}", json=body, timeout=60)


@pytest.fixture(scope="module")
def run_id(server: ServerProcess) -> str:
    exp = post(server, "experiments/create", {"name": "semantics"}).json()["experiment_id"]
    return str(post(server, "runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"])


def test_invalid_values_are_written_as_json_and_run_id_is_checked_first(server, run_id) -> None:
    resp = post(server, "experiments/create", {"name": "x", "tags": "5"})
    assert resp.status_code == 400
    assert "Invalid value \"5\" for parameter 'tags' supplied" in resp.json()["message"]
    # A numeric run_id is refused before anything else (MLflow: 31, not "31").
    resp = post(server, "runs/log-parameter", {"run_id": 31, "key": "k", "value": 41})
    assert resp.status_code == 400
    assert "Invalid value 31 for parameter 'run_id' supplied" in resp.json()["message"]
    resp = post(server, "runs/log-metric", {"run_id": 31, "key": "m", "value": 41, "timestamp": 59})
    assert resp.status_code == 400, resp.text
    resp = post(
        server,
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": 1, "step": "foo", "timestamp": 1},
    )
    assert "Invalid value \"foo\" for parameter 'step' supplied" in resp.json()["message"]


def test_batch_fields_are_named_with_their_position(server, run_id) -> None:
    resp = post(
        server,
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0, "step": 0}]},
    )
    assert resp.status_code == 400
    assert "Missing value for required parameter 'metrics[0].timestamp'" in resp.json()["message"]


def test_unknown_run_message_and_deleted_run_checked_before_tag(server, run_id) -> None:
    resp = post(server, "runs/delete-tag", {"run_id": "fake_run_id", "key": "k"})
    assert resp.status_code == 404
    assert resp.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Run with id=fake_run_id not found",
    }
    exp = post(server, "experiments/create", {"name": "deleted-run"}).json()["experiment_id"]
    doomed = post(server, "runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"]
    assert post(server, "runs/delete", {"run_id": doomed}).status_code == 200
    resp = post(server, "runs/delete-tag", {"run_id": doomed, "key": "never-set"})
    assert resp.status_code == 400
    assert f"The run {doomed} must be in the 'active' state" in resp.json()["message"]


def test_delete_experiment_tag_needs_both_fields(server) -> None:
    exp = post(server, "experiments/create", {"name": "tag-fields"}).json()["experiment_id"]
    for body in ({"experiment_id": exp}, {"key": "k"}):
        resp = post(server, "experiments/delete-experiment-tag", body)
        assert resp.status_code == 400
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "Missing value for required parameter" in resp.json()["message"]
    resp = post(server, "experiments/delete-experiment-tag", {"experiment_id": exp, "key": 5})
    assert resp.status_code == 400
    assert "Invalid value 5 for parameter 'key' supplied" in resp.json()["message"]


def test_parent_tag_naming_no_run_is_kept(server) -> None:
    exp = post(server, "experiments/create", {"name": "orphan"}).json()["experiment_id"]
    body = {"experiment_id": exp, "tags": [{"key": "mlflow.parentRunId", "value": "7"}]}
    resp = post(server, "runs/create", body)
    assert resp.status_code == 200, resp.text
    tags = {t["key"]: t["value"] for t in resp.json()["run"]["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == "7"


def test_logged_model_source_run_is_kept_as_given(server) -> None:
    """MLflow's server keeps any source_run_id as given (its test_create_logged_model uses
    "123"); so does this route. Our own client refuses an unknown one (test_registry_core)."""
    exp = post(server, "experiments/create", {"name": "models"}).json()["experiment_id"]
    resp = requests.post(
        f"{server.url}/api/2.0/mlflow/logged-models",
        json={"experiment_id": exp, "source_run_id": "123"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    model = resp.json()["model"]["info"]
    assert model["source_run_id"] == "123"
    got = requests.get(
        f"{server.url}/api/2.0/mlflow/logged-models/{model['model_id']}", timeout=60
    ).json()
    assert got["model"]["info"]["source_run_id"] == "123"


def test_history_bulk(server, run_id) -> None:
    url = f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    for step, ts in ((2, 1), (1, 1), (0, 2)):
        body = {
            "run_id": run_id,
            "key": "bulk",
            "value": float(step),
            "timestamp": ts,
            "step": step,
        }
        assert post(server, "runs/log-metric", body).status_code == 200
    got = requests.get(url, params={"run_id": [run_id], "metric_key": "bulk"}, timeout=60).json()
    assert [(m["timestamp"], m["step"], m["run_id"]) for m in got["metrics"]] == [
        (1, 1, run_id),
        (1, 2, run_id),
        (2, 0, run_id),
    ]
    two = requests.get(
        url, params={"run_id": [run_id], "metric_key": "bulk", "max_results": 2}, timeout=60
    )
    assert len(two.json()["metrics"]) == 2
    for params, message in (
        ({"metric_key": "bulk"}, "must specify at least one run_id"),
        ({"run_id": [f"r{i}" for i in range(1000)], "metric_key": "k"}, "cannot specify more"),
        ({"run_id": ["x"]}, "must specify a metric_key"),
    ):
        resp = requests.get(url, params=params, timeout=60)
        assert resp.status_code == 400 and message in resp.json()["message"], resp.text
    # 1,000 query arguments reach the handler (tornado's default limit would answer a bare 400)
    interval = f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
    resp = requests.get(
        interval, params={"run_ids": [f"r{i}" for i in range(1000)], "metric_key": "k"}, timeout=60
    )
    assert resp.status_code == 400 and "at most 100 run_ids" in resp.json()["message"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("MLmodel", "text/plain"),
        ("a.txt", "text/plain"),
        ("b.pkl", "application/octet-stream"),
        ("c.png", "image/png"),
        ("conda.yaml", "text/plain"),
    ],
)
def test_get_artifact_and_proxy_mime_types(server, run_id, name: str, kind: str) -> None:
    root = requests.get(
        f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=60
    ).json()["run"]["info"]["artifact_uri"]
    rel = root[len("mlflow-artifacts:/") :]
    proxy = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{rel}/{name}"
    assert requests.put(proxy, data=b"content", timeout=60).status_code == 200
    via_proxy = requests.get(proxy, timeout=60)
    assert via_proxy.headers["Content-Type"].split(";")[0] == kind
    resp = requests.get(
        f"{server.url}/get-artifact", params={"run_id": run_id, "path": name}, timeout=60
    )
    assert resp.status_code == 200 and resp.content == b"content"
    assert resp.headers["Content-Type"].split(";")[0] == kind
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_get_artifact_refuses_traversal_and_unknown_files(server, run_id) -> None:
    resp = requests.get(
        f"{server.url}/get-artifact", params={"run_id": run_id, "path": "../x"}, timeout=60
    )
    assert resp.status_code == 400 and resp.json()["message"] == "Invalid path"
    resp = requests.get(
        f"{server.url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": run_id, "path": "../path"},
        timeout=60,
    )
    assert resp.status_code == 400 and resp.json()["message"] == "Invalid path"
    resp = requests.get(
        f"{server.url}/get-artifact", params={"run_id": run_id, "path": "nope.txt"}, timeout=60
    )
    assert resp.status_code == 404


def test_search_gives_each_runs_latest_metric_points(server) -> None:
    """One query for a whole page (was one per run: 36 s -> 0.7 s for 1,000 of 5,704 runs)."""
    exp = post(server, "experiments/create", {"name": "search-latest"}).json()["experiment_id"]
    ids = []
    for i in range(3):
        rid = post(server, "runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"]
        for step in range(3):
            body = {"run_id": rid, "key": "m", "value": float(i), "timestamp": 10 + step}
            assert post(server, "runs/log-metric", {**body, "step": step}).status_code == 200
        ids.append(rid)
    resp = post(server, "runs/search", {"experiment_ids": [exp], "order_by": ["metrics.m DESC"]})
    runs = resp.json()["runs"]
    assert [r["info"]["run_id"] for r in runs] == ids[::-1]
    for r in runs:
        assert r["data"]["metrics"][0]["step"] == 2 and r["data"]["metrics"][0]["timestamp"] == 12
