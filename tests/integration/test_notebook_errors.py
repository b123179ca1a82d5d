"""In a real kernel, our errors show as one readable message and still fail the cell."""

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def test_error_is_one_message_and_stops_the_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import jupyter_mltrack as mt\nmt.set_tracking_uri({str(tmp_path / 's')!r})"
        ),
        nbformat.v4.new_code_cell("mt.get_run('nope')"),
        nbformat.v4.new_code_cell("print('must not run')"),
    ]
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    error = nb.cells[1].outputs[0]
    assert error["output_type"] == "error"
    assert error["ename"] == "RunNotFound"
    text = "\n".join(error["traceback"])
    assert text.startswith("RunNotFound: No run with id 'nope'")
    assert "File " not in text and "site-packages" not in text
    assert nb.cells[2].outputs == []
