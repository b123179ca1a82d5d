"""Logged models and the model registry in the DuckDB store.

The SQL is :mod:`jupyter_mltrack.store.registry_sql` (shared with PostgreSQL); this module
gives it DuckDB's connections and the dialect: list membership with ``list_contains`` and
a logged model's metric points found through ``metric_links`` (a linked point's
``metrics.link_id`` names one row per run, key, dataset and model; see migration 3).
The process that opens the file is its only writer, so registry reads are answered from an
in-memory snapshot dropped by every registry write (:mod:`..registry_cache`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..registry_sql import Q, RegistryDialect, SqlRegistry
from .connection import Database
from .dialect import in_list

__all__ = ["DUCKDB_REGISTRY", "DuckDBRegistry"]

DUCKDB_REGISTRY = RegistryDialect(
    in_list=in_list,
    like_escape="",
    model_metrics=(
        "SELECT model_id, run_id, key, value, timestamp_ms, step, dataset_name, dataset_digest "
        "FROM (SELECT l.model_id, l.run_id, l.key, m.value, m.timestamp_ms, m.step, "
        "l.dataset_name, l.dataset_digest, row_number() OVER (PARTITION BY l.link_id "
        "ORDER BY m.step DESC, m.timestamp_ms DESC) AS rank_ "
        "FROM store.metric_links l JOIN store.metrics m ON m.link_id = l.link_id "
        f"WHERE {in_list('l.model_id')}) WHERE rank_ = 1"
    ),
    metric_exists=(
        "EXISTS (SELECT 1 FROM store.metric_links l JOIN store.metrics x "
        "ON x.link_id = l.link_id WHERE l.model_id = lm.model_id AND l.key = ? AND {pred})"
    ),
    dataset_exists=(
        "EXISTS (SELECT 1 FROM store.metric_links d WHERE d.model_id = lm.model_id AND {pred})"
    ),
    metric_dataset=("l.dataset_name", "l.dataset_digest"),
)


class DuckDBRegistry(SqlRegistry):
    """Mixin of :class:`~.store.DuckDBStore`: the registry over its :class:`Database`."""

    db: Database
    _registry_dialect = DUCKDB_REGISTRY
    #: The owner of a DuckDB file is its only writer: reads come from a snapshot.
    _registry_cached = True

    @contextmanager
    def _reg_reader(self) -> Iterator[Q]:
        with self.db.reader() as cur:

            def q(sql: str, params: Any) -> list[tuple[Any, ...]]:
                return cur.execute(sql, list(params)).fetchall()

            yield q

    @contextmanager
    def _reg_writer(self) -> Iterator[Q]:
        with self.db.transaction() as con:

            def q(sql: str, params: Any) -> list[tuple[Any, ...]]:
                return con.execute(sql, list(params)).fetchall()

            yield q
