"""Fixtures of the browser tests: one JupyterLab per module, headless Chromium, a page each.

Needs Debian's /usr/bin/chromium and the built lab extension. Under CI (env var ``CI`` set)
their absence fails the tests; elsewhere it skips them with the reason.
Set ``MLTRACK_BROWSER_ARTIFACTS=<dir>`` to keep a screenshot of each test's page.

The kernels of this JupyterLab run the test's own interpreter and import the
``jupyter_mltrack`` the test imported: a kernelspec pinned to ``sys.executable`` and
``PYTHONPATH`` set to that checkout. Without this the server (started with ``python -m``
from the checkout, so importing it from the working directory) and its kernels (started in
a temp directory, ``python`` looked up on ``PATH``) could run different code: a stale or
broken editable install made every kernel fail ``import jupyter_mltrack`` while the sidebar
tests, which need no kernel, passed; the widget then never appeared and the test timed out
waiting for it. Helpers that drive the page are in ``lab_driver.py``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_path
from lab_driver import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

import jupyter_mltrack

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # reported by the `lab` fixture (fails under CI, skips elsewhere)
    PlaywrightTimeout = TimeoutError  # type: ignore[misc,assignment]


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


def _pinned_kernelspec(data_dir: Path) -> None:
    """A ``python3`` kernelspec that runs this interpreter (not whatever ``python`` is first
    on the kernel's PATH)."""
    spec = data_dir / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        )
    )


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
    data_dir = tmp_path_factory.mktemp("lab-data")
    _pinned_kernelspec(data_dir)
    checkout = str(Path(jupyter_mltrack.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
    jupyter_paths = os.pathsep.join(p for p in (str(data_dir), os.environ.get("JUPYTER_PATH")) if p)
    server = start_jupyter(
        "lab",
        f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}",
        f"--LabApp.app_settings_dir={settings}",
        # its own user settings: a test that changes them (the theme) leaves no trace behind
        f"--LabApp.user_settings_dir={tmp_path_factory.mktemp('lab-user-settings')}",
        "--LabApp.expose_app_in_browser=True",
        # the product's defaults: the server's own store, kernels in service mode
        env={
            "MLTRACK_TRACKING_URI": None,
            "MLTRACK_STORE_MODE": None,
            "PYTHONPATH": python_path,
            "JUPYTER_PATH": jupyter_paths,
        },
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
