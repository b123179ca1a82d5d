"""Write paths of the DuckDB store: experiments, runs, params, tags, metrics, inputs.

Functions take the :class:`~.connection.Database` and write on its one connection, each
call one transaction. Checks that must see the state they change (a name taken, a param
already logged) run inside that transaction, under the write lock, so two writers
racing on the same name or key cannot both pass them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
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
from .connection import Database
from .dialect import LATEST_ORDER_KEY, in_list, registered, upsert_into

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
#: The tag that holds a run's name (MLflow keeps the two equal).
RUN_NAME_TAG = "mlflow.runName"
DEFAULT_EXPERIMENT_NAME = "Default"

Con = duckdb.DuckDBPyConnection


def _now_ms() -> int:
    return int(time.time() * 1000)


def _last_per_key(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The last value given for each (run_id, key): a batch may set a tag twice."""
    return list({(r[0], r[1]): r for r in rows}.values())


def _rows(con: Con, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


def _experiment_row(con: Con, where: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    rows = _rows(
        con,
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


def _require_run(con: Con, run_id: str) -> tuple[str, str]:
    rows = _rows(con, "SELECT status, lifecycle_stage FROM store.runs WHERE run_id = ?", [run_id])
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
def ensure_default_experiment(db: Database, artifact_root: Path) -> None:
    with db.transaction() as con:
        if _experiment_row(con, "experiment_id = ?", [DEFAULT_EXPERIMENT_ID]) is None:
            now = _now_ms()
            con.execute(
                "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?)",
                [
                    DEFAULT_EXPERIMENT_ID,
                    DEFAULT_EXPERIMENT_NAME,
                    (artifact_root / DEFAULT_EXPERIMENT_ID).as_uri(),
                    LifecycleStage.ACTIVE,
                    now,
                    now,
                ],
            )


def create_experiment(
    db: Database,
    artifact_root: Path,
    name: str,
    artifact_location: str | None,
    tags: dict[str, str],
) -> str:
    """Insert a new experiment; ``AlreadyExists`` (with the winner's id) when the name is taken.

    The name check and the insert are one transaction under the write lock; a unique
    violation that still gets through (another writer on the same file) maps to the same
    ``AlreadyExists``, never to an internal error.
    """
    try:
        with db.transaction() as con:
            taken = _experiment_row(con, "name = ?", [name])
            if taken is not None:
                raise _name_taken(name, taken)
            experiment_id = str(_rows(con, "SELECT nextval('store.experiment_ids')")[0][0])
            while _experiment_row(con, "experiment_id = ?", [experiment_id]) is not None:
                experiment_id = str(_rows(con, "SELECT nextval('store.experiment_ids')")[0][0])
            location = artifact_location or (artifact_root / experiment_id).as_uri()
            now = _now_ms()
            con.execute(
                "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?)",
                [experiment_id, name, location, LifecycleStage.ACTIVE, now, now],
            )
            for k, v in tags.items():
                con.execute(
                    "INSERT INTO store.experiment_tags VALUES (?, ?, ?)", [experiment_id, k, v]
                )
    except duckdb.ConstraintException as exc:
        with db.writer() as con:  # the failed transaction rolled back: read the winner
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
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        other = _experiment_row(con, "name = ?", [new_name])
        if other is not None and other[0] != experiment_id:
            raise AlreadyExists(f"An experiment named {new_name!r} already exists (id {other[0]}).")
        con.execute(
            "UPDATE store.experiments SET name = ?, last_update_time_ms = ? "
            "WHERE experiment_id = ?",
            [new_name, _now_ms(), experiment_id],
        )


def set_experiment_tags(db: Database, experiment_id: str, tags: dict[str, str]) -> None:
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        for k, v in tags.items():
            con.execute(
                f"{upsert_into('store.experiment_tags')} VALUES (?, ?, ?)", [experiment_id, k, v]
            )


def delete_experiment_tag(db: Database, experiment_id: str, key: str) -> None:
    with db.transaction() as con:
        _require_experiment(con, experiment_id)
        where = "FROM store.experiment_tags WHERE experiment_id = ? AND key = ?"
        if not _rows(con, f"SELECT 1 {where}", [experiment_id, key]):
            raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
        con.execute(f"DELETE {where}", [experiment_id, key])


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
        exp = _rows(
            con,
            "SELECT name, lifecycle_stage, artifact_location FROM store.experiments "
            "WHERE experiment_id = ?",
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
        # plain statements: a run has a few tags, and the first Arrow registration of a
        # process costs ~0.5 s (DuckDB imports pandas), which would delay every first run
        for k, v in tags.items():
            con.execute("INSERT INTO store.tags VALUES (?, ?, ?)", [run_id, k, v])
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
                f"{upsert_into('store.tags')} VALUES (?, ?, ?)", [run_id, RUN_NAME_TAG, run_name]
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

    Setting the ``mlflow.runName`` tag renames the run, as in MLflow (the tag and the
    run's name are one value).
    """
    with db.transaction() as con:
        if params:
            _check_params(con, params)
            _insert_triples(
                con,
                "INSERT INTO store.params SELECT * FROM _mt_rows ON CONFLICT DO NOTHING",
                _last_per_key(params),
            )
        if tags:
            last = _last_per_key(tags)
            _insert_triples(con, f"{upsert_into('store.tags')} SELECT * FROM _mt_rows", last)
            for run_id, _key, name in (t for t in last if t[1] == RUN_NAME_TAG):
                con.execute("UPDATE store.runs SET run_name = ? WHERE run_id = ?", [name, run_id])
        if metrics:
            insert_metrics(con, rows_to_table(metrics))


def log_metric_table(db: Database, table: pa.Table) -> None:
    """Insert an Arrow table of metric rows in one transaction (``store.arrow.METRIC_SCHEMA``,
    or ``LINKED_METRIC_SCHEMA`` for points tied to a dataset or model)."""
    with db.transaction() as con:
        insert_metrics(con, table)


def insert_metrics(con: Con, batch: pa.Table) -> None:
    """Append metric points and keep the latest point per (run, key); inside a transaction.

    ``batch`` is a conformed metric batch (``store.arrow.conform_metric_table``). A batch
    with the link columns (``LINKED_METRIC_SCHEMA``) also records its distinct links in
    ``store.metric_links`` and points each linked row at one; a plain batch inserts its
    five columns and nothing else.
    """
    with registered(con, "_mt_batch", batch):
        if "dataset_name" in batch.schema.names:
            _insert_linked_points(con)
        else:
            con.execute(f"INSERT INTO store.metrics ({_POINT}) SELECT {_POINT} FROM _mt_batch")
        con.execute(
            f"""
            INSERT INTO store.latest_metrics
            SELECT run_id, key, arg_max(value, {LATEST_ORDER_KEY}),
                   arg_max(timestamp_ms, {LATEST_ORDER_KEY}), max(step)
            FROM _mt_batch GROUP BY run_id, key
            ON CONFLICT (run_id, key) DO UPDATE SET
                value = excluded.value, timestamp_ms = excluded.timestamp_ms,
                step = excluded.step
            WHERE excluded.step > latest_metrics.step
               OR (excluded.step = latest_metrics.step
                   AND excluded.timestamp_ms >= latest_metrics.timestamp_ms)
            """
        )


_POINT = "run_id, key, value, timestamp_ms, step"
_LINK = "dataset_name, dataset_digest, model_id"
#: a batch row and a metric_links row with the same run, key and links (NULLs equal)
_SAME_LINK = (
    "l.run_id = b.run_id AND l.key = b.key "
    "AND l.dataset_name IS NOT DISTINCT FROM b.dataset_name "
    "AND l.dataset_digest IS NOT DISTINCT FROM b.dataset_digest "
    "AND l.model_id IS NOT DISTINCT FROM b.model_id"
)


def _insert_linked_points(con: Con) -> None:
    """The points of ``_mt_batch`` (with link columns), their new links first."""
    con.execute(
        f"""
        INSERT INTO store.metric_links
        SELECT nextval('store.metric_link_ids'), run_id, key, {_LINK}
        FROM (SELECT DISTINCT run_id, key, {_LINK} FROM _mt_batch
              WHERE dataset_name IS NOT NULL OR model_id IS NOT NULL) b
        WHERE NOT EXISTS (SELECT 1 FROM store.metric_links l WHERE {_SAME_LINK})
        """
    )
    con.execute(
        f"""
        INSERT INTO store.metrics ({_POINT}, link_id)
        SELECT b.run_id, b.key, b.value, b.timestamp_ms, b.step, l.link_id
        FROM _mt_batch b LEFT JOIN store.metric_links l ON {_SAME_LINK}
        """
    )


def _insert_triples(
    con: Con, sql: str, rows: Sequence[tuple[str, str, str]]
) -> list[tuple[Any, ...]]:
    """Run ``sql`` over (run_id, key, value) rows visible as ``_mt_rows``.

    Rows go in through Arrow: ``executemany`` costs ~0.5 ms a row in DuckDB 2.0.
    """
    table = pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(("run_id", "key", "value"))}
    )
    with registered(con, "_mt_rows", table):
        return con.execute(sql).fetchall()


def _check_params(con: Con, params: Sequence[tuple[str, str, str]]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for run_id, key, value in params:
        prior = seen.setdefault((run_id, key), value)
        if prior != value:
            raise ParamOverwrite(
                f"Param {key!r} appears twice in one batch for run {run_id} with values "
                f"{prior!r} and {value!r}; params are immutable, log one value per key."
            )
    clash = _insert_triples(
        con,
        "SELECT n.run_id, n.key, o.value, n.value FROM _mt_rows n "
        "JOIN store.params o USING (run_id, key) WHERE o.value <> n.value LIMIT 1",
        params,
    )
    if clash:
        run_id, key, old, new = clash[0]
        raise ParamOverwrite(
            f"Param {key!r} was already logged as {old!r} for run {run_id}; cannot change "
            f"it to {new!r}. Params are immutable: log a new key or start a new run.",
            run_id=run_id,
            key=key,
        )


def delete_tag(db: Database, run_id: str, key: str) -> None:
    with db.transaction() as con:
        _require_run(con, run_id)
        if not _rows(con, "SELECT 1 FROM store.tags WHERE run_id = ? AND key = ?", [run_id, key]):
            raise NotFound(f"Run {run_id} has no tag {key!r} to delete.")
        con.execute("DELETE FROM store.tags WHERE run_id = ? AND key = ?", [run_id, key])


def log_inputs(
    db: Database, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]
) -> None:
    with db.transaction() as con:
        _require_run(con, run_id)
        (experiment_id,) = _rows(
            con, "SELECT experiment_id FROM store.runs WHERE run_id = ?", [run_id]
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
                f"{upsert_into('store.run_inputs')} VALUES (?, ?, ?)",
                [run_id, dataset_id, json.dumps(input_tags, sort_keys=True)],
            )


# ------------------------------------------------------------------ maintenance
def gc_runs(db: Database, run_ids: Sequence[str] | None) -> list[str]:
    """Permanently remove deleted runs (all, or the given ones) and their rows."""
    with db.transaction() as con:
        if run_ids is None:
            ids = [
                r[0]
                for r in _rows(
                    con, "SELECT run_id FROM store.runs WHERE lifecycle_stage = 'deleted'"
                )
            ]
        else:
            ids = list(run_ids)
            for rid in ids:
                _status, stage = _require_run(con, rid)
                if stage != LifecycleStage.DELETED:
                    raise InvalidState(
                        f"Run {rid} is not deleted; delete it first (mt.delete_run) before gc."
                    )
        for table in (
            "metrics",
            "metric_links",
            "latest_metrics",
            "params",
            "tags",
            "run_inputs",
            "run_model_links",
            "runs",
        ):
            if ids:
                con.execute(f"DELETE FROM store.{table} WHERE {in_list('run_id')}", [ids])
    return ids
