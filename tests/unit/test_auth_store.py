"""The auth database (teamserver/auth/store.py, pg_store.py) on a real SQLite file and on a
real PostgreSQL database (``tests/pg_support.py``): every test runs on both."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from pg_support import PostgresServer, postgres_server_fixture  # noqa: F401 - postgres_server

from jupyter_mltrack.errors import AlreadyExists, InvalidParameter, NotFound
from jupyter_mltrack.teamserver.auth import ensure_admin, open_auth_store
from jupyter_mltrack.teamserver.auth.guard import Policy, Principal
from jupyter_mltrack.teamserver.auth.pg_store import PostgresAuthStore
from jupyter_mltrack.teamserver.auth.store import SQLAuthStore, SQLiteAuthStore, hash_token

#: cheap argon2 parameters: the tests check behaviour, not cost
HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(scope="session")
def auth_db(request: pytest.FixtureRequest) -> str:
    """One migrated PostgreSQL database for these tests (emptied before each test)."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    uri = server.create_database("auth")
    PostgresAuthStore(uri, pool_size=1).close()
    return uri


def _where(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where the store under test lives: a SQLite file, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "auth.sqlite"
    uri: str = request.getfixturevalue("auth_db")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE mltrack_auth.users, mltrack_auth.tokens, mltrack_auth.permissions "
            "RESTART IDENTITY"
        )
    return uri


def _open(where: str | Path) -> SQLAuthStore:
    if isinstance(where, Path):
        return SQLiteAuthStore(where, hasher=HASHER)
    return PostgresAuthStore(where, hasher=HASHER, pool_size=2)


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    return _where(request, tmp_path)


@pytest.fixture
def store(where: str | Path) -> Iterator[SQLAuthStore]:
    opened = _open(where)
    yield opened
    opened.close()


def raw_rows(store: SQLAuthStore, table: str) -> list[tuple[Any, ...]]:
    """Every row of the auth table ``table`` as stored, read past the store."""
    if isinstance(store, SQLiteAuthStore):
        with sqlite3.connect(store.path) as con:
            return con.execute(f"SELECT * FROM {table}").fetchall()
    assert isinstance(store, PostgresAuthStore)
    with psycopg.connect(store.uri) as conn:
        return conn.execute(f"SELECT * FROM mltrack_auth.{table}").fetchall()


def test_passwords_are_salted_argon2id_hashes(store: SQLAuthStore) -> None:
    a = store.create_user("a", "same-password")
    b = store.create_user("b", "same-password")
    assert a.password_hash.startswith("$argon2id$") and a.password_hash != b.password_hash
    assert "same-password" not in repr(raw_rows(store, "users"))
    assert store.verify_password(a, "same-password") and not store.verify_password(a, "other")
    if isinstance(store, SQLiteAuthStore):  # the file itself: no plaintext, owner-only
        assert "same-password" not in (store.path.read_bytes().decode("latin-1"))
        assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_users_validate_and_are_unique(store: SQLAuthStore) -> None:
    store.create_user("alice", "long-enough")
    with pytest.raises(AlreadyExists):
        store.create_user("alice", "long-enough")
    with pytest.raises(InvalidParameter, match="at least 8"):
        store.create_user("bob", "short")
    with pytest.raises(InvalidParameter, match="':'"):
        store.create_user("a:b", "long-enough")
    with pytest.raises(NotFound):
        store.delete_user("nobody")


def test_tokens_are_stored_hashed_expire_and_revoke(store: SQLAuthStore) -> None:
    store.create_user("alice", "long-enough")
    token, info = store.create_token("alice", "ci", None)
    assert token.startswith("mlt_") and len(token) > 40
    assert [row[3] for row in raw_rows(store, "tokens")] == [hash_token(token)]
    user = store.user_of_token(token)
    assert user is not None and user.username == "alice"
    store.revoke_token(info.id)
    assert store.user_of_token(token) is None
    old, _ = store.create_token("alice", "old", int(time.time() * 1000) - 1)
    assert store.user_of_token(old) is None  # expired
    assert store.user_of_token("mlt_guess") is None


