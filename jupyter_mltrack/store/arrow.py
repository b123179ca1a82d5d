"""Arrow helpers shared by the client buffer, the stores and the service: the metric batch
shape, and relations over fetched answers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

__all__ = ["METRIC_SCHEMA", "detached_relation", "flat_to_table", "rows_to_table"]

METRIC_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("value", pa.float64()),
        ("timestamp_ms", pa.int64()),
        ("step", pa.int64()),
    ]
)
_WIDTH = len(METRIC_SCHEMA)


def flat_to_table(flat: Sequence[Any]) -> pa.Table:
    """A table from a flat list ``[run_id, key, value, ts, step, run_id, ...]``.

    The buffer stores rows flat (one ``list.extend`` per point, no tuple kept
    alive), so a column is one strided slice here.
    """
    return pa.Table.from_arrays(
        [pa.array(flat[i::_WIDTH], f.type) for i, f in enumerate(METRIC_SCHEMA)],
        schema=METRIC_SCHEMA,
    )


def rows_to_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """A table from ``(run_id, key, value, ts, step)`` tuples."""
    return pa.Table.from_arrays(
        [pa.array([r[i] for r in rows], f.type) for i, f in enumerate(METRIC_SCHEMA)],
        schema=METRIC_SCHEMA,
    )


class _ThreadConnection(threading.local):
    con: duckdb.DuckDBPyConnection | None = None


_thread_con = _ThreadConnection()


def detached_relation(table: pa.Table) -> duckdb.DuckDBPyRelation:
    """A DuckDB relation over an answer already fetched, on this thread's own connection.

    What ``mt.sql`` returns from every store: the caller never touches a store's connection
    (or its lock) again, and relations made on different threads never share DuckDB's
    process-wide default connection.
    """
    import duckdb  # imported here: only readers of SQL answers need it

    if _thread_con.con is None:
        _thread_con.con = duckdb.connect()
    return _thread_con.con.from_arrow(table)
