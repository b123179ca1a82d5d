"""The metric buffer: log calls append and return; a background thread commits batches.

Rows are kept flat, five items a point (``run_id, key, value, timestamp_ms,
step``): the hot path is one ``flat.extend(row)``, which keeps no tuple alive
and lets the flusher build each Arrow column with one strided slice. The
flusher takes the first ``n`` items with ``flat[:n]`` and ``del flat[:n]`` (each
atomic under the GIL, as is the producer's ``extend``), so a point racing a
flush lands in the next batch, never nowhere. When the buffer
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
from typing import Any

from ..store.base import MetricRow

__all__ = ["MetricBuffer"]

_log = logging.getLogger(__name__)


class MetricBuffer:
    """Bounded in-memory buffer of metric rows with a daemon flusher thread."""

    def __init__(
        self,
        commit: Callable[[list[Any]], None],
        *,
        interval_s: float = 0.2,
        max_rows: int = 2_000_000,
        batch_rows: int = 500_000,
    ) -> None:
        self._commit = commit
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.batch_rows = batch_rows
        self.flat: list[Any] = []  # 5 items per point, see module docstring
        self.max_items = max_rows * 5
        self._pending: list[Any] = []  # taken from flat, not yet committed
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._stop = False
        self._warned = False
        self._io = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- hot path
    def append(self, row: MetricRow) -> None:
        """Buffer one point (the fluent API inlines this)."""
        self.flat.extend(row)
        if len(self.flat) >= self.max_items:
            self.wait_for_room()

    def wait_for_room(self) -> None:
        """Block while the buffer is full (called by producers past ``max_rows``)."""
        self._ensure_thread()
        self._wake.set()
        deadline = time.monotonic() + 60.0
        with self._flushed:
            while len(self.flat) >= self.max_items and time.monotonic() < deadline:
                # rows taken by a flush in progress still occupy memory: wait for it
                self._flushed.wait(0.05)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="mltrack-flusher", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ flush
    def flush(self) -> bool:
        """Commit every point buffered when the call began; True when none is left behind.

        Points appended while it runs wait for the next flush: a thread that keeps logging
        must not keep another thread's ``flush()`` (a live plot's read, ``mt.flush()``)
        from returning.
        """
        with self._io:
            owed = len(self.flat)  # items buffered now; later ones are the next flush's
            while True:
                if not self._pending:
                    n = min(owed, len(self.flat), self.batch_rows * 5)
                    if n == 0:
                        break
                    owed -= n
                    self._pending = self.flat[:n]
                    del self.flat[:n]
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
        """Points buffered or being written."""
        return (len(self.flat) + len(self._pending)) // 5

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
            if self.flat or self._pending:
                self.flush()

    def start(self) -> None:
        self._ensure_thread()

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the thread and flush what is left; True when everything was committed."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        return self.flush()

    def take_all(self) -> tuple[list[Any], list[Any]]:
        """Remove and return ``(pending, buffered)``: the points of a failed commit (the same
        list object the commit was given) and those not yet taken by any flush."""
        with self._io:
            pending, self._pending = self._pending, []
            n = len(self.flat)
            rest = self.flat[:n]
            del self.flat[:n]
        return pending, rest
