"""JupyterLab in headless Chromium: the sidebar shows the installation and lists runs live as
a notebook logs them; RunTable selects runs.

Needs Debian's /usr/bin/chromium and the built lab extension. Under CI (env var ``CI`` set)
their absence fails the tests; elsewhere it skips them with the reason.
Set ``MLTRACK_BROWSER_ARTIFACTS=<dir>`` to keep screenshots.

Every wait targets state the page exposes, never elapsed time: JupyterLab's ``restored``
promise (``window.jupyterapp``), ``data-mltrack-ready`` on the body (the plugin activated and
registered its commands), the panel's ``data-mltrack-loaded`` and load counters, kernel
status, rendered text. ``TIMEOUT_MS`` only bounds each wait (``MLTRACK_BROWSER_TIMEOUT_S``
raises it on a very slow machine); a fast machine never waits for it.
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
# An upper bound per wait, not a sleep: generous, so a loaded machine is slow but not failing.
TIMEOUT_MS = int(float(os.environ.get("MLTRACK_BROWSER_TIMEOUT_S", "120")) * 1000)

# Page state exposed by the extension (src/sidebar/index.ts, src/sidebar/panel.ts).
READY = "data-mltrack-ready"  # on <body>: plugin activated, commands registered
LOADED = "data-mltrack-loaded"  # on the panel: first load finished ("ok" or "error")
LOADS_STARTED = "data-mltrack-loads-started"  # on the panel: loads started so far
LOADS_DONE = "data-mltrack-loads-done"  # on the panel: loads finished so far
SIDEBAR = "#jp-mltrack-sidebar"
OPEN_SIDEBAR = "mltrack:open-sidebar"
REFRESH_SIDEBAR = "mltrack:refresh-sidebar"


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
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
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
    """Load JupyterLab and wait until it restored its layout and our plugin is active."""
    page.goto(f"{lab.url}{path}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(
        "() => { window.jupyterapp.restored.then(() => { window.__mltrackLabRestored = true; }); }"
    )
    page.wait_for_function("() => window.__mltrackLabRestored === true")
    page.wait_for_selector(f"body[{READY}='true']", state="attached")


def execute(page, command: str) -> None:
    """Run a JupyterLab command through the app's command registry and await its result."""
    page.evaluate("(id) => window.jupyterapp.commands.execute(id).then(() => true)", command)


def wait_panel_loaded(page):
    """The sidebar panel, once visible and its first load rendered (without an error)."""
    panel = page.locator(f"{SIDEBAR}[{LOADED}]")
    panel.wait_for(state="visible")
    assert panel.get_attribute(LOADED) == "ok", panel.inner_text()
    return page.locator(SIDEBAR)


def wait_fresh_load(page) -> None:
    """Wait until a load that started after this call has finished and rendered (the panel
    polls by itself; loads run one at a time, so load n + 1 starts after now)."""
    started = int(page.locator(SIDEBAR).get_attribute(LOADS_STARTED) or "0")
    page.wait_for_function(
        f"""(started) => Number(document.querySelector('{SIDEBAR}')
              ?.getAttribute('{LOADS_DONE}')) > started""",
        arg=started,
    )


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


def _run(page, path: str, command: str, index: int | None = None) -> None:
    """Run ``command`` on the open notebook ``path``, activated first (other widgets, the
    sidebar too, may hold the focus); ``index`` selects the active cell first."""
    page.evaluate(
        f"""async ([path, command, index]) => {{
          const app = window.jupyterapp;
          const panel = {_NOTEBOOK};
          app.shell.activateById(panel.id);
          if (index !== null) {{
            panel.content.activeCellIndex = index;
          }}
          await app.commands.execute(command);
        }}""",
        [path, command, index],
    )


def test_sidebar_shows_version_and_store(page, lab) -> None:
    open_lab(page, lab)
    # as a person would: click the sidebar's tab (no keyboard focus involved); the layout is
    # restored by now, so a panel already shown from the workspace stays shown
    if not page.locator(SIDEBAR).is_visible():
        page.locator(f".jp-SideBar .lm-TabBar-tab[data-id='{SIDEBAR[1:]}']").click()

    panel = wait_panel_loaded(page)
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


CELLS = [
    "import pandas as pd\n"
    "from jupyter_mltrack.widgets import RunTable\n"
    "t = RunTable(pd.DataFrame({'run_id': ['a1', 'b2', 'c3'], 'loss': [0.5, 0.25, 0.125]}))\n"
    "t",
    "print('selected:', t.selected_ids)",
]


def test_run_table_selection_reaches_the_kernel(page, lab) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, lab.root_dir / "runs.ipynb")
    open_lab(page, lab, "lab/tree/runs.ipynb")
    _wait_kernel(page, "runs.ipynb")
    _run(page, "runs.ipynb", "notebook:run-all-cells")

    row = page.locator(".mltrack-runtable tr[data-run-id='b2']")
    row.wait_for(state="visible")
    page.get_by_text("selected: []").wait_for()
    row.click()
    page.wait_for_selector(".mltrack-runtable tr.mltrack-runtable-selected[data-run-id='b2']")

    # Re-run only the second cell; its output shows what the kernel received.
    _run(page, "runs.ipynb", "notebook:run-cell", index=1)
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


def test_sidebar_lists_a_run_logged_by_a_notebook_live(page, lab) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in LIVE_CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, lab.root_dir / "live.ipynb")
    open_lab(page, lab, "lab/tree/live.ipynb")
    _wait_kernel(page, "live.ipynb")
    execute(page, OPEN_SIDEBAR)
    panel = wait_panel_loaded(page)
    page.evaluate("() => { window.__mltrackNoReload = true; }")

    _run(page, "live.ipynb", "notebook:run-cell", index=0)
    # the kernel is a client of the store the server owns (no service, no direct open)
    page.get_by_text("store: ServiceStore").wait_for()
    # everything is logged and flushed: the next load the panel starts by itself shows it
    wait_fresh_load(page)  # polled in by the panel: no reload, no click
    live = panel.locator(".jp-mltrack-run", has_text="sidebar-live-run")
    assert live.count() == 1, panel.inner_text()
    assert live.get_attribute("data-status") == "RUNNING"
    artifacts = os.environ.get("MLTRACK_BROWSER_ARTIFACTS")
    if artifacts:
        page.screenshot(path=str(Path(artifacts) / "sidebar_running.png"))
    assert live.locator(".jp-mltrack-run-metric").inner_text() == "loss 0.02"
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
