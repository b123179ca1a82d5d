"""Numbered schema migrations of the PostgreSQL store.

The numbering follows the DuckDB store's (:mod:`jupyter_mltrack.store.duckdb.migrations`):
1 the tracking tables, 2 idempotent ingest and run liveness, 3 metric links, 4 logged
models and the model registry; 5 (PostgreSQL only) the users, tokens and permissions of
``mltrack server --auth`` in schema ``mltrack_auth`` (with DuckDB they live in a SQLite file
of their own, :mod:`jupyter_mltrack.teamserver.auth.store`, and DuckDB's 5 is empty); 6 the
logged models each run used or produced (``run_model_links``). Each
database gets what its engine does best (PostgreSQL keeps the three link columns in
``metrics``, where NULLs cost a bit in the row header). Tables live in schema ``store``,
the documented read-only views of ``mt.sql`` in schema ``mltrack_views``.

A database written by an older version is upgraded when a store opens it (or by
``mltrack db upgrade URI``): under a transaction-scoped advisory lock, so several server
processes starting at once migrate it exactly once, every migration above the stored
version runs in order, all in one transaction. Never edit a released migration; append.
"""

from __future__ import annotations

import time
from typing import Any

from ...errors import InvalidState
from ..duckdb.migrations import REGISTRY_VIEWS as _REGISTRY_VIEWS

__all__ = [
    "AUTH_SCHEMA",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "VIEWS_SCHEMA",
    "current_version",
    "migrate",
]

#: ``pg_advisory_xact_lock`` key of schema changes ("mltrack" in ASCII).
MIGRATION_LOCK = 0x6D6C747261636B
VIEWS_SCHEMA = "mltrack_views"
#: The tables of ``mltrack server --auth`` (migration 5).
AUTH_SCHEMA = "mltrack_auth"

_V1 = [
    "CREATE SCHEMA IF NOT EXISTS store",
    "CREATE TABLE store.schema_version (version INTEGER NOT NULL, applied_ms BIGINT NOT NULL)",
    "CREATE SEQUENCE store.experiment_ids START 1",
    """CREATE TABLE store.experiments (
        experiment_id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL,
        creation_time_ms BIGINT NOT NULL,
        last_update_time_ms BIGINT NOT NULL)""",
    """CREATE TABLE store.experiment_tags (
        experiment_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
        PRIMARY KEY (experiment_id, key))""",
    """CREATE TABLE store.runs (
        run_id TEXT PRIMARY KEY,
        experiment_id TEXT NOT NULL,
        run_name TEXT NOT NULL,
        status TEXT NOT NULL,
        start_time_ms BIGINT NOT NULL,
        end_time_ms BIGINT,
        user_id TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL,
        artifact_uri TEXT NOT NULL,
        parent_run_id TEXT,
        deleted_time_ms BIGINT)""",
    "CREATE INDEX runs_by_experiment ON store.runs (experiment_id, start_time_ms DESC)",
    """CREATE TABLE store.params (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (run_id, key))""",
    "CREATE INDEX params_by_key ON store.params (key, value)",
    """CREATE TABLE store.tags (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (run_id, key))""",
    "CREATE INDEX tags_by_key ON store.tags (key, value)",
    """CREATE TABLE store.metrics (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
        timestamp_ms BIGINT NOT NULL, step BIGINT NOT NULL)""",
    "CREATE INDEX metrics_by_run_key ON store.metrics (run_id, key, step)",
    """CREATE TABLE store.latest_metrics (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
        timestamp_ms BIGINT NOT NULL, step BIGINT NOT NULL,
        PRIMARY KEY (run_id, key))""",
    "CREATE INDEX latest_metrics_by_key ON store.latest_metrics (key, value)",
    """CREATE TABLE store.datasets (
        dataset_id TEXT PRIMARY KEY,
        experiment_id TEXT NOT NULL,
        name TEXT NOT NULL, digest TEXT NOT NULL,
        source_type TEXT NOT NULL, source TEXT NOT NULL,
        schema TEXT, profile TEXT)""",
    """CREATE TABLE store.run_inputs (
        run_id TEXT NOT NULL, dataset_id TEXT NOT NULL, tags TEXT NOT NULL,
        PRIMARY KEY (run_id, dataset_id))""",
]

