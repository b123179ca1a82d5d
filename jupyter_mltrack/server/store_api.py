"""The store API inside the Jupyter server: as the store's owner, or as a client of its owner.

ARCHITECTURE.md section 3: inside Jupyter, the server extension owns the default DuckDB
store. :func:`mount_store_api` becomes that owner (``start_store_owner(kind="jupyter")``)
and returns its routes (the same handlers as the store service, behind Jupyter's auth).
When it cannot or should not own the store (another process owns it, ``own_store`` is
off, a foreign program holds the file, a remote store), the same routes are backed by a
client store, so the sidebar reads the store either way.

Example (what ``MltrackExtension`` does)::

    api = mount_store_api(tracking_uri, "/mltrack/api/v1", own=True, log=self.log)
    self.handlers.extend(api.routes)
    ...
    await api.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..config import resolve_duckdb_path
from ..errors import MltrackError
from ..service.api import RouteSpec, make_handlers
from ..service.api_base import ApiContext
from ..service.discovery import open_service
from ..service.metrics import MetricsSource, owner_source, register_source, unregister_source
from ..service.owner import StorePaths, lock_is_held, read_lock_info
from ..service.process import StoreOwner, start_store_owner
from ..store.base import TrackingStore
from ..store.schemes import get_store

__all__ = ["ClientStore", "StoreApi", "mount_store_api", "owner_summary"]

#: Threads for the store calls of the client routes (each one waits on the owner's socket).
CLIENT_THREADS = 4
#: After a failed open, requests within this many seconds get the same error (no respawns).
RETRY_AFTER_S = 5.0


def owner_summary(tracking_uri: str) -> dict[str, Any] | None:
    """Who serves a ``duckdb:`` store right now: ``{"kind", "pid", "this_server"}``.

    ``None`` for remote stores and for a store that no live process holds. Reads the lock
    file and probes its lock (no DuckDB, no socket), so it may run on the IOLoop.
    """
    if not tracking_uri.startswith("duckdb:"):
        return None
    try:
        paths = StorePaths.for_store(resolve_duckdb_path(tracking_uri))
    except MltrackError:
        return None  # no usable socket path: nobody can serve it (the store API says why)
    info = read_lock_info(paths)
    if info is None or info.pid is None or not lock_is_held(paths):
        return None
    return {"kind": info.kind, "pid": info.pid, "this_server": info.pid == os.getpid()}


class ClientStore:
    """The store of a server that does not own it, opened on first use.

    A ``duckdb:`` store is reached through its owner (a ``ServiceStore``, which follows the
    store to its next owner and starts the detached service when none runs), never opened
    directly, whatever ``MLTRACK_STORE_MODE`` says. Other URIs go to ``get_store``.
    A failed open is remembered for :data:`RETRY_AFTER_S`, so a sidebar polling a store
    that a foreign program holds does not start a service every few seconds.
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._store: TrackingStore | None = None
        self._failure: tuple[float, MltrackError] | None = None
        self._lock = threading.Lock()

    def get(self) -> TrackingStore:
        """The store (opened now if needed); raises the open's ``MltrackError``."""
        with self._lock:
            if self._store is not None:
                return self._store
            if self._failure is not None and time.monotonic() - self._failure[0] < RETRY_AFTER_S:
                raise self._failure[1]
            try:
                if self.tracking_uri.startswith("duckdb:"):
                    self._store = open_service(self.tracking_uri)
                else:
                    self._store = get_store(self.tracking_uri)
            except MltrackError as exc:
                self._failure = (time.monotonic(), exc)
                raise
            self._failure = None
            return self._store

    def ingest(self, table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        """``POST /metric-batches``: forwarded with its ``(client_id, seq)`` (idempotent)."""
        store = self.get()
        post = getattr(store, "post_metric_batch", None)
        if post is not None:
            ack: dict[str, Any] = post(table, client_id=client_id, seq=seq)
            return ack
        store.log_metric_table(table)
        return {"committed": table.num_rows, "duplicate": False}

    def forward_heartbeat(self, body: dict[str, Any]) -> None:
        """``POST /heartbeats`` to the owner (on a store thread; failures are only logged:
        the client's next beat, every few seconds, tries again)."""
        try:
            send = getattr(self.get(), "heartbeat", None)
            if send is not None:
                send(body["client_id"], body["pid"], body["run_ids"])  # checked by the route
        except Exception as exc:
            logging.getLogger(__name__).debug("Could not forward a heartbeat: %s", exc)

    def close(self) -> None:
        """Close a ``ServiceStore`` this object opened (``get_store``'s are cached)."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None and self.tracking_uri.startswith("duckdb:"):
            store.close()


@dataclass
class StoreApi:
    """The store routes of the server and what backs them.

    ``owner`` is set when this server owns the store; ``client`` otherwise.
    """

    routes: list[RouteSpec]
    owner: StoreOwner | None = None
    client: ClientStore | None = None
    executor: ThreadPoolExecutor | None = None
    metrics_source: MetricsSource | None = None

    @property
    def context(self) -> ApiContext:
        """The context every store route shares (its core, executor, store provider)."""
        for _, _, kwargs in self.routes:
            if isinstance(kwargs.get("api"), ApiContext):
                return kwargs["api"]  # type: ignore[no-any-return]
        raise RuntimeError("The store API has no routes with an ApiContext.")

    async def stop(self) -> None:
        """Release the store (as owner) or close the client; call on the IOLoop."""
        if self.metrics_source is not None:
            unregister_source(self.metrics_source)
            self.metrics_source = None
        if self.owner is not None:
            await self.owner.stop()
        if self.client is not None or self.executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._close_client)

    def _close_client(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.client is not None:
            self.client.close()


def mount_store_api(
    tracking_uri: str, base_path: str, *, own: bool, log: logging.Logger | Any
) -> StoreApi:
    """Own the store when possible and return the API routes under ``base_path``.

    Call on the server's IOLoop thread (before it runs is fine: the owner's socket and
    timers attach to the current loop). ``base_path`` is relative to the server's base URL
    (``ExtensionApp`` prepends it). Never raises for a store it cannot own: it logs why
    and serves as a client, whose requests then answer the store's error.
    """
    if tracking_uri.startswith("duckdb:") and own:
        path = resolve_duckdb_path(tracking_uri)
        try:
            owner = start_store_owner(tracking_uri, kind="jupyter")
        except MltrackError as exc:
            log.error(
                "jupyter-mltrack: this server cannot own the store %s: %s Serving it as a "
                "client of whichever process owns it.",
                path,
                exc.message,
            )
        else:
            if owner is not None:
                log.info(
                    "jupyter-mltrack: this server owns the store %s (socket %s); kernels, "
                    "scripts and the CLI log and read through it.",
                    path,
                    owner.paths.socket,
                )
                routes = owner.handlers(base_path, authenticated=True)
                api = StoreApi(routes, owner=owner)
                # the store's metrics in the default registry, i.e. Jupyter's /metrics
                api.metrics_source = owner_source(owner)
                register_source(api.metrics_source)
                return api
            holder = read_lock_info(StorePaths.for_store(path))
            log.info(
                "jupyter-mltrack: the store %s is owned by %s; this server uses it as a client.",
                path,
                holder.describe() if holder is not None else "another process",
            )
    elif tracking_uri.startswith("duckdb:"):
        log.info(
            "jupyter-mltrack: MltrackExtension.own_store is False; this server uses the "
            "store %s as a client of its owner (the store service).",
            resolve_duckdb_path(tracking_uri),
        )
    else:
        log.info("jupyter-mltrack: remote store %s; this server is its client.", tracking_uri)
    return _client_api(tracking_uri, base_path)


def _client_api(tracking_uri: str, base_path: str) -> StoreApi:
    client = ClientStore(tracking_uri)
    executor = ThreadPoolExecutor(CLIENT_THREADS, thread_name_prefix="mltrack-client")
    from .._version import __version__

    def info() -> dict[str, Any]:
        store_path = (
            str(resolve_duckdb_path(tracking_uri)) if tracking_uri.startswith("duckdb:") else None
        )
        return {
            "version": __version__,
            "store_path": store_path,
            "pid": os.getpid(),
            "kind": "client",
            "schema_version": None,
            "owner": owner_summary(tracking_uri),
        }

    def heartbeat(body: dict[str, Any]) -> None:
        executor.submit(client.forward_heartbeat, body)  # on the IOLoop: never block it

    routes = make_handlers(
        client.get,
        base_path,
        ingest=client.ingest,
        heartbeat=heartbeat,
        info=info,
        authenticated=True,
        executor=executor,
    )
    return StoreApi(routes, client=client, executor=executor)
