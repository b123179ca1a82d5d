"""Idempotent ingest of metric batches on the owner side.

A batch carries ``(client_id, seq)``; the owner commits its rows and the pair in
``store.ingested_batches`` in one transaction, so a batch sent again (after a lost
acknowledgement, a client retry or a spool replay) is acknowledged without inserting
anything. A batch without the pair (an older client, a team server caller) is plainly
appended.

Group commit: batches that arrive while a commit is running wait for it, then the first
of them commits all of them in one transaction (each statement and commit has a fixed
cost of about a millisecond, so under load this multiplies the ingest rate and shortens
the queue that reads wait in). Every caller returns only once its own batch is
committed. This needs the owner's store executor to have several threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..store.arrow import conform_metric_table
from ..store.duckdb import service_ops
from ..store.duckdb.store import DuckDBStore
from ..store.remote.spool import SpoolReport, ingest_spool

__all__ = ["IngestStats", "Ingestor", "as_metric_table"]


def as_metric_table(table: pa.Table) -> pa.Table:
    """``table`` with ``METRIC_SCHEMA``'s columns (plus the link columns when it has any);
    ``InvalidParameter`` otherwise (``store.arrow.conform_metric_table``)."""
    return conform_metric_table(table)


@dataclass
class _Pending:
    table: pa.Table
    client_id: str
    seq: int
    done: threading.Event = field(default_factory=threading.Event)
    duplicate: bool = False
    error: BaseException | None = None


@dataclass
class IngestStats:
    """Counters shown by ``GET /info`` and ``mltrack service status``."""

    batches: int = 0
    rows: int = 0
    duplicates: int = 0
    spool_files: int = 0
    corrupt_spool_files: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "rows": self.rows,
            "duplicates": self.duplicates,
            "spool_files": self.spool_files,
            "corrupt_spool_files": self.corrupt_spool_files,
        }


class Ingestor:
    """The owner's ingest for one store: API batches and leftover spool files."""

    #: Most batches committed in one transaction.
    max_group = 32

    def __init__(self, store: DuckDBStore, spool_root: Path) -> None:
        self.store = store
        self.spool_root = spool_root
        self.stats = IngestStats()
        self._stats_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def __call__(self, table: pa.Table, client_id: str | None, seq: int | None) -> dict[str, Any]:
        """``POST /metric-batches``: ``{"committed": n, "duplicate": bool}``."""
        table = as_metric_table(table)
        if client_id is None or seq is None:
            self.store.log_metric_table(table)
            duplicate = False
        else:
            duplicate = self.ingest(table, client_id, seq)
        return {"committed": 0 if duplicate else table.num_rows, "duplicate": duplicate}

    def many(
        self, tables: list[pa.Table], client_id: str | None, seq: int | None
    ) -> dict[str, Any]:
        """``POST /metric-batches`` with several chunks, ``seq``, ``seq + 1``, ...

        Answers ``{"committed": n, "duplicate": bool, "duplicates": k}`` once every chunk
        is committed (``duplicate`` when all of them were).
        """
        tables = [as_metric_table(t) for t in tables]
        if client_id is None or seq is None:
            for table in tables:
                self.store.log_metric_table(table)
            dups = [False] * len(tables)
        else:
            dups = self.ingest_many(tables, client_id, seq)
        committed = sum(t.num_rows for t, d in zip(tables, dups, strict=True) if not d)
        return {"committed": committed, "duplicate": all(dups), "duplicates": sum(dups)}

    def ingest(self, table: pa.Table, client_id: str, seq: int) -> bool:
        """Commit a batch once; returns True when ``(client_id, seq)`` was already in.

        Blocks until the batch is committed, possibly together with others (see the
        module docstring).
        """
        return self.ingest_many([table], client_id, seq)[0]

    def ingest_many(self, tables: list[pa.Table], client_id: str, seq: int) -> list[bool]:
        """:meth:`ingest` for chunks numbered ``seq``, ``seq + 1``, ...; they queue
        together, so they are committed in as few transactions as ``max_group`` allows."""
        mine = [
            _Pending(t.replace_schema_metadata(None), client_id, seq + i)
            for i, t in enumerate(tables)
        ]
        with self._queue_lock:
            self._queue.extend(mine)
        for pending in mine:
            while not pending.done.is_set():
                with self._commit_lock:
                    if pending.done.is_set():
                        break  # an earlier leader committed it
                    with self._queue_lock:
                        group = self._queue[: self.max_group]
                        del self._queue[: self.max_group]
                    self._commit(group)
        for pending in mine:
            if pending.error is not None:
                raise pending.error
        return [p.duplicate for p in mine]

    def _commit(self, group: list[_Pending]) -> None:
        try:
            duplicates = service_ops.ingest_metric_tables(
                self.store, [(p.table, p.client_id, p.seq) for p in group]
            )
        except Exception as exc:  # every batch of the group fails; clients resend
            for pending in group:
                pending.error = exc
                pending.done.set()
            return
        with self._stats_lock:
            for pending, duplicate in zip(group, duplicates, strict=True):
                self.stats.batches += 1
                if duplicate:
                    self.stats.duplicates += 1
                else:
                    self.stats.rows += pending.table.num_rows
        for pending, duplicate in zip(group, duplicates, strict=True):
            pending.duplicate = duplicate
            pending.done.set()

    def ingest_spool(
        self, *, client_ids: set[str] | None = None, older_than_s: float = 0.0
    ) -> SpoolReport:
        """Ingest leftover spool files (see :func:`.spool.ingest_spool`)."""
        report = ingest_spool(
            self.spool_root, self.ingest, client_ids=client_ids, older_than_s=older_than_s
        )
        with self._stats_lock:
            self.stats.spool_files += report.files
            self.stats.corrupt_spool_files += len(report.corrupt)
        return report
