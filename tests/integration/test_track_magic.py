"""``%%track`` in real kernels: notebooks executed headless with nbclient, then the store read.

Each test gives the kernel its own store and ``JPY_SESSION_NAME`` (what Jupyter Server sets
for a notebook's kernel; nbclient starts kernels without it). The store is opened directly
by the kernel and read here after the kernel has exited, except in the interrupt test, which
reads it while the cell runs (through the store service).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from service_support import service_env_fixture  # noqa: F401  (fixture)

from jupyter_mltrack.entities import Run
from jupyter_mltrack.tracking.client import TrackingClient
from jupyter_mltrack.widgets._bundle import bundle_path

pytestmark = pytest.mark.slow

NOTEBOOK_PATH = "projects/churn/train.ipynb"


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store URI the kernels of this test use (direct mode, their own store)."""
    uri = "duckdb://" + str(tmp_path / "store" / "store.duckdb")
    monkeypatch.setenv("MLTRACK_TRACKING_URI", uri)
    monkeypatch.setenv("MLTRACK_STORE_MODE", "direct")
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK_PATH)
    monkeypatch.delenv("MLTRACK_EXPERIMENT_NAME", raising=False)
    return uri


def execute(tmp_path: Path, *sources: str) -> nbformat.NotebookNode:
    """Run the cells in one fresh kernel (errors do not stop it); the executed notebook."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    return nb


def runs_by_name(uri: str) -> dict[str, list[Run]]:
    """Every run of every experiment, oldest first, grouped by run name."""
    client = TrackingClient(uri)
    try:
        ids = [e.experiment_id for e in client.search_experiments(view_type="ALL")]
        runs = sorted(client.search_runs(ids, max_results=1000), key=lambda r: r.info.start_time_ms)
    finally:
        client.close()
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.info.run_name, []).append(run)
    return grouped


def artifact(run: Run, path: str) -> str:
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    return (root / path).read_text()


def error_of(cell: Any) -> dict[str, Any]:
    errors = [o for o in cell.outputs if o["output_type"] == "error"]
    assert len(errors) == 1, cell.outputs
    return dict(errors[0])


def text_of(cell: Any) -> str:
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


SETUP = "import jupyter_mltrack as mt\nseed = 7"
TRAIN = """\
%%track --name train --no-live
lr = 0.01
layers = [64, 32]
name, dropout = "mlp", 0.5
model = object()
for step in range(5):
    mt.log_metric("loss", 1.0 / (step + 1), step=step)
