"""``mltrack db upgrade`` and ``mltrack db copy``: schema upgrades and whole-store copies
between the DuckDB and PostgreSQL stores (a laptop's store into the team's database, or
back), artifacts included.

A copy reads every table of the source (metrics through the documented ``metrics`` view,
so both stores' layouts of the metric links read the same) in chunks and appends them to
an *empty* destination (no runs, no experiment but Default), reporting progress after each
chunk. Artifacts of experiments stored in local directories are copied under the
destination's artifact root, and the experiments' and runs' artifact locations rewritten;
other locations (``s3://``, ``mlflow-artifacts:``) are kept as they are.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from ..config import normalize_uri
from ..errors import InvalidParameter, InvalidState

__all__ = ["CopyReport", "append_rows", "copy_store", "open_direct", "upgrade"]

Progress = Callable[[str], None]
CHUNK_ROWS = 100_000

#: (table, columns) in copy order; metrics read from the ``metrics`` view.
_TABLES: list[tuple[str, tuple[str, ...]]] = [
    (
        "experiments",
        (
            "experiment_id",
            "name",
            "artifact_location",
            "lifecycle_stage",
            "creation_time_ms",
            "last_update_time_ms",
        ),
    ),
    ("experiment_tags", ("experiment_id", "key", "value")),
    (
        "runs",
        (
            "run_id",
            "experiment_id",
            "run_name",
            "status",
            "start_time_ms",
            "end_time_ms",
            "user_id",
            "lifecycle_stage",
            "artifact_uri",
            "parent_run_id",
            "deleted_time_ms",
        ),
    ),
    ("params", ("run_id", "key", "value")),
    ("tags", ("run_id", "key", "value")),
    (
        "datasets",
        (
            "dataset_id",
            "experiment_id",
            "name",
            "digest",
            "source_type",
            "source",
            "schema",
            "profile",
        ),
    ),
    ("run_inputs", ("run_id", "dataset_id", "tags")),
    ("latest_metrics", ("run_id", "key", "value", "timestamp_ms", "step")),
    (
        "metrics",
        (
            "run_id",
            "key",
            "value",
            "timestamp_ms",
            "step",
            "dataset_name",
            "dataset_digest",
            "model_id",
        ),
    ),
    # logged models and the model registry (migration 4)
    (
        "logged_models",
        (
            "model_id",
            "experiment_id",
            "name",
            "artifact_location",
            "creation_timestamp",
            "last_updated_timestamp",
            "status",
            "source_run_id",
            "model_type",
        ),
    ),
    ("logged_model_tags", ("model_id", "key", "value")),
    ("logged_model_params", ("model_id", "key", "value")),
    ("run_model_links", ("run_id", "model_id", "direction", "step")),  # migration 6
    (
        "registered_models",
        ("name", "creation_timestamp", "last_updated_timestamp", "description", "next_version"),
    ),
    ("registered_model_tags", ("name", "key", "value")),
    (
        "model_versions",
        (
            "name",
            "version",
            "creation_timestamp",
            "last_updated_timestamp",
            "description",
            "source",
            "run_id",
            "model_id",
            "status",
            "user_id",
            "run_link",
        ),
    ),
    ("model_version_tags", ("name", "version", "key", "value")),
    ("registered_model_aliases", ("name", "alias", "version")),
]


def _is_postgres(uri: str) -> bool:
    return uri.startswith(("postgresql:", "postgres:"))


def open_direct(uri: str, artifact_root: str | None = None) -> Any:
    """The store at ``uri`` opened by this process (not through a server or service)."""
    if _is_postgres(uri):
        from .postgres.store import PostgresStore

        return PostgresStore(uri, artifact_root, pool_size=2)
    uri = normalize_uri(uri)
    if not uri.startswith("duckdb:"):
        raise InvalidParameter(
            f"{uri!r}: mltrack db works on a DuckDB file (duckdb:///path or a path) or a "
            "PostgreSQL database (postgresql://user@host:port/db)."
        )
    from .duckdb.store import DuckDBStore

    return DuckDBStore(uri, artifact_root)


def upgrade(uri: str) -> tuple[int, int]:
    """Bring the schema of the store at ``uri`` to this version's; ``(before, after)``."""
    if _is_postgres(uri):
        from .postgres.connection import Database
        from .postgres.migrations import SCHEMA_VERSION, migrate

        db = Database(uri, pool_size=1)
        try:
            with db.transaction() as con:
                before = migrate(con)
        finally:
            db.close()
        return before, SCHEMA_VERSION
    import duckdb

    from ..config import resolve_duckdb_path
    from .duckdb.migrations import SCHEMA_VERSION as DUCK_VERSION
    from .duckdb.migrations import current_version

    path = resolve_duckdb_path(normalize_uri(uri))
    if not path.exists():
        raise InvalidParameter(f"No store at {path}; nothing to upgrade.")
    quoted = str(path).replace("'", "''")
    duck = duckdb.connect()
    try:
        duck.execute(f"ATTACH '{quoted}' AS mltrack_db (READ_ONLY)")
        duck.execute("USE mltrack_db")
        before = current_version(duck)
    finally:
        duck.close()
    open_direct(uri).close()  # opening migrates
    return before, DUCK_VERSION


