"""The embedded DuckDB tracking store: one file, one connection, no server.

Writes for experiments and runs live here; reads (search, histories, series,
SQL) live in :mod:`.reads`. All access goes through one connection guarded by
a lock, because the client's background flusher and the user's thread share it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ...config import resolve_duckdb_path
from ...entities import Dataset, Experiment, LifecycleStage, MetricHistory, Run, RunStatus
from ...errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidState,
    NotFound,
    ParamOverwrite,
    RunNotFound,
    StoreLocked,
    StoreUnavailable,
)
from ..arrow import rows_to_table
from ..base import MetricRow, RunPage, SeriesRequest
from . import reads
from .migrations import migrate

__all__ = ["DEFAULT_EXPERIMENT_ID", "DuckDBStore"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


_ORDER_KEY = (
    "(CAST(step AS HUGEINT) * 10000000000000 + least(greatest(timestamp_ms, 0), 9999999999999))"
)


def _last_per_key(rows: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The last value given for each (run_id, key): a batch may set a tag twice."""
    return list({(r[0], r[1]): r for r in rows}.values())


def _now_ms() -> int:
    return int(time.time() * 1000)


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Attach under a fixed catalog name: a file called ``store.duckdb`` would otherwise
    # become a catalog named ``store`` and clash with the ``store`` schema.
    con = duckdb.connect()
    quoted = str(path).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS mltrack_db")
        con.execute("USE mltrack_db")
        return con
    except duckdb.IOException as exc:
        con.close()
        text = str(exc)
        if "lock" in text.lower():
            raise StoreLocked(
                f"The store {path} is held by another process ({text.strip()}). Close the "
                "other program (a DuckDB shell, another Python process) or point "
                "MLTRACK_TRACKING_URI at another store.",
                path=str(path),
            ) from exc
        raise StoreUnavailable(f"Could not open the store {path}: {text}", path=str(path)) from exc


