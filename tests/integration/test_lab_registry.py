"""The registry routes of the JupyterLab API (``/mltrack/api/lab/models``,
``/runs/{run_id}/models``) on a real ``jupyter server`` owning a real DuckDB store: the
models page, a model's versions with their runs and metrics, setting and deleting an alias
(seen by a Python client of the same store), the models a run logged, and the error shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.tracking.core import TrackingCore

pytestmark = pytest.mark.slow

LAB = "mltrack/api/lab"


def _populate(path: Path) -> dict[str, Any]:
    store = DuckDBStore(f"duckdb://{path}")
    core = TrackingCore(store)
    eid = core.create_experiment("registry-view")
    run = core.create_run(eid, run_name="train", start_time=1_000)
    rid = run.info.run_id
    core.log_metric(rid, "acc", 0.91, step=0, timestamp=2_000)
    core.update_run(rid, "FINISHED", end_time=3_000)
    logged = core.create_logged_model(eid, name="model", source_run_id=rid)
    core.finalize_logged_model(logged.model_id, "READY")
    core.create_registered_model("churn model", description="predicts churn")
    for _ in range(2):
        core.create_model_version(
            "churn model", logged.artifact_location, rid, model_id=logged.model_id
        )
    core.set_registered_model_alias("churn model", "champion", "1")
    store.close()
    return {"run_id": rid, "model_id": logged.model_id, "experiment_id": eid}


@pytest.fixture(scope="module")
def lab(start_jupyter, tmp_path_factory):
    store = tmp_path_factory.mktemp("lab-registry") / "store.duckdb"
    facts = _populate(store)
    server = start_jupyter(
        "server",
        env={"MLTRACK_TRACKING_URI": f"duckdb://{store}", "MLTRACK_STORE_MODE": None},
    )
    server.facts = facts  # type: ignore[attr-defined]
    server.store_path = store  # type: ignore[attr-defined]
    yield server
    server.stop()


def call(server, method: str, route: str, body: Any = None, **query: Any):
    url = server.url + LAB + route + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"token {server.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _path(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def test_models_page_and_a_model_with_its_versions_runs_and_metrics(lab) -> None:
    status, page = call(lab, "GET", "/models")
    assert status == 200, page
    assert [m["name"] for m in page["models"]] == ["churn model"]
    assert page["models"][0]["aliases"] == {"champion": "1"}
    assert page["next_page_token"] is None
    status, none = call(lab, "GET", "/models", filter="name LIKE '%nothing%'")
    assert status == 200 and none["models"] == []

    status, detail = call(lab, "GET", "/models/" + _path("churn model"))
    assert status == 200, detail
    assert detail["model"]["description"] == "predicts churn"
    versions = detail["versions"]
    assert [v["version"]["version"] for v in versions] == ["2", "1"]
    first = versions[1]
    assert first["version"]["aliases"] == ["champion"]
    assert first["version"]["model_id"] == lab.facts["model_id"]
    assert first["run"]["run_id"] == lab.facts["run_id"]
    assert first["run"]["run_name"] == "train"
    assert first["run"]["metrics"] == {"acc": 0.91}
    assert first["code"] == 'model = mt.models.load_model("models:/churn model@champion")'
    assert versions[0]["code"] == 'model = mt.models.load_model("models:/churn model/2")'


def test_set_and_delete_an_alias_seen_by_a_python_client(lab) -> None:
    route = "/models/" + _path("churn model") + "/aliases/staging"
    status, detail = call(lab, "PUT", route, {"version": "2"})
    assert status == 200, detail
    assert detail["model"]["aliases"] == {"champion": "1", "staging": "2"}
    assert detail["versions"][0]["version"]["aliases"] == ["staging"]

    # another process, a client of the store the server owns, sees it
    script = (
        "import jupyter_mltrack as mt\n"
        "print(mt.TrackingClient().get_model_version_by_alias('churn model', 'staging').version)"
    )
    env = {**os.environ, "MLTRACK_TRACKING_URI": f"duckdb://{lab.store_path}"}
    env.pop("MLTRACK_STORE_MODE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2"

    status, detail = call(lab, "DELETE", route)
    assert status == 200, detail
    assert detail["model"]["aliases"] == {"champion": "1"}


def test_errors_answer_the_error_shape(lab) -> None:
    status, body = call(lab, "GET", "/models/" + _path("no such model"))
    assert status == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST", body
    route = "/models/" + _path("churn model") + "/aliases/x"
    status, body = call(lab, "PUT", route, {"version": "9"})
    assert status == 404, body
    status, body = call(lab, "PUT", route, {"version": 2})
    assert status == 400 and "version" in body["message"], body
    status, body = call(lab, "PUT", route, {})
    assert status == 400, body
    status, body = call(lab, "GET", "/models", max_results="0")
    assert status == 400 and "max_results" in body["message"], body


def test_the_models_a_run_logged(lab) -> None:
    status, body = call(lab, "GET", f"/runs/{lab.facts['run_id']}/models")
    assert status == 200, body
    assert [m["model_id"] for m in body["logged_models"]] == [lab.facts["model_id"]]
    assert body["logged_models"][0]["status"] == "READY"
    assert sorted(v["version"] for v in body["versions"]) == ["1", "2"]
    status, body = call(lab, "GET", "/runs/nope/models")
    assert status == 404, body
