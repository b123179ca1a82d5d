"""LivePlot in a real JupyterLab in Chromium: the trace grows while a run logs, both while the
kernel is idle (a background thread logs; the view's own tick requests are answered) and
while a cell is busy training (the kernel's pusher thread sends the ticks); plotly.js is
loaded once per page from the server extension's route; the chart follows the theme.

Every wait targets page state the widget exposes (``data-mltrack-*`` on its root element,
see src/widgets/lib/seriesChart.ts) or the kernel's status, never elapsed time.
Set ``MLTRACK_DOCS_SCREENSHOT=1`` to refresh docs/img/liveplot.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_driver import (
    NOTEBOOK,
    colours_per_theme,
    open_lab,
    run,
    wait_for,
    wait_kernel,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "liveplot.png"
CHART = ".mltrack-chart"

CELLS = [
    # 0: a run and its plot
    "import threading, time\n"
    "import jupyter_mltrack as mt\n"
    "from jupyter_mltrack.widgets import LivePlot, MetricCompare\n"
    "run = mt.start_run(run_name='live-plot')\n"
    "mt.log_metric('loss', 1.0, step=0)\n"
    "plot = LivePlot(run, ['loss', 'acc'], interval_s=0.3)\n"
    "plot",
    # 1: a background thread logs while the kernel is idle
    "stop = threading.Event()\n"
    "def train():\n"
    "    for step in range(1, 100_000):\n"
    "        if stop.is_set():\n"
    "            return\n"
    "        loss = 1 / (step + 1) + 0.02 * (step % 7)\n"
    "        mt.log_metric('loss', loss, step=step, run_id=run.info.run_id)\n"
    "        mt.log_metric('acc', 1 - loss, step=step, run_id=run.info.run_id)\n"
    "        time.sleep(0.02)\n"
    "thread = threading.Thread(target=train)\n"
    "thread.start()",
    # 2: stop the thread; a cell that trains in the foreground (the kernel is busy)
    "stop.set(); thread.join()\n"
    "for step in range(10_000, 10_300):\n"
    "    mt.log_metric('loss', 0.05 + 0.01 * (step % 5), step=step)\n"
    "    mt.log_metric('acc', 0.99, step=step)\n"
    "    time.sleep(0.02)",
    # 3: a second chart on the page: plotly.js is not loaded again
    "MetricCompare(run, 'loss')",
    # 4
    "mt.end_run()",
]


def _state(page, name: str) -> str | None:
    return page.locator(CHART).first.get_attribute(f"data-mltrack-{name}")


def _start_cell(page, path: str, index: int) -> None:
    """Start running cell ``index`` without waiting for it to finish (``run`` awaits the
    command, which resolves when the cell's execution ends)."""
    page.evaluate(
        f"""([path, index]) => {{
          const panel = {NOTEBOOK};
          window.jupyterapp.shell.activateById(panel.id);
          panel.content.activeCellIndex = index;
          void window.jupyterapp.commands.execute('notebook:run-cell');
        }}""",
        [path, index],
    )


def _chart_state(page) -> dict[str, str]:
    return dict(
        page.evaluate(
            f"""() => Object.fromEntries(Array.from(
                 document.querySelector('{CHART}')?.attributes ?? [],
                 a => [a.name, a.value]).filter(([n]) => n.startsWith('data-mltrack')))"""
        )
    )


def _wait_last_x_at_least(page, x: float, *, busy_cell: bool) -> None:
    """Wait until the first chart holds a point at x >= ``x``; with ``busy_cell``, while the
    notebook's kernel is still executing (its status is busy)."""
    try:
        page.wait_for_function(
            f"""([x, busy]) => {{
              const path = 'liveplot.ipynb';
              const el = document.querySelector('{CHART}');
              const last = Number(el?.getAttribute('data-mltrack-last-x'));
              const status = ({NOTEBOOK})?.sessionContext?.session?.kernel?.status;
              return last >= x && (!busy || status === 'busy');
            }}""",
            arg=[x, busy_cell],
            polling=100,
        )
    except Exception as exc:
        raise AssertionError(f"the chart never reached x >= {x}: {_chart_state(page)}") from exc


def test_live_plot_grows_while_a_run_logs(page, lab) -> None:
    write_notebook(lab, "liveplot.ipynb", CELLS)
    open_lab(page, lab, "lab/tree/liveplot.ipynb")
    wait_kernel(page, "liveplot.ipynb")
    run(page, "liveplot.ipynb", "notebook:run-cell", index=0)
    chart = wait_for(page, f"{CHART}[data-mltrack-renderer='plotly']")
    # plotly.js came from the server extension's route, as one script for the page
    src = page.evaluate(
        "() => Array.from(document.querySelectorAll('script[data-mltrack-plotly]'), s => s.src)"
    )
    assert len(src) == 1 and src[0].endswith("/mltrack/vendor/plotly.min.js"), src
    page.wait_for_function(
        f"() => document.querySelector('{CHART}').getAttribute('data-mltrack-last-x') === '0'"
    )

    # idle kernel, a thread logging: the view's tick requests bring the new points
    run(page, "liveplot.ipynb", "notebook:run-cell", index=1)
    _wait_last_x_at_least(page, 5, busy_cell=False)
    ticks, points = int(_state(page, "ticks") or 0), int(_state(page, "points") or 0)
    pushed = _state(page, "pushed")
    _wait_last_x_at_least(page, 40, busy_cell=False)
    assert int(_state(page, "ticks") or 0) > ticks
    assert _state(page, "pushed") == pushed  # no cell ran meanwhile: answers to requests
    assert int(_state(page, "points") or 0) > points
    drawn = page.evaluate(
        f"() => document.querySelector('{CHART} .mltrack-chart-plot').data.map(t => t.x.length)"
    )
    assert len(drawn) == 2 and min(drawn) > 0, drawn  # loss and acc, both drawn by plotly

    # busy kernel, training in the cell: the pushed ticks keep the trace growing
    pushed = int(_state(page, "pushed") or 0)
    _start_cell(page, "liveplot.ipynb", 2)
    _wait_last_x_at_least(page, 10_050, busy_cell=True)
    assert int(_state(page, "pushed") or 0) > pushed
    assert _state(page, "error") is None
    apply_ms = float(_state(page, "apply-ms") or "nan")
    assert apply_ms < 1000, apply_ms  # a loose bound; benchmarks/bench_widgets.py measures
    if os.environ.get("MLTRACK_DOCS_SCREENSHOT"):
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        chart.screenshot(path=str(DOCS_IMG))
    wait_kernel(page, "liveplot.ipynb")

    # a second chart widget shares the page's plotly.js
    run(page, "liveplot.ipynb", "notebook:run-cell", index=3)
    page.wait_for_function(
        f"""() => document.querySelectorAll("{CHART}[data-mltrack-renderer='plotly']")
              .length === 2"""
    )
    assert (
        page.evaluate("() => document.querySelectorAll('script[data-mltrack-plotly]').length") == 1
    )

    # the run ends: the views see it and stop asking
    run(page, "liveplot.ipynb", "notebook:run-cell", index=4)
    page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll('{CHART}'))
              .every(el => el.getAttribute('data-mltrack-done') === 'true')"""
    )
    assert "All runs ended." in chart.inner_text()


def test_live_plot_follows_the_theme(page, lab) -> None:
    write_notebook(
        lab,
        "theme.ipynb",
        [
            "import jupyter_mltrack as mt\n"
            "from jupyter_mltrack.widgets import LivePlot\n"
            "with mt.start_run() as r:\n"
            "    for s in range(50):\n"
            "        mt.log_metric('loss', 1 / (s + 1), step=s)\n"
            "LivePlot(r)"
        ],
    )
    open_lab(page, lab, "lab/tree/theme.ipynb")
    wait_kernel(page, "theme.ipynb")
    run(page, "theme.ipynb", "notebook:run-all-cells")
    wait_for(page, f"{CHART}[data-mltrack-done='true'][data-mltrack-renderer='plotly']")
    # the chart redraws on a theme change: its font takes the theme's colour
    font = f"""(css) => {{
      const plot = document.querySelector('{CHART} .mltrack-chart-plot');
      const want = getComputedStyle(plot).getPropertyValue('--jp-ui-font-color1').trim();
      return [css('color', plot._fullLayout.font.color), css('color', want)];
    }}"""
    colors = {
        theme: got[0]
        for theme, got in colours_per_theme(
            page, ["JupyterLab Light", "JupyterLab Dark"], font, "([got, want]) => got === want"
        ).items()
    }
    assert colors["JupyterLab Light"] != colors["JupyterLab Dark"], colors
