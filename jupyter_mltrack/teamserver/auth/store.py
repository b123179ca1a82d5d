"""Where users, API tokens and permissions live: the :class:`AuthStore` protocol, the SQL
both implementations share (:class:`SQLAuthStore`) and its SQLite implementation.

Decision (docs/auth.md): with a DuckDB backend the auth data is a small SQLite file of its
own, ``auth.sqlite`` beside the DuckDB store file (``--auth-db PATH`` to put it elsewhere),
not tables in the tracking store: it keeps the access-control data out of ``mt.sql`` (any
reader of the store could otherwise read the hashes). With a PostgreSQL backend the same
three tables live in that database (schema ``mltrack_auth``, PostgreSQL migration 5), so
any number of server processes on any number of machines share them and keep no auth
state of their own (:class:`~.pg_store.PostgresAuthStore`).

Both implement :class:`AuthStore` with the same tables (``users``, ``tokens``,
``permissions``) and the same statements (:class:`SQLAuthStore`: ``?`` placeholders,
``ON CONFLICT ... DO UPDATE``, which both dialects speak); what differs is in three small
hooks: how one statement runs (:meth:`SQLAuthStore._run`), how the first administrator's
check-and-insert is made exclusive across processes (:meth:`SQLAuthStore._exclusive`) and
which exception a unique key raises (:attr:`SQLAuthStore.unique_violation`). The semantics:
usernames unique, token hashes unique, one permission per (user, resource type, resource
id), deleting a user deletes their tokens and grants. Nothing else in the server touches
the tables.

Passwords are stored as argon2id hashes (argon2-cffi, salted, slow); API tokens are
random 256-bit strings shown once and stored as their SHA-256 (a fast hash is right for
a high-entropy secret: nothing to brute-force), with an expiry and a revocation time.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ...errors import AlreadyExists, InvalidParameter, NotFound

__all__ = [
    "PERMISSIONS",
    "RESOURCE_TYPES",
    "AuthStore",
    "Permission",
    "SQLAuthStore",
    "SQLiteAuthStore",
    "TokenInfo",
    "User",
    "hash_token",
    "permission",
]

#: Resource types a permission is granted on (``registered_model``: the seam for the
#: model registry, stored and listed but checked by no route yet).
RESOURCE_TYPES = ("experiment", "registered_model")
TOKEN_PREFIX = "mlt_"


@dataclass(frozen=True, slots=True)
class Permission:
    """A permission level and what it allows (MLflow's levels; DENY and NO_PERMISSIONS
    allow nothing)."""

    name: str
    rank: int
    can_read: bool
    can_update: bool
    can_delete: bool
    can_manage: bool


PERMISSIONS: dict[str, Permission] = {
    p.name: p
    for p in (
        Permission("DENY", -1, False, False, False, False),
        Permission("NO_PERMISSIONS", 0, False, False, False, False),
        Permission("READ", 1, True, False, False, False),
        Permission("USE", 2, True, False, False, False),
        Permission("EDIT", 3, True, True, False, False),
        Permission("MANAGE", 4, True, True, True, True),
    )
}


def permission(name: object) -> Permission:
    """The level named ``name``; ``InvalidParameter`` listing the levels otherwise."""
    if not isinstance(name, str) or name.upper() not in PERMISSIONS:
        raise InvalidParameter(f"Unknown permission {name!r}; use one of {', '.join(PERMISSIONS)}.")
    return PERMISSIONS[name.upper()]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    is_admin: bool
    password_hash: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    username: str
    name: str
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AuthStore(Protocol):
    """Users, tokens and permissions (see the module docstring for the semantics)."""

    def create_user(self, username: str, password: str, *, is_admin: bool = False) -> User: ...
    def create_first_admin(self, username: str, password: str) -> User | None: ...
    def get_user(self, username: str) -> User | None: ...
    def get_user_by_id(self, user_id: int) -> User | None: ...
    def list_users(self) -> list[User]: ...
    def delete_user(self, username: str) -> None: ...
    def set_password(self, username: str, password: str) -> None: ...
    def set_admin(self, username: str, is_admin: bool) -> None: ...
    def verify_password(self, user: User, password: str) -> bool: ...
    def create_token(
        self, username: str, name: str, expires_ms: int | None
    ) -> tuple[str, TokenInfo]: ...
    def user_of_token(self, token: str) -> User | None: ...
    def revoke_token(self, token_id: str) -> TokenInfo: ...
    def get_token(self, token_id: str) -> TokenInfo | None: ...
    def list_tokens(self, username: str | None = None) -> list[TokenInfo]: ...
    def grant(self, username: str, resource_type: str, resource_id: str, level: str) -> None: ...
    def revoke(self, username: str, resource_type: str, resource_id: str) -> None: ...
    def granted(self, user_id: int, resource_type: str, resource_id: str) -> str | None: ...
    def list_permissions(self, username: str | None = None) -> list[dict[str, object]]: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS permissions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, resource_type, resource_id)
);
PRAGMA user_version = 1;
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_username(username: object) -> str:
    if not isinstance(username, str) or not username.strip():
        raise InvalidParameter("A username must be a non-empty string.")
    if len(username) > 256 or any(c in username for c in ":\0\n\r"):
        raise InvalidParameter(
            f"Username {username[:40]!r} is not allowed: at most 256 characters, no ':' "
            "(it separates the username from the password in HTTP basic auth) and no "
            "control characters."
        )
    return username


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidParameter(
            "A password must be a string of at least 8 characters; choose a longer one."
        )
    if len(password) > 4096:
        raise InvalidParameter("A password must be at most 4096 characters.")
    return password


Rows = list[tuple[Any, ...]]
#: Runs one statement inside :meth:`SQLAuthStore._exclusive`'s transaction; its rows.
Statement = Callable[..., Rows]


class SQLAuthStore:
    """:class:`AuthStore` over the SQL that SQLite and PostgreSQL share.

    Statements name tables as ``{t}users`` (``{t}``: :attr:`prefix`, ``""`` in SQLite,
    ``mltrack_auth.`` in PostgreSQL) and bind values with ``?``. A dialect implements
    :meth:`_run`, :meth:`_exclusive`, :attr:`unique_violation` and :meth:`close`.
    """

    #: what table names are prefixed with
    prefix: ClassVar[str] = ""
    #: the exception(s) an INSERT that breaks a unique key raises
    unique_violation: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    # ------------------------------------------------------------ dialect hooks
    def _run(self, sql: str, args: tuple[object, ...]) -> tuple[Rows, int]:
        """One statement (``?`` placeholders, names already prefixed) in its own
        transaction: its rows (``[]`` for none) and its row count."""
        raise NotImplementedError

    def _exclusive(self) -> AbstractContextManager[Statement]:
        """A transaction that no other process or thread holds at the same time (the
        first administrator's check-and-insert); yields a :data:`Statement` runner."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _sql(self, sql: str) -> str:
        return sql.replace("{t}", self.prefix)

    def _rows(self, sql: str, *args: object) -> Rows:
        return self._run(self._sql(sql), args)[0]

    def _exec(self, sql: str, *args: object) -> int:
        return self._run(self._sql(sql), args)[1]

    # users
    @staticmethod
    def _user(row: tuple[object, ...]) -> User:
        return User(int(str(row[0])), str(row[1]), bool(row[2]), str(row[3]))

    _INSERT_USER = (
        "INSERT INTO {t}users (username, password_hash, is_admin, created_ms) VALUES (?, ?, ?, ?)"
    )

    def create_user(self, username: str, password: str, *, is_admin: bool = False) -> User:
        _check_username(username)
        hashed = self.hasher.hash(_check_password(password))
        try:
            self._exec(self._INSERT_USER, username, hashed, int(is_admin), _now_ms())
        except self.unique_violation:
            raise AlreadyExists(f"User {username!r} already exists.") from None
        user = self.get_user(username)
        assert user is not None
        return user

    def create_first_admin(self, username: str, password: str) -> User | None:
        """Create the administrator ``username`` if there is no user at all, atomically
        across processes (two servers starting at once on one database make one); None
        when a user existed already."""
        _check_username(username)
        hashed = self.hasher.hash(_check_password(password))  # slow: outside the lock
        with self._exclusive() as run:
            if run(self._sql("SELECT count(*) FROM {t}users"))[0][0]:
                return None
            run(self._sql(self._INSERT_USER), username, hashed, 1, _now_ms())
        return self.get_user(username)

    _USER_SQL = "SELECT id, username, is_admin, password_hash FROM {t}users"

    def get_user(self, username: str) -> User | None:
        rows = self._rows(self._USER_SQL + " WHERE username = ?", username)
        return self._user(rows[0]) if rows else None

    def get_user_by_id(self, user_id: int) -> User | None:
        rows = self._rows(self._USER_SQL + " WHERE id = ?", user_id)
        return self._user(rows[0]) if rows else None

    def _require(self, username: str) -> User:
        user = self.get_user(username) if isinstance(username, str) else None
        if user is None:
            raise NotFound(
                f"No user named {username!r}; list them with `mltrack server users list`."
            )
        return user

    def list_users(self) -> list[User]:
        return [self._user(r) for r in self._rows(self._USER_SQL + " ORDER BY username")]

    def delete_user(self, username: str) -> None:
        user = self._require(username)
        self._exec("DELETE FROM {t}users WHERE id = ?", user.id)

    def set_password(self, username: str, password: str) -> None:
        user = self._require(username)
        hashed = self.hasher.hash(_check_password(password))
        self._exec("UPDATE {t}users SET password_hash = ? WHERE id = ?", hashed, user.id)

    def set_admin(self, username: str, is_admin: bool) -> None:
        user = self._require(username)
        self._exec("UPDATE {t}users SET is_admin = ? WHERE id = ?", int(bool(is_admin)), user.id)

    def verify_password(self, user: User, password: str) -> bool:
        try:
            return bool(self.hasher.verify(user.password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # tokens
    @staticmethod
    def _token(row: tuple[object, ...]) -> TokenInfo:
        return TokenInfo(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            int(str(row[3])),
            None if row[4] is None else int(str(row[4])),
            None if row[5] is None else int(str(row[5])),
        )

    _TOKEN_SQL = (
        "SELECT t.id, u.username, t.name, t.created_ms, t.expires_ms, t.revoked_ms "
        "FROM {t}tokens t JOIN {t}users u ON u.id = t.user_id"
    )

    def create_token(
        self, username: str, name: str, expires_ms: int | None
    ) -> tuple[str, TokenInfo]:
        user = self._require(username)
        if not isinstance(name, str) or len(name) > 200:
            raise InvalidParameter("A token name must be a string of at most 200 characters.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(8)
        self._exec(
            "INSERT INTO {t}tokens (id, user_id, name, token_hash, created_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            token_id,
            user.id,
            name,
            hash_token(token),
            _now_ms(),
            expires_ms,
        )
        info = self.get_token(token_id)
        assert info is not None
        return token, info

    def user_of_token(self, token: str) -> User | None:
        rows = self._rows(
            "SELECT u.id, u.username, u.is_admin, u.password_hash FROM {t}tokens t "
            "JOIN {t}users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_ms IS NULL "
            "AND (t.expires_ms IS NULL OR t.expires_ms > ?)",
            hash_token(token),
            _now_ms(),
        )
        return self._user(rows[0]) if rows else None

    def get_token(self, token_id: str) -> TokenInfo | None:
        rows = self._rows(self._TOKEN_SQL + " WHERE t.id = ?", token_id)
        return self._token(rows[0]) if rows else None

    def revoke_token(self, token_id: str) -> TokenInfo:
        if (
            self._exec(
                "UPDATE {t}tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                _now_ms(),
                token_id,
            )
            == 0
            and self.get_token(token_id) is None
        ):
            raise NotFound(
                f"No token with id {token_id!r}; list them with `mltrack server tokens list`."
            )
        info = self.get_token(token_id)
        assert info is not None
        return info

    def list_tokens(self, username: str | None = None) -> list[TokenInfo]:
        if username is None:
            rows = self._rows(self._TOKEN_SQL + " ORDER BY t.created_ms")
        else:
            rows = self._rows(
                self._TOKEN_SQL + " WHERE u.username = ? ORDER BY t.created_ms", username
            )
        return [self._token(r) for r in rows]

    # permissions
    def grant(self, username: str, resource_type: str, resource_id: str, level: str) -> None:
        user = self._require(username)
        if resource_type not in RESOURCE_TYPES:
            raise InvalidParameter(
                f"Unknown resource type {resource_type!r}; use one of {', '.join(RESOURCE_TYPES)}."
            )
        if not isinstance(resource_id, str) or not resource_id:
            raise InvalidParameter("A resource id must be a non-empty string.")
        name = permission(level).name
        self._exec(
            "INSERT INTO {t}permissions (user_id, resource_type, resource_id, permission) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (user_id, resource_type, resource_id) "
            "DO UPDATE SET permission = excluded.permission",
            user.id,
            resource_type,
            resource_id,
            name,
        )

    def revoke(self, username: str, resource_type: str, resource_id: str) -> None:
        user = self._require(username)
        self._exec(
            "DELETE FROM {t}permissions WHERE user_id = ? AND resource_type = ? "
            "AND resource_id = ?",
            user.id,
            resource_type,
            resource_id,
        )

    def granted(self, user_id: int, resource_type: str, resource_id: str) -> str | None:
        rows = self._rows(
            "SELECT permission FROM {t}permissions WHERE user_id = ? AND resource_type = ? "
            "AND resource_id = ?",
            user_id,
            resource_type,
            resource_id,
        )
        return str(rows[0][0]) if rows else None

    def list_permissions(self, username: str | None = None) -> list[dict[str, object]]:
        sql = (
            "SELECT u.username, u.id, p.resource_type, p.resource_id, p.permission "
            "FROM {t}permissions p JOIN {t}users u ON u.id = p.user_id"
        )
        rows = (
            self._rows(sql + " ORDER BY 1, 3, 4")
            if username is None
            else self._rows(sql + " WHERE u.username = ? ORDER BY 1, 3, 4", username)
        )
        return [
            {
                "username": r[0],
                "user_id": r[1],
                "resource_type": r[2],
                "resource_id": r[3],
                "permission": r[4],
            }
            for r in rows
        ]


class SQLiteAuthStore(SQLAuthStore):
    """:class:`AuthStore` in one SQLite file (thread-safe: one connection, one lock)."""

    unique_violation = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path, *, hasher: PasswordHasher | None = None) -> None:
        super().__init__(hasher)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA foreign_keys=ON")
        self._con.execute("PRAGMA busy_timeout=5000")
        self._con.executescript(_SCHEMA)
        self.path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _run(self, sql: str, args: tuple[object, ...]) -> tuple[Rows, int]:
        with self._lock:
            cur = self._con.execute(sql, args)
            return list(cur.fetchall()), cur.rowcount

    @contextmanager
    def _exclusive(self) -> Iterator[Statement]:
        # BEGIN IMMEDIATE takes the file's write lock: another process's waits (busy_timeout)
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, *args: list(self._con.execute(sql, args).fetchall())
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
