"""The auth database (teamserver/auth/store.py) on a real SQLite file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from jupyter_mltrack.errors import AlreadyExists, InvalidParameter, NotFound
from jupyter_mltrack.teamserver.auth import ensure_admin
from jupyter_mltrack.teamserver.auth.guard import Policy, Principal
from jupyter_mltrack.teamserver.auth.store import SQLiteAuthStore, hash_token


@pytest.fixture
def store(tmp_path: Path) -> SQLiteAuthStore:
    # cheap argon2 parameters: the tests check behaviour, not cost
    return SQLiteAuthStore(
        tmp_path / "auth.sqlite", hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def test_passwords_are_salted_argon2id_hashes(store: SQLiteAuthStore) -> None:
    a = store.create_user("a", "same-password")
    b = store.create_user("b", "same-password")
    assert a.password_hash.startswith("$argon2id$") and a.password_hash != b.password_hash
    assert "same-password" not in (store.path.read_bytes().decode("latin-1"))
    assert store.verify_password(a, "same-password") and not store.verify_password(a, "other")
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_users_validate_and_are_unique(store: SQLiteAuthStore) -> None:
    store.create_user("alice", "long-enough")
    with pytest.raises(AlreadyExists):
        store.create_user("alice", "long-enough")
    with pytest.raises(InvalidParameter, match="at least 8"):
        store.create_user("bob", "short")
    with pytest.raises(InvalidParameter, match="':'"):
        store.create_user("a:b", "long-enough")
    with pytest.raises(NotFound):
        store.delete_user("nobody")


def test_tokens_are_stored_hashed_expire_and_revoke(store: SQLiteAuthStore) -> None:
    store.create_user("alice", "long-enough")
    token, info = store.create_token("alice", "ci", None)
    assert token.startswith("mlt_") and len(token) > 40
    rows = sqlite3.connect(store.path).execute("SELECT token_hash FROM tokens").fetchall()
    assert rows == [(hash_token(token),)]
    user = store.user_of_token(token)
    assert user is not None and user.username == "alice"
    store.revoke_token(info.id)
    assert store.user_of_token(token) is None
    old, _ = store.create_token("alice", "old", int(time.time() * 1000) - 1)
    assert store.user_of_token(old) is None  # expired
    assert store.user_of_token("mlt_guess") is None


def test_deleting_a_user_drops_tokens_and_grants(store: SQLiteAuthStore) -> None:
    store.create_user("alice", "long-enough")
    token, _ = store.create_token("alice", "", None)
    store.grant("alice", "experiment", "1", "edit")
    store.delete_user("alice")
    assert store.user_of_token(token) is None and store.list_permissions() == []


def test_policy_default_grants_and_admins(store: SQLiteAuthStore) -> None:
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
    store: SQLiteAuthStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
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
