"""Logged models and the model registry in the PostgreSQL store.

The SQL is :mod:`jupyter_mltrack.store.registry_sql` (shared with DuckDB); this module
gives it pooled connections and the dialect: ``= ANY(?)`` for lists, ``ESCAPE ''`` so a
backslash in a LIKE pattern is an ordinary character (as in DuckDB), and a logged
model's metric points read straight from ``metrics.model_id`` (migration 3; indexed by
migration 4). A unique violation that a concurrent writer causes despite the checks
(two processes creating one name) is ``AlreadyExists``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ...errors import AlreadyExists
from ..registry_sql import Q, RegistryDialect, SqlRegistry
from .connection import Con, Database
from .dialect import in_list

__all__ = ["POSTGRES_REGISTRY", "PostgresRegistry"]

POSTGRES_REGISTRY = RegistryDialect(
    in_list=in_list,
    like_escape=" ESCAPE ''",
    model_metrics=(
        "SELECT DISTINCT ON (model_id, run_id, key, dataset_name, dataset_digest) "
        "model_id, run_id, key, value, timestamp_ms, step, dataset_name, dataset_digest "
        f"FROM store.metrics WHERE {in_list('model_id')} "
        "ORDER BY model_id, run_id, key, dataset_name, dataset_digest, step DESC, "
        "timestamp_ms DESC"
    ),
    metric_exists=(
        "EXISTS (SELECT 1 FROM store.metrics x WHERE x.model_id = lm.model_id "
        "AND x.key = ? AND {pred})"
    ),
    dataset_exists=(
        "EXISTS (SELECT 1 FROM store.metrics d WHERE d.model_id = lm.model_id AND {pred})"
    ),
    metric_dataset=("x.dataset_name", "x.dataset_digest"),
)


def _runner(con: Con) -> Q:
    def q(sql: str, params: Any) -> list[tuple[Any, ...]]:
        cur = con.execute(sql, params)
        return cur.fetchall() if cur.description else []

    return q


class PostgresRegistry(SqlRegistry):
    """Mixin of :class:`~.store.PostgresStore`: the registry over its connection pool."""

    db: Database
    _registry_dialect = POSTGRES_REGISTRY

    @contextmanager
    def _reg_reader(self) -> Iterator[Q]:
        with self.db.reader() as con:
            yield _runner(con)

    @contextmanager
    def _reg_writer(self) -> Iterator[Q]:
        try:
            with self.db.transaction() as con:
                yield _runner(con)
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(
                "Another writer created the same registered model, version, alias or tag at "
                f"the same moment ({str(exc).splitlines()[0]}); retry the call."
            ) from exc
