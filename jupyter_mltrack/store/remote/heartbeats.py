"""Client side of run liveness: heartbeats for the runs this process logs to.

:class:`HeartbeatSender` posts ``{"client_id", "pid", "run_ids"}`` every ``interval_s``
for the RUNNING runs this process created or resumed (and at once when a run is added);
the owner's ``Reaper`` (``service/liveness.py``) ends runs whose heartbeats stop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

__all__ = ["HeartbeatSender", "SendHeartbeat"]

log = logging.getLogger("jupyter_mltrack.store.remote.heartbeats")

#: ``send(client_id, pid, run_ids)``: one ``POST /heartbeats``.
SendHeartbeat = Callable[[str, int, Sequence[str]], None]


class HeartbeatSender:
    """A daemon thread that keeps the owner informed that this process's runs are alive."""

    def __init__(
        self, send: SendHeartbeat, client_id: Callable[[], str], interval_s: float
    ) -> None:
        self._send = send
        self._client_id = client_id
        self.interval_s = interval_s
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self.failures = 0

    @property
    def run_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def add_run(self, run_id: str) -> None:
        """Start sending heartbeats for ``run_id`` (the first one goes out at once)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child does not run its parent's runs
                self._pid, self._runs, self._thread = os.getpid(), set(), None
            self._runs.add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(
                    target=self._loop, name="mltrack-heartbeat", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def remove_run(self, run_id: str) -> None:
        with self._lock:
            self._runs.discard(run_id)

    def send_now(self) -> bool:
        """Send one heartbeat for the current runs; False when it failed."""
        runs = self.run_ids
        if not runs:
            return True
        try:
            self._send(self._client_id(), os.getpid(), runs)
        except Exception as exc:  # the owner is restarting: the next beat goes to the new one
            self.failures += 1
            log.debug("heartbeat failed: %s", exc)
            return False
        return True

    def _loop(self) -> None:
        while self._running():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._running():
                self.send_now()

    def _running(self) -> bool:
        return not self._stop

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
