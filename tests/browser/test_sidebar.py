"""JupyterLab in headless Chromium: the sidebar shows the installation and lists runs live as
a notebook logs them. The fixtures (``lab``, ``browser``, ``page``) are in ``conftest.py``,
the page helpers in ``lab_driver.py``; RunTable's test moved to ``test_lab_widgets.py``.

Every wait targets state the page exposes, never elapsed time: JupyterLab's ``restored``
promise (``window.jupyterapp``), ``data-mltrack-ready`` on the body (the plugin activated and
registered its commands), the panel's ``data-mltrack-loaded`` and load counters, rows of
the runs table (``.jp-mltrack-run[data-status]``), kernel status, rendered text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lab_driver import execute, open_lab, write_notebook
from lab_driver import run as _run
from lab_driver import wait_kernel as _wait_kernel

from jupyter_mltrack._version import __version__

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Page state exposed by the extension (src/sidebar/index.ts, src/sidebar/panel.ts).
LOADED = "data-mltrack-loaded"  # on the panel: first load finished ("ok" or "error")
LOADS_DONE = "data-mltrack-loads-done"  # on the panel: loads finished so far
SIDEBAR = "#jp-mltrack-sidebar"
OPEN_SIDEBAR = "mltrack:open-sidebar"
REFRESH_SIDEBAR = "mltrack:refresh-sidebar"


def wait_panel_loaded(page):
    """The sidebar panel, once visible and its first load rendered (without an error)."""
    panel = page.locator(f"{SIDEBAR}[{LOADED}]")
    panel.wait_for(state="visible")
    assert panel.get_attribute(LOADED) == "ok", panel.inner_text()
    return page.locator(SIDEBAR)


def test_sidebar_shows_version_and_store(page, lab) -> None:
    open_lab(page, lab)
    # as a person would: click the sidebar's tab (no keyboard focus involved); the layout is
    # restored by now, so a panel already shown from the workspace stays shown
    if not page.locator(SIDEBAR).is_visible():
        page.locator(f".jp-SideBar .lm-TabBar-tab[data-id='{SIDEBAR[1:]}']").click()

    panel = wait_panel_loaded(page)
    panel.locator(".jp-mltrack-sidebar-body > summary", has_text="Store").click()  # folded
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    assert panel.locator(".jp-mltrack-version").inner_text() == __version__
    assert panel.locator(".jp-mltrack-store-path").inner_text() == str(store)
    assert panel.locator(".jp-mltrack-tracking-uri").inner_text() == f"duckdb://{store}"
    owner = f"this Jupyter server (pid {lab.proc.pid})"
    assert panel.locator(".jp-mltrack-owner").inner_text() == owner
    assert panel.locator(".jp-mltrack-experiment-name", has_text="Default").count() == 1
    assert panel.locator(".jp-mltrack-error").count() == 0

    # the refresh command reloads at once and resolves when the panel shows the result
    done = int(panel.get_attribute(LOADS_DONE) or "0")
    execute(page, REFRESH_SIDEBAR)
    assert int(panel.get_attribute(LOADS_DONE) or "0") > done
    assert panel.locator(".jp-mltrack-error").count() == 0

    # the open command reveals the panel again after the left area was collapsed
    execute(page, "application:toggle-left-area")
    panel.wait_for(state="hidden")
    execute(page, OPEN_SIDEBAR)
    panel.wait_for(state="visible")


LIVE_CELLS = [
    "import jupyter_mltrack as mt\n"
    "from jupyter_mltrack.tracking.fluent import get_client\n"
    "with mt.start_run(run_name='baseline'):\n"
    "    mt.log_metric('loss', 0.75)\n"
    "run = mt.start_run(run_name='sidebar-live-run')\n"
    "for step in range(50):\n"
    "    mt.log_metric('loss', 1 / (step + 1), step=step)\n"
    "mt.flush()\n"
    "print('store:', type(get_client().store).__name__)",
    "mt.end_run()",
]


def test_sidebar_lists_a_run_logged_by_a_notebook_live(page, lab) -> None:
    write_notebook(lab, "live.ipynb", LIVE_CELLS)
    open_lab(page, lab, "lab/tree/live.ipynb")
    _wait_kernel(page, "live.ipynb")
    execute(page, OPEN_SIDEBAR)
    panel = wait_panel_loaded(page)
    page.evaluate("() => { window.__mltrackNoReload = true; }")

    _run(page, "live.ipynb", "notebook:run-cell", index=0)
    # the kernel is a client of the store the server owns (no service, no direct open)
    page.get_by_text("store: ServiceStore").wait_for()
    # everything is logged and flushed: the server's change stream makes the panel re-read
    # the rows in view (no reload, no click); the row appears, RUNNING, with its loss
    live = panel.locator(".jp-mltrack-run[data-status='RUNNING']", has_text="sidebar-live-run")
    live.wait_for()
    loss = live.locator(".jp-mltrack-value[data-column='metrics.loss']")
    page.wait_for_function(
        """() => document.querySelector(
            ".jp-mltrack-run[data-status='RUNNING'] [data-column='metrics.loss']"
        )?.textContent === '0.02'"""
    )
    assert loss.inner_text() == "0.02"
    artifacts = os.environ.get("MLTRACK_BROWSER_ARTIFACTS")
    if artifacts:
        page.screenshot(path=str(Path(artifacts) / "sidebar_running.png"))
    assert (
        panel.locator(".jp-mltrack-run", has_text="baseline").get_attribute("data-status")
        == "FINISHED"
    )

    _run(page, "live.ipynb", "notebook:run-cell", index=1)
    panel.locator(".jp-mltrack-run[data-status='FINISHED']", has_text="sidebar-live-run").wait_for()
    # same page all along: a reload would have dropped the marker
    assert page.evaluate("() => window.__mltrackNoReload === true")
    lock = json.loads((lab.root_dir / "mltrack" / "store.duckdb.lock").read_text())
    assert lock["kind"] == "jupyter" and lock["pid"] == lab.proc.pid
