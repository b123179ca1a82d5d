"""Sizes, process isolation and timers shared by every workload."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; ``QUICK`` and ``FULL`` are the two presets."""

    name: str
    # 1. per-call cost
    percall_calls: int
    percall_rounds: int
    # 2. ingest (points per mode; log_metrics uses 10 keys per step)
    ingest_points: int
    ingest_repeats: int
    # 3. reads on a store of runs x params x metrics (each metric logged at metric_steps steps)
    runs: int
    params: int
    metrics: int
    metric_steps: int
    history_points: int
    series_points: int
    read_repeats: int
    # 4. MLflow, scaled down because its SQLite store commits every call
    mlflow_calls: int
    mlflow_steps: int
    mlflow_runs: int
    mlflow_history_points: int
    mlflow_repeats: int


FULL = Sizes(
    name="full",
    percall_calls=200_000,
    percall_rounds=5,
    ingest_points=2_000_000,
    ingest_repeats=3,
    runs=10_000,
    params=10,
    metrics=5,
    metric_steps=10,
    history_points=100_000,
    series_points=1_000_000,
    read_repeats=9,
    mlflow_calls=300,
    mlflow_steps=200,
    mlflow_runs=1_000,
    mlflow_history_points=50_000,
    mlflow_repeats=3,
)

# The read workloads keep their full size in --quick: building the store is a few seconds
# and the targets are stated for 10,000 runs.
QUICK = Sizes(
    name="quick",
    percall_calls=60_000,
    percall_rounds=3,
    ingest_points=100_000,
    ingest_repeats=2,
    runs=10_000,
    params=10,
    metrics=5,
    metric_steps=10,
    history_points=100_000,
    series_points=1_000_000,
    read_repeats=5,
    mlflow_calls=50,
    mlflow_steps=30,
    mlflow_runs=100,
    mlflow_history_points=5_000,
    mlflow_repeats=2,
)


def isolated(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh interpreter and return its (picklable) result.

    Every workload gets a clean process: no store, flusher thread, key cache or garbage
    left behind by an earlier workload, and MLflow's imports never share a heap with
    jupyter-mltrack's timings. Exceptions propagate with the worker's traceback.
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


STORE_MODES = ("service", "direct")


def use_store_mode(mode: str) -> None:
    """Make jupyter-mltrack open stores in ``mode`` in this (worker) process.

    ``service`` is what users get: a store-service process owns the DuckDB file and this
    process is its client. ``direct`` opens the file in this process.
    """
    if mode not in STORE_MODES:
        raise ValueError(f"unknown store mode {mode!r}")
    os.environ["MLTRACK_STORE_MODE"] = mode


@contextlib.contextmanager
def fresh_dir(root: str | None, label: str) -> Iterator[Path]:
    """A new empty directory under ``root`` (the system temp dir by default), removed after.

    Store services started for stores in it are stopped first, so none lingers (holding
    memory, waking up) into the next workload.
    """
    with tempfile.TemporaryDirectory(prefix=f"mltrack-bench-{label}-", dir=root) as d:
        try:
            yield Path(d)
        finally:
            stop_store_services(Path(d))


def stop_store_services(directory: Path, timeout_s: float = 10.0) -> None:
    """SIGTERM the store-service process of every store under ``directory``; wait for each.

    Only services that own a store in ``directory`` (which this benchmark created) are
    signalled, by the pid their lock file records.
    """
    from jupyter_mltrack.service.owner import StorePaths, lock_is_held, read_lock_info

    for lock in directory.rglob("*.duckdb.lock"):
        paths = StorePaths.for_store(lock.with_suffix(""))
        info = read_lock_info(paths)
        if info is None or info.kind != "service" or not lock_is_held(paths):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while lock_is_held(paths) and time.monotonic() < deadline:
            time.sleep(0.02)


@dataclass(frozen=True)
class Timing:
    """Repeated wall-clock timings of one operation, in milliseconds."""

    cold_ms: float  # the first call (warm-up), reported but not used for ratios
    runs_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    def as_dict(self) -> dict[str, Any]:
        return {"cold_ms": self.cold_ms, "median_ms": self.median_ms, "runs_ms": self.runs_ms}


def repeat_ms(fn: Callable[[], Any], repeats: int, check: Callable[[Any], None]) -> Timing:
    """Call ``fn`` once to warm up, then ``repeats`` times; ``check`` validates each answer."""
    t0 = time.perf_counter()
    check(fn())
    cold = (time.perf_counter() - t0) * 1e3
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        runs.append((time.perf_counter() - t0) * 1e3)
        check(out)
    return Timing(cold, runs)


def percentiles_ns(samples: list[int]) -> dict[str, float]:
    """Median, p90, p99 and max of per-call timings in nanoseconds."""
    import numpy as np

    a = np.asarray(samples, dtype=np.int64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"median": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max())}
