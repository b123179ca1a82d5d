"""RunDiff in a real JupyterLab in headless Chromium: the view renders the differing param,
its "show all" toggle reaches the kernel, and it follows JupyterLab's dark theme.

Waits target ``data-mltrack-state`` / ``data-mltrack-loads`` on the widget, rendered rows,
the theme attribute on <body> and values polled from the kernel (lab_driver.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_driver import open_and_run, wait_for, wait_kernel_value

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import jupyter_mltrack as mt\n"
    "from jupyter_mltrack.widgets import RunDiff\n"
    "ids = []\n"
    "for lr, opt in ((0.1, 'sgd'), (0.01, 'sgd'), (0.01, 'adam')):\n"
    "    with mt.start_run(run_name=f'{opt}-lr{lr}') as run:\n"
    "        mt.log_params({'lr': lr, 'opt': opt, 'epochs': 5})\n"
    "        for step in range(5):\n"
    "            mt.log_metric('loss', lr * 10 / (step + 1), step=step)\n"
    "        mt.log_text(f'lr = {lr}\\nopt = {opt!r}\\ntrain(lr, opt)\\n', 'code/cell.py')\n"
    "        ids.append(run.info.run_id)\n"
    "diff = RunDiff(ids)\n"
    "diff",
]

VIEW = ".mltrack-rundiff"


def test_run_diff_renders_the_differing_param(page, lab) -> None:
    open_and_run(page, lab, "rundiff.ipynb", CELLS)
    view = wait_for(page, f"{VIEW}[data-mltrack-state='ready']")
    assert view.get_attribute("data-mltrack-runs") == "3"

    params = view.locator("section[data-section='params']")
    lr = params.locator("tr[data-key='lr'] td")
    assert lr.all_inner_texts() == ["0.1", "0.01", "0.01"]
    assert params.locator("tr[data-key='opt'] td").all_inner_texts() == ["sgd", "sgd", "adam"]
    assert params.locator("tr[data-key='epochs']").count() == 0  # the same everywhere
    assert "1 the same in every run, hidden" in params.locator("h4").inner_text()
    # the changed cells are marked against the first run
    assert lr.nth(1).get_attribute("class") == "mltrack-rundiff-changed"

    last = view.locator("section[data-section='metrics'] tr[data-key='loss'][data-step='4'] td")
    assert last.nth(0).inner_text() == "4"  # the step column
    assert last.nth(2).inner_text() == "0.02 (-0.18)"
    code = view.locator("section[data-section='code'] .mltrack-rundiff-code[data-status='changed']")
    assert code.count() == 2
    assert "+lr = 0.01" in code.first.locator("pre").inner_text()

    artifacts = os.environ.get("MLTRACK_BROWSER_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(Path(artifacts) / "rundiff.png"))

    # "show all" is a synced traitlet: the kernel sees it and the view asks again
    loads = int(view.get_attribute("data-mltrack-loads") or "0")
    view.locator("input.mltrack-rundiff-show-all").check()
    page.wait_for_function(
        """([selector, loads]) => {
             const el = document.querySelector(selector);
             return Number(el.dataset.mltrackLoads) > loads && el.dataset.mltrackState === 'ready';
           }""",
        arg=[VIEW, loads],
    )
    assert params.locator("tr[data-key='epochs'] td").all_inner_texts() == ["5", "5", "5"]
    wait_kernel_value(page, "rundiff.ipynb", "diff.show_all", "True")

    # theme-aware: JupyterLab's dark theme changes the view's colours
    light = view.evaluate("el => getComputedStyle(el).color")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    page.wait_for_function(
        "([selector, light]) => getComputedStyle(document.querySelector(selector)).color !== light",
        arg=[VIEW, light],
    )
