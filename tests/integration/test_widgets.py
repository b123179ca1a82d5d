"""A saved notebook keeps small widget state; the request channel of every widget through a
real kernel. (RunTable's own tests are in test_run_table.py.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from jupyter_mltrack.widgets import _bundle

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
