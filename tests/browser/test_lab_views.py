"""JupyterLab in headless Chromium: the main-area views. Two runs selected in the sidebar and
"Compare Runs" from its context menu open the compare view: metric charts (plotly, read
downsampled from the lab API), parallel coordinates and only the params that differ (a
toggle shows all). The run detail view previews an
image and a CSV artifact through JupyterLab's renderers, edits a tag, and comes back
after a page reload.

Every wait targets page state: ``data-mltrack-compare``, ``data-mltrack-chart``,
``data-mltrack-params``, ``data-mltrack-run``, ``data-mltrack-preview`` and
``data-mltrack-mime`` (src/views/), the sidebar grid's ``data-mltrack-drawn``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_driver import execute, open_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIDEBAR = "#jp-mltrack-sidebar"
GRID = f"{SIDEBAR} .jp-mltrack-grid"
COMPARE = ".jp-mltrack-compare"
RUN_VIEW = ".jp-mltrack-run-view"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

POPULATE = r"""
import json, pathlib, struct, tempfile, zlib
import jupyter_mltrack as mt

def png(width, height):
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

mt.set_experiment("views")
ids = []
for i, lr in enumerate(["0.1", "0.01"]):
    with mt.start_run(run_name=f"lr-{lr}") as run:
        mt.log_params({"lr": lr, "batch": "32", "optimizer": "adam"})
        for step in range(200):
            mt.log_metric("loss", 2.0 / (1 + step * float(lr)), step=step)
            mt.log_metric("acc", 1 - 1.0 / (2 + step * float(lr)), step=step)
        if i == 0:
            mt.log_text("epoch,loss,acc\n1,0.9,0.61\n2,0.5,0.74\n3,0.31,0.83\n",
                        "tables/epochs.csv")
            mt.log_dict({"lr": 0.1, "layers": [64, 32]}, "config.json")
            mt.set_tag("mlflow.note.content", "# Baseline\nThe **first** sweep point.")
            image = pathlib.Path(tempfile.mkdtemp()) / "confusion.png"
            image.write_bytes(png(48, 32))
            mt.log_artifact(str(image), "plots")
        ids.append(run.info.run_id)
