"""Benchmarks of the live chart widgets (LivePlot / MetricCompare). Not pass/fail tests.

Parts (``python benchmarks/bench_widgets.py [tick] [overhead] [notebook] [browser]``,
all by default except ``browser``):

- ``tick``: one live tick of a run whose metric holds 10,000 and 1,000,000 points, 10 new
  points since the last tick: bytes sent to the frontend and kernel-side time, against a
  full (first) read of the same history.
- ``overhead``: ``log_metric`` per call in one run, without a LivePlot, then with a LivePlot
  whose ticks are pushed (as the kernel's pusher thread does while a cell trains) every
  ``interval_s``; the ratio.
- ``notebook``: a notebook with 10 chart widgets executed by nbclient with
  ``store_widget_state=True``: the saved file's size, against one plotly.js.
- ``browser``: a JupyterLab in headless Chromium showing a LivePlot of a RUNNING run with
  1,000,000 points while a thread logs: the bytes per tick and the browser's time to apply a
  tick (``data-mltrack-apply-ms``: merge + ``Plotly.react``), median and max over 20 ticks.

Stores are DuckDB files in a temporary directory, opened directly (no store service).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MLTRACK_STORE_MODE", "direct")

WIDTH = 800


def _fresh_store(tmp: Path, name: str) -> None:
    import jupyter_mltrack as mt
    from jupyter_mltrack.testing import reset_tracking_state

    reset_tracking_state()
    mt.set_tracking_uri(f"duckdb:///{tmp / name}.duckdb")


def _log_history(n: int) -> str:
    import jupyter_mltrack as mt

    run = mt.start_run()
    log = mt.log_metric
    for step in range(n):
        log("loss", 1.0 / (step + 1), step=step)
    mt.flush()
    return run.info.run_id


def bench_tick(tmp: Path) -> None:
    import jupyter_mltrack as mt
    from jupyter_mltrack.widgets import LivePlot

    print("\n== tick: a live tick (10 new points) against the history size ==")
    print(f"{'history':>10} {'tick bytes':>11} {'tick ms':>9} {'full bytes':>11} {'full ms':>9}")
    for n in (10_000, 1_000_000):
        _fresh_store(tmp, f"tick{n}")
        run_id = _log_history(n)
        plot = LivePlot(run_id, "loss")
        full_ms, full_bytes = [], 0
        for _ in range(5):
            t = time.perf_counter()
            payload, buffers = plot._feed.read(width=WIDTH, x_axis="step")
            full_ms.append((time.perf_counter() - t) * 1000)
            full_bytes = len(json.dumps(payload)) + sum(len(b) for b in buffers)
        tick_ms, tick_bytes = [], []
        last = n - 1
        for _ in range(20):
            for step in range(last + 1, last + 11):
                mt.log_metric("loss", 0.5, step=step)
            mt.flush()
            t = time.perf_counter()
            payload, buffers = plot._feed.read(
                width=WIDTH, x_axis="step", since={run_id: {"loss": last}}
            )
            tick_ms.append((time.perf_counter() - t) * 1000)
            tick_bytes.append(len(json.dumps(payload)) + sum(len(b) for b in buffers))
            assert payload["traces"][0]["columns"]["length"] == 10
            last += 10
        plot.close()
        mt.end_run()
        print(
            f"{n:>10,} {statistics.median(tick_bytes):>11,.0f} "
            f"{statistics.median(tick_ms):>9.1f} {full_bytes:>11,} "
            f"{statistics.median(full_ms):>9.1f}"
        )


def _per_call_ns(calls: int) -> float:
    import jupyter_mltrack as mt

    log = mt.log_metric
    start = mt.active_run()
    assert start is not None
    base = getattr(_per_call_ns, "step", 0)
    t = time.perf_counter()
    for step in range(base, base + calls):
        log("loss", 0.1, step=step)
    elapsed = time.perf_counter() - t
    _per_call_ns.step = base + calls  # type: ignore[attr-defined]
    mt.flush()
    return elapsed / calls * 1e9


def bench_overhead(tmp: Path) -> None:
    import jupyter_mltrack as mt
    from jupyter_mltrack.widgets import LivePlot

    print("\n== overhead: log_metric per call, same run, with and without a live LivePlot ==")
    _fresh_store(tmp, "overhead")
    run = mt.start_run()
    calls = 300_000
    _per_call_ns(calls)  # warm-up
    rows = []
    for interval in (1.0, 0.2):
        without = statistics.median(_per_call_ns(calls) for _ in range(3))
        plot = LivePlot(run, "loss", interval_s=interval)
        stop = threading.Event()
        pushes = 0

        def pusher(plot: LivePlot = plot, stop: threading.Event = stop) -> None:
            nonlocal pushes
            while not stop.is_set():  # what _live.PUSHER does while a cell executes
                before = plot._last_push
                plot._push_tick()
                pushes += plot._last_push != before
                time.sleep(0.1)

        thread = threading.Thread(target=pusher, daemon=True)
        thread.start()
        with_plot = statistics.median(_per_call_ns(calls) for _ in range(3))
        stop.set()
        thread.join()
        plot.close()
        rows.append((interval, without, with_plot, pushes))
    mt.end_run()
    print(f"{'interval_s':>10} {'without ns':>11} {'with ns':>9} {'ratio':>6} {'ticks':>6}")
    for interval, without, with_plot, pushes in rows:
        print(
            f"{interval:>10} {without:>11.0f} {with_plot:>9.0f} "
            f"{with_plot / without:>6.2f} {pushes:>6}"
        )


def bench_notebook(tmp: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    from jupyter_mltrack.widgets._vendor import plotly_js_path

    print("\n== notebook: 10 chart widgets, executed by nbclient, widget state saved ==")
    setup = (
        "import jupyter_mltrack as mt\n"
        "from jupyter_mltrack.widgets import LivePlot, MetricCompare\n"
        f"mt.set_tracking_uri('duckdb:///{tmp / 'nb.duckdb'}')\n"
        "runs = []\n"
        "for r in range(3):\n"
        "    with mt.start_run() as run:\n"
        "        for s in range(10_000):\n"
        "            mt.log_metrics({'loss': 1 / (s + 1) + r, 'acc': s / 10_000}, step=s)\n"
        "    runs.append(run.info.run_id)"
    )
    widgets = [f"LivePlot(runs[{i % 3}])" for i in range(7)] + ["MetricCompare(runs, 'loss')"] * 3
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [setup, *widgets]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    NotebookClient(nb, timeout=600, store_widget_state=True).execute(cwd=str(tmp))
    path = tmp / "ten_widgets.ipynb"
    nbformat.write(nb, path)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    charts = [s for s in state.values() if "_snapshot" in s["state"]]
    size = path.stat().st_size
    plotly = plotly_js_path().stat().st_size
    print(f"saved notebook: {size / 1024:.0f} KB with {len(charts)} chart widgets")
    print(f"per widget: {size / len(charts) / 1024:.1f} KB (ESM ~13 KB + snapshot + traits)")
    print(
        f"one plotly.min.js: {plotly / 1024:.0f} KB; embedded per widget it would be "
        f"{10 * plotly / 1024 / 1024:.1f} MB"
    )


BROWSER_CELLS = [
    "import threading, time\n"
    "import jupyter_mltrack as mt\n"
    "from jupyter_mltrack.widgets import LivePlot\n"
    "run = mt.start_run()\n"
    "for s in range(1_000_000):\n"
    "    mt.log_metric('loss', 1 / (s + 1) + (s % 1000 == 0), step=s)\n"
    "mt.flush()\n"
    "stop = threading.Event()\n"
    "def train(step=1_000_000):\n"
    "    while not stop.is_set():\n"
    "        mt.log_metric('loss', 0.5, step=step, run_id=run.info.run_id); step += 1\n"
    "        time.sleep(0.01)\n"
    "threading.Thread(target=train, daemon=True).start()\n"
    "LivePlot(run, 'loss', interval_s=0.5)",
]


def bench_browser(tmp: Path) -> None:
    """Real JupyterLab + Chromium, as tests/browser does (see its conftest for the setup)."""
    import secrets
    import signal
    import socket
    import subprocess
    import urllib.request

    import nbformat
    from playwright.sync_api import sync_playwright

    print("\n== browser: applying live ticks of a 1,000,000-point run in Chromium ==")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in BROWSER_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, tmp / "browser.ipynb")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "MLTRACK_TRACKING_URI": f"duckdb:///{tmp / 'browser.duckdb'}"}
    env.pop("MLTRACK_STORE_MODE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp}", f"--LabApp.workspaces_dir={tmp}",
         "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(600_000)
            page.goto(f"{url}lab/tree/browser.ipynb?token={token}")
            page.wait_for_function(
                """() => Array.from(window.jupyterapp?.shell.widgets('main') ?? [])
                     .some(w => w.sessionContext?.session?.kernel?.status === 'idle')"""
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            chart = page.locator(".mltrack-chart[data-mltrack-renderer='plotly']")
            chart.wait_for()
            page.wait_for_function(
                "() => Number(document.querySelector('.mltrack-chart')"
                ".getAttribute('data-mltrack-last-x')) >= 1000000"
            )
            samples: list[tuple[float, int, int]] = []
            seen = int(chart.get_attribute("data-mltrack-ticks") or 0)
            while len(samples) < 20:
                page.wait_for_function(
                    "(n) => Number(document.querySelector('.mltrack-chart')"
                    ".getAttribute('data-mltrack-ticks')) > n",
                    arg=seen,
                )
                seen = int(chart.get_attribute("data-mltrack-ticks") or 0)
                samples.append(
                    (
                        float(chart.get_attribute("data-mltrack-apply-ms") or "nan"),
                        int(chart.get_attribute("data-mltrack-tick-bytes") or 0),
                        int(chart.get_attribute("data-mltrack-points") or 0),
                    )
                )
            browser.close()
        applies = [s[0] for s in samples]
        print(
            f"apply ms: median {statistics.median(applies):.1f}, max {max(applies):.1f} "
            f"(target <= 50); buffer bytes per tick: median "
            f"{statistics.median(s[1] for s in samples):.0f}; points drawn: {samples[-1][2]}"
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parts = sys.argv[1:] or ["tick", "overhead", "notebook"]
    with tempfile.TemporaryDirectory(prefix="bench-widgets-", ignore_cleanup_errors=True) as tmp:
        for part in parts:
            {
                "tick": bench_tick,
                "overhead": bench_overhead,
                "notebook": bench_notebook,
                "browser": bench_browser,
            }[part](Path(tmp))


if __name__ == "__main__":
    main()