#: Idempotent batch ingest (the sequence numbers of every client, for every server
#: process) and run liveness.
_V2 = [
    """CREATE TABLE store.ingested_batches (
        client_id TEXT NOT NULL, seq BIGINT NOT NULL,
        n_rows BIGINT NOT NULL, committed_ms BIGINT NOT NULL,
        PRIMARY KEY (client_id, seq))""",
    """CREATE TABLE store.run_heartbeats (
        run_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, pid BIGINT,
        last_seen_ms BIGINT NOT NULL)""",
]

#: MLflow 3's metric links (``Metric.dataset_name``/``dataset_digest``/``model_id``).
_V3 = [
    "ALTER TABLE store.metrics ADD COLUMN dataset_name TEXT",
    "ALTER TABLE store.metrics ADD COLUMN dataset_digest TEXT",
    "ALTER TABLE store.metrics ADD COLUMN model_id TEXT",
]

#: Logged models (MLflow 3) and the model registry, as DuckDB's migration 4 (with primary
#: keys here: PostgreSQL updates key columns in place, so renames need no care), and an
#: index that finds a logged model's metric points.
_V4 = [
    """CREATE TABLE store.logged_models (
        model_id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, name TEXT NOT NULL,
        artifact_location TEXT NOT NULL, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, status TEXT NOT NULL,
        source_run_id TEXT, model_type TEXT)""",
    "CREATE INDEX logged_models_by_experiment ON store.logged_models "
    "(experiment_id, creation_timestamp DESC)",
    """CREATE TABLE store.logged_model_tags (
        model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (model_id, key))""",
    """CREATE TABLE store.logged_model_params (
        model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (model_id, key))""",
    "CREATE INDEX metrics_by_model ON store.metrics (model_id, key) WHERE model_id IS NOT NULL",
    """CREATE TABLE store.registered_models (
        name TEXT PRIMARY KEY, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, description TEXT NOT NULL,
        next_version INTEGER NOT NULL)""",
    """CREATE TABLE store.registered_model_tags (
        name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, key))""",
    """CREATE TABLE store.model_versions (
        name TEXT NOT NULL, version INTEGER NOT NULL, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, description TEXT NOT NULL,
        source TEXT NOT NULL, run_id TEXT, model_id TEXT, status TEXT NOT NULL,
        user_id TEXT NOT NULL, run_link TEXT NOT NULL, PRIMARY KEY (name, version))""",
    "CREATE INDEX model_versions_by_run ON store.model_versions (run_id)",
    """CREATE TABLE store.model_version_tags (
        name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (name, version, key))""",
    """CREATE TABLE store.registered_model_aliases (
        name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (name, alias))""",
]

#: ``mltrack server --auth`` on PostgreSQL: the auth tables of
#: :class:`~jupyter_mltrack.teamserver.auth.pg_store.PostgresAuthStore`, the SQLite
#: store's three (``teamserver/auth/store.py``) in a schema of their own, outside the
#: ``mt.sql`` views and ``mltrack db copy``. Every server process shares them.
_V5 = [
    f"CREATE SCHEMA IF NOT EXISTS {AUTH_SCHEMA}",
    f"""CREATE TABLE {AUTH_SCHEMA}.users (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL)""",
    f"""CREATE TABLE {AUTH_SCHEMA}.tokens (
        id TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES {AUTH_SCHEMA}.users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT,
        revoked_ms BIGINT)""",
    f"CREATE INDEX tokens_by_user ON {AUTH_SCHEMA}.tokens (user_id)",
    f"""CREATE TABLE {AUTH_SCHEMA}.permissions (
        user_id BIGINT NOT NULL REFERENCES {AUTH_SCHEMA}.users (id) ON DELETE CASCADE,
        resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        permission TEXT NOT NULL,
        PRIMARY KEY (user_id, resource_type, resource_id))""",
]

