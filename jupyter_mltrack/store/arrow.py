"""The Arrow shape of a metric batch, shared by the client buffer, stores and the service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

__all__ = ["METRIC_SCHEMA", "flat_to_table", "rows_to_table"]

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