class CopyReport(dict[str, int]):
    """Rows copied per table, plus ``artifact_files``."""


def _read_chunks(store: Any, table: str, columns: tuple[str, ...]) -> Iterator[pa.Table]:
    names = ", ".join(columns)
    if hasattr(store, "path"):  # DuckDB
        source = "main.metrics" if table == "metrics" else f"store.{table}"
        with store.db.reader() as cur:
            reader = cur.sql(f"SELECT {names} FROM {source}").to_arrow_reader(CHUNK_ROWS)
            for batch in reader:
                yield pa.Table.from_batches([batch])
        return
    from .postgres.migrations import VIEWS_SCHEMA

    source = f"{VIEWS_SCHEMA}.metrics" if table == "metrics" else f"store.{table}"
    with (
        store.db.connection() as conn,
        conn.transaction(),
        conn.cursor(name=f"mt_copy_{table}") as cur,
    ):
        cur.itersize = CHUNK_ROWS
        cur.execute(f"SELECT {names} FROM {source}")
        while True:
            rows = cur.fetchmany(CHUNK_ROWS)
            if not rows:
                break
            cols = list(zip(*rows, strict=True))
            yield pa.table({c: pa.array(v) for c, v in zip(columns, cols, strict=True)})


def append_rows(store: Any, table: str, chunk: pa.Table) -> None:
    """Append ``chunk`` (columns of ``_TABLES``) to ``table`` of an open direct store, as a copy
    does: in one transaction, without the checks of the store's own writes (the rows come
    from another store, or from a benchmark's bulk seeding). Metrics rows keep a DuckDB
    store's latest metrics; a PostgreSQL store's ``latest_metrics`` is a table of its own."""
    if hasattr(store, "path"):  # DuckDB
        from .arrow import conform_metric_table
        from .duckdb.dialect import registered
        from .duckdb.writes import insert_metrics

        with store.db.transaction() as con:
            if table == "metrics":
                insert_metrics(con, conform_metric_table(_typed_metrics(chunk)))
            elif table != "latest_metrics":  # insert_metrics keeps it
                with registered(con, "_mt_copy", chunk):
                    names = ", ".join(chunk.schema.names)
                    con.execute(f"INSERT INTO store.{table} ({names}) SELECT {names} FROM _mt_copy")
        return
    from .postgres.dialect import copy_table

    with store.db.transaction() as con:
        copy_table(con.cur, f"store.{table}", chunk)


