"""The example notebooks as a new user meets them: opened in a real JupyterLab in headless
Chromium and run; live curves appear under the ``%%track`` cells, a mouse brush on the
parallel coordinates comes back to Python as ``pc.selected``, and a brush in ``mt.compare``
drives its diff and curves.

Waits target widget attributes (``data-mltrack-*``) and values polled from the kernel
(lab_driver.py), never elapsed time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_driver import (
    NOTEBOOK,
    kernel_value,
    open_lab,
    run,
    wait_for,
    wait_kernel,
    wait_kernel_value,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHART = ".mltrack-chart"
PARCOORDS = ".jp-mltrack-parcoords"
DIFF = ".mltrack-rundiff"


def open_example(page, lab, name: str) -> None:
    shutil.copy(EXAMPLES / name, lab.root_dir / name)
    open_lab(page, lab, f"lab/tree/{name}")
    wait_kernel(page, name)
    run(page, name, "notebook:run-all-cells")


def cell(page, path: str, index: int):
    """The notebook's cell ``index``, scrolled into view (JupyterLab may render only the
    cells near the viewport)."""
    page.evaluate(
        f"""async ([path, index]) => {{
          const panel = {NOTEBOOK};
          window.jupyterapp.shell.activateById(panel.id);
          panel.content.activeCellIndex = index;
          await panel.content.scrollToItem(index, 'start');
        }}""",
        [path, index],
    )
    return page.locator(f".jp-Notebook .jp-Cell[data-windowed-list-index='{index}']")


def brush(page, widget, axis: str, top: float, bottom: float) -> None:
    """Drag with the mouse along ``axis`` from ``top`` to ``bottom`` (fractions of its height)."""
    hit = widget.locator(f".jp-mltrack-pc-hit[data-axis='{axis}']")
    hit.scroll_into_view_if_needed()
    box = hit.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * top)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * (top + bottom) / 2, steps=5)
    page.mouse.move(x, box["y"] + box["height"] * bottom, steps=5)
    page.mouse.up()


def test_track_cells_show_live_curves(page, lab) -> None:
    name = "03_sklearn_track.ipynb"
    open_example(page, lab, name)
    # the last cell's diff renders once both %%track runs are done
    wait_for(page, f"{DIFF}[data-mltrack-state='ready']")
    for index in (3, 4):  # the two %%track cells, each with its live plot under it
        chart = cell(page, name, index).locator(CHART)
        chart.wait_for(state="attached")
        page.wait_for_function(
            """(el) => el.getAttribute('data-mltrack-done') === 'true'
                 && Number(el.getAttribute('data-mltrack-points')) >= 30""",
            arg=chart.element_handle(),
        )  # 15 epochs x 2 metrics drawn, and the plot knows the run ended
    assert kernel_value(page, name, "sorted(runs['params.alpha'])") == "['0.01', '1e-05']"


def test_sweep_brush_comes_back_to_python(page, lab) -> None:
    name = "02_hyperparameter_sweep.ipynb"
    open_example(page, lab, name)
    # run-all is done when mt.compare's diff shows the two rows the last cell selects
    page.wait_for_selector(f"{DIFF}[data-mltrack-state='ready'][data-mltrack-runs='2']")
    wait_kernel_value(page, name, "len(view.diff.run_ids)", "2")
    pc = cell(page, name, 4).locator(f"{PARCOORDS}[data-mltrack-state='ready']")
    assert pc.get_attribute("data-mltrack-lines") == "8"

    # the user's brush replaces the notebook's (which reaches the axis' top, 1.0: the user's
    # starts just below the top run); pc.selected is exactly the brushed runs
    notebooks = kernel_value(page, name, "pc.brushes['metrics.val_accuracy']")
    brush(page, pc, "metrics.val_accuracy", 0.02, 0.6)
    wait_kernel_value(
        page,
        name,
        f"pc.brushes['metrics.val_accuracy'] != {notebooks}"
        f" and pc.brushes['metrics.val_accuracy'][1] < {notebooks}[1]",
        "True",
    )
    inside = "runs[runs['metrics.val_accuracy'].between(*pc.brushes['metrics.val_accuracy'])]"
    assert kernel_value(page, name, f"sorted(pc.selected.run_id) == sorted({inside}.run_id)") == (
        "True"
    )
    count = kernel_value(page, name, "len(pc.selected)")
    assert int(count) >= 1
    cell(page, name, 4).locator(f"{PARCOORDS}[data-mltrack-selected='{count}']").wait_for()

    # in mt.compare, a brush selects in the table and drives the diff and the curves
    linked = cell(page, name, 13).locator(f"{PARCOORDS}[data-mltrack-state='ready']")
    brush(page, linked, "metrics.val_accuracy", 0.02, 0.98)
    wait_kernel_value(
        page,
        name,
        "view.parcoords.selected_ids == view.table.selected_ids == view.selected_ids"
        " and sorted(view.diff.run_ids) == sorted(view.selected_ids[:10])"
        " and len(view.selected_ids) > 2",
        "True",
    )
    runs = kernel_value(page, name, "len(view.diff.run_ids)")
    cell(page, name, 13).locator(f"{DIFF}[data-mltrack-runs='{runs}']").wait_for(state="attached")
