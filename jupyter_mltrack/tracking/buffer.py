"""The metric buffer: log calls append and return; a background thread commits batches.

The hot path is one ``list.append``. The flusher takes the first ``n``
rows with ``rows[:n]`` and ``del rows[:n]`` (each atomic under the GIL), so an
append racing a flush lands in the next batch, never nowhere. When the buffer
holds ``max_rows`` rows the caller waits for the flusher instead of memory
growing without bound (at most ``max_rows`` waiting plus one batch being
written). A failed flush keeps its rows and retries; the user sees
one warning, not one per step.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable

from ..store.base import MetricRow

__all__ = ["MetricBuffer"]

_log = logging.getLogger(__name__)


class MetricBuffer:
    """Bounded in-memory buffer of metric rows with a daemon flusher thread."""

    def __init__(
        self,
        commit: Callable[[list[MetricRow]], None],
        *,
        interval_s: float = 0.2,
        max_rows: int = 2_000_000,
        batch_rows: int = 500_000,
    ) -> None:
        self._commit = commit
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.batch_rows = batch_rows
        self.rows: list[MetricRow] = []
        self._pending: list[MetricRow] = []  # taken from rows, not yet committed
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._stop = False
        self._warned = False
        self._io = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- hot path
    def wait_for_room(self) -> None:
        """Block while the buffer is full (called by producers past ``max_rows``)."""
        self._ensure_thread()
        self._wake.set()
        deadline = time.monotonic() + 60.0
        with self._flushed:
            while len(self.rows) >= self.max_rows and time.monotonic() < deadline:
                # rows taken by a flush in progress still occupy memory: wait for it
                self._flushed.wait(0.05)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="mltrack-flusher", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------ flush
    def flush(self) -> bool:
        """Commit everything buffered so far; True when nothing is left behind."""
        with self._io:
            while True:
                if not self._pending:
                    n = min(len(self.rows), self.batch_rows)
                    if n == 0:
                        break
                    self._pending = self.rows[:n]
                    del self.rows[:n]
                try:
                    self._commit(self._pending)
                except Exception as exc:  # kept for retry; surfaced once
                    self._report(exc)
                    return False
                self._pending = []
                with self._flushed:
                    self._flushed.notify_all()
        return True

    def pending_count(self) -> int:
        return len(self.rows) + len(self._pending)

    def _report(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"jupyter-mltrack could not write buffered metrics ({exc}); they are kept in "
                "memory and retried. Call mt.flush() to retry now.",
                RuntimeWarning,
                stacklevel=2,
            )
        _log.debug("metric flush failed", exc_info=exc)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self.rows or self._pending:
                self.flush()

    def start(self) -> None:
        self._ensure_thread()

    def close(self) -> bool:
        """Stop the thread and flush what is left; True when everything was committed."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.flush()
