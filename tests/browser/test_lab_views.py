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
from lab_driver import close_all, colours_per_theme, execute, open_lab, wait_until

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


# Whether the workspace on the server holds `want` (a subset) in the restorer's entry `key`.
SAVED = """async ([key, want]) => {
  const data = await window.jupyterapp.serviceManager.workspaces.fetch('default')
    .catch(() => null);
  const holds = (got, want) => typeof want === 'object' && want !== null
    ? typeof got === 'object' && got !== null
      && Object.entries(want).every(([k, v]) => holds(got[k], v))
    : got === want;
  return holds(data?.data?.[key]?.data, want);
}"""


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

    # a page reload restores the view (the layout restorer reopens it by its run id), once
    # the workspace on the server holds its tab (JupyterLab writes it with a debounce)
    wait_until(page, SAVED, [f"mltrack-run:{runs[0]}", {"tab": "tags"}])
    open_lab(page, lab)
    restored = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']")
    restored.wait_for()
    assert restored.get_attribute("data-mltrack-tab") == "tags"
    assert restored.locator(".jp-mltrack-tags tr[data-key='reviewed'] input").input_value() == "yes"


def test_view_settings_opened_from_the_sidebar_come_back_after_a_reload(page, lab, runs) -> None:
    """Log y and *show all params* of a compare, and the tab of a run view, both opened
    from the sidebar, are what the views show again after a page reload."""
    open_lab(page, lab)
    close_all(page)
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
    # what the restorer saved (the workspace on the server, written with a debounce), then
    # a reload
    compare_key = f"mltrack-compare:{compare.get_attribute('data-mltrack-runs')}"
    wait_until(page, SAVED, [compare_key, {"showAll": True, "chart": {"logY": True}}])
    run_id = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
    assert run_id.startswith("mltrack-run-"), run_id
    wait_until(
        page, SAVED, [f"mltrack-run:{run_id.removeprefix('mltrack-run-')}", {"tab": "params"}]
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


def test_view_commands_are_in_the_palette_and_work_from_the_keyboard(page, lab, runs) -> None:
    """The palette's "Experiment Tracking" category holds the views' commands; Open Run
    opens the run selected in the sidebar, Compare Runs asks for the ids it lacks (typed
    into the dialog), and Alt R in a view reads its run again."""
    open_lab(page, lab)
    page.locator("body[data-mltrack-views-ready='true']").wait_for(state="attached")
    close_all(page)
    execute(page, "mltrack:open-sidebar")
    page.locator(f"{SIDEBAR}[data-mltrack-loaded='ok']").wait_for()
    page.locator(f"{SIDEBAR} .jp-mltrack-experiment-picker").select_option(label="views")
    page.locator(f"{GRID} .jp-mltrack-run[data-run-id='{runs[1]}']").click()
    page.locator(f"{GRID} .jp-mltrack-run[aria-selected='true']").wait_for()
    assert page.locator(f"{GRID} .jp-mltrack-run[aria-selected='true']").count() == 1

    palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette")
    search = palette.locator(".lm-CommandPalette-input")

    def palette_pick(text: str, command: str) -> None:
        execute(page, "apputils:activate-command-palette")
        search.wait_for()
        search.fill(text)
        active = palette.locator(f".lm-CommandPalette-item.lm-mod-active[data-command='{command}']")
        for _ in range(palette.locator(".lm-CommandPalette-item").count()):
            if active.count():
                break
            page.keyboard.press("ArrowDown")
        active.wait_for()
        page.keyboard.press("Enter")

    execute(page, "apputils:activate-command-palette")
    search.wait_for()
    search.fill("Experiment Tracking")
    commands = palette.locator(".lm-CommandPalette-item").evaluate_all(
        "items => items.map(i => i.dataset.command)"
    )
    for command in ("mltrack:open-run", "mltrack:compare", "mltrack:refresh-view"):
        assert command in commands, commands
    page.keyboard.press("Escape")
    search.wait_for(state="hidden")

    # Open Run: the run selected in the sidebar, no question asked
    palette_pick("Open Run…", "mltrack:open-run")
    view = page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']")
    view.wait_for()
    assert "lr-0.01" in view.locator(".jp-mltrack-overview").inner_text()

    # Compare Runs with one run selected: a dialog takes the ids, Enter accepts it
    palette_pick("Compare Runs", "mltrack:compare")
    dialog = page.locator(".jp-Dialog input")
    dialog.wait_for()
    dialog.fill(", ".join(runs))
    dialog.press("Enter")
    wait_compare_ready(page, 1)
    assert page.locator(COMPARE).get_attribute("data-mltrack-runs") == ",".join(runs)

    # Alt R in the run view reads the run again: a tag set meanwhile shows
    page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", f"mltrack-run-{runs[1]}")
    view.locator(".jp-mltrack-tab[data-tab='tags']").click()
    page.locator(f"{RUN_VIEW}[data-mltrack-tab='tags']").wait_for()
    assert view.locator(".jp-mltrack-tags tr[data-key='checked']").count() == 0
    store = lab.root_dir.resolve() / "mltrack" / "store.duckdb"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, jupyter_mltrack as mt; "
            "mt.MlflowClient().set_tag(sys.argv[1], 'checked', 'by-refresh')",
            runs[1],
        ],
        env={
            **os.environ,
            "MLTRACK_TRACKING_URI": f"duckdb://{store}",
            "MLTRACK_STORE_MODE": "service",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    view.locator(".jp-mltrack-tab[data-tab='tags']").focus()
    page.keyboard.press("Alt+KeyR")
    page.locator(
        f"{RUN_VIEW}[data-mltrack-run='ready'] .jp-mltrack-tags tr[data-key='checked'] input"
    ).wait_for()
    assert (
        view.locator(".jp-mltrack-tags tr[data-key='checked'] input").input_value() == "by-refresh"
    )


# [computed chart font, computed --jp-ui-font-color1, view background, --jp-layout-color0,
#  run view background]
THEME_COLOURS = f"""(css) => {{
  const view = document.querySelector('{COMPARE}');
  const plot = view.querySelector('.js-plotly-plot');
  const style = getComputedStyle(view);
  return [
    css('color', plot._fullLayout.font.color),
    css('color', style.getPropertyValue('--jp-ui-font-color1').trim()),
    style.backgroundColor,
    css('backgroundColor', style.getPropertyValue('--jp-layout-color0').trim()),
    getComputedStyle(document.querySelector('{RUN_VIEW}')).backgroundColor
  ];
}}"""
THEME_APPLIED = """([font, themeFont, background, themeBackground, run]) =>
  font === themeFont && background === themeBackground && run === themeBackground"""


def test_views_follow_the_light_and_dark_themes(page, lab, runs) -> None:
    """The compare's chart redraws in the theme's font colour and both views take the
    theme's background when JupyterLab switches between its light and dark themes."""
    open_lab(page, lab)
    page.locator("body[data-mltrack-views-ready='true']").wait_for(state="attached")
    close_all(page)
    page.evaluate(
        """(runIds) => window.jupyterapp.commands.execute('mltrack:open-run', {runId: runIds[0]})
              .then(() => window.jupyterapp.commands.execute('mltrack:compare', {runIds}))
              .then(() => true)""",
        runs,
    )
    page.locator(f"{RUN_VIEW}[data-mltrack-run='ready']").wait_for(state="attached")
    wait_compare_ready(page, 1)
    page.locator(f"{COMPARE} .js-plotly-plot .scatterlayer .trace").first.wait_for()
    seen = colours_per_theme(
        page, ["JupyterLab Dark", "JupyterLab Light"], THEME_COLOURS, THEME_APPLIED
    )
    dark, light_ = seen["JupyterLab Dark"], seen["JupyterLab Light"]
    assert dark[0] != light_[0] and dark[2] != light_[2], seen
