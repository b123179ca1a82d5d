"""RunTable: what one window of rows costs, against sending every run, at 10,000 runs.

Run from the repository root::

    python benchmarks/bench_run_table.py            # 10,000 runs (a minute or two on 2 cores)
    python benchmarks/bench_run_table.py --runs 2000

A direct-mode DuckDB store in a temp dir gets N runs (5 params, 5 metrics each) through
the client. Measured in the same run: the first view of the experiment (store search +
frame), a window request (100 rows, as the browser asks while scrolling), a window of a
filtered and sorted view (a new store search), the same on a DataFrame source (the frame
search over DuckDB), and the baseline: encoding all N rows for the browser, as a table
without virtualization would. Prints figures and ratios; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _best(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, result


def _size(reply: Any) -> int:
    import json

    return len(json.dumps(reply.result)) + sum(len(bytes(b)) for b in reply.buffers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-runtable-"))
    os.environ["MLTRACK_STORE_MODE"] = "direct"
    os.environ["MLTRACK_TRACKING_URI"] = f"duckdb://{tmp / 'store.duckdb'}"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    import jupyter_mltrack as mt
    from jupyter_mltrack.entities import Metric, Param
    from jupyter_mltrack.tracking.fluent import get_client
    from jupyter_mltrack.widgets import RunTable
    from jupyter_mltrack.widgets.run_table import encode_table_columns

    client = get_client()
    experiment = mt.set_experiment("bench").experiment_id
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(args.runs):
        run = client.create_run(experiment, run_name=f"run-{i:05d}")
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{k}", float(rng.random()), now, 0) for k in range(5)],
            params=[Param(f"p{k}", str(int(rng.integers(0, 10)))) for k in range(5)],
        )
    print(f"setup: {args.runs} runs logged in {time.perf_counter() - start:.1f} s")

    first_ms, table = _best(lambda: RunTable("bench"), repeat=3)
    window = {"offset": 5_000 % max(args.runs, 1), "limit": 100}
    # the cached view: what every scroll request costs
    table._rows(**window)
    scroll_ms, reply = _best(lambda: table._rows(**window))
    query = {
        "filter_string": "metrics.m0 > 0.5 AND params.p1 != '3'",
        "order_by": ["metrics.m2 DESC"],
    }

    def new_query() -> Any:
        table._view = None  # a new filter/order: one store search
        return table._rows(offset=0, limit=100, **query)

    query_ms, query_reply = _best(new_query, repeat=3)
    frame = mt.search_runs(experiment_names=["bench"])
    frame_table = RunTable(frame)

    def frame_query() -> Any:
        frame_table._view = None
        return frame_table._rows(offset=0, limit=100, **query)

    frame_table._rows(offset=0, limit=100, **query)  # builds the in-memory DuckDB once
    frame_query_ms, _ = _best(frame_query, repeat=3)

    def everything() -> int:
        buffers: list[Any] = []
        encode_table_columns(frame[table.columns], buffers)
        return sum(len(bytes(b)) for b in buffers)

    all_ms, all_bytes = _best(everything, repeat=3)
    window_bytes = _size(reply)
    print(f"first view (store search of {args.runs} runs + columns): {first_ms:8.1f} ms")
    print(
        f"window of 100 rows, cached view (each scroll):          {scroll_ms:8.2f} ms, "
        f"{window_bytes / 1024:.1f} KiB"
    )
    print(
        f"new filter + sort, first window (store search):         {query_ms:8.1f} ms "
        f"({query_reply.result['total']} match)"
    )
    print(f"new filter + sort on a DataFrame source:                {frame_query_ms:8.1f} ms")
    print(
        f"baseline: encode all {args.runs} rows for the browser:     {all_ms:8.1f} ms, "
        f"{all_bytes / 1024:.0f} KiB (numeric buffers only)"
    )
    print(
        f"ratio bytes all / window: {all_bytes / window_bytes:6.0f}x;  "
        f"time all / window: {all_ms / scroll_ms:6.1f}x"
    )


if __name__ == "__main__":
    main()
