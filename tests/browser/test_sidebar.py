"""JupyterLab in headless Chromium: the sidebar shows the installation and lists runs live as
a notebook logs them; RunTable selects runs.

Needs Debian's /usr/bin/chromium and the built lab extension. Under CI (env var ``CI`` set)
their absence fails the tests; elsewhere it skips them with the reason.
Set ``MLTRACK_BROWSER_ARTIFACTS=<dir>`` to keep screenshots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_core.paths import jupyter_path

from jupyter_mltrack._version import __version__

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # reported by the `lab` fixture (fails under CI, skips elsewhere)
    PlaywrightTimeout = TimeoutError  # type: ignore[misc,assignment]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 60_000


def _missing_requirement() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if PlaywrightTimeout is TimeoutError:
        return "Python playwright is not installed (pip install -e '.[test]')"
    if not any(
        (Path(d) / "jupyter-mltrack" / "package.json").is_file()
        for d in jupyter_path("labextensions")
    ):
        return "the jupyter-mltrack lab extension is not built/installed (pip install -e .)"
    return None


@pytest.fixture(scope="module")
def lab(start_jupyter, tmp_path_factory: pytest.TempPathFactory):
    reason = _missing_requirement()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests cannot run in CI: {reason}.")
        pytest.skip(reason)
    settings = tmp_path_factory.mktemp("lab-settings")
    news_off = {"fetchNews": "false", "checkForUpdates": False}
    (settings / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": news_off})
    )
    server = start_jupyter(
        "lab",
        f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}",
        f"--LabApp.app_settings_dir={settings}",
        "--LabApp.expose_app_in_browser=True",
        # the product's defaults: the server's own store, kernels in service mode
        env={"MLTRACK_TRACKING_URI": None, "MLTRACK_STORE_MODE": None},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(lab) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab, request: pytest.FixtureRequest):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    artifacts = os.environ.get("MLTRACK_BROWSER_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(artifacts) / f"{request.node.name}.png"))
    context.close()


def open_lab(page, lab, path: str = "lab") -> None:
    page.goto(f"{lab.url}{path}?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")


def run_from_palette(page, label: str) -> None:
    """Run a command as a person would: Ctrl+Shift+C, type its label, click it."""
    palette = page.locator(".jp-ModalCommandPalette")
    for _ in range(20):  # keys pressed while Lab still moves focus at startup can be lost
        page.keyboard.press("Control+Shift+C")
        try:
            palette.wait_for(state="visible", timeout=1_000)
            break
        except PlaywrightTimeout:
            continue
    palette.locator("input").fill(label)
    palette.locator(".lm-CommandPalette-item", has_text=label).click()


def test_sidebar_shows_version_and_store(page, lab) -> None:
    open_lab(page, lab)
    run_from_palette(page, "Open Experiment Tracking Sidebar")

    panel = page.locator("#jp-mltrack-sidebar")
    panel.wait_for(state="visible")
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    assert panel.locator(".jp-mltrack-version").inner_text() == __version__
    assert panel.locator(".jp-mltrack-store-path").inner_text() == str(store)
    assert panel.locator(".jp-mltrack-tracking-uri").inner_text() == f"duckdb://{store}"
    owner = f"this Jupyter server (pid {lab.proc.pid})"
    assert panel.locator(".jp-mltrack-owner").inner_text() == owner
    panel.locator(".jp-mltrack-experiment-name", has_text="Default").wait_for()
    assert panel.locator(".jp-mltrack-error").count() == 0


CELLS = [
    "import pandas as pd\n"
    "from jupyter_mltrack.widgets import RunTable\n"
    "t = RunTable(pd.DataFrame({'run_id': ['a1', 'b2', 'c3'], 'loss': [0.5, 0.25, 0.125]}))\n"
    "t",
    "print('selected:', t.selected_ids)",
]

_KERNEL_CONNECTED = """() => {
  const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
  return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
}"""


def test_run_table_selection_reaches_the_kernel(page, lab) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, lab.root_dir / "runs.ipynb")
    open_lab(page, lab, "lab/tree/runs.ipynb")
    page.wait_for_function(_KERNEL_CONNECTED)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    row = page.locator(".mltrack-runtable tr[data-run-id='b2']")
    row.wait_for(state="visible")
    page.get_by_text("selected: []").wait_for()
    row.click()
    page.wait_for_selector(".mltrack-runtable tr.mltrack-runtable-selected[data-run-id='b2']")

    # Re-run only the second cell; its output shows what the kernel received.
    page.evaluate(
        """async () => {
          const panel = window.jupyterapp.shell.currentWidget;
          panel.content.activeCellIndex = 1;
          await window.jupyterapp.commands.execute('notebook:run-cell');
        }"""
    )
    page.get_by_text("selected: ['b2']").wait_for()


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


_NOTEBOOK = (
    "Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context?.path === path)"
)


def _wait_kernel(page, path: str) -> None:
    """Wait until the notebook ``path`` is open and its kernel connected and idle (other
    notebooks restored from the workspace may be the current widget meanwhile)."""
    page.wait_for_function(
        f"""(path) => {{
          const kernel = ({_NOTEBOOK})?.sessionContext?.session?.kernel;
          return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
        }}""",
        arg=path,
    )


def _run_cell(page, path: str, index: int) -> None:
    """Run one cell of the open notebook ``path`` (activated first: the palette and the
    sidebar move the focus)."""
    page.evaluate(
        f"""async ([path, index]) => {{
          const app = window.jupyterapp;
          const panel = {_NOTEBOOK};
          app.shell.activateById(panel.id);
          panel.content.activeCellIndex = index;
          await app.commands.execute('notebook:run-cell');
        }}""",
        [path, index],
    )


def test_sidebar_lists_a_run_logged_by_a_notebook_live(page, lab) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in LIVE_CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, lab.root_dir / "live.ipynb")
    open_lab(page, lab, "lab/tree/live.ipynb")
    _wait_kernel(page, "live.ipynb")
    run_from_palette(page, "Open Experiment Tracking Sidebar")
    panel = page.locator("#jp-mltrack-sidebar")
    panel.locator(".jp-mltrack-status-line", has_text="Updated").wait_for()
    page.evaluate("() => { window.__mltrackNoReload = true; }")

    _run_cell(page, "live.ipynb", 0)
    # the kernel is a client of the store the server owns (no service, no direct open)
    page.get_by_text("store: ServiceStore").wait_for()
    live = panel.locator(".jp-mltrack-run", has_text="sidebar-live-run")
    live.wait_for()  # polled in by the panel: no reload, no click
    assert live.get_attribute("data-status") == "RUNNING"
    artifacts = os.environ.get("MLTRACK_BROWSER_ARTIFACTS")
    if artifacts:
        page.screenshot(path=str(Path(artifacts) / "sidebar_running.png"))
    assert live.locator(".jp-mltrack-run-metric").inner_text() == "loss 0.02"
    assert (
        panel.locator(".jp-mltrack-run", has_text="baseline").get_attribute("data-status")
        == "FINISHED"
    )

    _run_cell(page, "live.ipynb", 1)
    panel.locator(".jp-mltrack-run[data-status='FINISHED']", has_text="sidebar-live-run").wait_for()
    # same page all along: a reload would have dropped the marker
    assert page.evaluate("() => window.__mltrackNoReload === true")
    lock = json.loads((lab.root_dir / "mltrack" / "store.duckdb.lock").read_text())
    assert lock["kind"] == "jupyter" and lock["pid"] == lab.proc.pid
