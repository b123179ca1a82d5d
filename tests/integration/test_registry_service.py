"""The registry across processes through the store service (the default mode): one process
logs and registers a model and sets an alias, others read it through the same owner."""

from __future__ import annotations

import json
import sys

from service_support import ServiceEnv, service_env_fixture  # noqa: F401 - service_env

from jupyter_mltrack.store.remote.service_store import ServiceStore
from jupyter_mltrack.store.schemes import get_store
from jupyter_mltrack.tracking.client import TrackingClient

REGISTER = """
import jupyter_mltrack as mt
with mt.start_run() as run:
    client = mt.MlflowClient()
    lm = client.create_logged_model("0", "model", run.info.run_id, params={"alpha": 0.5})
    mt.log_metric("acc", 0.93, model_id=lm.model_id)
    client.finalize_logged_model(lm.model_id, "READY")
mv = mt.register_model(lm.model_uri, "churn", tags={"by": "writer"})
client.set_registered_model_alias("churn", "champion", mv.version)
print(lm.model_id, run.info.run_id)
"""


def test_a_model_registered_in_one_process_is_read_in_others(service_env: ServiceEnv) -> None:
    proc = service_env.popen([sys.executable, "-c", REGISTER])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]
    model_id, run_id = out.decode().split()

    assert isinstance(get_store(service_env.uri), ServiceStore)  # this process: a client too
    client = TrackingClient(service_env.uri)
    mv = client.get_model_version_by_alias("churn", "champion")
    assert (mv.version, mv.run_id, mv.model_id, mv.tags) == (
        "1",
        run_id,
        model_id,
        {"by": "writer"},
    )
    lm = client.get_logged_model(model_id)
    assert (lm.status, lm.params, [(m.key, m.value) for m in lm.metrics]) == (
        "READY",
        {"alpha": "0.5"},
        [("acc", 0.93)],
    )
    assert client.get_model_version_download_uri("churn", 1) == lm.artifact_location

    shown = service_env.cli("models", "show", "churn", "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["aliases"] == {"champion": "1"} and record["versions"][0]["model_id"] == model_id
    moved = service_env.cli("models", "alias", "churn", "champion", "9")
    assert moved.returncode == 1 and "no version 9" in moved.stderr
    assert "Traceback" not in moved.stderr
