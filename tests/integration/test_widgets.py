"""RunTable: construction, selection coming back from the frontend, saved notebook size; the
request channel of every widget through a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from jupyter_mltrack.widgets import RunTable, _bundle


@pytest.fixture
def runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["a1", "b2", "c3"],
            "metrics.loss": [0.5, float("nan"), 0.125],
            "params.lr": ["0.1", "0.01", None],
            "start_time": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
        }
    )


def frontend_update(widget: RunTable, **state: object) -> None:
    """Deliver a state update exactly as the comm does when the browser calls save_changes()."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def test_rows_are_json_safe(runs: pd.DataFrame) -> None:
    table = RunTable(runs)
    assert table._columns == ["run_id", "metrics.loss", "params.lr", "start_time"]
    assert table._row_ids == ["a1", "b2", "c3"]
    assert table._total_rows == 3
    assert table._rows[1][:3] == ["b2", None, "0.01"]  # NaN travels as null
    assert table._rows[0][3].startswith("2026-01-01T00:00:00")
    json.dumps(table.get_state())  # everything synced is plain JSON


def test_selection_comes_back_from_the_frontend(runs: pd.DataFrame) -> None:
    table = RunTable(runs)
    assert table.selected.empty
    frontend_update(table, selected_ids=["c3", "a1"])
    assert table.selected_ids == ["c3", "a1"]
    assert table.selected["run_id"].tolist() == ["a1", "c3"]  # table order
    table.selected_ids = []
    assert table.selected.empty


def test_rows_are_capped(runs: pd.DataFrame) -> None:
    many = pd.DataFrame({"run_id": [f"r{i}" for i in range(30)], "x": range(30)})
    table = RunTable(many, max_rows=10)
    assert len(table._rows) == len(table._row_ids) == 10
    assert table._total_rows == 30
    frontend_update(table, selected_ids=["r3"])
    assert table.selected["x"].tolist() == [3]


def test_index_identifies_rows_without_run_id_column() -> None:
    table = RunTable(pd.DataFrame({"score": [1, 2]}, index=["x", "y"]))
    assert table._row_ids == ["x", "y"]
    frontend_update(table, selected_ids=["y"])
    assert table.selected["score"].tolist() == [2]


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique id per row"):
        RunTable(pd.DataFrame({"run_id": ["a", "a"]}))


def test_missing_bundle_says_how_to_build_it(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bundle, "STATIC_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="jlpm build:widgets"):
        RunTable(runs)


NOTEBOOK_CELLS = [
    "import pandas as pd\n"
    "from jupyter_mltrack.widgets import RunTable\n"
    "t = RunTable(pd.DataFrame({'run_id': ['a1', 'b2'], 'loss': [0.5, 0.25]}))\n"
    "t",
    "t.selected_ids = ['b2']\nprint(t.selected.run_id.tolist())",
]


@pytest.mark.slow
def test_saved_notebook_keeps_small_widget_state(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)

    assert nb.cells[1].outputs[0]["text"] == "['b2']\n"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    tables = [m["state"] for m in state.values() if m["model_name"] == "AnyModel"]
    assert len(tables) == 1
    assert tables[0]["selected_ids"] == ["b2"]  # later cells' changes are saved too
    assert tables[0]["_esm"] == _bundle.bundle_path("runTable.js").read_text()
    text = path.read_text()
    assert "plotly" not in text.lower()
    assert len(text) < 30_000, f"saved notebook is {len(text)} bytes"


KERNEL_WIDGET = """
import numpy as np
from jupyter_mltrack.widgets._base import MltrackWidget, Reply, encode_columns, handles

class Curve(MltrackWidget, bundle="runTable"):
    @handles("points")
    def _points(self, *, n):
        buffers = []
        columns = encode_columns({"x": np.arange(n, dtype="float64"), "name": ["p"] * n}, buffers)
        return Reply({"columns": columns}, buffers)

curve = Curve()
"""


@pytest.mark.slow
def test_request_channel_through_a_real_kernel() -> None:
    """A frontend's request over the kernel's comm gets its answer with the binary buffers."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute(KERNEL_WIDGET)
        comm_id = None
        while comm_id is None:
            msg = kc.get_iopub_msg(timeout=60)
            content = msg["content"]
            if msg["msg_type"] == "comm_open" and "_anywidget_id" in content["data"]["state"]:
                comm_id = content["comm_id"]  # (the first comm_open is its Layout's)
            assert msg["msg_type"] != "error", content

        def ask(request: dict[str, object]) -> tuple[dict[str, object], list[bytes]]:
            data = {"method": "custom", "content": request}
            kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
                    return msg["content"]["data"]["content"], [bytes(b) for b in msg["buffers"]]

        content, buffers = ask({"type": "request", "id": 3, "method": "points", "params": {"n": 3}})
        assert content == {
            "type": "response",
            "id": 3,
            "result": {
                "columns": {
                    "length": 3,
                    "columns": [
                        {"name": "x", "dtype": "float64", "buffer": 0},
                        {"name": "name", "dtype": "string", "values": ["p", "p", "p"]},
                    ],
                }
            },
        }
        assert buffers == [np.arange(3, dtype="<f8").tobytes()]

        content, buffers = ask({"type": "request", "id": 4, "method": "points", "params": {}})
        assert content["id"] == 4 and buffers == []
        assert "missing 1 required keyword-only argument: 'n'" in str(content["error"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
