"""Numbered schema migrations of the DuckDB store.

Tables live in schema ``store``; the documented read-only views that
``mt.sql`` exposes live in ``main`` (see docs/sql.md). A store written by an
older version is upgraded in place when opened: every migration whose number
is above the stored version runs, in order, in one transaction each. Never edit
a released migration; append a new one.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

_V1 = [
    "CREATE SCHEMA IF NOT EXISTS store",
    """CREATE TABLE store.schema_version (version INTEGER NOT NULL, applied_ms BIGINT NOT NULL)""",
    """CREATE SEQUENCE store.experiment_ids START 1""",
    """CREATE TABLE store.experiments (
        experiment_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL UNIQUE,
        artifact_location VARCHAR NOT NULL,
        lifecycle_stage VARCHAR NOT NULL,
        creation_time_ms BIGINT NOT NULL,
        last_update_time_ms BIGINT NOT NULL)""",
    """CREATE TABLE store.experiment_tags (
        experiment_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
        PRIMARY KEY (experiment_id, key))""",
    """CREATE TABLE store.runs (
        run_id VARCHAR PRIMARY KEY,
        experiment_id VARCHAR NOT NULL,
        run_name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        start_time_ms BIGINT NOT NULL,
        end_time_ms BIGINT,
        user_id VARCHAR NOT NULL,
        lifecycle_stage VARCHAR NOT NULL,
        artifact_uri VARCHAR NOT NULL,
        parent_run_id VARCHAR,
        deleted_time_ms BIGINT)""",
    """CREATE TABLE store.params (
        run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL,
        PRIMARY KEY (run_id, key))""",
    """CREATE TABLE store.tags (
        run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL,
        PRIMARY KEY (run_id, key))""",
    """CREATE TABLE store.metrics (
        run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value DOUBLE NOT NULL,
        timestamp_ms BIGINT NOT NULL, step BIGINT NOT NULL)""",
    """CREATE TABLE store.latest_metrics (
        run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value DOUBLE NOT NULL,
        timestamp_ms BIGINT NOT NULL, step BIGINT NOT NULL,
        PRIMARY KEY (run_id, key))""",
    """CREATE TABLE store.datasets (
        dataset_id VARCHAR PRIMARY KEY,
        experiment_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL, digest VARCHAR NOT NULL,
        source_type VARCHAR NOT NULL, source VARCHAR NOT NULL,
        schema VARCHAR, profile VARCHAR)""",
    """CREATE TABLE store.run_inputs (
        run_id VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, tags VARCHAR NOT NULL,
        PRIMARY KEY (run_id, dataset_id))""",
]

#: The documented views of ``mt.sql`` (docs/sql.md); recreated after every migration.
VIEWS = {
    "experiments": "SELECT * FROM store.experiments",
    "experiment_tags": "SELECT * FROM store.experiment_tags",
    "runs": "SELECT * EXCLUDE (deleted_time_ms) FROM store.runs",
    "params": "SELECT * FROM store.params",
    "tags": "SELECT * FROM store.tags",
    "metrics": (
        "SELECT m.run_id, m.key, m.value, m.timestamp_ms, m.step, "
        "l.dataset_name, l.dataset_digest, l.model_id "
        "FROM store.metrics m LEFT JOIN store.metric_links l ON l.link_id = m.link_id"
    ),
    "latest_metrics": "SELECT * FROM store.latest_metrics",
    "datasets": "SELECT * FROM store.datasets",
    "run_inputs": "SELECT * FROM store.run_inputs",
}
#: The registry's views (migration 4); kept apart so a store older than it opens its views.
REGISTRY_VIEWS = {
    "logged_models": "SELECT * FROM store.logged_models",
    "logged_model_tags": "SELECT * FROM store.logged_model_tags",
    "logged_model_params": "SELECT * FROM store.logged_model_params",
    "registered_models": (
        "SELECT name, creation_timestamp, last_updated_timestamp, description "
        "FROM store.registered_models"
    ),
    "registered_model_tags": "SELECT * FROM store.registered_model_tags",
    "model_versions": "SELECT * FROM store.model_versions",
    "model_version_tags": "SELECT * FROM store.model_version_tags",
    "registered_model_aliases": "SELECT * FROM store.registered_model_aliases",
}
VIEWS.update(REGISTRY_VIEWS)

#: The store service (docs/service-design.md): idempotent batch ingest and run liveness.
_V2 = [
    """CREATE TABLE store.ingested_batches (
        client_id VARCHAR NOT NULL, seq BIGINT NOT NULL,
        n_rows BIGINT NOT NULL, committed_ms BIGINT NOT NULL,
        PRIMARY KEY (client_id, seq))""",
    """CREATE TABLE store.run_heartbeats (
        run_id VARCHAR PRIMARY KEY, client_id VARCHAR NOT NULL, pid BIGINT,
        last_seen_ms BIGINT NOT NULL)""",
]

#: MLflow 3 ties a metric point to the dataset it was computed on and to a logged model
#: (``Metric.dataset_name``/``dataset_digest``/``model_id``). A linked point's
#: ``metrics.link_id`` names one row of ``metric_links`` per (run, key, dataset, model); it
#: is NULL for plain points. One nullable integer, not three strings in ``metrics``: three
#: NULL VARCHAR columns made every plain insert ~50% slower (measured, 500k points), one
#: INTEGER costs within noise; and reading a key's history asks the small table first.
_V3 = [
    "CREATE SEQUENCE store.metric_link_ids START 1",
    """CREATE TABLE store.metric_links (
        link_id INTEGER PRIMARY KEY, run_id VARCHAR NOT NULL, key VARCHAR NOT NULL,
        dataset_name VARCHAR, dataset_digest VARCHAR, model_id VARCHAR)""",
    "ALTER TABLE store.metrics ADD COLUMN link_id INTEGER",
]

#: Logged models (MLflow 3) and the model registry (docs/registry.md). Names are the keys:
#: a rename updates them in every table, in one transaction. ``next_version`` keeps version
#: numbers from being reused after a delete (as MLflow's stores). A logged model's metrics
#: are the metric points whose link names it (``metric_links.model_id``, indexed here).
_V4 = [
    """CREATE TABLE store.logged_models (
        model_id VARCHAR PRIMARY KEY, experiment_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
        artifact_location VARCHAR NOT NULL, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, status VARCHAR NOT NULL,
        source_run_id VARCHAR, model_type VARCHAR)""",
    """CREATE TABLE store.logged_model_tags (
        model_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL,
        PRIMARY KEY (model_id, key))""",
    """CREATE TABLE store.logged_model_params (
        model_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL,
        PRIMARY KEY (model_id, key))""",
    "CREATE INDEX metric_links_by_model ON store.metric_links (model_id)",
    """CREATE TABLE store.registered_models (
        name VARCHAR NOT NULL, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, description VARCHAR NOT NULL,
        next_version INTEGER NOT NULL)""",
    "CREATE UNIQUE INDEX registered_models_by_name ON store.registered_models (name)",
    """CREATE TABLE store.registered_model_tags (
        name VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL)""",
    """CREATE TABLE store.model_versions (
        name VARCHAR NOT NULL, version INTEGER NOT NULL, creation_timestamp BIGINT NOT NULL,
        last_updated_timestamp BIGINT NOT NULL, description VARCHAR NOT NULL,
        source VARCHAR NOT NULL, run_id VARCHAR, model_id VARCHAR, status VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL, run_link VARCHAR NOT NULL)""",
    """CREATE TABLE store.model_version_tags (
        name VARCHAR NOT NULL, version INTEGER NOT NULL, key VARCHAR NOT NULL,
        value VARCHAR NOT NULL)""",
    """CREATE TABLE store.registered_model_aliases (
        name VARCHAR NOT NULL, alias VARCHAR NOT NULL, version INTEGER NOT NULL)""",
]

#: Number 5 is PostgreSQL's auth schema; with DuckDB the users live in a SQLite file of
#: their own (teamserver/auth/store.py), so this store's 5 changes nothing and the numbers
#: of the two stores stay the same.
_V5: list[str] = []

#: Logged models a run used (``direction = 'input'``, MLflow's ``log_inputs(models=...)``)
#: or produced (``'output'`` at ``step``, ``log_outputs``). A run's outputs also list the
#: models whose ``source_run_id`` it is, at step 0, when no row here names them.
_V6 = [
    """CREATE TABLE store.run_model_links (
        run_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, direction VARCHAR NOT NULL,
        step BIGINT NOT NULL, PRIMARY KEY (run_id, direction, model_id, step))""",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5, _V6]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(con: Any) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'store' AND table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM store.schema_version").fetchone()
    return int(row[0] or 0)


def migrate(con: Any) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the version found before."""
    found = current_version(con)
    if found > SCHEMA_VERSION:
        from ...errors import InvalidState

        raise InvalidState(
            f"This store has schema version {found}, newer than this jupyter-mltrack "
            f"understands ({SCHEMA_VERSION}); upgrade jupyter-mltrack to open it."
        )
    for number in range(found + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            for stmt in MIGRATIONS[number - 1]:
                con.execute(stmt)
            con.execute(
                "INSERT INTO store.schema_version VALUES (?, ?)",
                [number, int(time.time() * 1000)],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    for name, body in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW main.{name} AS {body}")
    return found
