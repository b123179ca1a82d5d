"""jupyter-mltrack workloads and their in-kind baselines, each run in a fresh process.

Every function here is the body of one isolated worker (see ``harness.isolated``): it
builds its own store in a fresh temp dir, measures, checks that the answer is right
(points really committed, rows really returned) and returns plain numbers.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .harness import (
    Sizes,
    fresh_dir,
    percentiles_ns,
    repeat_ms,
    stop_store_services,
    use_store_mode,
)

KEYS10 = [f"k{j}" for j in range(10)]


def _start(tmp: Path, experiment: str) -> Any:
    """Point the fluent API at a new store in ``tmp`` and start a run there."""
    import jupyter_mltrack as mt

    mt.set_tracking_uri(str(tmp / "mltrack.duckdb"))
    mt.set_experiment(experiment)
    return mt.start_run(run_name=experiment)


def _committed(run_id: str, key: str | None = None) -> int:
    import jupyter_mltrack as mt

    where = f"run_id = '{run_id}'" + (f" AND key = '{key}'" if key else "")
    return int(mt.sql(f"SELECT count(*) FROM metrics WHERE {where}").fetchall()[0][0])


# ------------------------------------------------------------------ 1. per call
def per_call(sizes: Sizes, tmp_root: str | None, mode: str) -> dict[str, Any]:
    """Per-call cost of ``mt.log_metric`` vs appending the same tuple to a list.

    Both loops time every call with ``perf_counter_ns`` (timer overhead included on both
    sides). The rounds interleave the loops so drift hits all of them alike. The loop-total
    figures run each loop without per-call timers, once per round; the median round counts.
    """
    use_store_mode(mode)
    import jupyter_mltrack as mt

    n = sizes.percall_calls // sizes.percall_rounds
    values = [random.random() for _ in range(n)]
    with fresh_dir(tmp_root, "percall") as tmp, _start(tmp, "percall") as run:
        run_id = run.info.run_id
        for i in range(10_000):  # warm-up: key cache, flusher thread, allocator
            mt.log_metric("loss", values[i % n], step=i)
        mt.flush()
        samples: dict[str, list[int]] = {"log_metric": [], "append_clock": [], "append_bare": []}
        loops: dict[str, list[float]] = {"log_metric": [], "append_clock": []}
        for _ in range(sizes.percall_rounds):
            samples["append_clock"] += _timed_append(run_id, values, with_clock=True)
            samples["append_bare"] += _timed_append(run_id, values, with_clock=False)
            samples["log_metric"] += _timed_log_metric(values)
            mt.flush()  # outside the timed loops, so the next loop starts with an idle flusher
            loops["append_clock"].append(_loop_append(run_id, values) / n)
            loops["log_metric"].append(_loop_log_metric(values) / n)
            mt.flush()
        expected = 10_000 + 2 * n * sizes.percall_rounds
        committed = _committed(run_id, "loss")
    if committed != expected:
        raise RuntimeError(f"per-call: {committed} points committed, expected {expected}")
    return {
        "calls_per_side": n * sizes.percall_rounds,
        "per_call_ns": {name: percentiles_ns(s) for name, s in samples.items()},
        "loop_per_call_ns": {name: statistics.median(v) for name, v in loops.items()},
    }


def _timed_log_metric(values: list[float]) -> list[int]:
    import jupyter_mltrack as mt

    log_metric, clock = mt.log_metric, time.perf_counter_ns
    out = [0] * len(values)
    for i in range(len(values)):
        v = values[i]
        t0 = clock()
        log_metric("loss", v, step=i)
        t1 = clock()
        out[i] = t1 - t0
    return out


def _timed_append(run_id: str, values: list[float], with_clock: bool) -> list[int]:
    """The same tuple ``log_metric`` buffers; ``with_clock`` also reads the wall clock."""
    rows: list[tuple[str, str, float, int, int]] = []
    append, clock, time_ns = rows.append, time.perf_counter_ns, time.time_ns
    out = [0] * len(values)
    ts = time_ns() // 1_000_000
    if with_clock:
        for i in range(len(values)):
            v = values[i]
            t0 = clock()
            append((run_id, "loss", v, time_ns() // 1_000_000, i))
            t1 = clock()
            out[i] = t1 - t0
    else:
        for i in range(len(values)):
            v = values[i]
            t0 = clock()
            append((run_id, "loss", v, ts, i))
            t1 = clock()
            out[i] = t1 - t0
    return out


def _loop_log_metric(values: list[float]) -> int:
    import jupyter_mltrack as mt

    log_metric = mt.log_metric
    t0 = time.perf_counter_ns()
    for i in range(len(values)):
        log_metric("loss", values[i], step=i)
    return time.perf_counter_ns() - t0


def _loop_append(run_id: str, values: list[float]) -> int:
    rows: list[tuple[str, str, float, int, int]] = []
    append, time_ns = rows.append, time.time_ns
    t0 = time.perf_counter_ns()
    for i in range(len(values)):
        append((run_id, "loss", values[i], time_ns() // 1_000_000, i))
    return time.perf_counter_ns() - t0


# -------------------------------------------------------------------- 2. ingest
def ingest(sizes: Sizes, tmp_root: str | None, mode: str, how: str) -> dict[str, Any]:
    """Points/s from the first log call until ``mt.flush()`` returns (all committed).

    ``how`` is ``"log_metric"`` (one key, one call per point) or ``"log_metrics"`` (a
    dict of 10 keys per step, built inside the loop as a training loop would). Each
    repeat logs into a new store, then DuckDB inserts the same rows, already in Arrow,
    into a plain table in a new file; the repeats interleave the two so that a busy
    machine slows both. The medians count.
    """
    use_store_mode(mode)
    n = sizes.ingest_points
    keys = ["loss"] if how == "log_metric" else KEYS10
    values = [random.random() for _ in range(n)]
    arrow_tbl = _arrow_rows(n, keys)
    ours, duck = [], []
    with fresh_dir(tmp_root, f"ingest-{how}") as tmp:
        for r in range(sizes.ingest_repeats):
            ours.append(_ingest_once(tmp / f"mltrack-{r}", how, values))
            stop_store_services(tmp / f"mltrack-{r}")
            duck.append(duckdb_bulk_insert(tmp / f"duckdb-{r}.duckdb", arrow_tbl))
    mid = sorted(ours, key=lambda o: o["total_s"])[len(ours) // 2]
    duck_s = statistics.median(duck)
    return {
        "points": n,
        **mid,
        "points_per_s": n / mid["total_s"],
        "all_points_per_s": [n / o["total_s"] for o in ours],
        "duckdb_s": duck_s,
        "duckdb_points_per_s": n / duck_s,
        "all_duckdb_points_per_s": [n / d for d in duck],
    }


def _ingest_once(tmp: Path, how: str, values: list[float]) -> dict[str, float]:
    import jupyter_mltrack as mt

    n = len(values)
    with _start(tmp, how) as run:
        mt.log_metric("warmup", 0.0)  # starts the flusher thread
        mt.flush()
        if how == "log_metric":
            log_metric = mt.log_metric
            t0 = time.perf_counter()
            for i in range(n):
                log_metric("loss", values[i], step=i)
        else:
            rows = [values[s * 10 : s * 10 + 10] for s in range(n // 10)]
            log_metrics, keys = mt.log_metrics, KEYS10
            t0 = time.perf_counter()
            for s in range(len(rows)):
                log_metrics(dict(zip(keys, rows[s], strict=True)), step=s)
        t1 = time.perf_counter()
        mt.flush()
        t2 = time.perf_counter()
        committed = _committed(run.info.run_id) - 1  # minus the warm-up point
    if committed != n:
        raise RuntimeError(f"ingest {how}: {committed} points committed, expected {n}")
    return {"loop_s": t1 - t0, "flush_s": t2 - t1, "total_s": t2 - t0}


def _arrow_rows(n: int, keys: list[str]) -> Any:
    """``n`` metric rows as an Arrow table: one run, ``keys`` cycling, one step per key set."""
    import numpy as np
    import pyarrow as pa

    step = np.arange(n, dtype=np.int64) // len(keys)
    return pa.table(
        {
            "run_id": pa.array(["0123456789abcdef0123456789abcdef"] * n, pa.string()),
            "key": pa.array((keys * (n // len(keys) + 1))[:n], pa.string()),
            "value": pa.array(np.random.default_rng(0).random(n)),
            "timestamp_ms": pa.array(1_700_000_000_000 + step, pa.int64()),
            "step": pa.array(step, pa.int64()),
        }
    )


def duckdb_bulk_insert(path: Path, arrow_tbl: Any) -> float:
    """Seconds for DuckDB to insert ``arrow_tbl`` into a table in a new database file.

    The same five columns and NOT NULL constraints as ``store.metrics``; autocommit, so
    the rows are committed when ``execute`` returns (what ``mt.flush()`` guarantees).
    """
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE t (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, "
            "value DOUBLE NOT NULL, timestamp_ms BIGINT NOT NULL, step BIGINT NOT NULL)"
        )
        con.register("arrow_tbl", arrow_tbl)
        t0 = time.perf_counter()
        con.execute("INSERT INTO t SELECT * FROM arrow_tbl")
        return time.perf_counter() - t0
    finally:
        con.close()


# --------------------------------------------------------------------- 3. reads
def reads(sizes: Sizes, tmp_root: str | None, mode: str) -> dict[str, Any]:
    """Search, history and downsampled series on a store of ``sizes.runs`` runs."""
    import jupyter_mltrack as mt

    from .fixtures import build_runs_store

    with fresh_dir(tmp_root, "reads") as tmp:
        store = build_runs_store(tmp / "mltrack.duckdb", sizes)  # in direct mode, then closed
        use_store_mode(mode)
        mt.set_tracking_uri(str(store.path))
        t0 = time.perf_counter()
        mt.get_experiment(store.experiment_id)  # opens the store (service mode: starts it)
        open_ms = (time.perf_counter() - t0) * 1e3
        return {"build_s": store.build_s, "open_ms": open_ms, **_time_reads(store, sizes)}


def _time_reads(store: Any, sizes: Sizes) -> dict[str, Any]:
    import jupyter_mltrack as mt

    from .fixtures import FILTER, HISTORY_KEY, ORDER_BY, SERIES_KEY

    exp, hist_run, series_run = [store.experiment_id], store.history_run_id, store.series_run_id
    calls: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
        "search_filtered": (
            lambda: mt.search_runs(experiment_ids=exp, filter_string=FILTER, order_by=ORDER_BY),
            _check_filtered,
        ),
        "search_all": (lambda: mt.search_runs(experiment_ids=exp), _check_len(sizes.runs)),
        "history": (
            lambda: mt.get_metric_history(hist_run, HISTORY_KEY),
            _check_len(sizes.history_points),
        ),
        "history_list": (
            lambda: list(mt.get_metric_history(hist_run, HISTORY_KEY)),
            _check_len(sizes.history_points),
        ),
        "series": (
            lambda: mt.get_metric_series([series_run], SERIES_KEY, width=1000),
            _check_series(sizes.series_points),
        ),
    }
    out = {
        name: repeat_ms(call, sizes.read_repeats, check).as_dict()
        for name, (call, check) in calls.items()
    }
    out["search_filtered"]["rows"] = len(calls["search_filtered"][0]())
    return out


def _check_filtered(df: Any) -> None:
    """The runs match ``metrics.m0 > 0.5 and params.p1 = '3'``, ordered by m1 descending."""
    if df.empty or not (df["params.p1"] == "3").all() or not (df["metrics.m0"] > 0.5).all():
        raise RuntimeError(f"filtered search returned {len(df)} rows, not all matching")
    if not df["metrics.m1"].is_monotonic_decreasing:
        raise RuntimeError("filtered search is not ordered by metrics.m1 DESC")


def _check_len(expected: int) -> Callable[[Any], None]:
    def check(out: Any) -> None:
        if len(out) != expected:
            raise RuntimeError(f"got {len(out)} rows or points, expected {expected}")

    return check


def _check_series(points: int) -> Callable[[Any], None]:
    def check(df: Any) -> None:
        if not 0 < len(df) <= 1000 or int(df["n"].sum()) != points:
            raise RuntimeError(f"series has {len(df)} buckets holding {df['n'].sum()} points")

    return check
