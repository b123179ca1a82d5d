"""JupyterLab in headless Chromium: the model registry view (issue 12). A model with two
versions registered from a run (through the server, as a terminal user would); the view,
opened from the sidebar's *Models* button, lists it with its versions, each linked to its
run and that run's metrics; an alias set in the view is what a Python client of the same
store resolves; the run detail lists the versions the run produced.

Every wait targets page state: ``data-mltrack-registry``, ``data-mltrack-model``,
``data-mltrack-action`` (src/views/registry.ts), ``data-mltrack-models`` of the run view.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_driver import execute, open_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REGISTRY = ".jp-mltrack-registry"
RUN_VIEW = ".jp-mltrack-run-view"

POPULATE = r"""
import json
import jupyter_mltrack as mt

mt.set_experiment("registry-view")
with mt.start_run(run_name="train-churn") as run:
    mt.log_metric("acc", 0.93)
    mt.log_text("weights", "model/weights.txt")
client = mt.TrackingClient()
client.create_registered_model("churn", description="predicts churn")
for _ in range(2):
    client.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id)
mt.flush()
print(json.dumps(run.info.run_id))
"""

RESOLVE = r"""
import sys
import jupyter_mltrack as mt
print(mt.TrackingClient().get_model_version_by_alias("churn", sys.argv[1]).version)
"""


def _env(lab) -> dict[str, str]:
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    return {
        **os.environ,
        "MLTRACK_TRACKING_URI": f"duckdb://{store}",
        "MLTRACK_STORE_MODE": "service",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }


@pytest.fixture(scope="module")
def run_id(lab) -> str:
    done = subprocess.run(
        [sys.executable, "-c", POPULATE], env=_env(lab), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1]))


def test_set_an_alias_in_the_registry_view_and_resolve_it_in_python(page, lab, run_id) -> None:
    open_lab(page, lab)
    execute(page, "mltrack:open-sidebar")
    page.locator("#jp-mltrack-sidebar .jp-mltrack-open-registry").click()
    view = page.locator(f"{REGISTRY}[data-mltrack-registry='ready'][data-mltrack-model='churn']")
    view.wait_for()
    rows = view.locator("tr[data-version]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.version)") == ["2", "1"]
    newest = view.locator("tr[data-version='2']")
    assert newest.locator(".jp-mltrack-run-link").get_attribute("data-run-id") == run_id
    assert "acc=0.93" in newest.locator(".jp-mltrack-registry-metrics").inner_text()

    # a bad alias is refused in the view, with the reason
    newest.locator(".jp-mltrack-alias-input").fill("v1")
    newest.locator(".jp-mltrack-alias-set").click()
    page.locator(f"{REGISTRY}[data-mltrack-action='error']").wait_for()
    assert "reserved" in view.locator(".jp-mltrack-registry-message").inner_text()

    newest.locator(".jp-mltrack-alias-input").fill("champion")
    newest.locator(".jp-mltrack-alias-input").press("Enter")
    view.locator("tr[data-version='2'] [data-alias='champion']").wait_for()
    assert view.get_attribute("data-mltrack-action") == "done"
    assert "@champion" in view.locator(".jp-mltrack-registry-aliases").inner_text()

    # what Python sees, through the server that owns the store
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE, "champion"], env=_env(lab), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2"

    # the loading code, and the version's run: its detail lists the versions it produced
    newest.locator(".jp-mltrack-copy-code").click()
    page.wait_for_function(
        f"""() => document.querySelector("{REGISTRY}")?.dataset.mltrackCopied
                   ?.includes('mt.models.load_model("models:/churn@champion")')"""
    )
    newest.locator(".jp-mltrack-run-link").click()
    models = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready'] .jp-mltrack-run-models")
    page.locator(
        f"{RUN_VIEW}[data-mltrack-run='ready'] .jp-mltrack-run-models[data-mltrack-models='2']"
    ).wait_for()
    links = models.locator(".jp-mltrack-model-link")
    assert sorted(links.all_inner_texts()) == ["churn v1", "churn v2"]