def refresh_statistics(store: Any) -> None:
    """After bulk appends: a PostgreSQL store's planner statistics are read anew (``ANALYZE``),
    so the first searches are planned on the rows that are there. Without it PostgreSQL
    estimated 2 of 100,000 copied runs, and one filtered, ordered page took 463 ms instead of
    1 ms until autovacuum got to it. DuckDB keeps its statistics as it writes: nothing to do."""
    if hasattr(store, "path"):
        return
    with store.db.transaction() as con:
        con.execute("ANALYZE", None)


def _typed_metrics(chunk: pa.Table) -> pa.Table:
    from .arrow import LINKED_METRIC_SCHEMA

    return pa.table({f.name: chunk.column(f.name).cast(f.type) for f in LINKED_METRIC_SCHEMA})


def _local_dir(location: str) -> Path | None:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if not parsed.scheme and location.startswith("/"):
        return Path(location)
    return None


def _relocate(chunk: pa.Table, column: str, moves: dict[str, str]) -> pa.Table:
    values = chunk.column(column).to_pylist()
    out = []
    for value in values:
        for old, new in moves.items():
            if value == old or value.startswith(old.rstrip("/") + "/"):
                value = new + value[len(old.rstrip("/")) :]
                break
        out.append(value)
    return chunk.set_column(
        chunk.schema.get_field_index(column), column, pa.array(out, pa.string())
    )


def copy_store(
    source_uri: str,
    dest_uri: str,
    *,
    artifacts_destination: str | None = None,
    copy_artifacts: bool = True,
    progress: Progress = lambda _line: None,
) -> CopyReport:
    """Copy the whole store at ``source_uri`` into the empty store at ``dest_uri``."""
    source = open_direct(source_uri)
    try:
        dest = open_direct(dest_uri, artifacts_destination)
    except BaseException:
        source.close()
        raise
    report = CopyReport()
    try:
        runs = dest.db.read("SELECT count(*) FROM store.runs")[0][0]
        exps = dest.db.read("SELECT count(*) FROM store.experiments WHERE experiment_id <> '0'")
        if runs or exps[0][0]:
            raise InvalidState(
                f"The destination {dest_uri} already holds runs or experiments; copy into an "
                "empty store (a new DuckDB file or a new PostgreSQL database)."
            )
        dest_root = str(dest.artifact_root)
        moves: dict[str, str] = {}
        if copy_artifacts:
            for eid, location in source.db.read(
                "SELECT experiment_id, artifact_location FROM store.experiments"
            ):
                if _local_dir(location) is not None:
                    target = (
                        dest_root.rstrip("/") + f"/{eid}"
                        if "://" in dest_root
                        else (Path(dest_root) / eid).as_uri()
                    )
                    moves[location] = target
        with dest.db.transaction() as con:
            con.execute("DELETE FROM store.experiments WHERE experiment_id = '0'")
        for table, columns in _TABLES:
            done = 0
            for chunk in _read_chunks(source, table, columns):
                if moves and table == "experiments":
                    chunk = _relocate(chunk, "artifact_location", moves)
                if moves and table == "runs":
                    chunk = _relocate(chunk, "artifact_uri", moves)
                if moves and table == "logged_models":
                    chunk = _relocate(chunk, "artifact_location", moves)
                append_rows(dest, table, chunk)
                done += chunk.num_rows
                progress(f"{table}: {done:,} rows")
            report[table] = done
        refresh_statistics(dest)
        files = 0
        for old, new in moves.items():
            src_dir, dst_dir = _local_dir(old), _local_dir(new)
            if src_dir is None or dst_dir is None or not src_dir.is_dir():
                continue
            for path in src_dir.rglob("*"):
                if path.is_file():
                    target = dst_dir / path.relative_to(src_dir)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
                    files += 1
                    if files % 100 == 0:
                        progress(f"artifacts: {files:,} files")
        report["artifact_files"] = files
        progress(f"artifacts: {files:,} files")
    finally:
        dest.close()
        source.close()
    return report
