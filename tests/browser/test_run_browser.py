"""JupyterLab in headless Chromium: the sidebar's run browser lists runs created beforehand
(nested under their parent), sorts on the server, a search narrows the table and a bad one
shows its error with the position. Live status changes are in ``test_sidebar.py``.

Every wait targets page state: rows of the table (``.jp-mltrack-run``), the grid's
``data-mltrack-rows``, the panel's ``data-mltrack-search`` and ``data-mltrack-filter-error``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_driver import execute, open_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIDEBAR = "#jp-mltrack-sidebar"
GRID = f"{SIDEBAR} .jp-mltrack-grid"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

POPULATE = """
import jupyter_mltrack as mt
mt.set_experiment("browse")
with mt.start_run(run_name="sweep"):
    for i in range(12):
        with mt.start_run(run_name=f"trial-{i:02d}", nested=True):
            mt.log_param("lr", str(0.01 * (i + 1)))
            mt.log_metric("acc", 0.5 + i * 0.04)
for i in range(3):
    with mt.start_run(run_name=f"single-{i}"):
        mt.log_metric("acc", 0.1 * i)
mt.flush()
"""


@pytest.fixture(scope="module")
def populated(lab):
    """Runs logged through the server (a script, the way a terminal user would)."""
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    checkout = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "MLTRACK_TRACKING_URI": f"duckdb://{store}",
        "MLTRACK_STORE_MODE": "service",
        "PYTHONPATH": checkout,
    }
    done = subprocess.run(
        [sys.executable, "-c", POPULATE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return lab


def rows_text(page) -> list[str]:
    return page.locator(f"{GRID} .jp-mltrack-run .jp-mltrack-run-name").all_inner_texts()


def wait_rows(page, count: int) -> None:
    page.locator(f"{GRID}[data-mltrack-rows='{count}']").wait_for(state="attached")
    page.wait_for_function(
        f"""() => document.querySelector("{GRID}")?.getAttribute('data-mltrack-drawn')
             === '{count}'"""
    )


def test_browse_sort_search_and_a_bad_filter(page, populated) -> None:
    open_lab(page, populated)
    execute(page, "mltrack:open-sidebar")
    page.locator(f"{SIDEBAR}[data-mltrack-loaded='ok']").wait_for()
    page.locator(f"{SIDEBAR} .jp-mltrack-experiment-picker").select_option(label="browse")

    # nested: the parent and the three single runs; the parent opens on its twisty
    wait_rows(page, 4)
    assert sorted(rows_text(page))[0].endswith("single-0")
    sweep = page.locator(f"{GRID} .jp-mltrack-run", has_text="sweep")
    sweep.locator(".jp-mltrack-twisty").click()
    wait_rows(page, 16)
    assert any(t.endswith("trial-05") for t in rows_text(page))

    # sort by the acc column, on the server (header click; the column is scrolled to first,
    # as a person would in a narrow sidebar)
    body = page.locator(f"{GRID} .jp-mltrack-grid-body")
    body.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    page.locator(f"{GRID} [data-sort-key='metrics.acc']").click()
    page.locator(f"{GRID} [data-sort-key='metrics.acc'][aria-sort='descending']").wait_for()

    # a search narrows the table (flat list: children match on their own)
    search = page.locator(f"{SIDEBAR} .jp-mltrack-search")
    search.fill("metrics.acc > 0.85")
    search.press("Enter")
    page.locator(f"{SIDEBAR}[data-mltrack-search='metrics.acc > 0.85']").wait_for(state="attached")
    wait_rows(page, 3)  # acc 0.86, 0.90, 0.94
    names = [t.strip() for t in rows_text(page)]
    assert names == ["trial-11", "trial-10", "trial-09"], names  # acc, descending
    values = page.locator(f"{GRID} .jp-mltrack-value[data-column='metrics.acc']")
    assert values.all_inner_texts() == ["0.94", "0.9", "0.86"]
    page.locator(f"{SIDEBAR} .jp-mltrack-count", has_text="3 runs").wait_for()
    if os.environ.get("MLTRACK_UPDATE_SCREENSHOTS") or not (DOCS_IMG / "sidebar.png").exists():
        # a wider left area for the picture (JupyterLab's private split panel: best effort)
        page.evaluate(
            """() => { try { window.jupyterapp.shell._hsplitPanel
                         .setRelativeSizes([0.32, 0.68, 0]); } catch (e) {} }"""
        )
        page.wait_for_function(
            f"() => document.querySelector('{SIDEBAR}').getBoundingClientRect().width > 300"
        )
        page.locator(SIDEBAR).screenshot(path=str(DOCS_IMG / "sidebar.png"))

    # a bad filter: the error, with a caret under the offending position
    search.fill("metrics.acc >> 1")
    search.press("Enter")
    page.locator(f"{SIDEBAR}[data-mltrack-filter-error='13']").wait_for(state="attached")
    error = page.locator(f"{SIDEBAR} .jp-mltrack-search-error")
    assert error.is_visible()
    text = error.inner_text()
    assert "position 13" in text and text.splitlines()[-1] == " " * 13 + "^", text
    assert "jp-mltrack-invalid" in (search.get_attribute("class") or "")

    # clearing the search brings the nested view back
    search.fill("")
    search.press("Enter")
    page.wait_for_function(
        f"""() => !document.querySelector("{SIDEBAR}").hasAttribute('data-mltrack-filter-error')"""
    )
    assert not error.is_visible()
