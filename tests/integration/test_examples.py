"""The example notebooks run headless (nbclient, a real kernel) into a temp store, and record
what they say they record, so the examples never rot.

Each notebook runs in its own temp directory with ``MLTRACK_TRACKING_URI`` pointing at a
fresh DuckDB file there (direct mode: the kernel is the store's only user while it runs);
``JPY_SESSION_NAME`` names the notebook as Jupyter Server would. After the kernel has shut
down, the test reads the store through the client and the saved widget state of the
executed notebook.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mltrack.testing import reset_tracking_state
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _close_stores() -> Any:
    yield
    reset_tracking_state()  # closes the test's store (and its client's flusher)


def execute(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, TrackingClient]:
    """Run ``examples/<name>`` in ``tmp_path``; return the executed notebook and a client of
    the store it logged to."""
    path = tmp_path / name
    path.write_bytes((EXAMPLES / name).read_bytes())
    uri = "duckdb://" + str(tmp_path / "store" / "store.duckdb")
    monkeypatch.setenv("MLTRACK_TRACKING_URI", uri)  # the kernel inherits these
    monkeypatch.setenv("MLTRACK_STORE_MODE", "direct")
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    print(f"{name}: {time.perf_counter() - started:.1f} s")  # shown with -s; target < 30 s
    nbformat.write(nb, path)
    return nb, TrackingClient(uri)


def widget_states(nb: Any) -> list[dict[str, Any]]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return [m["state"] for m in state.values() if m["model_name"] == "AnyModel"]


def runs_of(client: TrackingClient, experiment: str) -> dict[str, Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"the notebook created no experiment {experiment!r}"
    return {r.info.run_name: r for r in client.search_runs([found.experiment_id])}


def test_quick_tour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb, client = execute("01_quick_tour.ipynb", tmp_path, monkeypatch)
    runs = runs_of(client, "quick-tour")
    assert sorted(runs) == ["first-run", "live-run"]
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    assert runs["first-run"].data.params == {"lr": "0.1", "optimizer": "sgd"}
    assert runs["first-run"].data.tags["purpose"] == "tour"
    assert len(client.get_metric_history(runs["live-run"].info.run_id, "loss")) == 40
    states = widget_states(nb)
    plots = [s for s in states if "metric_keys" in s]
    assert [p["metric_keys"] for p in plots] == [["loss", "accuracy"]]
    tables = [s for s in states if "filter_string" in s]
    assert [t["selected_ids"] for t in tables] == [[runs["first-run"].info.run_id]]


def test_hyperparameter_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb, client = execute("02_hyperparameter_sweep.ipynb", tmp_path, monkeypatch)
    runs = runs_of(client, "sweep")
    assert len(runs) == 8
    for run in runs.values():
        assert set(run.data.params) == {"alpha", "eta0", "penalty", "epochs"}
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 8
    states = widget_states(nb)
    # the brushed one (the other is mt.compare's, not brushed)
    (parcoords,) = [s for s in states if s.get("brushes")]
    assert len([s for s in states if "brushes" in s]) == 2
    assert list(parcoords["brushes"]) == ["metrics.val_accuracy"]
    brushed = parcoords["selected_ids"]
    lo = parcoords["brushes"]["metrics.val_accuracy"][0]
    expected = {r.info.run_id for r in runs.values() if r.data.metrics["val_accuracy"] >= lo}
    assert set(brushed) == expected and len(brushed) >= 2  # the better half
    diffs = [s for s in states if "show_all" in s]
    # the RunDiff of the brushed runs, and the one inside mt.compare (two rows selected)
    assert [len(d["run_ids"]) for d in diffs] == [min(3, len(brushed)), 2]
    assert set(diffs[0]["run_ids"]) <= set(brushed)


def test_sklearn_under_track(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb, client = execute("03_sklearn_track.ipynb", tmp_path, monkeypatch)
    runs = runs_of(client, "sklearn-track")
    assert sorted(runs) == ["strong-regularization", "weak-regularization"]
    weak, strong = runs["weak-regularization"], runs["strong-regularization"]
    assert weak.data.params == {"alpha": "1e-05", "epochs": "15"}
    assert strong.data.params == {"alpha": "0.01", "epochs": "15"}
    assert strong.data.tags["model"] == "sgd"
    for run in (weak, strong):
        assert run.info.status == "FINISHED"
        assert run.data.tags["mltrack.notebook.path"] == str(tmp_path / "03_sklearn_track.ipynb")
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 15
    cell = Path(client.download_artifacts(strong.info.run_id, "code/cell.py", tmp_path / "dl"))
    assert cell.read_text().startswith("alpha = 1e-2\n")
    states = widget_states(nb)
    live = [s for s in states if "metric_keys" in s]
    assert sorted(tuple(p["run_ids"]) for p in live) == sorted(
        [(weak.info.run_id,), (strong.info.run_id,)]
    )  # a live plot under each %%track cell
    (diff,) = [s for s in states if "show_all" in s]
    assert sorted(diff["run_ids"]) == sorted([weak.info.run_id, strong.info.run_id])
