"""Write paths of the PostgreSQL store: experiments, runs, params, tags, metrics, inputs.

The same operations as the DuckDB store's :mod:`~jupyter_mltrack.store.duckdb.writes`,
each one transaction, written for several writers at once (other server processes): the
checks a write depends on are made by the database (a unique name, a param inserted with
``ON CONFLICT DO NOTHING`` then compared), never by a read followed by a write that another
process could slip between.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa

from ...entities import Dataset, LifecycleStage, RunStatus
from ...errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidState,
    NotFound,
    ParamOverwrite,
    RunNotFound,
)
from ..arrow import rows_to_table
from ..base import LinkedMetricRow, MetricRow
from .connection import Con, Database
from .dialect import copy_table, in_list, registered, upsert_into

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "create_experiment",
    "create_run",
    "delete_experiment_tag",
    "delete_tag",
    "ensure_default_experiment",
    "gc_runs",
    "insert_metrics",
    "log_batch",
    "log_inputs",
    "log_metric_table",
    "rename_experiment",
    "set_experiment_stage",
    "set_experiment_tags",
    "set_run_stage",
    "update_run",
]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
RUN_NAME_TAG = "mlflow.runName"
_TRIPLE = ("run_id", "key", "value")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _last_per_key(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return list({(r[0], r[1]): r for r in rows}.values())


def _experiment_row(con: Con, where: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    rows = con.fetchall(
        f"SELECT experiment_id, name, lifecycle_stage FROM store.experiments WHERE {where}",
        params,
    )
    return rows[0] if rows else None


def _require_experiment(con: Con, experiment_id: str) -> tuple[Any, ...]:
    row = _experiment_row(con, "experiment_id = ?", [experiment_id])
    if row is None:
        raise ExperimentNotFound(
            f"No experiment with id {experiment_id!r}; list them with "
            "mt.search_experiments() or `mltrack experiments list`."
        )
    return row


def _require_run(con: Con, run_id: str, *, lock: bool = False) -> tuple[str, str]:
    rows = con.fetchall(
        "SELECT status, lifecycle_stage FROM store.runs WHERE run_id = ?"
        + (" FOR UPDATE" if lock else ""),
        [run_id],
    )
    if not rows:
        raise RunNotFound(
            f"No run with id {run_id!r}; find run ids with mt.search_runs() or `mltrack runs list`."
        )
    return rows[0][0], rows[0][1]


def _name_taken(name: str, row: tuple[Any, ...]) -> AlreadyExists:
    state = "" if row[2] == LifecycleStage.ACTIVE else " (deleted; restore it)"
    return AlreadyExists(
        f"An experiment named {name!r} already exists with id {row[0]}{state}; pick another "
        "name or use set_experiment.",
        experiment_id=str(row[0]),
    )


# ------------------------------------------------------------------ experiments
def ensure_default_experiment(db: Database, artifact_root: str) -> None:
    now = _now_ms()
    with db.transaction() as con:
        con.execute(
            "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                DEFAULT_EXPERIMENT_ID,
                DEFAULT_EXPERIMENT_NAME,
                _location(artifact_root, DEFAULT_EXPERIMENT_ID),
                LifecycleStage.ACTIVE,
                now,
                now,
            ],
        )


def _location(artifact_root: str, experiment_id: str) -> str:
    if "://" in artifact_root:
        return artifact_root.rstrip("/") + "/" + experiment_id
    return (Path(artifact_root) / experiment_id).as_uri()


def create_experiment(
    db: Database, artifact_root: str, name: str, artifact_location: str | None, tags: dict[str, str]
) -> str:
    """Insert a new experiment; ``AlreadyExists`` (with the winner's id) when the name is
    taken, also when another process inserted it a moment before (the unique index)."""
    try:
        with db.transaction() as con:
            taken = _experiment_row(con, "name = ?", [name])
            if taken is not None:
                raise _name_taken(name, taken)
            experiment_id = str(con.fetchall("SELECT nextval('store.experiment_ids')")[0][0])
            while _experiment_row(con, "experiment_id = ?", [experiment_id]) is not None:
                experiment_id = str(con.fetchall("SELECT nextval('store.experiment_ids')")[0][0])
            location = artifact_location or _location(artifact_root, experiment_id)
            now = _now_ms()
            con.execute(
                "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?)",
                [experiment_id, name, location, LifecycleStage.ACTIVE, now, now],
            )
            if tags:
                con.executemany(
                    "INSERT INTO store.experiment_tags VALUES (?, ?, ?)",
                    [(experiment_id, k, v) for k, v in tags.items()],
                )
    except psycopg.errors.UniqueViolation as exc:
        with db.reader() as con:
            winner = _experiment_row(con, "name = ?", [name])
        if winner is None:
            raise
        raise _name_taken(name, winner) from exc
    return experiment_id


def set_experiment_stage(db: Database, experiment_id: str, stage: str) -> None:
    if experiment_id == DEFAULT_EXPERIMENT_ID and stage == LifecycleStage.DELETED:
        raise InvalidState("The Default experiment (id 0) cannot be deleted.")
    now = _now_ms()
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        con.execute(
            "UPDATE store.experiments SET lifecycle_stage = ?, last_update_time_ms = ? "
            "WHERE experiment_id = ?",
            [stage, now, experiment_id],
        )
        con.execute(
            "UPDATE store.runs SET lifecycle_stage = ?, deleted_time_ms = ? "
            "WHERE experiment_id = ?",
            [stage, now if stage == LifecycleStage.DELETED else None, experiment_id],
        )


def rename_experiment(db: Database, experiment_id: str, new_name: str) -> None:
    try:
        with db.transaction() as con:
            _require_experiment(con, experiment_id)
            other = _experiment_row(con, "name = ?", [new_name])
            if other is not None and other[0] != experiment_id:
                raise AlreadyExists(
                    f"An experiment named {new_name!r} already exists (id {other[0]})."
                )
            con.execute(
                "UPDATE store.experiments SET name = ?, last_update_time_ms = ? "
                "WHERE experiment_id = ?",
                [new_name, _now_ms(), experiment_id],
            )
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists(f"An experiment named {new_name!r} already exists.") from exc


def set_experiment_tags(db: Database, experiment_id: str, tags: dict[str, str]) -> None:
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        if tags:
            con.executemany(
                upsert_into("store.experiment_tags", ("experiment_id", "key"), _EXP_TAG),
                [(experiment_id, k, v) for k, v in tags.items()],
            )


def delete_experiment_tag(db: Database, experiment_id: str, key: str) -> None:
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        gone = con.fetchall(
            "DELETE FROM store.experiment_tags WHERE experiment_id = ? AND key = ? RETURNING 1",
            [experiment_id, key],
        )
        if not gone:
            raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")


_EXP_TAG = ("experiment_id", "key", "value")


# ------------------------------------------------------------------------- runs
def create_run(
    db: Database,
    experiment_id: str,
    run_name: str,
    start_time_ms: int,
    user_id: str,
    tags: dict[str, str],
    parent_run_id: str | None,
) -> str:
    """Insert a RUNNING run; returns its new id."""
    run_id = uuid.uuid4().hex
    with db.transaction() as con:
        exp = con.fetchall(
            "SELECT name, lifecycle_stage, artifact_location FROM store.experiments "
            "WHERE experiment_id = ? FOR SHARE",
            [experiment_id],
        )
        if not exp:
            _require_experiment(con, experiment_id)
        name, stage, location = exp[0]
        if stage != LifecycleStage.ACTIVE:
            raise InvalidState(
                f"Experiment {name!r} (id {experiment_id}) is deleted; restore it "
                "with mt.restore_experiment or log to another experiment."
            )
        if parent_run_id is not None:
            _require_run(con, parent_run_id)
        artifact_uri = str(location).rstrip("/") + f"/{run_id}/artifacts"
        con.execute(
            "INSERT INTO store.runs VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL)",
            [
                run_id,
                experiment_id,
                run_name,
                RunStatus.RUNNING,
                start_time_ms,
                user_id,
                LifecycleStage.ACTIVE,
                artifact_uri,
                parent_run_id,
            ],
        )
        if tags:
            con.executemany(
                "INSERT INTO store.tags VALUES (?, ?, ?)", [(run_id, k, v) for k, v in tags.items()]
            )
    return run_id


def update_run(
    db: Database, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
) -> None:
    sets: list[str] = []
    params: list[Any] = []
    if status is not None:
        sets.append("status = ?")
        params.append(status)
    if end_time_ms is not None or status == RunStatus.RUNNING:
        sets.append("end_time_ms = ?")
        params.append(end_time_ms)
    if run_name is not None:
        sets.append("run_name = ?")
        params.append(run_name)
    with db.transaction() as con:
        _require_run(con, run_id)
        if not sets:
            return
        con.execute(f"UPDATE store.runs SET {', '.join(sets)} WHERE run_id = ?", [*params, run_id])
        if run_name is not None:
            con.execute(
                upsert_into("store.tags", ("run_id", "key"), _TRIPLE),
                [run_id, RUN_NAME_TAG, run_name],
            )


def set_run_stage(db: Database, run_id: str, stage: str) -> None:
    with db.transaction() as con:
        _require_run(con, run_id)
        con.execute(
            "UPDATE store.runs SET lifecycle_stage = ?, deleted_time_ms = ? WHERE run_id = ?",
            [stage, _now_ms() if stage == LifecycleStage.DELETED else None, run_id],
        )


# ---------------------------------------------------------- params, tags, metrics
def log_batch(
    db: Database,
    metrics: Sequence[MetricRow | LinkedMetricRow],
    params: Sequence[tuple[str, str, str]],
    tags: Sequence[tuple[str, str, str]],
) -> None:
    """Params (immutable), tags and metric rows of any runs in one transaction.

    Setting the ``mlflow.runName`` tag renames the run, as in MLflow.
    """
    with db.transaction() as con:
        if params:
            _insert_params(con, params)
        if tags:
            last = sorted(_last_per_key(tags))  # one lock order for concurrent writers
            con.executemany(upsert_into("store.tags", ("run_id", "key"), _TRIPLE), last)
            for run_id, _key, name in (t for t in last if t[1] == RUN_NAME_TAG):
                con.execute("UPDATE store.runs SET run_name = ? WHERE run_id = ?", [name, run_id])
        if metrics:
            insert_metrics(con, rows_to_table(metrics))


def _insert_params(con: Con, params: Sequence[tuple[str, str, str]]) -> None:
    """Insert new params, then compare every given one with what is stored: a value that
    differs (logged before, or a moment ago by another process) is ``ParamOverwrite``."""
    seen: dict[tuple[str, str], str] = {}
    for run_id, key, value in params:
        prior = seen.setdefault((run_id, key), value)
        if prior != value:
            raise ParamOverwrite(
                f"Param {key!r} appears twice in one batch for run {run_id} with values "
                f"{prior!r} and {value!r}; params are immutable, log one value per key."
            )
    rows = sorted(_last_per_key(params))
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(_TRIPLE)})
    with registered(con.cur, "_mt_rows", table):
        con.execute(
            "INSERT INTO store.params SELECT run_id, key, value FROM _mt_rows "
            "ORDER BY run_id, key ON CONFLICT DO NOTHING"
        )
        clash = con.fetchall(
            "SELECT n.run_id, n.key, o.value, n.value FROM _mt_rows n "
            "JOIN store.params o USING (run_id, key) WHERE o.value <> n.value LIMIT 1"
        )
    if clash:
        run_id, key, old, new = clash[0]
        raise ParamOverwrite(
            f"Param {key!r} was already logged as {old!r} for run {run_id}; cannot change "
            f"it to {new!r}. Params are immutable: log a new key or start a new run.",
            run_id=run_id,
            key=key,
        )


def log_metric_table(db: Database, table: pa.Table) -> None:
    """Insert an Arrow table of metric rows in one transaction."""
    with db.transaction() as con:
        insert_metrics(con, table)


_LATEST = """
    INSERT INTO store.latest_metrics (run_id, key, value, timestamp_ms, step)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (run_id, key) DO UPDATE SET
        value = excluded.value, timestamp_ms = excluded.timestamp_ms, step = excluded.step
    WHERE (excluded.step, excluded.timestamp_ms)
        >= (latest_metrics.step, latest_metrics.timestamp_ms)
"""


def insert_metrics(con: Con, batch: pa.Table) -> None:
    """Append metric points (one ``COPY``) and keep the latest point per (run, key).

    ``batch`` is a conformed metric batch (``store.arrow.conform_metric_table``), with or
    without the three link columns; inside the caller's transaction.
    """
    if batch.num_rows == 0:
        return
    copy_table(con.cur, "store.metrics", batch)
    con.executemany(_LATEST, _latest_rows(batch))


def _latest_rows(batch: pa.Table) -> list[tuple[Any, ...]]:
    """The latest point of each (run, key) of ``batch``: highest step, then time; in key
    order so that concurrent writers lock ``latest_metrics`` rows in the same order."""
    order = batch.select(["run_id", "key", "step", "timestamp_ms", "value"]).sort_by(
        [
            ("run_id", "ascending"),
            ("key", "ascending"),
            ("step", "ascending"),
            ("timestamp_ms", "ascending"),
        ]
    )
    runs = order.column("run_id").to_pylist()
    keys = order.column("key").to_pylist()
    steps = order.column("step").to_pylist()
    times = order.column("timestamp_ms").to_pylist()
    values = order.column("value").to_pylist()
    out: list[tuple[Any, ...]] = []
    n = len(runs)
    for i in range(n):
        if i + 1 == n or runs[i + 1] != runs[i] or keys[i + 1] != keys[i]:
            out.append((runs[i], keys[i], values[i], times[i], steps[i]))
    return out


def delete_tag(db: Database, run_id: str, key: str) -> None:
    with db.transaction() as con:
        _require_run(con, run_id)
        gone = con.fetchall(
            "DELETE FROM store.tags WHERE run_id = ? AND key = ? RETURNING 1", [run_id, key]
        )
        if not gone:
            raise NotFound(f"Run {run_id} has no tag {key!r} to delete.")


def log_inputs(
    db: Database, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]
) -> None:
    with db.transaction() as con:
        _require_run(con, run_id)
        (experiment_id,) = con.fetchall(
            "SELECT experiment_id FROM store.runs WHERE run_id = ?", [run_id]
        )[0]
        for ds, input_tags in datasets:
            dataset_id = uuid.uuid5(
                uuid.NAMESPACE_URL, f"{experiment_id}/{ds.name}/{ds.digest}"
            ).hex
            con.execute(
                "INSERT INTO store.datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    dataset_id,
                    experiment_id,
                    ds.name,
                    ds.digest,
                    ds.source_type,
                    ds.source,
                    ds.schema,
                    ds.profile,
                ],
            )
            con.execute(
                upsert_into("store.run_inputs", ("run_id", "dataset_id"), _INPUT),
                [run_id, dataset_id, json.dumps(input_tags, sort_keys=True)],
            )


_INPUT = ("run_id", "dataset_id", "tags")


# ------------------------------------------------------------------ maintenance
def gc_runs(db: Database, run_ids: Sequence[str] | None) -> list[str]:
    """Permanently remove deleted runs (all, or the given ones) and their rows."""
    with db.transaction() as con:
        if run_ids is None:
            ids = [
                r[0]
                for r in con.fetchall(
                    "SELECT run_id FROM store.runs WHERE lifecycle_stage = 'deleted' FOR UPDATE"
                )
            ]
        else:
            ids = list(run_ids)
            for rid in ids:
                _status, stage = _require_run(con, rid, lock=True)
                if stage != LifecycleStage.DELETED:
                    raise InvalidState(
                        f"Run {rid} is not deleted; delete it first (mt.delete_run) before gc."
                    )
        if ids:
            for table in (
                "metrics",
                "latest_metrics",
                "params",
                "tags",
                "run_inputs",
                "run_model_links",
                "run_heartbeats",
                "runs",
            ):
                con.execute(f"DELETE FROM store.{table} WHERE {in_list('run_id')}", [ids])
    return ids
