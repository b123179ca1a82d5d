"""DuckDB operations that only the store service's owner needs: ingest and liveness.

Functions take the :class:`~.store.DuckDBStore` and write through its
:class:`~.connection.Database` (one transaction each), so they compose with the store's
own writes. The tables are those of
migration 2 (``store.ingested_batches``, ``store.run_heartbeats``; see
docs/service-design.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...entities import RunStatus
from ..arrow import concat_metric_tables
from .dialect import in_list, upsert_into
from .writes import insert_metrics

if TYPE_CHECKING:
    from .store import DuckDBStore

__all__ = [
    "KILLED_REASON_TAG",
    "StaleRun",
    "forget_ended_heartbeats",
    "ingest_metric_table",
    "ingest_metric_tables",
    "is_ingested",
    "kill_run",
    "record_heartbeat",
    "running_with_heartbeat",
    "stale_runs",
]

#: The tag that says why the owner ended a run as KILLED.
KILLED_REASON_TAG = "mltrack.killed_reason"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def ingest_metric_table(store: DuckDBStore, table: Any, client_id: str, seq: int) -> bool:
    """Insert a metric batch unless ``(client_id, seq)`` was ingested before.

    Returns True when the batch was a duplicate (nothing inserted). See
    :func:`ingest_metric_tables`.
    """
    return ingest_metric_tables(store, [(table, client_id, seq)])[0]


def ingest_metric_tables(store: DuckDBStore, batches: Sequence[tuple[Any, str, int]]) -> list[bool]:
    """Insert several ``(table, client_id, seq)`` batches in one transaction (group commit).

    The duplicate check, the rows and the ``ingested_batches`` entries are one
    transaction, so a batch replayed after any crash is inserted exactly once. Returns,
    per batch, whether it was a duplicate (already ingested, or earlier in ``batches``).
    """
    # one statement each for the check and the bookkeeping (each statement costs ~0.5 ms)
    pairs = [(b[1], b[2]) for b in batches]
    match = " OR ".join(["(client_id = ? AND seq = ?)"] * len(pairs))
    with store.db.transaction() as con:
        seen = set(
            con.execute(
                f"SELECT client_id, seq FROM store.ingested_batches WHERE {match}",
                [x for pair in pairs for x in pair],
            ).fetchall()
        )
        duplicate: list[bool] = []
        fresh: list[tuple[Any, str, int]] = []
        for table, client_id, seq in batches:
            is_dup = (client_id, seq) in seen
            duplicate.append(is_dup)
            if not is_dup:
                seen.add((client_id, seq))
                fresh.append((table, client_id, seq))
        rows = [t for t, _, _ in fresh if t.num_rows]
        if rows:
            insert_metrics(con, concat_metric_tables(rows))
        if fresh:
            now = _now_ms()
            values = ", ".join(["(?, ?, ?, ?)"] * len(fresh))
            con.execute(
                f"INSERT INTO store.ingested_batches VALUES {values}",
                [x for t, c, s in fresh for x in (c, s, t.num_rows, now)],
            )
    return duplicate


def is_ingested(store: DuckDBStore, client_id: str, seq: int) -> bool:
    """Whether the batch ``(client_id, seq)`` is committed."""
    rows = store.db.read(
        "SELECT 1 FROM store.ingested_batches WHERE client_id = ? AND seq = ?", [client_id, seq]
    )
    return bool(rows)


def record_heartbeat(
    store: DuckDBStore, client_id: str, pid: int | None, run_ids: Sequence[str], now_ms: int
) -> None:
    """Note that ``client_id`` (process ``pid``) is alive and logging to ``run_ids``.

    Ids of runs that do not exist or are no longer RUNNING are ignored: a heartbeat
    never revives a run the reaper (or the user) ended.
    """
    if not run_ids:
        return
    store.db.execute(
        "INSERT INTO store.run_heartbeats "
        "SELECT run_id, ?, ?, ? FROM store.runs "
        f"WHERE {in_list('run_id')} AND status = ? "
        "ON CONFLICT (run_id) DO UPDATE SET client_id = excluded.client_id, "
        "pid = excluded.pid, last_seen_ms = excluded.last_seen_ms",
        [client_id, pid, now_ms, list(run_ids), RunStatus.RUNNING],
    )


@dataclass(frozen=True, slots=True)
class StaleRun:
    """A RUNNING run whose client stopped sending heartbeats."""

    run_id: str
    client_id: str
    pid: int | None
    last_seen_ms: int


def stale_runs(store: DuckDBStore, older_than_ms: int) -> list[StaleRun]:
    """RUNNING runs whose last heartbeat is older than ``older_than_ms`` (epoch ms)."""
    rows = store.db.read(
        "SELECT h.run_id, h.client_id, h.pid, h.last_seen_ms FROM store.run_heartbeats h "
        "JOIN store.runs r USING (run_id) WHERE r.status = ? AND h.last_seen_ms < ? "
        "ORDER BY h.last_seen_ms",
        [RunStatus.RUNNING, older_than_ms],
    )
    return [StaleRun(r[0], r[1], None if r[2] is None else int(r[2]), int(r[3])) for r in rows]


def kill_run(store: DuckDBStore, run_id: str, reason: str, now_ms: int) -> bool:
    """End a RUNNING run as KILLED with ``reason`` in the ``mltrack.killed_reason`` tag.

    Returns False (and changes nothing) when the run is no longer RUNNING.
    """
    with store.db.transaction() as con:
        status = con.execute("SELECT status FROM store.runs WHERE run_id = ?", [run_id]).fetchall()
        if not status or status[0][0] != RunStatus.RUNNING:
            con.execute("DELETE FROM store.run_heartbeats WHERE run_id = ?", [run_id])
            return False
        con.execute(
            "UPDATE store.runs SET status = ?, end_time_ms = ? WHERE run_id = ?",
            [RunStatus.KILLED, now_ms, run_id],
        )
        con.execute(
            f"{upsert_into('store.tags')} VALUES (?, ?, ?)",
            [run_id, KILLED_REASON_TAG, reason],
        )
        con.execute("DELETE FROM store.run_heartbeats WHERE run_id = ?", [run_id])
    return True


def forget_ended_heartbeats(store: DuckDBStore) -> None:
    """Drop heartbeat entries of runs that ended or were removed."""
    store.db.execute(
        "DELETE FROM store.run_heartbeats WHERE run_id NOT IN "
        "(SELECT run_id FROM store.runs WHERE status = ?)",
        [RunStatus.RUNNING],
    )


def running_with_heartbeat(store: DuckDBStore) -> int:
    """How many RUNNING runs have a heartbeat on record (the owner stays up for them)."""
    rows = store.db.read(
        "SELECT count(*) FROM store.run_heartbeats h JOIN store.runs r USING (run_id) "
        "WHERE r.status = ?",
        [RunStatus.RUNNING],
    )
    return int(rows[0][0])
