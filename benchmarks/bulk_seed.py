"""Runs written straight into a tracking database, ours or MLflow's, for the search benchmarks.

Both clients write one run per ``create_run`` + ``log_batch`` pair (10 to 20 ms each), so
100,000 runs would take most of an hour before the search they prepare. Here the rows go in
as bulk inserts through each project's own table code: MLflow's SQLAlchemy store creates its
schema and the experiment, and the runs, params, metrics and latest metrics go into its
tables through its table models; ours through ``mltrack db copy``'s ``append_rows``. Each
database is then exactly what its server reads. Used by ``bench_server.py`` (DuckDB and
SQLite) and ``bench_postgres.py`` (PostgreSQL).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

#: Rows per INSERT statement.
CHUNK = 5_000


def seed_mltrack_runs(uri: str, runs: int, metric: Callable[[int], float]) -> str:
    """As ``seed_mlflow_runs``, into our store at ``uri`` (DuckDB or PostgreSQL, opened
    directly; no server may hold it). Returns the experiment id."""
    import pyarrow as pa

    from jupyter_mltrack.store.copy import append_rows, open_direct, refresh_statistics

    store = open_direct(uri)
    try:
        experiment_id = store.create_experiment("search", None, {})
        root = store.get_experiment(experiment_id).artifact_location.rstrip("/")
        now = int(time.time() * 1000)
        for start in range(0, runs, CHUNK):
            index = list(range(start, min(runs, start + CHUNK)))
            ids = [uuid.uuid4().hex for _ in index]
            n = len(ids)
            append_rows(store, "runs", pa.table({
                "run_id": ids,
                "experiment_id": [experiment_id] * n,
                "run_name": [f"run-{i}" for i in index],
                "status": ["FINISHED"] * n,
                "start_time_ms": [now] * n,
                "end_time_ms": [now] * n,
                "user_id": ["bench"] * n,
                "lifecycle_stage": ["active"] * n,
                "artifact_uri": [f"{root}/{rid}/artifacts" for rid in ids],
                "parent_run_id": pa.nulls(n, pa.string()),
                "deleted_time_ms": pa.nulls(n, pa.int64()),
            }))  # fmt: skip
            append_rows(store, "params", pa.table(
                {"run_id": ids, "key": ["i"] * n, "value": [str(i) for i in index]}
            ))  # fmt: skip
            points = {
                "run_id": ids,
                "key": ["m"] * n,
                "value": [metric(i) for i in index],
                "timestamp_ms": [now] * n,
                "step": [0] * n,
            }
            if not hasattr(store, "path"):  # PostgreSQL: latest_metrics is its own table
                append_rows(store, "latest_metrics", pa.table(points))
            none = pa.nulls(n, pa.string())
            append_rows(store, "metrics", pa.table(
                {**points, "dataset_name": none, "dataset_digest": none, "model_id": none}
            ))  # fmt: skip
        refresh_statistics(store)
    finally:
        store.close()
    return str(experiment_id)


def seed_mlflow_runs(
    uri: str,
    runs: int,
    metric: Callable[[int], float],
    experiment: str = "search",
    artifact_location: str | None = None,
) -> str:
    """``runs`` finished runs in a new experiment of the MLflow database ``uri``, run ``i``
    with the param ``i`` = ``str(i)`` and the metric ``m`` = ``metric(i)`` at step 0.
    Returns the experiment id."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import insert

    store = SqlAlchemyStore(uri, artifact_location or "./mlruns")
    experiment_id = store.create_experiment(experiment, artifact_location)
    root = store.get_experiment(experiment_id).artifact_location.rstrip("/")
    now = int(time.time() * 1000)
    with store.ManagedSessionMaker() as session:
        for start in range(0, runs, CHUNK):
            ids = [(i, uuid.uuid4().hex) for i in range(start, min(runs, start + CHUNK))]
            session.execute(
                insert(SqlRun.__table__),
                [
                    {
                        "run_uuid": rid,
                        "name": f"run-{i}",
                        "source_type": "LOCAL",
                        "source_name": "",
                        "entry_point_name": "",
                        "user_id": "bench",
                        "status": "FINISHED",
                        "start_time": now,
                        "end_time": now,
                        "source_version": "",
                        "lifecycle_stage": "active",
                        "artifact_uri": f"{root}/{rid}/artifacts",
                        "experiment_id": int(experiment_id),
                    }
                    for i, rid in ids
                ],
            )
            session.execute(
                insert(SqlParam.__table__),
                [{"key": "i", "value": str(i), "run_uuid": rid} for i, rid in ids],
            )
            points = [
                {
                    "key": "m",
                    "value": metric(i),
                    "timestamp": now,
                    "step": 0,
                    "is_nan": False,
                    "run_uuid": rid,
                }
                for i, rid in ids
            ]
            session.execute(insert(SqlMetric.__table__), points)
            session.execute(insert(SqlLatestMetric.__table__), points)
    if store.engine.dialect.name == "postgresql":  # as refresh_statistics does for ours
        with store.engine.begin() as con:
            con.exec_driver_sql("ANALYZE")
    store.engine.dispose()
    return str(experiment_id)
