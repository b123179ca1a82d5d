"""``mltrack server --auth``: users, API tokens and per-experiment permissions (docs/auth.md).

- :mod:`.store`   where users, tokens and grants live (:class:`AuthStore`, the SQL both
                  dialects share, the SQLite file beside a DuckDB store);
- :mod:`.pg_store` the same tables in the PostgreSQL database of a PostgreSQL backend;
- :mod:`.gate`    authentication of every request, in one place (basic auth, bearer
                  tokens, rate limit, auth log), wrapped around each request's delegate
                  by :class:`~jupyter_mltrack.teamserver.app.TeamApplication`;
- :mod:`.guard`   authorization at the store every route uses (:class:`GuardedStore`);
- :mod:`.routes`  MLflow's user and permission routes (2.x and 3.x) and our token routes.

:func:`setup_auth` builds all of it for a backend; ``build_app(backend, auth=...)`` mounts it.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import InvalidParameter
from ...service.api import RouteSpec, make_handlers
from ...settings import API_BASE
from ...store.base import TrackingStore
from .gate import Authenticator, AuthGate
from .guard import ContextExecutor, GuardedStore, Policy, current_principal
from .routes import auth_routes
from .store import PERMISSIONS, AuthStore, SQLiteAuthStore

__all__ = [
    "ENV_ADMIN_PASSWORD",
    "ENV_ADMIN_PASSWORD_FILE",
    "ENV_ADMIN_USERNAME",
    "AuthGate",
    "AuthSetup",
    "AuthStore",
    "SQLiteAuthStore",
    "open_auth_store",
    "setup_auth",
]

log = logging.getLogger("jupyter_mltrack.teamserver.auth")

ENV_ADMIN_USERNAME = "MLTRACK_ADMIN_USERNAME"
ENV_ADMIN_PASSWORD = "MLTRACK_ADMIN_PASSWORD"
ENV_ADMIN_PASSWORD_FILE = "MLTRACK_ADMIN_PASSWORD_FILE"


def _admin_password() -> str | None:
    path = os.environ.get(ENV_ADMIN_PASSWORD_FILE, "").strip()
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise InvalidParameter(
                f"${ENV_ADMIN_PASSWORD_FILE} {path!r}: {exc.strerror}."
            ) from None
    return os.environ.get(ENV_ADMIN_PASSWORD) or None


def ensure_admin(store: AuthStore) -> None:
    """Create the first administrator from the environment when there is no user yet.

    There is never a default password: a first start without
    ``MLTRACK_ADMIN_USERNAME`` and ``MLTRACK_ADMIN_PASSWORD`` (or ``..._FILE``) fails.
    Several processes starting at once on one auth database make one administrator
    (:meth:`AuthStore.create_first_admin` checks and inserts under a lock), whatever
    usernames their environments name.
    """
    if store.list_users():
        return
    username = os.environ.get(ENV_ADMIN_USERNAME, "").strip()
    password = _admin_password()
    if not username or not password:
        raise InvalidParameter(
            f"mltrack server --auth has no users yet: set ${ENV_ADMIN_USERNAME} and "
            f"${ENV_ADMIN_PASSWORD} (or ${ENV_ADMIN_PASSWORD_FILE}, a file holding it) "
            "for the first administrator. There is no default password."
        )
    if store.create_first_admin(username, password) is None:
        return  # another process of this server made the first user meanwhile
    log.info("auth: created the administrator %r", username)


class GuardedBackend:
    """The backend as the routes see it with ``--auth``: the guarded store, an executor
    carrying the caller, ingest that checks EDIT on every run of a batch."""

    def __init__(self, inner: Any, policy: Policy) -> None:
        self.inner = inner
        self.policy = policy
        self.executor: Executor = ContextExecutor(inner.executor)
        self._guarded: dict[int, GuardedStore] = {}

    def store_provider(self) -> TrackingStore:
        store = self.inner.store_provider()
        guarded = self._guarded.get(id(store))
        if guarded is None or guarded._store is not store:
            guarded = self._guarded[id(store)] = GuardedStore(store, self.policy)
        return guarded

    def ingest(self, table: pa.Table, client_id: str | None, seq: int | None) -> Any:
        self.store_provider().check_metric_table(table)  # type: ignore[attr-defined]
        return self.inner.ingest(table, client_id, seq)

    def ingest_many(
        self, tables: list[pa.Table], client_id: str | None, first_seq: int | None
    ) -> Any:
        guarded = self.store_provider()
        for table in tables:
            guarded.check_metric_table(table)  # type: ignore[attr-defined]
        return self.inner.ingest_many(tables, client_id, first_seq)

    def handlers(self, base_path: str = API_BASE) -> list[RouteSpec]:
        return make_handlers(
            self.store_provider,
            base_path,
            ingest=self.ingest,
            ingest_many=self.ingest_many if getattr(self.inner, "ingest_many", None) else None,
            heartbeat=self.inner.heartbeat,
            info=self.inner.info,
            executor=self.executor,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class AuthSetup:
    store: AuthStore
    policy: Policy
    authenticator: Authenticator

    def guard(self, backend: Any) -> GuardedBackend:
        return GuardedBackend(backend, self.policy)

    def routes(self) -> list[RouteSpec]:
        return auth_routes(self.store, self.policy)

    def close(self) -> None:
        self.store.close()


def open_auth_store(where: Path | str) -> AuthStore:
    """The auth store at ``where``: a ``postgresql://`` URI (the backend's database) or
    the path of a SQLite file."""
    if isinstance(where, str) and where.split(":", 1)[0] in ("postgresql", "postgres"):
        from .pg_store import PostgresAuthStore

        return PostgresAuthStore(where)
    return SQLiteAuthStore(where)


def setup_auth(where: Path | str, *, default_permission: str = "NO_PERMISSIONS") -> AuthSetup:
    """Open (or create) the auth database (:func:`open_auth_store`), make the first
    admin, build gate and policy."""
    if default_permission not in PERMISSIONS:
        raise InvalidParameter(
            f"--auth-default-permission {default_permission!r}: use one of "
            "READ, EDIT, MANAGE, NO_PERMISSIONS."
        )
    store = open_auth_store(where)
    try:
        ensure_admin(store)
    except BaseException:
        store.close()
        raise
    policy = Policy(store, default_permission)
    return AuthSetup(store, policy, Authenticator(store, policy))


_ = current_principal  # re-exported for tests
