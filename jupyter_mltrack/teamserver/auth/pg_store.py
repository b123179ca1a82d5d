"""The :class:`~.store.AuthStore` of ``mltrack server --auth`` on a PostgreSQL backend.

The users, tokens and permissions are tables of the tracking database itself (schema
``mltrack_auth``, made by PostgreSQL migration 5 through the store's migration runner), so
every server process (``--workers N``, or servers on several machines) reads the same
rows: a user created, a grant given or a token revoked at one process holds at every other
one from the next request on; no process keeps auth state of its own.

The statements are :class:`~.store.SQLAuthStore`'s, shared with SQLite; this module
supplies the dialect hooks: one statement on a pooled connection
(:class:`~jupyter_mltrack.store.postgres.connection.Database`, a small pool of its own so
authentication never waits behind the store's queries), the first administrator's
check-and-insert under a transaction-scoped advisory lock, and psycopg's unique-violation
error. A database that cannot be reached raises ``StoreUnavailable`` (HTTP 503), as the
store does.

Example::

    auth = PostgresAuthStore("postgresql://mltrack@127.0.0.1:5432/mltrack")
    auth.create_user("alice", "a-long-password")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg.errors
from argon2 import PasswordHasher

from ...store.postgres.connection import Con, Database
from ...store.postgres.migrations import AUTH_SCHEMA, migrate
from .store import Rows, SQLAuthStore, Statement

__all__ = ["AUTH_POOL_SIZE", "BOOTSTRAP_LOCK", "PostgresAuthStore"]

#: Connections of the auth store per server process (a lookup takes a millisecond).
AUTH_POOL_SIZE = 4
#: ``pg_advisory_xact_lock`` key of the first administrator's creation ("mltauth").
BOOTSTRAP_LOCK = 0x6D6C7461757468


class PostgresAuthStore(SQLAuthStore):
    """:class:`~.store.AuthStore` in the PostgreSQL database at ``uri`` (see the module
    docstring); opening it migrates the database like opening the store does."""

    prefix = f"{AUTH_SCHEMA}."
    unique_violation = (psycopg.errors.UniqueViolation,)

    def __init__(
        self, uri: str, *, hasher: PasswordHasher | None = None, pool_size: int = AUTH_POOL_SIZE
    ) -> None:
        super().__init__(hasher)
        self.uri = uri
        self.db = Database(uri, pool_size=pool_size)
        try:
            with self.db.transaction() as con:
                migrate(con)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def _run(self, sql: str, args: tuple[object, ...]) -> tuple[Rows, int]:
        with self.db.reader() as con:
            return _result(con, sql, args)

    @contextmanager
    def _exclusive(self) -> Iterator[Statement]:
        # every process's bootstrap takes the same lock, so the second one waits, then
        # finds the first one's administrator
        with self.db.transaction() as con:
            con.execute("SELECT pg_advisory_xact_lock(?)", [BOOTSTRAP_LOCK])
            yield lambda sql, *args: _result(con, sql, args)[0]


def _result(con: Con, sql: str, args: tuple[object, ...]) -> tuple[Rows, int]:
    cur = con.execute(sql, args)
    return (cur.fetchall() if cur.description else []), cur.rowcount