lr * 2
"""


def test_a_cell_becomes_a_run_with_its_source_notebook_and_params(
    tmp_path: Path, kernel_env: str
) -> None:
    nb = execute(tmp_path, SETUP, TRAIN, TRAIN, "print(mt.active_run())")

    # the cell's last expression is its output, as without the magic
    assert nb.cells[1].outputs[-1]["data"]["text/plain"] == "0.02"
    assert nb.cells[3].outputs[0]["text"] == "None\n"  # no run left active
    trained = runs_by_name(kernel_env)["train"]  # re-running the cell: a new run
    first, second = sorted(trained, key=lambda r: int(r.data.tags["mltrack.cell.execution_count"]))
    assert first.info.run_id != second.info.run_id
    base = int(first.data.tags["mltrack.cell.execution_count"])  # the kernel may count a setup
    for run, count in ((first, base), (second, base + 1)):
        assert run.info.status == "FINISHED"
        assert run.data.metrics["loss"] == pytest.approx(0.2)
        # the simple literal assignments, with their values after the cell
        assert run.data.params == {
            "lr": "0.01",
            "layers": "[64, 32]",
            "name": "mlp",
            "dropout": "0.5",
        }
        tags = run.data.tags
        assert tags["mltrack.notebook.path"] == NOTEBOOK_PATH
        assert tags["mlflow.source.name"] == NOTEBOOK_PATH  # no such file: kept as given
        assert tags["mlflow.source.type"] == "NOTEBOOK"
        assert tags["mltrack.cell.execution_count"] == str(count)
        assert "mltrack.python" in tags  # the run context start_run captures
        assert artifact(run, "code/cell.py") == TRAIN.split("\n", 1)[1]
        assert "jupyter-mltrack==" in artifact(run, "environment/requirements.txt")
    assert artifact(first, "code/history.py") == f"# In[1]:\n{SETUP}\n\n"
    history = artifact(second, "code/history.py")
    assert history == f"# In[1]:\n{SETUP}\n\n# In[2]:\n{TRAIN.rstrip()}\n\n"


def test_history_ends_before_the_running_cell_when_the_count_runs_ahead(
    tmp_path: Path, kernel_env: str
) -> None:
    """A kernel whose execution count is ahead of its input list (an execution counted but
    not stored, as a last CI machine's kernel did): the history still stops before the cell."""
    bump = "get_ipython().execution_count += 1"
    execute(tmp_path, SETUP, bump, TRAIN)
    (run,) = runs_by_name(kernel_env)["train"]
    assert artifact(run, "code/history.py") == f"# In[1]:\n{SETUP}\n\n# In[2]:\n{bump}\n\n"


def test_an_exception_fails_the_run_and_reaches_the_notebook(
    tmp_path: Path, kernel_env: str
) -> None:
    nb = execute(
        tmp_path,
        SETUP,
        "%%track --name broken --no-live\nbatch = 32\nmt.log_metric('loss', 3.0)\n1 / 0",
        "%%track --name next --no-live\nok = True",
        "mt.search_runs(output_format='list')",
    )
    error = error_of(nb.cells[1])
    assert error["ename"] == "ZeroDivisionError"
    trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    # the user's line, numbered as in the notebook cell; none of our frames
    assert "----> 4 1 / 0" in trace
    assert "----> 1 %%track --name broken" in trace
    assert "jupyter_mltrack" not in trace
    assert nb.cells[2].outputs == []  # the next cell runs as usual

    runs = runs_by_name(kernel_env)
    (broken,) = runs["broken"]
    assert broken.info.status == "FAILED"
    assert broken.data.params == {"batch": "32"}  # logged even though the cell failed
    assert broken.data.metrics == {"loss": 3.0}
    assert runs["next"][0].info.status == "FINISHED"

    # the rich display of a search result: a badge per run, readable text
    data = nb.cells[3].outputs[0]["data"]
    assert 'data-mltrack-status="FAILED"' in data["text/html"]
    assert 'data-mltrack-status="FINISHED"' in data["text/html"]
    assert data["text/plain"].splitlines()[0] == "2 runs"
    assert "broken" in data["text/plain"] and "FAILED" in data["text/plain"]


def test_a_run_left_open_by_a_failed_cell_does_not_block_the_next(
    tmp_path: Path, kernel_env: str
) -> None:
    nb = execute(
        tmp_path,
        SETUP,
        # MLflow's frequent complaint: the run stays active after the error
        "run = mt.start_run(run_name='leftover')\nraise ValueError('boom')",
        "%%track --name after --no-live\nx = 1",
        "deliberate = mt.start_run(run_name='deliberate')",
        "%%track --name refused --no-live\ny = 2",
        "%%track --name child --nested --no-live\nz = 3",
        "mt.end_run()",
    )
    assert error_of(nb.cells[1])["ename"] == "ValueError"
    note = text_of(nb.cells[2])
    assert "run 'leftover'" in note and "left active by cell [2]" in note
    assert "ended FAILED" in note
    # a run the user started on purpose is not ended behind their back
    error = error_of(nb.cells[4])
    assert error["ename"] == "InvalidState"
    assert "'deliberate'" in error["evalue"] and "--nested" in error["evalue"]
    assert nb.cells[5].outputs == [] and nb.cells[6].outputs == []

    runs = runs_by_name(kernel_env)
    assert runs["leftover"][0].info.status == "FAILED"
    assert runs["after"][0].info.status == "FINISHED"
    assert "refused" not in runs
    deliberate, child = runs["deliberate"][0], runs["child"][0]
    assert child.info.parent_run_id == deliberate.info.run_id
    assert child.info.status == "FINISHED" and deliberate.info.status == "FINISHED"


def test_params_tags_experiments_and_argument_errors(tmp_path: Path, kernel_env: str) -> None:
    nb = execute(
        tmp_path,
        "%load_ext jupyter_mltrack",
        "%track_experiment churn",
        "%%track --name explicit --params lr,model --tags team=vision stage=dev --no-live\n"
        "lr = 0.1\nignored = 5\nmodel = 'gbm'",
        "%%track --name elsewhere -e other-exp --no-live\nk = 1",
        "%%track --name typo --params lr,missing --no-live\nlr = 0.2",
        "%%track --name bad --tags novalue\nx = 1",
        "%%track --colour red\nx = 1",
        "import jupyter_mltrack as mt\nmt.get_experiment_by_name('churn')",
    )
    # %track_experiment shows the experiment it set
    exp_html = nb.cells[1].outputs[0]["data"]["text/html"]
    assert "churn" in exp_html and 'data-mltrack-status="active"' in exp_html
    error = error_of(nb.cells[4])
    assert error["ename"] == "InvalidParameter"
    assert "missing is not defined after the cell" in error["evalue"]
    for index, words in ((5, "--tags takes key=value pairs"), (6, "unrecognized arguments")):
        error = error_of(nb.cells[index])
        assert error["ename"] == "InvalidParameter"
        assert words in error["evalue"]
        # one readable message, not argparse's SystemExit or a traceback
        assert error["traceback"][0].startswith("InvalidParameter: %%track:")
        assert len(error["traceback"]) == 2

    runs = runs_by_name(kernel_env)
    assert "bad" not in runs and len(runs) == 3
    explicit, elsewhere, typo = runs["explicit"][0], runs["elsewhere"][0], runs["typo"][0]
    assert explicit.data.params == {"lr": "0.1", "model": "gbm"}
    assert explicit.data.tags["team"] == "vision" and explicit.data.tags["stage"] == "dev"
    assert typo.data.params == {"lr": "0.2"}
    assert typo.info.status == "FINISHED"  # the cell itself succeeded
    client = TrackingClient(kernel_env)
    try:
        churn = client.get_experiment_by_name("churn")
        other = client.get_experiment_by_name("other-exp")
    finally:
        client.close()
    assert churn is not None and other is not None
    assert explicit.info.experiment_id == churn.experiment_id == typo.info.experiment_id
    assert elsewhere.info.experiment_id == other.experiment_id


def test_a_live_plot_of_the_run_appears_under_the_cell(tmp_path: Path, kernel_env: str) -> None:
    nb = execute(
        tmp_path,
        SETUP,
        "%%track --name plotted\nfor step in range(20):\n    mt.log_metric('loss', 1 / (1 + step))",
        "%%track --name quiet --no-live\nx = 1",
    )
    (plotted,) = runs_by_name(kernel_env)["plotted"]
    views = [o for o in nb.cells[1].outputs if o["output_type"] == "display_data"]
    assert len(views) == 1, nb.cells[1].outputs
    model_id = views[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    plot = state[model_id]["state"]
    assert plot["_esm"] == bundle_path("livePlot.js").read_text()  # LivePlot's bundle
    assert plot["run_ids"] == [plotted.info.run_id]
    assert nb.cells[2].outputs == []  # --no-live: nothing under the cell
    assert [m["model_name"] for m in state.values()].count("AnyModel") == 1


def test_the_cell_id_jupyterlab_sends_is_recorded(tmp_path: Path, kernel_env: str) -> None:
    """JupyterLab puts the cell id in the execute request's metadata (nbclient does not)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    client = NotebookClient(nb, timeout=180, kernel_name="python3")
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        kc = client.kc
        content = {
            "code": "%%track --name with-id --no-live\nx = 1",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = kc.session.msg("execute_request", content, metadata={"cellId": "cell-abc-123"})
        kc.shell_channel.send(msg)
        reply = client.wait_for_reply(msg["header"]["msg_id"], nb.cells[0])
        assert reply is not None and reply["content"]["status"] == "ok", reply
    (run,) = runs_by_name(kernel_env)["with-id"]
    assert run.data.tags["mltrack.cell.id"] == "cell-abc-123"


def interrupt(client: NotebookClient) -> None:
    """``km.interrupt_kernel()`` from a thread (nbclient's kernel manager returns a
    coroutine when called off its event loop)."""
    assert client.km is not None
    result = client.km.interrupt_kernel()
    if inspect.isawaitable(result):
        asyncio.run(result)  # type: ignore[arg-type]


LOOP = """\
%%track --name looping --no-live
import time
step = 0
while True:
    mt.log_metric("loss", 1.0 / (step + 1), step=step)
    step += 1
    time.sleep(0.005)
"""


def test_an_interrupt_kills_the_run_and_the_kernel_goes_on(
    tmp_path: Path, service_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", NOTEBOOK_PATH)
    cells = [SETUP, LOOP, "%%track --name after --no-live\nx = 1"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    client = NotebookClient(nb, timeout=150, kernel_name="python3", allow_errors=True)
    reader = TrackingClient(service_env.uri)
    seen: dict[str, str] = {}
    stop = threading.Event()

    def interrupt_once_running() -> None:
        # Poll the store (not the clock): interrupt once the run and its points are visible.
        deadline = time.monotonic() + 120
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                runs = reader.search_runs(["0"], "run_name = 'looping'")
                if runs and runs[0].info.status == "RUNNING" and "loss" in runs[0].data.metrics:
                    seen["run_id"] = runs[0].info.run_id
                    interrupt(client)
                    return
                stop.wait(0.05)
        except Exception as exc:  # reported by the test, not lost in the thread
            seen["error"] = f"{type(exc).__name__}: {exc}"
            interrupt(client)  # end the endless cell

    try:
        with client.setup_kernel():
            client.execute_cell(nb.cells[0], 0)
            poller = threading.Thread(target=interrupt_once_running, daemon=True)
            poller.start()
            client.execute_cell(nb.cells[1], 1)
            stop.set()
            poller.join(30)
            client.execute_cell(nb.cells[2], 2)
        assert "error" not in seen, seen["error"]
        assert "run_id" in seen, "the run never became visible in the store"
        assert error_of(nb.cells[1])["ename"] == "KeyboardInterrupt"
        assert nb.cells[2].outputs == []
        looping = reader.get_run(seen["run_id"])
        assert looping.info.status == "KILLED"
        assert int(looping.data.params["step"]) > 0  # its value when the interrupt came
        (after,) = reader.search_runs(["0"], "run_name = 'after'")
        assert after.info.status == "FINISHED"
    finally:
        stop.set()
        reader.close()
