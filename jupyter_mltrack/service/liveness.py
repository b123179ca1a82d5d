"""Run liveness, owner side: end runs whose process went quiet.

Clients send heartbeats (:class:`~jupyter_mltrack.store.remote.heartbeats.HeartbeatSender`).
:class:`Reaper` keeps the latest heartbeat per run in
memory (``record`` runs on the IOLoop and must not block), writes them to
``store.run_heartbeats`` on each tick, and ends a RUNNING run whose last heartbeat is
older than ``run_timeout_s`` as KILLED with the tag ``mltrack.killed_reason`` = "no
heartbeat from its process for N s (client <id>, pid <pid>)". Before that it ingests
the client's leftover spool files, so everything the client had spooled is in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..store.duckdb import service_ops
from ..store.duckdb.store import DuckDBStore

__all__ = ["Reaper"]

log = logging.getLogger("jupyter_mltrack.service.liveness")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Reaper:
    """The owner's side of liveness for one store (methods are thread-safe).

    ``record`` is the API's heartbeat callback; ``tick`` runs on the store executor.
    ``before_kill(client_id)`` is called before a client's runs are ended (the owner
    ingests that client's leftover spool there).
    """

    def __init__(
        self,
        store: DuckDBStore,
        run_timeout_s: float,
        *,
        before_kill: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.run_timeout_s = run_timeout_s
        self._before_kill = before_kill
        self._pending: dict[str, tuple[str, int | None, int]] = {}
        self._lock = threading.Lock()
        self.started_ms = _now_ms()
        self.killed: list[str] = []
        self.live_runs = 0

    def record(self, body: dict[str, Any]) -> None:
        """Note a heartbeat (the API validated ``client_id``, ``pid``, ``run_ids``)."""
        now = _now_ms()
        pid = body.get("pid")
        entry = (str(body["client_id"]), pid if isinstance(pid, int) else None, now)
        with self._lock:
            for run_id in body.get("run_ids") or ():
                self._pending[str(run_id)] = entry

    def flush(self) -> None:
        """Write the heartbeats received since the last flush to the store."""
        with self._lock:
            pending, self._pending = self._pending, {}
        by_client: dict[tuple[str, int | None, int], list[str]] = {}
        for run_id, entry in pending.items():
            by_client.setdefault(entry, []).append(run_id)
        for (client_id, pid, seen_ms), run_ids in by_client.items():
            service_ops.record_heartbeat(self.store, client_id, pid, run_ids, seen_ms)

    def tick(self) -> list[str]:
        """Flush heartbeats, end the runs whose client went quiet; returns their ids."""
        self.flush()
        now = _now_ms()
        cutoff = now - int(self.run_timeout_s * 1000)
        # A new owner first gives live clients one timeout to find it and send a beat.
        stale = service_ops.stale_runs(self.store, cutoff) if self.started_ms < cutoff else []
        with self._lock:  # a heartbeat that arrived since the flush saves its run
            stale = [s for s in stale if s.run_id not in self._pending]
        killed: list[str] = []
        for client_id in sorted({s.client_id for s in stale}):
            if self._before_kill is not None:
                try:
                    self._before_kill(client_id)
                except Exception:
                    log.exception("Could not ingest the spool of client %s", client_id)
        for run in stale:
            silent_s = (now - run.last_seen_ms) / 1000
            reason = (
                f"no heartbeat from its process for {silent_s:.1f} s "
                f"(client {run.client_id}, pid {run.pid})"
            )
            if service_ops.kill_run(self.store, run.run_id, reason, now):
                log.warning("Run %s ended as KILLED: %s.", run.run_id, reason)
                killed.append(run.run_id)
        service_ops.forget_ended_heartbeats(self.store)
        self.live_runs = service_ops.running_with_heartbeat(self.store)
        self.killed.extend(killed)
        return killed
