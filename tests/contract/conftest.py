"""Backends of the TrackingStore contract suite.

- ``direct``: a ``DuckDBStore`` on a file in ``tmp_path``;
- ``remote``: a ``RemoteStore`` talking to the real tornado API on a unix socket, served
  from a background thread, in front of a ``DuckDBStore`` like the direct one;
- ``postgres``: a ``PostgresStore`` on a fresh database of a real PostgreSQL server
  (``tests/pg_support.py``: one cluster per session, started with initdb; the tests fail,
  not skip, when it cannot start).

Every test taking ``store`` runs against all three with the same assertions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_support import PostgresServer, postgres_server_fixture  # noqa: F401 - postgres_server

from jupyter_mltrack.service.api import make_app
from jupyter_mltrack.service.api_thread import ServerThread
from jupyter_mltrack.store.base import TrackingStore
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.remote import RemoteStore

BACKENDS = ("direct", "remote", "postgres")


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/api.sock``, or a short temp dir when that path is over the OS limit."""
    path = tmp_path / "api.sock"
    if len(str(path).encode()) < 100:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mlt") as short:
        yield Path(short) / "api.sock"


@pytest.fixture
def duckdb_store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore("duckdb://" + str(tmp_path / "store" / "store.duckdb"))
    yield store
    store.close()


@dataclass
class Served:
    """The remote leg's parts: the store behind the API, the server and a client."""

    direct: DuckDBStore
    server: ServerThread
    remote: RemoteStore


@pytest.fixture
def served(duckdb_store: DuckDBStore, socket_path: Path) -> Iterator[Served]:
    server = ServerThread(make_app(duckdb_store), socket_path).start()
    remote = RemoteStore(duckdb_store.uri, server.endpoint, timeout=30)
    yield Served(duckdb_store, server, remote)
    remote.close()
    server.stop()


@pytest.fixture(scope="session")
def postgres_contract_db(request: pytest.FixtureRequest) -> str:
    """The URI of one migrated database for the contract suite (emptied before each test)."""
    from jupyter_mltrack.store.postgres.store import PostgresStore

    server: PostgresServer = request.getfixturevalue("postgres_server")
    uri = server.create_database("contract")
    PostgresStore(uri, pool_size=1).close()
    return uri


@pytest.fixture
def pg_store(postgres_contract_db: str, tmp_path: Path) -> Iterator[TrackingStore]:
    """A ``PostgresStore`` on the contract database, emptied first (TRUNCATE is ~100x
    faster than a CREATE DATABASE per test)."""
    import psycopg

    from jupyter_mltrack.store.postgres.store import PostgresStore

    with psycopg.connect(postgres_contract_db, autocommit=True) as conn:
        tables = [
            f"store.{name}"
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'store' "
                "AND tablename <> 'schema_version'"
            ).fetchall()
        ]
        conn.execute(f"TRUNCATE {', '.join(tables)}")
        conn.execute("ALTER SEQUENCE store.experiment_ids RESTART")
    store = PostgresStore(postgres_contract_db, str(tmp_path / "artifacts"), pool_size=2)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> TrackingStore:
    """The store under test: ``direct``, ``remote`` or ``postgres`` (see the module docstring)."""
    if request.param == "postgres":
        pg: TrackingStore = request.getfixturevalue("pg_store")
        return pg
    if request.param == "direct":
        direct: DuckDBStore = request.getfixturevalue("duckdb_store")
        return direct
    remote: RemoteStore = request.getfixturevalue("served").remote
    return remote
