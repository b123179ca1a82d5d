"""The read-workload store: N runs x params x metrics, plus two long metric histories.

How it is generated (stated in the report, because it is not the logging path):

* experiments and the two history runs go through ``TrackingClient`` (the real API);
* the N search runs, their params and their tags are inserted as Arrow tables with a
  plain DuckDB connection while the store is closed. There is no bulk run-creation API:
  ``create_run`` costs ~20 ms and ``log_batch`` with params ~4 ms per param, so 10,000
  runs x 10 params through the API would take minutes (see the report's notes);
* every metric point goes through ``store.log_metric_table`` (the bulk metric path, which
  also maintains ``latest_metrics``, the table search filters and orders on).

Column lists below follow migration V1 of ``store/duckdb/migrations.py``; if the schema
changes, the INSERT fails loudly rather than building a wrong store.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .harness import Sizes, use_store_mode

FILTER = "metrics.m0 > 0.5 and params.p1 = '3'"
ORDER_BY = ["metrics.m1 DESC"]
HISTORY_KEY = "long"
SERIES_KEY = "dense"


@dataclass(frozen=True)
class RunsStore:
    path: Path
    experiment_id: str
    history_run_id: str
    series_run_id: str
    build_s: dict[str, float]


def build_runs_store(path: Path, sizes: Sizes, seed: int = 0) -> RunsStore:
    """Create the store at ``path`` (a new ``.duckdb`` file) and close it again.

    The store is opened in direct mode (in this process), so that closing it releases
    the file for the plain DuckDB connection and nothing else holds it afterwards.
    """
    import jupyter_mltrack as mt
    from jupyter_mltrack.store.schemes import close_all_stores

    use_store_mode("direct")
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    client = mt.TrackingClient(str(path))
    experiment_id = client.create_experiment("search")
    histories = client.create_experiment("histories")
    history_run = client.create_run(histories, run_name="history").info.run_id
    series_run = client.create_run(histories, run_name="series").info.run_id
    close_all_stores()
    timings["api_setup"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_ids = [uuid.uuid4().hex for _ in range(sizes.runs)]
    _insert_runs(path, experiment_id, run_ids, sizes, rng)
    timings["runs_params_tags"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    client = mt.TrackingClient(str(path))
    client.store.log_metric_table(_run_metrics(run_ids, sizes, rng))
    client.store.log_metric_table(_history(history_run, HISTORY_KEY, sizes.history_points, rng))
    client.store.log_metric_table(_history(series_run, SERIES_KEY, sizes.series_points, rng))
    close_all_stores()
    timings["metrics"] = time.perf_counter() - t0
    return RunsStore(path, experiment_id, history_run, series_run, timings)


def _insert_runs(
    path: Path, experiment_id: str, run_ids: list[str], sizes: Sizes, rng: np.random.Generator
) -> None:
    import duckdb

    n = len(run_ids)
    start = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 60_000
    runs = pa.table(
        {
            "run_id": run_ids,
            "experiment_id": [experiment_id] * n,
            "run_name": [f"run-{i}" for i in range(n)],
            "status": ["FINISHED"] * n,
            "start_time_ms": start,
            "end_time_ms": start + 45_000,
            "user_id": ["bench"] * n,
            "lifecycle_stage": ["active"] * n,
            "artifact_uri": [f"file:///bench/{experiment_id}/{r}/artifacts" for r in run_ids],
        }
    )
    param_values = rng.integers(0, 10, size=(n, sizes.params)).astype(str)
    params = pa.table(
        {
            "run_id": np.repeat(np.array(run_ids), sizes.params),
            "key": np.tile(np.array([f"p{j}" for j in range(sizes.params)]), n),
            "value": param_values.ravel(),
        }
    )
    tags = pa.table(
        {
            "run_id": run_ids * 2,
            "key": ["mlflow.runName"] * n + ["mlflow.user"] * n,
            "value": [f"run-{i}" for i in range(n)] + ["bench"] * n,
        }
    )
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{path}' AS bench_store")
        con.execute("USE bench_store")
        for name, table in (("_runs", runs), ("_params", params), ("_tags", tags)):
            con.register(name, table)
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO store.runs (run_id, experiment_id, run_name, status, start_time_ms, "
            "end_time_ms, user_id, lifecycle_stage, artifact_uri) SELECT * FROM _runs"
        )
        con.execute("INSERT INTO store.params (run_id, key, value) SELECT * FROM _params")
        con.execute("INSERT INTO store.tags (run_id, key, value) SELECT * FROM _tags")
        con.execute("COMMIT")
    finally:
        con.close()


def _metric_table(run_id: Any, key: Any, value: Any, step: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "run_id": run_id,
            "key": key,
            "value": pa.array(value, pa.float64()),
            "timestamp_ms": pa.array(1_700_000_000_000 + step * 10, pa.int64()),
            "step": pa.array(step, pa.int64()),
        }
    )


def _run_metrics(run_ids: list[str], sizes: Sizes, rng: np.random.Generator) -> pa.Table:
    """Every run logs metrics m0..m{k-1} at steps 0..metric_steps-1, uniform in [0, 1)."""
    per_run = sizes.metrics * sizes.metric_steps
    keys = np.repeat(np.array([f"m{k}" for k in range(sizes.metrics)]), sizes.metric_steps)
    steps = np.tile(np.arange(sizes.metric_steps, dtype=np.int64), sizes.metrics)
    return _metric_table(
        np.repeat(np.array(run_ids), per_run),
        np.tile(keys, len(run_ids)),
        rng.random(len(run_ids) * per_run),
        np.tile(steps, len(run_ids)),
    )


def _history(run_id: str, key: str, points: int, rng: np.random.Generator) -> pa.Table:
    """A noisy decaying loss curve of ``points`` steps (so M4 has spikes to keep)."""
    step = np.arange(points, dtype=np.int64)
    value = 1.0 / np.sqrt(step + 1.0) + 0.05 * rng.standard_normal(points)
    return _metric_table(
        pa.array([run_id] * points, pa.string()), pa.array([key] * points, pa.string()), value, step
    )
