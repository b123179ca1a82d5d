"""A pool of PostgreSQL connections, its transactions, and the mapping of lost connections
to ``StoreUnavailable`` (HTTP 503).

Every statement is written with ``?`` placeholders like the DuckDB store's and rewritten
for psycopg (:func:`.dialect.to_psycopg`). Connections come from a ``psycopg_pool``
pool and are checked before use, so a database that restarted costs the next caller a
reconnect, not an error. While the server is gone every call raises ``StoreUnavailable``
(the server answers 503 and clients retry), and the pool reconnects by itself.

Example::

    db = Database("postgresql://mltrack@127.0.0.1:5432/mltrack")
    with db.transaction() as con:
        con.execute("UPDATE store.runs SET run_name = ? WHERE run_id = ?", ["a", rid])
    rows = db.read("SELECT count(*) FROM store.runs")
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import psycopg
import psycopg_pool

from ...errors import StoreUnavailable
from .dialect import to_psycopg

__all__ = ["DEFAULT_POOL_SIZE", "Con", "Database", "describe_uri", "unavailable"]

log = logging.getLogger("jupyter_mltrack.store.postgres")

#: Connections per store (each serves one request at a time).
DEFAULT_POOL_SIZE = 8
#: Seconds a caller waits for a free (or new) connection before ``StoreUnavailable``.
CONNECT_TIMEOUT_S = 5.0

Rows = list[tuple[Any, ...]]


def describe_uri(uri: str) -> str:
    """``host:port/db`` of a ``postgresql://`` URI, without the password."""
    parsed = urlparse(uri)
    host = parsed.hostname or "localhost"
    return f"{host}:{parsed.port or 5432}{parsed.path or '/'}"


def unavailable(uri: str, exc: BaseException) -> StoreUnavailable:
    """The error for a database that cannot be reached right now."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreUnavailable(
        f"The PostgreSQL database {describe_uri(uri)} is not reachable right now ({text}). "
        "Check that the server is running and the URI is right; requests are retried.",
        store=describe_uri(uri),
    )


class Con:
    """One pooled connection as the store's SQL sees it: ``execute(sql, params)`` with ``?``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.cur = conn.cursor()

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> psycopg.Cursor[Any]:
        """Run one statement; ``params`` fill its ``?`` (``None``: send ``sql`` as is)."""
        if params is None:
            return self.cur.execute(sql)
        return self.cur.execute(to_psycopg(sql), list(params))

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cur.executemany(to_psycopg(sql), rows)


class Database:
    """A connection pool on one PostgreSQL database (see the module docstring)."""

    def __init__(self, uri: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.uri = uri
        conninfo = _conninfo(uri)
        self.pool = psycopg_pool.ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            check=psycopg_pool.ConnectionPool.check_connection,
            timeout=CONNECT_TIMEOUT_S,
            reconnect_timeout=0,  # keep trying for ever: the database comes back
            name="mltrack",
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except psycopg_pool.PoolTimeout as exc:
            self.pool.close()
            raise self._first_error(conninfo, exc) from exc

    def _first_error(self, conninfo: str, exc: BaseException) -> StoreUnavailable:
        # the pool only says "timed out": connect once to tell the user why
        try:
            psycopg.connect(conninfo, connect_timeout=3).close()
        except psycopg.Error as why:
            return unavailable(self.uri, why)
        return unavailable(self.uri, exc)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; connection-level failures become ``StoreUnavailable``."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout) as exc:
            raise unavailable(self.uri, exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[Con]:
        """A connection inside ``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
        with self.connection() as conn, conn.transaction():
            yield Con(conn)

    @contextmanager
    def reader(self) -> Iterator[Con]:
        """A connection for reads (each statement its own snapshot, autocommit)."""
        with self.connection() as conn:
            yield Con(conn)

    def read(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self.reader() as con:
            return con.fetchall(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """One statement in its own transaction; its rows (``[]`` when it returns none)."""
        with self.reader() as con:
            cur = con.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        self.pool.close()


def _conninfo(uri: str) -> str:
    """``uri`` as libpq takes it (``postgresql://`` or ``postgres://``), with an
    application name so the server's connections are recognizable in ``pg_stat_activity``."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("postgresql", "postgres"):
        from ...errors import InvalidParameter

        raise InvalidParameter(
            f"{uri!r} is not a PostgreSQL URI; use postgresql://user@host:port/database."
        )
    extra = "application_name=mltrack"
    return uri + ("&" if parsed.query else "?") + extra if "application_name" not in uri else uri