mt.flush()
print(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def runs(lab):
    """Two runs logged through the server (a script, as a terminal user would)."""
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    env = {
        **os.environ,
        "MLTRACK_TRACKING_URI": f"duckdb://{store}",
        "MLTRACK_STORE_MODE": "service",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    done = subprocess.run(
        [sys.executable, "-c", POPULATE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_compare_ready(page, params: int) -> None:
    page.locator(f"{COMPARE}[data-mltrack-compare='ready']").wait_for()
    page.locator(f"{COMPARE} .jp-mltrack-metric-chart[data-mltrack-chart='ready']").wait_for()
    page.locator(f"{COMPARE} .jp-mltrack-params[data-mltrack-params='{params}']").wait_for()


def test_compare_two_runs_selected_in_the_sidebar(page, lab, runs) -> None:
    open_lab(page, lab)
    execute(page, "mltrack:open-sidebar")
    page.locator(f"{SIDEBAR}[data-mltrack-loaded='ok']").wait_for()
    page.locator(f"{SIDEBAR} .jp-mltrack-experiment-picker").select_option(label="views")
    page.wait_for_function(
        f"""() => document.querySelector("{GRID}")?.getAttribute('data-mltrack-drawn') === '2'"""
    )
    rows = page.locator(f"{GRID} .jp-mltrack-run")
    rows.nth(0).click()
    rows.nth(1).click(modifiers=["Control"])
    page.locator(f"{GRID} .jp-mltrack-run[aria-selected='true']").nth(1).wait_for()
    rows.nth(1).click(button="right")
    page.locator(".jp-mltrack-context-menu .lm-Menu-item", has_text="Compare Runs").click()

    # charts of both runs, downsampled on the server; only the param that differs
    wait_compare_ready(page, 1)
    view = page.locator(COMPARE)
    assert sorted(view.get_attribute("data-mltrack-runs").split(",")) == sorted(runs)
    chart = view.locator(".jp-mltrack-metric-chart")
    assert chart.get_attribute("data-mltrack-keys") == "acc,loss"
    assert chart.get_attribute("data-mltrack-traces") == "4"  # 2 runs x 2 metrics
    assert 0 < int(chart.get_attribute("data-mltrack-points")) <= 4 * 200
    chart.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for()
    params = view.locator(".jp-mltrack-params tr[data-param]")
    assert params.evaluate_all("rows => rows.map(r => r.dataset.param)") == ["lr"]
    assert sorted(params.first.locator("td").all_inner_texts()[1:]) == ["0.01", "0.1"]
    pc = view.locator(".jp-mltrack-parcoords")
    page.wait_for_function(
        f"""() => document.querySelector("{COMPARE} .jp-mltrack-parcoords")
                   ?.dataset.mltrackLines === '2'"""
    )
    assert pc.locator(".jp-mltrack-pc-axis").count() == 3  # params.lr, metrics.acc, loss

    # smoothing and log scale redraw from the same points
    chart.locator(".jp-mltrack-chart-log").check()
    page.wait_for_function(
        f"""() => document.querySelector("{COMPARE} .js-plotly-plot")
                   ?.layout?.yaxis?.type === 'log'"""
    )
    # all params on request
    view.locator(".jp-mltrack-show-all input").check()
    page.locator(f"{COMPARE} .jp-mltrack-params[data-mltrack-params='3']").wait_for()
    names = params.evaluate_all("rows => rows.map(r => r.dataset.param)")
    assert names == ["batch", "lr", "optimizer"]
    if os.environ.get("MLTRACK_UPDATE_SCREENSHOTS") or not (DOCS_IMG / "compare.png").exists():
        page.screenshot(path=str(DOCS_IMG / "compare.png"))


def test_run_detail_previews_an_image_and_a_csv_and_edits_tags(page, lab, runs) -> None:
    open_lab(page, lab)
    page.locator("body[data-mltrack-views-ready='true']").wait_for(state="attached")
    page.evaluate(
        "(runId) => window.jupyterapp.commands.execute('mltrack:open-run', { runId })", runs[0]
    )
    view = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']")
    view.wait_for()
    overview = view.locator(".jp-mltrack-overview")
    assert "lr-0.1" in overview.inner_text() and "FINISHED" in overview.inner_text()
    assert "Baseline" in view.locator(".jp-mltrack-note-rendered h1").inner_text()

    # the artifacts tab, by keyboard: End from the first tab
    view.locator(".jp-mltrack-tab[data-tab='overview']").focus()
    page.keyboard.press("End")
    page.locator(f"{RUN_VIEW}[data-mltrack-tab='artifacts']").wait_for()
    tree = view.locator(".jp-mltrack-artifact-tree")
    preview = view.locator(".jp-mltrack-preview")

    tree.locator("button[data-path='plots']").click()
    tree.locator("button[data-path='plots/confusion.png']").click()
    view.locator(
        ".jp-mltrack-preview[data-mltrack-preview='ready'][data-mltrack-mime='image/png']"
    ).wait_for()
    image = preview.locator(".jp-RenderedImage img")
    page.wait_for_function(
        f"""() => document.querySelector("{RUN_VIEW} .jp-RenderedImage img")?.naturalWidth === 48"""
    )
    assert image.count() == 1

    tree.locator("button[data-path='tables']").click()
    tree.locator("button[data-path='tables/epochs.csv']").press("Enter")
    view.locator(
        ".jp-mltrack-preview[data-mltrack-preview='ready'][data-mltrack-mime='text/html']"
    ).wait_for()
    table = preview.locator(".jp-RenderedHTMLCommon table")
    assert table.locator("th").all_inner_texts() == ["epoch", "loss", "acc"]
    assert table.locator("tbody tr").count() == 3
    assert table.locator("tbody tr").nth(2).locator("td").all_inner_texts() == ["3", "0.31", "0.83"]
    if os.environ.get("MLTRACK_UPDATE_SCREENSHOTS") or not (DOCS_IMG / "run-detail.png").exists():
        tree.locator("button[data-path='plots/confusion.png']").click()
        view.locator(".jp-mltrack-preview[data-mltrack-mime='image/png']").wait_for()
        page.screenshot(path=str(DOCS_IMG / "run-detail.png"))

    # tags: add one, it comes back from the server
    view.locator(".jp-mltrack-tab[data-tab='tags']").click()
    view.locator(".jp-mltrack-tag-new-key").fill("reviewed")
    view.locator(".jp-mltrack-tag-new-value").fill("yes")
    view.locator(".jp-mltrack-tag-add button").click()
    view.locator(".jp-mltrack-tags tr[data-key='reviewed'] input").wait_for()
    assert view.locator(".jp-mltrack-tags tr[data-key='reviewed'] input").input_value() == "yes"

    # a page reload restores the view (the layout restorer reopens it by its run id)
    page.wait_for_function(
        """async () => {
          const data = await window.jupyterapp.serviceManager.workspaces
            .fetch('default').catch(() => null);
          return JSON.stringify(data ?? {}).includes('"tab":"tags"');
        }"""
    )
    open_lab(page, lab)
    restored = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']")
    restored.wait_for()
    assert "lr-0.1" in restored.locator(".jp-mltrack-tab-panel").inner_text() or (
        restored.get_attribute("data-mltrack-tab") != "overview"
    )


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Known bug (issue 9): the workspace holds the compare's showAll/logY and the run "
        "view's tab before the reload (checked below), but after it the compare is "
        "restored with showAll false and the run view's entry is gone; not yet found."
    ),
)
def test_view_settings_opened_from_the_sidebar_come_back_after_a_reload(page, lab, runs) -> None:
    """Log y and *show all params* of a compare, and the tab of a run view, both opened
    from the sidebar, are what the views show again after a page reload."""
    open_lab(page, lab)
    execute(page, "application:close-all")
    page.wait_for_function("() => !document.querySelector('.jp-mltrack-view')")
    execute(page, "mltrack:open-sidebar")
    page.locator(f"{SIDEBAR}[data-mltrack-loaded='ok']").wait_for()
    page.locator(f"{SIDEBAR} .jp-mltrack-experiment-picker").select_option(label="views")
    page.wait_for_function(
        f"""() => document.querySelector("{GRID}")?.getAttribute('data-mltrack-drawn') === '2'"""
    )
    rows = page.locator(f"{GRID} .jp-mltrack-run")
    rows.nth(0).click()
    rows.nth(1).click(modifiers=["Control"])
    page.locator(f"{GRID} .jp-mltrack-run[aria-selected='true']").nth(1).wait_for()
    rows.nth(1).click(button="right")
    page.locator(".jp-mltrack-context-menu .lm-Menu-item", has_text="Compare Runs").click()
    wait_compare_ready(page, 1)
    compare = page.locator(COMPARE)
    compare.locator(".jp-mltrack-chart-log").first.check()
    compare.locator(".jp-mltrack-show-all input").check()
    page.locator(f"{COMPARE} .jp-mltrack-params[data-mltrack-params='3']").wait_for()

    rows.nth(0).dblclick()  # the sidebar opens the run
    run_view = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']")
    run_view.wait_for()
    run_view.locator(".jp-mltrack-tab[data-tab='params']").click()
    page.locator(f"{RUN_VIEW}[data-mltrack-tab='params']").wait_for()
    # what the restorer saved (the workspace on the server), then a reload
    page.wait_for_function(
        """async () => {
          const data = await window.jupyterapp.serviceManager.workspaces
            .fetch('default').catch(() => null);
          const saved = Object.entries(data?.data ?? {});
          const compare = saved.find(([k]) => k.startsWith('mltrack-compare:'))?.[1]?.data;
          const run = saved.find(([k]) => k.startsWith('mltrack-run:'))?.[1]?.data;
          return compare?.showAll === true && compare?.chart?.logY === true
            && run?.tab === 'params';
        }"""
    )
    open_lab(page, lab)

    # both views come back; the run view's tab is in front, so the compare may be hidden
    restored = page.locator(f"{COMPARE}[data-mltrack-compare='ready']")
    restored.wait_for(state="attached")
    page.locator(f"{COMPARE} .jp-mltrack-params").wait_for(state="attached")
    shown = page.evaluate(
        f"""async () => {{
          const data = await window.jupyterapp.serviceManager.workspaces.fetch('default');
          const saved = Object.entries(data.data).filter(([k]) => k.startsWith('mltrack-'));
          const params = document.querySelector("{COMPARE} .jp-mltrack-params");
          return {{saved, params: params.dataset.mltrackParams,
                   showAll: params.dataset.mltrackShowAll}};
        }}"""
    )
    assert shown["params"] == "3", shown
    assert restored.locator(".jp-mltrack-show-all input").is_checked()
    assert restored.locator(".jp-mltrack-chart-log").first.is_checked()
    page.wait_for_function(
        f"""() => document.querySelector("{COMPARE} .js-plotly-plot")
                   ?.layout?.yaxis?.type === 'log'"""
    )
    page.locator(f"{RUN_VIEW}[data-mltrack-run='ready'][data-mltrack-tab='params']").wait_for(
        state="attached"
    )
