"""The PostgreSQL tracking store: ``postgresql://user@host:port/database``.

``PostgresStore`` is the :class:`~jupyter_mltrack.store.base.TrackingStore` over a pool of
connections to one database; the jobs are split as in the DuckDB store:

- :mod:`.connection`: the pool, transactions, lost connections as ``StoreUnavailable``;
- :mod:`.writes` / :mod:`.reads`: the operations (search SQL from the shared compiler);
- :mod:`.migrations`: numbered schema migrations and the documented views;
- :mod:`.dialect`: the little SQL only PostgreSQL speaks;
- :mod:`.service_ops`: idempotent ingest and liveness, kept in the database so that any
  number of server processes can share it;
- :mod:`.registry`: logged models and the model registry (SQL shared with DuckDB).

It holds no state besides the pool: several processes (``mltrack server --workers N``, or
servers on several machines) serve the same data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...entities import Dataset, Experiment, LifecycleStage, MetricHistory, Run
from ...errors import ExperimentNotFound, RunNotFound
from ..arrow import conform_metric_table
from ..base import LinkedMetricRow, MetricRow, RunPage, RunQuery, SeriesRequest
from ..duckdb.reads import view_type_clause
from . import reads, writes
from .connection import DEFAULT_POOL_SIZE, Database
from .dialect import in_list
from .migrations import migrate
from .registry import PostgresRegistry

__all__ = ["ENV_ARTIFACT_ROOT", "PostgresStore", "open_store"]

#: Where a PostgreSQL store opened by a client (not a server) keeps artifacts by default.
ENV_ARTIFACT_ROOT = "MLTRACK_ARTIFACT_ROOT"


class PostgresStore(PostgresRegistry):
    """A tracking store in a PostgreSQL database (see the module docstring).

    ``artifact_root`` (a directory or a URI) is where new experiments' artifacts go; a
    server passes its ``--artifacts-destination``; by default ``$MLTRACK_ARTIFACT_ROOT``
    or ``./mltrack-artifacts``. ``migrate_schema=False`` opens without upgrading (and
    refuses a database that needs it): ``mltrack db upgrade`` does it explicitly.
    """

    def __init__(
        self,
        uri: str,
        artifact_root: str | None = None,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        migrate_schema: bool = True,
    ) -> None:
        self.uri = uri
        root = artifact_root or os.environ.get(ENV_ARTIFACT_ROOT) or "mltrack-artifacts"
        self.artifact_root = root if "://" in root else str(Path(root).expanduser().resolve())
        self.db = Database(uri, pool_size=pool_size)
        try:
            if migrate_schema:
                with self.db.transaction() as con:
                    migrate(con)
            writes.ensure_default_experiment(self.db, self.artifact_root)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    # --------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        return writes.create_experiment(self.db, self.artifact_root, name, artifact_location, tags)

    def _experiments(
        self, where: str, params: Sequence[Any], limit: int | None
    ) -> list[Experiment]:
        sql = (
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time_ms, "
            f"last_update_time_ms FROM store.experiments WHERE {where} "
            "ORDER BY creation_time_ms DESC, experiment_id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.db.reader() as con:
            rows = con.fetchall(sql, params)
            if not rows:
                return []
            ids = [r[0] for r in rows]
            tags: dict[str, dict[str, str]] = {i: {} for i in ids}
            for eid, k, v in con.fetchall(
                "SELECT experiment_id, key, value FROM store.experiment_tags "
                f"WHERE {in_list('experiment_id')}",
                [ids],
            ):
                tags[eid][k] = v
        return [Experiment(r[0], r[1], r[2], r[3], tags[r[0]], r[4], r[5]) for r in rows]

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._experiments("experiment_id = ?", [str(experiment_id)], None)
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
        where, params = view_type_clause(view_type)
        if name_like:
            where += " AND name ILIKE ? ESCAPE ''"
            params.append(name_like)
        return self._experiments(where, params, max_results)

    def delete_experiment(self, experiment_id: str) -> None:
        writes.set_experiment_stage(self.db, experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        writes.set_experiment_stage(self.db, experiment_id, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        writes.rename_experiment(self.db, experiment_id, new_name)

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None:
        writes.set_experiment_tags(self.db, experiment_id, tags)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        writes.delete_experiment_tag(self.db, experiment_id, key)

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
        run_id = writes.create_run(
            self.db, experiment_id, run_name, start_time_ms, user_id, tags, parent_run_id
        )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        with self.db.reader() as con:
            runs = reads.load_runs(con, [run_id])
        if not runs:
            raise RunNotFound(
                f"No run with id {run_id!r}; find run ids with mt.search_runs() or "
                "`mltrack runs list`."
            )
        return runs[0]

    def run_state(self, run_id: str) -> tuple[str, str]:
        """``(status, lifecycle_stage)`` of a run; raises ``RunNotFound``."""
        rows = self.db.read(
            "SELECT status, lifecycle_stage FROM store.runs WHERE run_id = ?", [run_id]
        )
        if not rows:
            raise RunNotFound(f"No run with id {run_id!r}.")
        return rows[0][0], rows[0][1]

    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None:
        writes.update_run(self.db, run_id, status, end_time_ms, run_name)

    def delete_run(self, run_id: str) -> None:
        writes.set_run_stage(self.db, run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        writes.set_run_stage(self.db, run_id, LifecycleStage.ACTIVE)

    # -------------------------------------------------------------------- writes
    def log_batch(
        self,
        metrics: Sequence[MetricRow | LinkedMetricRow],
        params: Sequence[tuple[str, str, str]],
        tags: Sequence[tuple[str, str, str]],
    ) -> None:
        writes.log_batch(self.db, metrics, params, tags)

    def log_metric_table(self, table: pa.Table) -> None:
        """Insert an Arrow table of metric rows (``METRIC_SCHEMA`` or ``LINKED_METRIC_SCHEMA``)."""
        writes.log_metric_table(self.db, conform_metric_table(table))

    def delete_tag(self, run_id: str, key: str) -> None:
        writes.delete_tag(self.db, run_id, key)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        writes.log_inputs(self.db, run_id, datasets)

    # --------------------------------------------------------------------- reads
    def search_runs(self, query: RunQuery) -> RunPage:
        with self.db.reader() as con:
            return reads.search_runs(con, query)

    def search_runs_arrow(self, query: RunQuery) -> dict[str, Any]:
        with self.db.reader() as con:
            return reads.search_runs_arrow(con, query)

    def count_runs(self, query: RunQuery) -> int:
        with self.db.reader() as con:
            return reads.count_runs(con, query)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.run_state(run_id)
        with self.db.reader() as con:
            return reads.metric_history(con, run_id, key)

    def get_metric_series(self, request: SeriesRequest) -> Any:
        with self.db.reader() as con:
            return reads.metric_series(con, request)

    def sql(self, query: str) -> Any:
        with self.db.reader() as con:
            return reads.read_only_sql(con, query)

    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        """Permanently remove deleted runs and their rows; returns the removed run ids."""
        return writes.gc_runs(self.db, run_ids)


def open_store(uri: str) -> PostgresStore:
    """The ``postgresql`` / ``postgres`` entry point of ``jupyter_mltrack.stores``."""
    return PostgresStore(uri)
