"""Live updates for the JupyterLab views: one coalesced store poll, pushed to every tab.

:class:`ChangeFeed` reads a cheap signature of the store's runs (counts and hashes of the
runs, their latest metrics and tags: one read-only SQL statement through the
:class:`~jupyter_mltrack.tracking.core.TrackingCore`) once per ``interval_s``, and only while
someone listens. When the signature changes, the store's *version* goes up by one and every
subscriber is told ``{"version": n}``; each then re-reads what it shows. However many tabs
are open, the poll costs one store read per tick (``tests/integration/test_lab_api.py``
counts them through ``GET /changes/stats``), and pages read at the same version are served
from :class:`~.lab_api.PageCache` instead of the store.

Example (what ``MltrackExtension`` does)::

    feed = ChangeFeed(api_context, interval_s=1.0)
    async with feed.subscribe() as sub:
        while True:
            event = await sub.next(timeout=15)   # None on timeout: send a keep-alive
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..errors import MltrackError
from ..tracking.core import TrackingCore
from .api_base import ApiContext

__all__ = ["SIGNATURE_SQL", "ChangeFeed", "Subscription"]

log = logging.getLogger(__name__)

#: What "the runs changed" means: a run was added, removed, renamed, changed status, stage
#: or end time; a latest metric, a tag or a param was written. One statement, one read.
SIGNATURE_SQL = """
SELECT
  (SELECT count(*) FROM runs),
  (SELECT bit_xor(hash(run_id, run_name, status, lifecycle_stage, end_time_ms)) FROM runs),
  (SELECT count(*) FROM latest_metrics),
  (SELECT bit_xor(hash(run_id, key, step, timestamp_ms, value)) FROM latest_metrics),
  (SELECT count(*) FROM tags),
  (SELECT bit_xor(hash(run_id, key, value)) FROM tags),
  (SELECT count(*) FROM params)
"""


def read_signature(core: TrackingCore) -> tuple[Any, ...]:
    """The store's change signature (runs on the store executor)."""
    rows = core.sql(SIGNATURE_SQL).fetchall()
    return tuple(rows[0])


class Subscription:
    """One listener (a browser tab's stream); coalesces: only the newest event waits."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The current event once the version changed since the last call; ``None`` when
        ``timeout`` seconds pass first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return None
        self._event.clear()
        return self._feed.event()


class ChangeFeed:
    """The coalesced poll of one store, shared by every open change stream of a server."""

    def __init__(self, api: ApiContext, interval_s: float = 1.0) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.api = api
        self.interval_s = float(interval_s)
        self.version = 0
        self.ticks = 0
        self.store_reads = 0
        self.error: str | None = None
        self._signature: tuple[Any, ...] | None = None
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_tick: float | None = None
        #: How the poll reads: the store API's executor unless the lab context gives its
        #: read pool (``LabContext.read``), so a poll never queues a page behind it.
        self.reader: Callable[[Callable[[TrackingCore], Any]], Awaitable[Any]] = api.run

    # ------------------------------------------------------------------ subscribers
    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the block's duration; the first one starts the poll. The
        subscriber is notified at once, so it learns the current version."""
        sub = Subscription(self)
        self._subscribers.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        if self._signature is not None:
            sub.notify()
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def event(self) -> dict[str, Any]:
        """The body of a change event (``lab_types.ChangeEvent``)."""
        return {"version": self.version, "subscribers": self.subscribers, "error": self.error}

    def stats(self) -> dict[str, Any]:
        """The body of ``GET /changes/stats`` (``lab_types.FeedStats``)."""
        return {
            "version": self.version,
            "subscribers": self.subscribers,
            "ticks": self.ticks,
            "store_reads": self.store_reads,
            "interval_s": self.interval_s,
        }

    def live_version(self) -> int | None:
        """The version, when the poll is running and recent enough that a page read at it
        is current (so it may be served from a cache); else ``None``."""
        if not self._subscribers or self._last_tick is None or self.error is not None:
            return None
        age = asyncio.get_running_loop().time() - self._last_tick
        return self.version if age <= 2 * self.interval_s + 0.5 else None

    # ------------------------------------------------------------------------ poll
    async def tick(self) -> None:
        """One poll: read the signature, bump the version and notify when it changed."""
        self.ticks += 1
        try:
            self.store_reads += 1
            signature = await self.reader(read_signature)
        except MltrackError as exc:
            self._set_error(exc.message)
            return
        except Exception as exc:  # a poll must never die: the next tick tries again
            log.warning("jupyter-mltrack: the live-update poll failed: %s", exc)
            self._set_error(f"{type(exc).__name__}: {exc}")
            return
        self._last_tick = asyncio.get_running_loop().time()
        changed = signature != self._signature or self.error is not None
        if signature != self._signature and self._signature is not None:
            self.version += 1
        self._signature, self.error = signature, None
        if changed:
            self._notify()

    def _set_error(self, message: str) -> None:
        if message != self.error:
            self.error = message
            self._notify()

    def _notify(self) -> None:
        for sub in list(self._subscribers):
            sub.notify()

    async def _poll(self) -> None:
        while self._subscribers:
            await self.tick()
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        """Stop polling (the server stops); open streams end on their own."""
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