class DuckDBStore:
    """A tracking store in one DuckDB file (``duckdb:///path/store.duckdb``).

    Artifacts default to ``<store dir>/artifacts/<experiment_id>/<run_id>/artifacts``.
    """

    def __init__(self, uri: str, artifact_root: str | None = None) -> None:
        self.uri = uri
        self.path = resolve_duckdb_path(uri)
        self.artifact_root = (
            Path(artifact_root) if artifact_root else self.path.parent / "artifacts"
        )
        self._lock = threading.RLock()
        self._con = _open(self.path)
        with self._lock:
            migrate(self._con)
            self._ensure_default_experiment()

    # ------------------------------------------------------------------ plumbing
    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, list(params)).fetchall()

    def _tx(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                for sql, params in statements:
                    self._con.execute(sql, list(params))
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _ensure_default_experiment(self) -> None:
        if not self._q("SELECT 1 FROM store.experiments WHERE experiment_id = ?", ["0"]):
            now = _now_ms()
            self._q(
                "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?)",
                [
                    DEFAULT_EXPERIMENT_ID,
                    DEFAULT_EXPERIMENT_NAME,
                    (self.artifact_root / DEFAULT_EXPERIMENT_ID).as_uri(),
                    LifecycleStage.ACTIVE,
                    now,
                    now,
                ],
            )

    # --------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        existing = self.get_experiment_by_name(name)
        if existing is not None:
            state = "" if existing.lifecycle_stage == "active" else " (deleted; restore it)"
            raise AlreadyExists(
                f"An experiment named {name!r} already exists with id "
                f"{existing.experiment_id}{state}; pick another name or use set_experiment.",
            )
        with self._lock:
            (seq,) = self._q("SELECT nextval('store.experiment_ids')")[0]
            experiment_id = str(seq)
            while self._q(
                "SELECT 1 FROM store.experiments WHERE experiment_id = ?", [experiment_id]
            ):
                experiment_id = str(self._q("SELECT nextval('store.experiment_ids')")[0][0])
            location = artifact_location or (self.artifact_root / experiment_id).as_uri()
            now = _now_ms()
            stmts: list[tuple[str, Sequence[Any]]] = [
                (
                    "INSERT INTO store.experiments VALUES (?, ?, ?, ?, ?, ?)",
                    [experiment_id, name, location, LifecycleStage.ACTIVE, now, now],
                )
            ]
            stmts += [
                ("INSERT INTO store.experiment_tags VALUES (?, ?, ?)", [experiment_id, k, v])
                for k, v in tags.items()
            ]
            self._tx(stmts)
        return experiment_id

    def _experiments(
        self, where: str, params: Sequence[Any], limit: int | None
    ) -> list[Experiment]:
        sql = (
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time_ms, "
            f"last_update_time_ms FROM store.experiments WHERE {where} "
            "ORDER BY creation_time_ms DESC, CAST(experiment_id AS VARCHAR) DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._q(sql, params)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for eid, k, v in self._q(
            "SELECT experiment_id, key, value FROM store.experiment_tags "
            "WHERE list_contains(?, experiment_id)",
            [ids],
        ):
            tags[eid][k] = v
        return [Experiment(r[0], r[1], r[2], r[3], tags[r[0]], r[4], r[5]) for r in rows]

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._experiments("experiment_id = ?", [experiment_id], None)
        if not found:
            raise ExperimentNotFound(
                f"No experiment with id {experiment_id!r}; list them with "
                "mt.search_experiments() or `mltrack experiments list`."
            )
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._experiments("name = ?", [name], None)
        return found[0] if found else None

    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Experiment]:
        where, params = reads.view_type_clause(view_type)
        if name_like:
            where += " AND name ILIKE ?"
            params.append(name_like)
        return self._experiments(where, params, max_results)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        self.get_experiment(experiment_id)
        if experiment_id == DEFAULT_EXPERIMENT_ID and stage == LifecycleStage.DELETED:
            raise InvalidState("The Default experiment (id 0) cannot be deleted.")
        now = _now_ms()
        self._tx(
            [
                (
                    "UPDATE store.experiments SET lifecycle_stage = ?, last_update_time_ms = ? "
                    "WHERE experiment_id = ?",
                    [stage, now, experiment_id],
                ),
                (
                    "UPDATE store.runs SET lifecycle_stage = ?, deleted_time_ms = ? "
                    "WHERE experiment_id = ?",
                    [stage, now if stage == LifecycleStage.DELETED else None, experiment_id],
                ),
            ]
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.get_experiment(experiment_id)
        other = self.get_experiment_by_name(new_name)
        if other is not None and other.experiment_id != experiment_id:
            raise AlreadyExists(
                f"An experiment named {new_name!r} already exists (id {other.experiment_id})."
            )
        self._q(
            "UPDATE store.experiments SET name = ?, last_update_time_ms = ? "
            "WHERE experiment_id = ?",
            [new_name, _now_ms(), experiment_id],
        )

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None:
        self.get_experiment(experiment_id)
        self._tx(
            [
                (
                    "INSERT OR REPLACE INTO store.experiment_tags VALUES (?, ?, ?)",
                    [experiment_id, k, v],
                )
                for k, v in tags.items()
            ]
        )

    # ---------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run:
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidState(
                f"Experiment {experiment.name!r} (id {experiment_id}) is deleted; restore it "
                "with mt.restore_experiment or log to another experiment."
            )
        if parent_run_id is not None:
            self.get_run(parent_run_id)
        run_id = uuid.uuid4().hex
        artifact_uri = experiment.artifact_location.rstrip("/") + f"/{run_id}/artifacts"
        stmts: list[tuple[str, Sequence[Any]]] = [
            (
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
        ]
        stmts += [
            ("INSERT INTO store.tags VALUES (?, ?, ?)", [run_id, k, v]) for k, v in tags.items()
        ]
        self._tx(stmts)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        runs = reads.load_runs(self._q, [run_id])
        if not runs:
            raise RunNotFound(
                f"No run with id {run_id!r}; find run ids with mt.search_runs() or "
                "`mltrack runs list`."
            )
        return runs[0]

    def run_state(self, run_id: str) -> tuple[str, str]:
        """``(status, lifecycle_stage)`` of a run; raises ``RunNotFound``."""
        rows = self._q("SELECT status, lifecycle_stage FROM store.runs WHERE run_id = ?", [run_id])
        if not rows:
            raise RunNotFound(f"No run with id {run_id!r}.")
        return rows[0][0], rows[0][1]

    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None:
        self.run_state(run_id)
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
        if not sets:
            return
        stmts: list[tuple[str, Sequence[Any]]] = [
            (f"UPDATE store.runs SET {', '.join(sets)} WHERE run_id = ?", [*params, run_id])
        ]
        if run_name is not None:
            stmts.append(
                (
                    "INSERT OR REPLACE INTO store.tags VALUES (?, 'mlflow.runName', ?)",
                    [run_id, run_name],
                )
            )
        self._tx(stmts)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        self.run_state(run_id)
        self._q(
            "UPDATE store.runs SET lifecycle_stage = ?, deleted_time_ms = ? WHERE run_id = ?",
            [stage, _now_ms() if stage == LifecycleStage.DELETED else None, run_id],
        )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    # -------------------------------------------------------------------- writes
    def log_batch(
        self,
        metrics: Sequence[MetricRow],
        params: Sequence[tuple[str, str, str]],
        tags: Sequence[tuple[str, str, str]],
    ) -> None:
        with self._lock:
            if params:
                self._check_params(params)
            self._con.execute("BEGIN TRANSACTION")
            try:
                if params:
                    self._on_rows(
                        "INSERT INTO store.params SELECT * FROM _mt_rows ON CONFLICT DO NOTHING",
                        _last_per_key(params),
                    )
                if tags:
                    self._on_rows(
                        "INSERT OR REPLACE INTO store.tags SELECT * FROM _mt_rows",
                        _last_per_key(tags),
                    )
                if metrics:
                    self._insert_metrics(rows_to_table(metrics))
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def log_metric_table(self, table: pa.Table) -> None:
        """Insert an Arrow table of metric rows (columns as ``MetricRow``) in one transaction."""
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._insert_metrics(table)
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def _insert_metrics(self, batch: pa.Table) -> None:
        self._con.register("_mt_batch", batch)
        try:
            self._con.execute("INSERT INTO store.metrics SELECT * FROM _mt_batch")
            # Latest point per key: highest step, then latest time. One HUGEINT order key
            # (step * 10^13 + clamped ms) is 2x cheaper than arg_max over a struct.
            self._con.execute(
                f"""
                INSERT INTO store.latest_metrics
                SELECT run_id, key, arg_max(value, {_ORDER_KEY}),
                       arg_max(timestamp_ms, {_ORDER_KEY}), max(step)
                FROM _mt_batch GROUP BY run_id, key
                ON CONFLICT (run_id, key) DO UPDATE SET
                    value = excluded.value, timestamp_ms = excluded.timestamp_ms,
                    step = excluded.step
                WHERE excluded.step > latest_metrics.step
                   OR (excluded.step = latest_metrics.step
                       AND excluded.timestamp_ms >= latest_metrics.timestamp_ms)
                """
            )
        finally:
            self._con.unregister("_mt_batch")

    def _on_rows(self, sql: str, rows: Sequence[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
        """Run ``sql`` over (run_id, key, value) rows registered as ``_mt_rows``.

        Rows go in through Arrow: ``executemany`` costs ~0.5 ms a row in DuckDB 2.0.
        """
        table = pa.table(
            {name: [r[i] for r in rows] for i, name in enumerate(("run_id", "key", "value"))}
        )
        self._con.register("_mt_rows", table)
        try:
            return self._con.execute(sql).fetchall()
        finally:
            self._con.unregister("_mt_rows")

    def _check_params(self, params: Sequence[tuple[str, str, str]]) -> None:
        seen: dict[tuple[str, str], str] = {}
        for run_id, key, value in params:
            prior = seen.setdefault((run_id, key), value)
            if prior != value:
                raise ParamOverwrite(
                    f"Param {key!r} appears twice in one batch for run {run_id} with values "
                    f"{prior!r} and {value!r}; params are immutable, log one value per key."
                )
        clash = self._on_rows(
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

    def delete_tag(self, run_id: str, key: str) -> None:
        self.run_state(run_id)
        if not self._q("SELECT 1 FROM store.tags WHERE run_id = ? AND key = ?", [run_id, key]):
            raise NotFound(f"Run {run_id} has no tag {key!r} to delete.")
        self._q("DELETE FROM store.tags WHERE run_id = ? AND key = ?", [run_id, key])

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        self.run_state(run_id)
        (experiment_id,) = self._q(
            "SELECT experiment_id FROM store.runs WHERE run_id = ?", [run_id]
        )[0]
        stmts: list[tuple[str, Sequence[Any]]] = []
        for ds, input_tags in datasets:
            dataset_id = uuid.uuid5(
                uuid.NAMESPACE_URL, f"{experiment_id}/{ds.name}/{ds.digest}"
            ).hex
            stmts.append(
                (
                    "INSERT INTO store.datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
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
            )
            stmts.append(
                (
                    "INSERT OR REPLACE INTO store.run_inputs VALUES (?, ?, ?)",
                    [run_id, dataset_id, json.dumps(input_tags, sort_keys=True)],
                )
            )
        self._tx(stmts)

    # --------------------------------------------------------------------- reads
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        view_type: str,
        max_results: int | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> RunPage:
        return reads.search_runs(
            self._q, experiment_ids, filter_string, view_type, max_results, order_by, page_token
        )

    def search_runs_arrow(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        view_type: str,
        max_results: int | None,
        order_by: Sequence[str],
    ) -> dict[str, Any]:
        with self._lock:
            return reads.search_runs_arrow(
                self._con, experiment_ids, filter_string, view_type, max_results, order_by
            )

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.run_state(run_id)
        with self._lock:
            return reads.metric_history(self._con, run_id, key)

    def get_metric_series(self, request: SeriesRequest) -> Any:
        with self._lock:
            return reads.metric_series(self._con, request)

    def sql(self, query: str) -> Any:
        with self._lock:
            return reads.read_only_sql(self._con, query)

    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        """Permanently remove deleted runs and their rows; returns the removed run ids."""
        if run_ids is None:
            rows = self._q("SELECT run_id FROM store.runs WHERE lifecycle_stage = 'deleted'")
            ids = [r[0] for r in rows]
        else:
            ids = list(run_ids)
            for rid in ids:
                _status, stage = self.run_state(rid)
                if stage != LifecycleStage.DELETED:
                    raise InvalidState(
                        f"Run {rid} is not deleted; delete it first (mt.delete_run) before gc."
                    )
        if not ids:
            return []
        self._tx(
            [
                (f"DELETE FROM store.{table} WHERE list_contains(?, run_id)", [ids])
                for table in ("metrics", "latest_metrics", "params", "tags", "run_inputs", "runs")
            ]
        )
        return ids
