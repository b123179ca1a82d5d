"""The notebook widgets in a real JupyterLab in headless Chromium, driven with the mouse.

RunTable: 10,000 rows scroll with only the visible ones in the page; a click on a row
changes ``table.selected`` in the kernel; a header click sorts; a bad filter typed in the
box shows the error under it with the position marked. (This replaces
``test_sidebar.py::test_run_table_selection_reaches_the_kernel``.)

Kernel-side state is read with a silent ``user_expressions`` request and polled
(``lab_driver.wait_kernel_value``): a widget's messages reach the kernel asynchronously, so
re-running a cell once and reading its output raced with them.

Set ``MLTRACK_UPDATE_DOCS_IMAGES=1`` to write the screenshots of docs/img/ again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_driver import kernel_execute, kernel_value, open_and_run, wait_for, wait_kernel_value

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def docs_screenshot(locator, name: str) -> None:
    if os.environ.get("MLTRACK_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        locator.screenshot(path=str(DOCS_IMG / name))


TABLE_CELLS = [
    "import numpy as np, pandas as pd\n"
    "from jupyter_mltrack.widgets import RunTable\n"
    "n = 10_000\n"
    "rng = np.random.default_rng(0)\n"
    "df = pd.DataFrame({\n"
    "    'run_id': [f'run-{i:05d}' for i in range(n)],\n"
    "    'metrics.loss': rng.random(n).round(4),\n"
    "    'metrics.acc': (1 - rng.random(n) / 2).round(4),\n"
    "    'params.optimizer': rng.choice(['adam', 'sgd', 'rmsprop'], n),\n"
    "    'params.lr': rng.choice(['0.1', '0.01', '0.001'], n),\n"
    "    'start_time': pd.Timestamp('2026-01-01', tz='UTC')\n"
    "        + pd.to_timedelta(np.arange(n), 'min'),\n"
    "})\n"
    "t = RunTable(df)\n"
    "t",
]
TABLE = ".jp-mltrack-runtable"


def test_run_table_virtualizes_sorts_filters_and_selects(page, lab) -> None:
    path = "runtable.ipynb"
    open_and_run(page, lab, path, TABLE_CELLS)
    table = wait_for(page, f"{TABLE}[data-mltrack-state='ready']")
    assert table.get_attribute("data-mltrack-total") == "10000"
    # only a window of rows exists in the page, and only a block was sent
    rendered = int(table.get_attribute("data-mltrack-rendered-rows") or "0")
    assert 5 < rendered < 60, rendered
    assert int(table.get_attribute("data-mltrack-rows-loaded") or "0") <= 200

    # a click on a row selects it, and the kernel sees it
    table.locator(".jp-mltrack-runtable-row[data-run-id='run-00002']").click()
    wait_kernel_value(page, path, "t.selected['run_id'].tolist()", "['run-00002']")
    assert table.get_attribute("data-mltrack-selected") == "1"

    # scrolling to the end renders the last rows (asked from the kernel on the way)
    table.locator(".jp-mltrack-runtable-scroll").evaluate(
        "(s) => { s.scrollTop = s.scrollHeight; }"
    )
    last = table.locator(".jp-mltrack-runtable-row[data-run-id='run-09999']")
    last.wait_for()
    last.click()
    wait_kernel_value(page, path, "sorted(t.selected_ids)", "['run-00002', 'run-09999']")

    # a header click sorts in the kernel (descending after a second click)
    header = table.locator(".jp-mltrack-runtable-th[data-column='metrics.loss']")
    header.click()
    page.wait_for_selector(
        f"{TABLE}[data-mltrack-state='ready'] [data-column='metrics.loss'][data-sort='asc']"
    )
    wait_kernel_value(page, path, "t.order_by", "['metrics.loss ASC']")
    expected_first = kernel_value(page, path, "df.sort_values('metrics.loss').run_id.iloc[0]")
    first = table.locator(".jp-mltrack-runtable-row[data-row-index='0']")
    assert repr(first.get_attribute("data-run-id")) == expected_first

    # a bad filter typed in the box shows the error under it, the caret at its position
    box = table.locator(".jp-mltrack-runtable-filter")
    box.fill("metrics.acc > 0.9 AND params.optimizer = adam")
    box.press("Enter")
    error = table.locator(".jp-mltrack-runtable-filter-error")
    error.wait_for()
    assert table.get_attribute("data-mltrack-filter-error") == "41"
    assert "found 'adam'" in error.inner_text() or "adam" in error.inner_text()
    caret = error.locator(".jp-mltrack-runtable-filter-caret").inner_text()
    assert caret.splitlines()[1] == " " * 41 + "^"
    assert table.get_attribute("data-mltrack-total") == "10000"  # the rows did not change
    assert kernel_value(page, path, "t.filter_string") == "''"
    docs_screenshot(table, "runtable-filter-error.png")

    # the fixed filter applies: the error goes, the count and the traitlet follow
    box.fill("metrics.acc > 0.9 AND params.optimizer = 'adam'")
    box.press("Enter")
    page.wait_for_selector(f"{TABLE}:not([data-mltrack-filter-error])")
    expected = kernel_value(
        page, path, "str(len(df[(df['metrics.acc'] > 0.9) & (df['params.optimizer'] == 'adam')]))"
    )
    page.wait_for_selector(f"{TABLE}[data-mltrack-total='{expected.strip(chr(39))}']")
    wait_kernel_value(
        page, path, "t.filter_string", "\"metrics.acc > 0.9 AND params.optimizer = 'adam'\""
    )
    docs_screenshot(table, "runtable.png")


PARCOORDS_CELLS = [
    "import numpy as np, pandas as pd\n"
    "from jupyter_mltrack.widgets import ParallelCoordinates\n"
    "n = 300\n"
    "rng = np.random.default_rng(1)\n"
    "df = pd.DataFrame({\n"
    "    'run_id': [f'run-{i:03d}' for i in range(n)],\n"
    "    'params.lr': 10.0 ** -rng.integers(1, 5, n),\n"
    "    'params.optimizer': rng.choice(['adam', 'sgd', 'rmsprop'], n),\n"
    "    'metrics.acc': rng.random(n).round(4),\n"
    "    'metrics.loss': rng.random(n).round(4),\n"
    "    'start_time': pd.Timestamp('2026-01-01', tz='UTC')\n"
    "        + pd.to_timedelta(np.arange(n), 'h'),\n"
    "})\n"
    "pc = ParallelCoordinates(df, axis_types={'params.lr': 'log'},\n"
    "                         axes=['params.lr', 'params.optimizer', 'metrics.acc',\n"
    "                               'metrics.loss', 'start_time'], color='metrics.acc')\n"
    "pc",
]
PARCOORDS = ".jp-mltrack-parcoords"


def test_parallel_coordinates_mouse_brush_reaches_the_kernel(page, lab) -> None:
    path = "parcoords.ipynb"
    open_and_run(page, lab, path, PARCOORDS_CELLS)
    widget = wait_for(page, f"{PARCOORDS}[data-mltrack-state='ready']")
    assert widget.get_attribute("data-mltrack-lines") == "300"
    assert widget.get_attribute("data-mltrack-selected") == "0"

    # a mouse drag along the metrics.acc axis brushes it
    hit = widget.locator(".jp-mltrack-pc-hit[data-axis='metrics.acc']")
    box = hit.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.3, steps=5)
    page.mouse.move(x, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    wait_kernel_value(page, path, "sorted(pc.brushes)", "['metrics.acc']")
    lo, hi = (
        float(v) for v in kernel_value(page, path, "pc.brushes['metrics.acc']")[1:-1].split(",")
    )
    assert 0.3 < lo < 0.65 < hi <= 1.0, (lo, hi)  # roughly the upper half of the axis
    expected = kernel_value(
        page, path, "df[df['metrics.acc'].between(*pc.brushes['metrics.acc'])].run_id.tolist()"
    )
    assert kernel_value(page, path, "pc.selected.run_id.tolist()") == expected
    assert kernel_value(page, path, "pc.selected_ids") == expected
    count = kernel_value(page, path, "len(pc.selected_ids)")
    page.wait_for_selector(f"{PARCOORDS}[data-mltrack-selected='{count}']")
    assert (
        widget.locator(".jp-mltrack-pc-axis[data-axis='metrics.acc'] .jp-mltrack-pc-brush").count()
        == 1
    )

    # brushes set from Python are drawn, and select in the view too
    kernel_execute(
        page, path, "pc.brushes = {'params.optimizer': ['adam'], 'params.lr': [0.001, 0.01]}"
    )
    count = kernel_value(page, path, "len(pc.selected_ids)")
    expected = kernel_value(
        page,
        path,
        "len(df[(df['params.optimizer'] == 'adam') & df['params.lr'].between(0.001, 0.01)])",
    )
    assert count == expected and int(count) > 0
    page.wait_for_selector(f"{PARCOORDS}[data-mltrack-selected='{count}']")
    assert widget.locator(".jp-mltrack-pc-brush").count() == 2
    docs_screenshot(widget, "parcoords.png")

    # a click on an axis (no drag) clears its brush
    box = widget.locator(".jp-mltrack-pc-hit[data-axis='params.lr']").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_kernel_value(page, path, "sorted(pc.brushes)", "['params.optimizer']")
