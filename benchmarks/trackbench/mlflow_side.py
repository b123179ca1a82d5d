"""The same workloads on MLflow (default SQLite store), scaled down, in one fresh process.

MLflow's SQLite store commits every call, so the workloads are smaller
(``Sizes.mlflow_*``) and the report compares per-unit figures: points/s, ms per 1,000
runs in the store, ms per 100k/1M history points. MLflow has no downsampling, so its
series figure is ``get_metric_history`` plus a numpy M4 (:func:`m4`).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from .fixtures import FILTER, HISTORY_KEY, ORDER_BY
from .harness import Sizes, Timing, fresh_dir, percentiles_ns, repeat_ms

KEYS10 = [f"k{j}" for j in range(10)]
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def _quiet_mlflow() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    warnings.filterwarnings("ignore")
    import mlflow

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return mlflow


def _empty_db(mlflow: Any, tmp: Path) -> Path:
    """Create MLflow's tables once (its migrations take seconds); workloads copy the file."""
    db = tmp / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.search_experiments()
    return db


def _use_store(mlflow: Any, tmp: Path, experiment: str, template: Path) -> str:
    """A new SQLite store in ``tmp`` with artifacts beside it; returns the experiment id."""
    shutil.copyfile(template, tmp / "mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    exp_id: str = mlflow.create_experiment(experiment, artifact_location=(tmp / "art").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def run_all(sizes: Sizes, tmp_root: str | None) -> dict[str, Any]:
    """Every MLflow workload; each in its own fresh temp dir and SQLite file."""
    t0 = time.perf_counter()
    mlflow = _quiet_mlflow()
    out: dict[str, Any] = {"import_s": time.perf_counter() - t0, "version": mlflow.__version__}
    with fresh_dir(tmp_root, "mlflow-template") as tpl:
        template = _empty_db(mlflow, tpl)
        with fresh_dir(tmp_root, "mlflow-log-metric") as tmp:
            out["log_metric"] = _log_metric(mlflow, tmp, template, sizes.mlflow_calls)
        with fresh_dir(tmp_root, "mlflow-log-metrics") as tmp:
            out["log_metrics"] = _log_metrics(mlflow, tmp, template, sizes.mlflow_steps)
        with fresh_dir(tmp_root, "mlflow-reads") as tmp:
            out["reads"] = _reads(mlflow, tmp, template, sizes)
    return out


def _log_metric(mlflow: Any, tmp: Path, template: Path, n: int) -> dict[str, Any]:
    """Per-call times of ``mlflow.log_metric``; the loop total gives points/s.

    MLflow logs synchronously: a returned call is committed, like ``mt.flush()``.
    """
    _use_store(mlflow, tmp, "log_metric", template)
    values = [random.random() for _ in range(n)]
    log_metric, clock = mlflow.log_metric, time.perf_counter_ns
    with mlflow.start_run():
        log_metric("warmup", 0.0)
        samples = [0] * n
        t_start = time.perf_counter()
        for i in range(n):
            v = values[i]
            t0 = clock()
            log_metric("loss", v, step=i)
            t1 = clock()
            samples[i] = t1 - t0
        total = time.perf_counter() - t_start
    return {"points": n, "per_call_ns": percentiles_ns(samples), "points_per_s": n / total}


def _log_metrics(mlflow: Any, tmp: Path, template: Path, steps: int) -> dict[str, Any]:
    _use_store(mlflow, tmp, "log_metrics", template)
    rows = [[random.random() for _ in KEYS10] for _ in range(steps)]
    with mlflow.start_run():
        mlflow.log_metric("warmup", 0.0)
        t0 = time.perf_counter()
        for s in range(steps):
            mlflow.log_metrics(dict(zip(KEYS10, rows[s], strict=True)), step=s)
        total = time.perf_counter() - t0
    points = steps * len(KEYS10)
    return {"points": points, "points_per_s": points / total}


def _reads(mlflow: Any, tmp: Path, template: Path, sizes: Sizes) -> dict[str, Any]:
    """The search store (``mlflow_runs`` runs) and one history, built with ``log_batch``."""
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    exp_id = _use_store(mlflow, tmp, "search", template)
    client = MlflowClient()
    rng = np.random.default_rng(0)
    ts = 1_700_000_000_000

    t0 = time.perf_counter()
    for _ in range(sizes.mlflow_runs):
        run_id = client.create_run(exp_id).info.run_id
        params = [Param(f"p{j}", str(rng.integers(0, 10))) for j in range(sizes.params)]
        metrics = [
            Metric(f"m{k}", float(rng.random()), ts + s, s)
            for k in range(sizes.metrics)
            for s in range(sizes.metric_steps)
        ]
        client.log_batch(run_id, metrics=metrics, params=params)
    build_runs_s = time.perf_counter() - t0

    n_hist = sizes.mlflow_history_points
    hist_exp = client.create_experiment("histories", artifact_location=(tmp / "h").as_uri())
    hist_run = client.create_run(hist_exp).info.run_id
    values = 1.0 / np.sqrt(np.arange(n_hist) + 1.0) + 0.05 * rng.standard_normal(n_hist)
    t0 = time.perf_counter()
    for lo in range(0, n_hist, BATCH):
        hi = min(lo + BATCH, n_hist)
        batch = [Metric(HISTORY_KEY, float(values[i]), ts + i, i) for i in range(lo, hi)]
        client.log_batch(hist_run, metrics=batch)
    build_history_s = time.perf_counter() - t0

    reps = sizes.mlflow_repeats
    matched: list[int] = []

    def check_filtered(df: Any) -> None:
        matched.append(len(df))

    def check_all(df: Any) -> None:
        if len(df) != sizes.mlflow_runs:
            raise RuntimeError(f"mlflow search returned {len(df)} runs, not {sizes.mlflow_runs}")

    out = {
        "runs": sizes.mlflow_runs,
        "history_points": n_hist,
        "build_runs_s": build_runs_s,
        "build_history_s": build_history_s,
        "search_filtered": repeat_ms(
            lambda: mlflow.search_runs([exp_id], filter_string=FILTER, order_by=ORDER_BY),
            reps,
            check_filtered,
        ).as_dict(),
        "search_all": repeat_ms(lambda: mlflow.search_runs([exp_id]), reps, check_all).as_dict(),
        **_history_and_series(client, hist_run, n_hist, reps),
    }
    out["search_filtered"]["rows"] = matched[-1]
    return out


def _history_and_series(client: Any, run_id: str, n: int, reps: int) -> dict[str, Any]:
    """``get_metric_history`` alone, and followed by :func:`m4` (the series figure).

    One set of calls yields both (each history is fetched once), the first as warm-up.
    """
    hist_ms, series_ms = [], []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        history = client.get_metric_history(run_id, HISTORY_KEY)
        t1 = time.perf_counter()
        if len(history) != n:
            raise RuntimeError(f"mlflow history has {len(history)} points, not {n}")
        m4(history, 1000)
        t2 = time.perf_counter()
        hist_ms.append((t1 - t0) * 1e3)
        series_ms.append((t2 - t0) * 1e3)
    return {
        "history": Timing(hist_ms[0], hist_ms[1:]).as_dict(),
        "series": Timing(series_ms[0], series_ms[1:]).as_dict(),
    }


def m4(history: list[Any], width: int) -> dict[str, Any]:
    """M4 on a list of MLflow ``Metric``: per step bucket the first, min, max and last value.

    Kept minimal (no x of the extremes) so the baseline is, if anything, flattered.
    """
    import numpy as np

    steps = np.fromiter((m.step for m in history), np.float64, len(history))
    values = np.fromiter((m.value for m in history), np.float64, len(history))
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    lo, span = steps[0], max(steps[-1] - steps[0], 1e-12)
    bucket = np.minimum(((steps - lo) / span * width).astype(np.int64), width - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(values)] - 1
    return {
        "first": values[starts],
        "min": np.minimum.reduceat(values, starts),
        "max": np.maximum.reduceat(values, starts),
        "last": values[ends],
    }
