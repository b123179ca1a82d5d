"""The same handlers inside a real jupyter_server (``authenticated=True``): Jupyter's token
applies to every verb, and answers keep their JSON/Arrow shapes under ``APIHandler``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mltrack.errors import RunNotFound
from jupyter_mltrack.store.base import RunQuery
from jupyter_mltrack.store.remote import RemoteStore
from jupyter_mltrack.store.remote.transport import Transport
from jupyter_mltrack.store.remote.wire import ARROW_CONTENT_TYPE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jupyter(start_jupyter, tmp_path_factory):
    base = tmp_path_factory.mktemp("jupyter-contract")
    (base / "config").mkdir()
    (base / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"mltrack_contract_ext": True}}})
    )
    server = start_jupyter(
        "server",
        env={
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "PYTHONPATH": str(Path(__file__).parent / "jupyter_ext"),
            "MLTRACK_CONTRACT_STORE": str(base / "store" / "store.duckdb"),
        },
    )
    yield server
    server.stop()


def test_every_verb_needs_jupyter_auth(jupyter):
    anonymous = Transport(jupyter.url + "contract")
    for method, path in [
        ("GET", "/info"),
        ("GET", "/runs/x"),
        ("POST", "/experiments"),
        ("PATCH", "/runs/x"),
        ("DELETE", "/runs/x/tags/k"),
    ]:
        answer = anonymous.request(method, "/mltrack/api/v1" + path, body=b"{}")
        assert answer.status == 403, (method, path, answer.body)
        assert answer.json()["error_code"] == "PERMISSION_DENIED"
    anonymous.close()


def test_remote_store_through_jupyter(jupyter):
    endpoint = jupyter.url + "contract"
    store = RemoteStore(endpoint, endpoint, headers={"Authorization": f"token {jupyter.token}"})
    eid = store.create_experiment("through-jupyter", None, {"a": "b"})
    run = store.create_run(eid, "r", 1, "u", {}, None)
    store.log_batch([(run.info.run_id, "loss", float("nan"), 1, 0)], [], [])
    assert len(store.get_metric_history(run.info.run_id, "loss")) == 1
    assert (
        store.search_runs_arrow(RunQuery((eid,), "", "ACTIVE_ONLY", None, ()))["runs"].num_rows == 1
    )
    with pytest.raises(RunNotFound):
        store.get_run("nope")
    answer = store.transport.request(
        "GET",
        f"/mltrack/api/v1/runs/{run.info.run_id}/metrics/loss",
        headers={"Authorization": f"token {jupyter.token}"},
    )
    assert answer.headers["content-type"] == ARROW_CONTENT_TYPE
    store.close()
