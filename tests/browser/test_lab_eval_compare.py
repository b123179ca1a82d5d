"""EvalCompare in a real JupyterLab in headless Chromium: the metrics table marks the better
model, the curves draw with plotly.js, and a click on a plot tab reaches the kernel.

Waits target ``data-mltrack-state`` / ``data-mltrack-renderer`` / ``data-mltrack-plot`` on the
widget and a value polled from the kernel (lab_driver.py). ``MLTRACK_UPDATE_DOCS_IMAGES=1``
writes docs/img/evalcompare.png again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_driver import open_and_run, wait_for, wait_kernel_value

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import numpy as np, pandas as pd\n"
    "import jupyter_mltrack as mt\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(800, 2))\n"
    "y = (X[:, 0] + rng.normal(scale=0.6, size=800) > 0).astype(int)\n"
    "df = pd.DataFrame(X, columns=['a', 'b']).assign(label=y)\n"
    "good = mt.evaluate(LogisticRegression().fit(df[['a', 'b']], y), df, targets='label',\n"
    "                   model_type='classifier')\n"
    "weak = mt.evaluate(lambda f: (f.b > 0).astype(int), df, targets='label',\n"
    "                   model_type='classifier')\n"
    "view = mt.widgets.EvalCompare([good, weak], names=['model', 'baseline'])\n"
    "view",
]

VIEW = ".mltrack-evalcompare"
NOTEBOOK = "evalcompare.ipynb"


def test_eval_compare_marks_the_better_model_and_switches_plots(page, lab) -> None:
    open_and_run(page, lab, NOTEBOOK, CELLS)
    view = wait_for(page, f"{VIEW}[data-mltrack-state='ready']")
    assert view.get_attribute("data-mltrack-evaluations") == "2"
    f1 = view.locator("tr[data-metric='f1_score'] td")
    assert f1.nth(0).inner_text() == "f1_score"
    assert f1.nth(1).get_attribute("data-best") == "true"  # the model beats the baseline
    assert f1.nth(2).get_attribute("data-best") is None
    wait_for(page, f"{VIEW}[data-mltrack-renderer='plotly'][data-mltrack-plot='roc_curve_plot']")
    assert view.locator(".mltrack-evalcompare-chart .main-svg").count() >= 1

    view.locator("button[data-plot='lift_curve_plot']").click()
    wait_kernel_value(page, NOTEBOOK, "view.plot", "'lift_curve_plot'")
    wait_for(page, f"{VIEW}[data-mltrack-plot='lift_curve_plot']")

    if os.environ.get("MLTRACK_UPDATE_DOCS_IMAGES") == "1":
        path = Path(__file__).parents[2] / "docs" / "img" / "evalcompare.png"
        view.screenshot(path=str(path))