#: Logged models a run used or produced (the DuckDB store's migration 6).
_V6 = [
    """CREATE TABLE store.run_model_links (
        run_id TEXT NOT NULL, model_id TEXT NOT NULL, direction TEXT NOT NULL,
        step BIGINT NOT NULL, PRIMARY KEY (run_id, direction, model_id, step))""",
]

#: ``metrics.m DESC`` sorts ``-value`` (NaN after the numbers, as ``store/search/_compiler.py``
#: says): this index gives that order, as ``latest_metrics_by_key`` gives ``ASC``, so a
#: filtered, ordered page reads the top of an index instead of sorting every match.
_V7 = [
    "CREATE INDEX latest_metrics_by_key_desc ON store.latest_metrics (key, (-value))",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7]
SCHEMA_VERSION = len(MIGRATIONS)

#: The documented views of ``mt.sql`` (docs/sql.md), the same columns as DuckDB's.
VIEWS = {
    "experiments": "SELECT * FROM store.experiments",
    "experiment_tags": "SELECT * FROM store.experiment_tags",
    "runs": (
        "SELECT run_id, experiment_id, run_name, status, start_time_ms, end_time_ms, "
        "user_id, lifecycle_stage, artifact_uri, parent_run_id FROM store.runs"
    ),
    "params": "SELECT * FROM store.params",
    "tags": "SELECT * FROM store.tags",
    "metrics": (
        "SELECT run_id, key, value, timestamp_ms, step, dataset_name, dataset_digest, "
        "model_id FROM store.metrics"
    ),
    "latest_metrics": "SELECT * FROM store.latest_metrics",
    "datasets": "SELECT * FROM store.datasets",
    "run_inputs": "SELECT * FROM store.run_inputs",
}
VIEWS.update(_REGISTRY_VIEWS)


def current_version(con: Any) -> int:
    """The schema version of the database (0: none of our tables)."""
    exists = con.fetchall("SELECT to_regclass('store.schema_version') IS NOT NULL")[0][0]
    if not exists:
        return 0
    row = con.fetchall("SELECT max(version) FROM store.schema_version")[0]
    return int(row[0] or 0)


def migrate(con: Any, *, upto: int = SCHEMA_VERSION) -> int:
    """Bring the schema to ``upto`` (default the latest) inside the caller's transaction.

    Returns the version found before. Takes the migration advisory lock first, so a second
    process waits and then finds nothing to do.
    """
    con.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK])
    found = current_version(con)
    if found > SCHEMA_VERSION:
        raise InvalidState(
            f"This database has schema version {found}, newer than this jupyter-mltrack "
            f"understands ({SCHEMA_VERSION}); upgrade jupyter-mltrack to open it."
        )
    for number in range(found + 1, upto + 1):
        for stmt in MIGRATIONS[number - 1]:
            con.execute(stmt, None)
        con.execute(
            "INSERT INTO store.schema_version VALUES (?, ?)", [number, int(time.time() * 1000)]
        )
    if upto == SCHEMA_VERSION and (found < upto or not _views_exist(con)):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {VIEWS_SCHEMA}", None)
        for name, body in VIEWS.items():
            con.execute(f"DROP VIEW IF EXISTS {VIEWS_SCHEMA}.{name}", None)
            con.execute(f"CREATE VIEW {VIEWS_SCHEMA}.{name} AS {body}", None)
    return found


def _views_exist(con: Any) -> bool:
    newest = f"{VIEWS_SCHEMA}.registered_model_aliases"
    return bool(con.fetchall(f"SELECT to_regclass('{newest}') IS NOT NULL")[0][0])
