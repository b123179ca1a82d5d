"""The embedded DuckDB tracking store: one file, no server.

``DuckDBStore`` is the :class:`~jupyter_mltrack.store.base.TrackingStore` over one file;
each job lives in its own module:

- :mod:`.connection`: the write connection, transactions, a pool of read cursors;
- :mod:`.writes`: experiments, runs, params, tags, metrics, inputs, gc;
- :mod:`.reads`: run loading, search, histories, series, SQL;
- :mod:`.migrations`: the numbered schema migrations and the documented views;
- :mod:`.dialect`: the little SQL only DuckDB speaks;
- :mod:`.service_ops`: what only the owner process needs (idempotent ingest, liveness);
- :mod:`.registry`: logged models and the model registry (SQL shared with PostgreSQL).

Reads run on read cursors and never wait behind a write; writes share the one
connection under its lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from ...config import resolve_duckdb_path
from ...entities import Dataset, Experiment, LifecycleStage, MetricHistory, Run
from ...errors import ExperimentNotFound, RunNotFound
from ..arrow import conform_metric_table
from ..base import LinkedMetricRow, MetricRow, RunPage, RunQuery, RunRows, SeriesRequest
from . import reads, row_pages, writes
from .connection import DEFAULT_READERS, Database
from .dialect import in_list
from .migrations import migrate
from .registry import DuckDBRegistry
from .writes import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME

__all__ = ["DEFAULT_EXPERIMENT_ID", "DEFAULT_EXPERIMENT_NAME", "DuckDBStore", "UriRoot"]


class UriRoot:
    """An artifact root that is a URI (``s3://bucket/prefix``), used where the writes
    expect a local root ``Path``: ``root / "12"`` and ``.as_uri()`` give
    ``s3://bucket/prefix/12``, so new experiments keep their artifacts under it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")

    def __truediv__(self, name: str) -> UriRoot:
        return UriRoot(f"{self.uri}/{name}")

    def as_uri(self) -> str:
        return self.uri

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"UriRoot({self.uri!r})"


class DuckDBStore(DuckDBRegistry):
    """A tracking store in one DuckDB file (``duckdb:///path/store.duckdb``).

    Artifacts default to ``<store dir>/artifacts/<experiment_id>/<run_id>/artifacts``.
    ``readers`` is the number of read cursors (concurrent reads).
    """

    def __init__(
        self, uri: str, artifact_root: str | None = None, *, readers: int = DEFAULT_READERS
    ) -> None:
        self.uri = uri
        self.path = resolve_duckdb_path(uri)
        self.artifact_root: Path = (
            cast(Path, UriRoot(artifact_root))
            if artifact_root and "://" in artifact_root and not artifact_root.startswith("file:")
            else Path(artifact_root)
            if artifact_root
            else self.path.parent / "artifacts"
        )
        self.db = Database(self.path, readers=readers)
        self.order_cache = reads.OrderCache()
        self.row_cache = row_pages.RowTableCache()
        try:
            with self.db.writer() as con:
                migrate(con)
            writes.ensure_default_experiment(self.db, self.artifact_root)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.row_cache.settle()  # a row table's build holds a reader
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
            "ORDER BY creation_time_ms DESC, CAST(experiment_id AS VARCHAR) DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.db.reader() as cur:
            rows = cur.execute(sql, list(params)).fetchall()
            if not rows:
                return []
            ids = [r[0] for r in rows]
            tags: dict[str, dict[str, str]] = {i: {} for i in ids}
            for eid, k, v in cur.execute(
                "SELECT experiment_id, key, value FROM store.experiment_tags "
                f"WHERE {in_list('experiment_id')}",
                [ids],
            ).fetchall():
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
        with self.db.reader() as cur:
            runs = reads.load_runs(lambda sql, p: cur.execute(sql, list(p)).fetchall(), [run_id])
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
        """Insert an Arrow table of metric rows (``store.arrow.METRIC_SCHEMA``, or
        ``LINKED_METRIC_SCHEMA``) in one transaction."""
        writes.log_metric_table(self.db, conform_metric_table(table))

    def delete_tag(self, run_id: str, key: str) -> None:
        writes.delete_tag(self.db, run_id, key)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        writes.log_inputs(self.db, run_id, datasets)

    # --------------------------------------------------------------------- reads
    def search_runs(self, query: RunQuery) -> RunPage:
        version = self.db.writes  # before the read: see reads.OrderCache
        with self.db.reader() as cur:
            return reads.search_runs(
                lambda sql, p: cur.execute(sql, list(p)).fetchall(),
                query,
                self.order_cache,
                version,
            )

    def search_run_rows(self, query: RunQuery) -> RunRows:
        version = self.db.writes  # before the read, as in search_runs
        with self.db.reader() as cur:
            return row_pages.search_run_rows(
                cur, query, self.row_cache, self.order_cache, version, self.db.reader
            )

    def search_runs_arrow(self, query: RunQuery) -> dict[str, Any]:
        with self.db.reader() as cur:
            return reads.search_runs_arrow(cur, query)

    def count_runs(self, query: RunQuery) -> int:
        with self.db.reader() as cur:
            return reads.count_runs(lambda sql, p: cur.execute(sql, list(p)).fetchall(), query)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.run_state(run_id)
        with self.db.reader() as cur:
            return reads.metric_history(cur, run_id, key)

    def get_metric_series(self, request: SeriesRequest) -> Any:
        with self.db.reader() as cur:
            return reads.metric_series(cur, request)

    def sql(self, query: str) -> Any:
        with self.db.reader() as cur:
            return reads.read_only_sql(cur, query)

    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        """Permanently remove deleted runs and their rows; returns the removed run ids."""
        return writes.gc_runs(self.db, run_ids)
