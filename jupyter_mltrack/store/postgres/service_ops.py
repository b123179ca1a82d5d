"""What a server needs beyond the store protocol, kept in the database: idempotent batch
ingest and run heartbeats, so that any server process can take any client's batch.

The batch sequence numbers live in ``store.ingested_batches``. A batch is inserted with
its ``(client_id, seq)`` row in one transaction, and the row goes in first with
``ON CONFLICT DO NOTHING``: when two processes get the same batch (a client retried on
another process while the first was still committing), the second waits for the first's
commit on the primary key and then sees the conflict, so it inserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...entities import RunStatus
from ..arrow import concat_metric_tables
from .dialect import in_list
from .writes import insert_metrics

if TYPE_CHECKING:
    from .store import PostgresStore

__all__ = ["ingest_metric_tables", "is_ingested", "record_heartbeat"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def ingest_metric_tables(
    store: PostgresStore, batches: Sequence[tuple[Any, str, int]]
) -> list[bool]:
    """Insert ``(table, client_id, seq)`` batches in one transaction, each exactly once.

    Returns, per batch, whether it was a duplicate (committed before, by any process, or
    earlier in ``batches``).
    """
    keys = sorted({(c, s) for _, c, s in batches})  # one lock order for every process
    counts = {(c, s): t.num_rows for t, c, s in batches}
    now = _now_ms()
    with store.db.transaction() as con:
        fresh = set(
            con.fetchall(
                "INSERT INTO store.ingested_batches (client_id, seq, n_rows, committed_ms) "
                "SELECT c, s, n, ? FROM unnest(?::text[], ?::bigint[], ?::bigint[]) AS b(c, s, n) "
                "ON CONFLICT DO NOTHING RETURNING client_id, seq",
                [now, [k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys]],
            )
        )
        duplicate: list[bool] = []
        rows = []
        for table, client_id, seq in batches:
            if (client_id, seq) in fresh:
                fresh.discard((client_id, seq))
                duplicate.append(False)
                if table.num_rows:
                    rows.append(table)
            else:
                duplicate.append(True)
        if rows:
            insert_metrics(con, concat_metric_tables(rows))
    return duplicate


def is_ingested(store: PostgresStore, client_id: str, seq: int) -> bool:
    """Whether the batch ``(client_id, seq)`` is committed."""
    return bool(
        store.db.read(
            "SELECT 1 FROM store.ingested_batches WHERE client_id = ? AND seq = ?",
            [client_id, seq],
        )
    )


def record_heartbeat(
    store: PostgresStore, client_id: str, pid: int | None, run_ids: Sequence[str], now_ms: int
) -> None:
    """Note that ``client_id`` is alive and logging to ``run_ids`` (RUNNING runs only)."""
    if not run_ids:
        return
    store.db.execute(
        "INSERT INTO store.run_heartbeats "
        "SELECT run_id, ?, ?, ? FROM store.runs "
        f"WHERE {in_list('run_id')} AND status = ? "
        "ON CONFLICT (run_id) DO UPDATE SET client_id = excluded.client_id, "
        "pid = excluded.pid, last_seen_ms = excluded.last_seen_ms",
        [client_id, pid, now_ms, sorted(run_ids), RunStatus.RUNNING],
    )
