"""The backend of ``mltrack server``: the store it serves and the collaborators of its routes.

A :class:`Backend` is everything the HTTP layer needs from the store side, and nothing
that lives per request: the store (``store_provider``), the executor store calls run on,
the idempotent ingest, heartbeats, ``/info``, the metrics source and ``stop``. The HTTP
layer (:mod:`.app`) keeps no state of its own, so a backend whose state lives in the
database (PostgreSQL: ingest sequence numbers in a table, no owner lock) can be served by
several processes with the same app.

:class:`DuckDBBackend` is the one backend today: the process is the *owner* of the DuckDB
file exactly as the local store service is (``service.process.StoreOwner``: election
lock, the one connection with its read cursors, idempotent group-commit ingest, the
reaper of runs whose heartbeats stopped, leftover spool files). It also keeps serving the
store's unix socket, so local clients (``duckdb:///...`` URIs on the server machine,
``mltrack`` CLI calls) share the store with the team instead of being locked out.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

from ..errors import StoreLocked
from ..service.api import RouteSpec
from ..service.api_base import Heartbeat, Ingest, IngestMany
from ..service.metrics import MetricsSource, owner_source
from ..service.owner import StorePaths, read_lock_info
from ..service.process import OwnerSettings, StoreOwner, start_store_owner
from ..settings import API_BASE
from ..store.base import TrackingStore

__all__ = ["Backend", "DuckDBBackend", "open_backend"]


class Backend(Protocol):
    """What the server's HTTP layer uses of the store side (see the module docstring)."""

    uri: str
    #: A directory, or an ``s3://bucket/prefix`` URI (str).
    artifacts_destination: Path | str
    executor: Executor
    ingest: Ingest
    ingest_many: IngestMany
    heartbeat: Heartbeat
    metrics_source: MetricsSource

    def info(self) -> dict[str, Any]: ...
    def store_provider(self) -> TrackingStore: ...
    def handlers(self, base_path: str = API_BASE) -> list[RouteSpec]: ...
    async def stop(self) -> None: ...


class DuckDBBackend:
    """A DuckDB store owned by this process (create it with :func:`open_backend`)."""

    def __init__(self, uri: str, owner: StoreOwner, artifacts_destination: Path | str) -> None:
        self.uri = uri
        self.owner = owner
        self.artifacts_destination = artifacts_destination
        self.executor: Executor = owner.executor
        self.ingest: Ingest = owner.ingest
        self.ingest_many: IngestMany = owner.ingest_many
        self.heartbeat: Heartbeat = owner.heartbeat
        self.metrics_source: MetricsSource = owner_source(owner)

    def store_provider(self) -> TrackingStore:
        store: TrackingStore = self.owner.store
        return store

    def info(self) -> dict[str, Any]:
        """``GET /mltrack/api/v1/info``: the owner's info, with ``kind`` ``"server"``."""
        return {**self.owner.info(), "artifacts_destination": str(self.artifacts_destination)}

    def handlers(self, base_path: str = API_BASE) -> list[RouteSpec]:
        """Our store API (``service/api.py``, the same routes as the local service)."""
        return self.owner.handlers(base_path)

    async def stop(self) -> None:
        """Finish running store calls, flush heartbeats, close DuckDB, release the lock."""
        await self.owner.stop()


def open_backend(
    uri: str,
    artifacts_destination: Path | str,
    *,
    settings: OwnerSettings | None = None,
) -> DuckDBBackend:
    """Own the store at ``uri`` (``duckdb:///path``) on the current IOLoop, or open the
    PostgreSQL database at ``postgresql://...`` (:mod:`.pg_backend`, no owner).

    Raises ``StoreLocked`` naming the process when another one owns the store already (a
    store service, a Jupyter server, another ``mltrack server``): one process owns a
    DuckDB file, so stop that one first.
    """
    if uri.startswith(("postgresql:", "postgres:")):
        from .pg_backend import open_postgres_backend

        return open_postgres_backend(uri, artifacts_destination)  # type: ignore[return-value]
    path = Path(uri[len("duckdb://") :])
    settings = settings or OwnerSettings.from_env(idle=False)
    if isinstance(artifacts_destination, Path):
        artifacts_destination.mkdir(parents=True, exist_ok=True)
    owner = start_store_owner(
        path, kind="server", settings=settings, artifact_root=str(artifacts_destination)
    )
    if owner is None:
        info = read_lock_info(StorePaths.for_store(path))
        holder = info.describe() if info is not None else "another process"
        raise StoreLocked(
            f"The store {path} is already served by {holder}. One process owns a DuckDB "
            "store: stop that one (`mltrack service stop --tracking-uri ...` for a store "
            "service), or serve another store file.",
            path=str(path),
            pid=info.pid if info is not None else None,
        )
    return DuckDBBackend(uri, owner, artifacts_destination)