def test_deleting_a_user_drops_tokens_and_grants(store: SQLAuthStore) -> None:
    store.create_user("alice", "long-enough")
    token, _ = store.create_token("alice", "", None)
    store.grant("alice", "experiment", "1", "edit")
    store.delete_user("alice")
    assert store.user_of_token(token) is None and store.list_permissions() == []


def test_policy_default_grants_and_admins(store: SQLAuthStore) -> None:
    alice = store.create_user("alice", "long-enough")
    who = Principal(alice.id, "alice", False)
    policy = Policy(store, "NO_PERMISSIONS")
    assert not policy.level(who, "1").can_read
    store.grant("alice", "experiment", "1", "READ")
    assert policy.level(who, "1").can_read and not policy.level(who, "1").can_update
    assert Policy(store, "READ").level(who, "2").name == "READ"
    assert policy.level(Principal(99, "root", True), "1").can_manage
    with pytest.raises(InvalidParameter, match="Unknown permission"):
        store.grant("alice", "experiment", "1", "ROOT")
    with pytest.raises(InvalidParameter, match="resource type"):
        store.grant("alice", "run", "1", "READ")


def test_first_admin_comes_from_the_environment_never_a_default(
    store: SQLAuthStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MLTRACK_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLTRACK_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("MLTRACK_ADMIN_PASSWORD_FILE", raising=False)
    with pytest.raises(InvalidParameter, match="no default password"):
        ensure_admin(store)
    secret = tmp_path / "pw"
    secret.write_text("from-a-file-123\n")
    monkeypatch.setenv("MLTRACK_ADMIN_USERNAME", "root")
    monkeypatch.setenv("MLTRACK_ADMIN_PASSWORD_FILE", str(secret))
    ensure_admin(store)
    root = store.get_user("root")
    assert root is not None and root.is_admin and store.verify_password(root, "from-a-file-123")
    ensure_admin(store)  # users exist: nothing happens
    assert [u.username for u in store.list_users()] == ["root"]


def test_the_auth_store_is_shared_by_every_opener(where: str | Path) -> None:
    """What one process writes, another process's store sees at once (no cache)."""
    a, b = _open(where), _open(where)
    try:
        a.create_user("alice", "long-enough")
        token, info = a.create_token("alice", "ci", None)
        alice = b.get_user("alice")
        assert alice is not None and b.verify_password(alice, "long-enough")
        a.grant("alice", "experiment", "7", "EDIT")
        assert b.granted(alice.id, "experiment", "7") == "EDIT"
        assert b.user_of_token(token) == alice
        a.revoke_token(info.id)
        assert b.user_of_token(token) is None
        b.set_password("alice", "another-password")
        fresh = a.get_user("alice")
        assert fresh is not None and not a.verify_password(fresh, "long-enough")
    finally:
        a.close()
        b.close()


def test_concurrent_first_starts_make_one_administrator(
    where: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight processes' bootstraps at once (each its own store, different admin names in
    their environments): exactly one administrator, no error."""
    stores = [_open(where) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start(i: int) -> None:
        barrier.wait()
        try:
            # what ensure_admin calls once it read the (process-wide) environment
            stores[i].create_first_admin(f"root{i}", "first-admin-password")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        users = stores[0].list_users()
        assert len(users) == 1 and users[0].is_admin, users
        monkeypatch.setenv("MLTRACK_ADMIN_USERNAME", "someone-else")
        ensure_admin(stores[1])  # a later start: users exist, nothing happens
        assert stores[1].list_users() == users
    finally:
        for opened in stores:
            opened.close()


def test_open_auth_store_picks_the_dialect(where: str | Path) -> None:
    opened = open_auth_store(where if isinstance(where, Path) else str(where))
    try:
        expected = SQLiteAuthStore if isinstance(where, Path) else PostgresAuthStore
        assert type(opened) is expected
    finally:
        opened.close()
