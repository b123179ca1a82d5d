"""``TrackingClient`` (also ``MlflowClient``): the kernel-side client, buffering on the core.

:class:`~.core.TrackingCore` validates and writes synchronously to the store it is given;
this layer adds what a notebook or script needs on top: the store chosen from the
tracking URI, and metric points that return at once, wait in a bounded in-memory
:class:`~.buffer.MetricBuffer` and are committed by a background thread, through the
client spool when an owner process serves the store. Params and tags are written at
once so that errors (a param overwrite) surface at the call that caused them; every read
commits the buffered points first, so a read sees what this process logged.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ..config import get_tracking_uri, normalize_uri
from ..errors import InvalidState
from ..store.arrow import flat_to_table
from ..store.base import MetricRow, TrackingStore
from ..store.remote.spool import ClientSpool, spool_dir_for, spool_of
from ..store.schemes import get_store
from .buffer import MetricBuffer
from .core import PagedList, TrackingCore, now_ms

__all__ = ["MlflowClient", "PagedList", "TrackingClient", "now_ms"]

_log = logging.getLogger(__name__)


class TrackingClient(TrackingCore):
    """Explicit-id access to the store at ``tracking_uri`` (default: the URI in force).

    The same methods, names and signatures as MLflow's ``MlflowClient``.

    Example::

        client = TrackingClient("duckdb:///tmp/store.duckdb")
        run = client.create_run("0")
        client.log_metric(run.info.run_id, "loss", 0.5, step=1)   # returns at once
        client.set_terminated(run.info.run_id)
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self.tracking_uri = normalize_uri(tracking_uri) if tracking_uri else get_tracking_uri()
        self.registry_uri = registry_uri
        super().__init__(get_store(self.tracking_uri))
        self._spool = spool_of(self.store)  # set when an owner process serves the store
        self.buffer = MetricBuffer(self._commit_metrics)
        self.buffer.start()

    def _commit_metrics(self, flat: list[Any]) -> None:
        if self._spool is not None:  # spool, send with (client_id, seq), unspool on the ack
            self._spool.commit(flat)
            return
        self.store.log_metric_table(flat_to_table(flat))

    def _before_read(self) -> None:
        self.flush()

    def commit_metric_rows(self, rows: list[MetricRow] | Any) -> None:
        for row in rows:
            self.buffer.append(row)

    def append_metric_row(self, row: MetricRow) -> None:
        """Buffer one validated point; the flusher thread commits it."""
        self.buffer.append(row)

    def flush(self) -> None:
        """Commit every buffered metric point now."""
        if not self.buffer.flush():
            raise InvalidState(
                "Buffered metrics could not be written to the store; they are kept in memory. "
                "Check the warning above and call mt.flush() again."
            )

    def close(self, *, timeout_s: float = 5.0) -> None:
        """Stop the flusher and commit what is buffered; what cannot be committed is spooled.

        Points that the store does not take (it is gone, at interpreter exit) are written
        to the store's spool directory (direct mode too) with one warning naming it; the
        next process that opens the store ingests them.
        """
        if self.buffer.close(timeout_s=timeout_s):
            return
        pending, rest = self.buffer.take_all()
        count = (len(pending) + len(rest)) // 5
        if not count:
            return
        spool = self._spool or _fallback_spool(self.store)
        if spool is None:
            warnings.warn(
                f"jupyter-mltrack could not write {count} buffered metric points "
                f"to {self.tracking_uri}, and this store has no spool to keep them in.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        # pending first: it may be a partly spooled commit the spool recognises
        path = next(iter([spool.keep(part) for part in (pending, rest) if part]))
        warnings.warn(
            f"jupyter-mltrack could not write {count} buffered metric points to "
            f"{self.tracking_uri}; they are kept in {path} and the next process that opens "
            "the store ingests them.",
            RuntimeWarning,
            stacklevel=2,
        )


def _fallback_spool(store: TrackingStore) -> ClientSpool | None:
    """A spool beside a local store file (direct mode), for points left at exit."""
    directory = spool_dir_for(store)
    if directory is None:
        return None
    return ClientSpool(directory, _never_send)


def _never_send(table: Any, client_id: str, seq: int) -> None:
    raise InvalidState("The store is not reachable; the batch stays in the spool.")


#: MLflow's name for the same class, so ``from jupyter_mltrack import MlflowClient`` ports code.
MlflowClient = TrackingClient
