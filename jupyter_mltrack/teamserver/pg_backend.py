"""The PostgreSQL backend of ``mltrack server``: stateless, so any number of processes serve it.

Unlike :class:`~.backend.DuckDBBackend` there is no owner: each process has a pool of
connections, and everything the routes depend on lives in the database. The batch
sequence numbers of every client are rows of ``store.ingested_batches`` (a batch retried
on another process is recognized there, :mod:`jupyter_mltrack.store.postgres.service_ops`);
heartbeats are written to ``store.run_heartbeats``. While the database is unreachable every
store call raises ``StoreUnavailable`` and the routes answer 503, which our client retries
(its batches wait in its spool); the pool reconnects by itself when the database is back.

Not here (yet): the reaper that ends RUNNING runs whose heartbeats stopped, which the
DuckDB owner runs; on PostgreSQL such runs stay RUNNING until their client ends them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..service.api import RouteSpec, make_handlers
from ..service.ingest import IngestStats, as_metric_table
from ..service.metrics import MetricsSource, SourceStats
from ..settings import API_BASE
from ..store.base import TrackingStore
from ..store.postgres import service_ops
from ..store.postgres.connection import describe_uri
from ..store.postgres.migrations import SCHEMA_VERSION
from ..store.postgres.store import PostgresStore

__all__ = ["POOL_SIZE", "PostgresBackend", "open_postgres_backend"]

log = logging.getLogger("jupyter_mltrack.teamserver")

#: Database connections (and store threads) per server process.
POOL_SIZE = 8


class PostgresBackend:
    """A PostgreSQL store served by this process among others (see the module docstring)."""

    def __init__(self, uri: str, store: PostgresStore, artifacts_destination: Path | str) -> None:
        self.uri = uri
        self.store = store
        self.artifacts_destination = artifacts_destination
        self.executor: Executor = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="mltrack-pg")
        self.stats = IngestStats()
        self._stats_lock = threading.Lock()
        self.started_ms = int(time.time() * 1000)
        self.metrics_source: MetricsSource = self._source

    # ------------------------------------------------------- API collaborators
    def store_provider(self) -> TrackingStore:
        store: TrackingStore = self.store
        return store

    def ingest(self, table: Any, client_id: str | None, seq: int | None) -> dict[str, Any]:
        """``POST /metric-batches``: ``{"committed": n, "duplicate": bool}``."""
        result = self.ingest_many([table], client_id, seq)
        return {"committed": result["committed"], "duplicate": result["duplicate"]}

    def ingest_many(
        self, tables: list[Any], client_id: str | None, seq: int | None
    ) -> dict[str, Any]:
        """Chunks ``seq``, ``seq + 1``, ... in one transaction, each at most once."""
        conformed: list[pa.Table] = [as_metric_table(t) for t in tables]
        if client_id is None or seq is None:
            for table in conformed:
                self.store.log_metric_table(table)
            dups = [False] * len(conformed)
        else:
            batches = [(t, client_id, seq + i) for i, t in enumerate(conformed)]
            dups = service_ops.ingest_metric_tables(self.store, batches)
        committed = sum(t.num_rows for t, d in zip(conformed, dups, strict=True) if not d)
        with self._stats_lock:
            self.stats.batches += len(conformed)
            self.stats.duplicates += sum(dups)
            self.stats.rows += committed
        return {"committed": committed, "duplicate": all(dups), "duplicates": sum(dups)}

    def heartbeat(self, body: dict[str, Any]) -> None:
        """``POST /heartbeats`` (on the IOLoop): written to the database on a store thread."""
        pid = body.get("pid")
        run_ids = [str(r) for r in body.get("run_ids") or ()]
        if not run_ids:
            return
        now = int(time.time() * 1000)
        future = self.executor.submit(
            service_ops.record_heartbeat,
            self.store,
            str(body["client_id"]),
            pid if isinstance(pid, int) else None,
            run_ids,
            now,
        )
        future.add_done_callback(_log_failure)

    def info(self) -> dict[str, Any]:
        from .._version import __version__

        return {
            "version": __version__,
            "store_path": None,
            "store": describe_uri(self.uri),
            "backend": "postgresql",
            "pid": os.getpid(),
            "kind": "server",
            "schema_version": SCHEMA_VERSION,
            "started_ms": self.started_ms,
            "live_runs": None,
            "ingest": self.stats.as_dict(),
            "artifacts_destination": str(self.artifacts_destination),
        }

    def handlers(self, base_path: str = API_BASE) -> list[RouteSpec]:
        """Our store API (``service/api.py``), on this process's store threads."""
        return make_handlers(
            self.store_provider,
            base_path,
            ingest=self.ingest,
            ingest_many=self.ingest_many,
            heartbeat=self.heartbeat,
            info=self.info,
            executor=self.executor,
        )

    def _source(self) -> SourceStats:
        return SourceStats(
            store=describe_uri(self.uri),
            ingested_points=self.stats.rows,
            ingested_batches=self.stats.batches,
            duplicate_batches=self.stats.duplicates,
            spool_files_recovered=0,
            live_runs=0,
            store_size_bytes=0,
        )

    async def stop(self) -> None:
        """Finish running store calls, then close the pool."""
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self._close)

    def _close(self) -> None:
        self.executor.shutdown(wait=True)
        self.store.close()


def _log_failure(future: Any) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("Could not record a heartbeat: %s", exc)


def open_postgres_backend(uri: str, artifacts_destination: Path | str) -> PostgresBackend:
    """Open (and migrate, under the advisory lock) the database at ``uri``.

    Raises ``StoreUnavailable`` when the database cannot be reached.
    """
    if isinstance(artifacts_destination, Path):
        artifacts_destination.mkdir(parents=True, exist_ok=True)
    store = PostgresStore(uri, str(artifacts_destination), pool_size=POOL_SIZE)
    return PostgresBackend(uri, store, artifacts_destination)
