"""Arrow helpers shared by the client buffer, the stores and the service: the metric batch
shape, and relations over fetched answers.

A metric batch has the five columns of :data:`METRIC_SCHEMA`; a batch that ties points
to a dataset or a logged model (MLflow 3's ``Metric.dataset_name`` / ``dataset_digest`` /
``model_id``) has the three nullable :data:`METRIC_LINK_FIELDS` after them
(:data:`LINKED_METRIC_SCHEMA`). The buffer's batches never carry them, so the common case
builds, sends and inserts five columns only.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np  # already loaded by pyarrow
import pyarrow as pa

from ..entities import MetricHistory
from ..errors import InvalidParameter

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "LINKED_METRIC_SCHEMA",
    "METRIC_LINK_FIELDS",
    "METRIC_SCHEMA",
    "concat_metric_tables",
    "conform_metric_table",
    "detached_relation",
    "flat_to_table",
    "history_from_table",
    "history_to_table",
    "rows_to_table",
    "with_links",
]

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
#: What a point may be tied to, each nullable: ``(dataset_name, dataset_digest, model_id)``.
METRIC_LINK_FIELDS = (
    pa.field("dataset_name", pa.string()),
    pa.field("dataset_digest", pa.string()),
    pa.field("model_id", pa.string()),
)
LINKED_METRIC_SCHEMA = pa.schema([*METRIC_SCHEMA, *METRIC_LINK_FIELDS])
_LINK_NAMES = tuple(f.name for f in METRIC_LINK_FIELDS)


def flat_to_table(flat: Sequence[Any]) -> pa.Table:
    """A table from a flat list ``[run_id, key, value, ts, step, run_id, ...]``.

    The buffer stores rows flat (one ``list.extend`` per point, no tuple kept
    alive), so a column is one strided slice here.

    ``pa.array`` imports pandas the first time it runs in a process (0.5-2 s), and
    importing during interpreter shutdown (the last flush at exit) can fail or hang. Until
    something else has imported pandas, the columns are built from their buffers instead,
    which never imports it.
    """
    if "pandas" not in sys.modules:
        return _flat_to_table_from_buffers(flat)
    run_ids, keys = (_text_column(flat[i::_WIDTH]) for i in (0, 1))
    numbers = [pa.array(flat[i::_WIDTH], f.type) for i, f in enumerate(METRIC_SCHEMA) if i >= 2]
    return pa.Table.from_arrays([run_ids, keys, *numbers], schema=METRIC_SCHEMA)


def _text_column(values: Sequence[Any]) -> pa.Array:
    """A string column; one repeated value (a batch of one run, or of one key) is built
    without converting each item (``list.count`` compares the same object by identity:
    ~1 ms for 300,000 items against ~20 ms for ``pa.array``)."""
    if values and values.count(values[0]) == len(values) and isinstance(values[0], str):
        return pa.repeat(pa.scalar(values[0], pa.string()), len(values))
    return pa.array(values, pa.string())


_MAX_OFFSET = 2**31 - 1  # int32 offsets of pa.string()


def _flat_to_table_from_buffers(flat: Sequence[Any]) -> pa.Table:
    """:func:`flat_to_table` without ``pa.array`` (so without importing pandas)."""
    n = len(flat) // _WIDTH
    run_ids = _string_array(flat[0::_WIDTH])
    keys = _string_array(flat[1::_WIDTH])
    if run_ids is None or keys is None:  # over 2 GiB of text: let pyarrow chunk it
        return pa.Table.from_arrays(
            [pa.array(flat[i::_WIDTH], f.type) for i, f in enumerate(METRIC_SCHEMA)],
            schema=METRIC_SCHEMA,
        )
    numbers = [
        _number_array(flat[i::_WIDTH], np.float64 if i == 2 else np.int64, f.type, n)
        for i, f in enumerate(METRIC_SCHEMA)
        if i >= 2
    ]
    return pa.Table.from_arrays([run_ids, keys, *numbers], schema=METRIC_SCHEMA)


def _number_array(values: Sequence[Any], dtype: Any, arrow_type: pa.DataType, n: int) -> pa.Array:
    return pa.Array.from_buffers(arrow_type, n, [None, pa.py_buffer(np.fromiter(values, dtype, n))])


def _string_array(values: Sequence[str]) -> pa.Array | None:
    """A ``pa.string()`` array of ``values`` from its offsets and UTF-8 bytes; ``None`` when
    the text is too long for int32 offsets."""
    n = len(values)
    if n and values.count(values[0]) == n:  # one run's points: one id repeated
        one = values[0].encode()
        offsets = np.arange(n + 1, dtype=np.int64) * len(one)
        data = one * n
    else:
        text = "".join(values)
        data = text.encode()
        if len(data) == len(text):  # all ASCII: byte lengths are the string lengths
            lengths = np.fromiter(map(len, values), np.int64, n)
        else:
            lengths = np.fromiter((len(v.encode()) for v in values), np.int64, n)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
    if len(data) > _MAX_OFFSET:
        return None
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), n, buffers)


def rows_to_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """A table from ``(run_id, key, value, ts, step)`` tuples, some possibly followed by
    ``(dataset_name, dataset_digest, model_id)``.

    The table has :data:`LINKED_METRIC_SCHEMA` when a row carries links, else
    :data:`METRIC_SCHEMA`.
    """
    schema = METRIC_SCHEMA
    if any(len(r) > _WIDTH for r in rows):
        schema = LINKED_METRIC_SCHEMA
        rows = [r if len(r) > _WIDTH else (*r, None, None, None) for r in rows]
    return pa.Table.from_arrays(
        [pa.array([r[i] for r in rows], f.type) for i, f in enumerate(schema)],
        schema=schema,
    )


def conform_metric_table(table: pa.Table) -> pa.Table:
    """``table`` as a metric batch: :data:`METRIC_SCHEMA`'s columns in order, plus the link
    columns (:data:`LINKED_METRIC_SCHEMA`) when it has any of them; missing link columns
    are null. Schema metadata is dropped.

    Raises ``InvalidParameter`` naming missing or wrongly typed columns.
    """
    schema = table.schema.remove_metadata()
    if schema.equals(METRIC_SCHEMA) or schema.equals(LINKED_METRIC_SCHEMA):
        return table.replace_schema_metadata(None)
    missing = [n for n in METRIC_SCHEMA.names if n not in table.column_names]
    if missing:
        raise InvalidParameter(
            f"The metric batch lacks the columns {', '.join(missing)}; expected "
            f"{', '.join(METRIC_SCHEMA.names)} (string, string, double, int64, int64), "
            f"optionally followed by {', '.join(_LINK_NAMES)} (strings); got "
            f"{', '.join(table.column_names)}."
        )
    target = METRIC_SCHEMA
    if any(n in table.column_names for n in _LINK_NAMES):
        target = LINKED_METRIC_SCHEMA
        for f in METRIC_LINK_FIELDS:
            if f.name not in table.column_names:
                table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    try:
        return table.select(target.names).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidParameter(f"The metric batch has wrongly typed columns: {exc}.") from exc


def with_links(table: pa.Table) -> pa.Table:
    """A conformed metric batch widened to :data:`LINKED_METRIC_SCHEMA` (null links)."""
    if table.schema.equals(LINKED_METRIC_SCHEMA):
        return table
    return pa.Table.from_arrays(
        [*table.columns, *(pa.nulls(table.num_rows, f.type) for f in METRIC_LINK_FIELDS)],
        schema=LINKED_METRIC_SCHEMA,
    )


def concat_metric_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """One batch of several conformed ones (widened when some carry links)."""
    if len(tables) == 1:
        return tables[0]
    if all(t.schema.equals(METRIC_SCHEMA) for t in tables):
        return pa.concat_tables(tables)
    return pa.concat_tables([with_links(t) for t in tables])


def history_from_table(key: str, table: pa.Table) -> MetricHistory:
    """The :class:`MetricHistory` of a ``step, value, timestamp_ms`` table (in order), whose
    optional link columns become its ``links`` unless every point's are null."""
    links = None
    if all(n in table.column_names for n in _LINK_NAMES) and any(
        table.column(n).null_count < table.num_rows for n in _LINK_NAMES
    ):
        names, digests, models = (table.column(n).to_pylist() for n in _LINK_NAMES)
        links = (names, digests, models)
    return MetricHistory(
        key,
        table.column("step").to_numpy(),
        table.column("value").to_numpy(),
        table.column("timestamp_ms").to_numpy(),
        links,
    )


def history_to_table(history: MetricHistory) -> pa.Table:
    """The inverse of :func:`history_from_table` (link columns only when it has links)."""
    columns = {
        "step": pa.array(history.steps, pa.int64()),
        "value": pa.array(history.values, pa.float64()),
        "timestamp_ms": pa.array(history.timestamps_ms, pa.int64()),
    }
    if history.links is not None:
        for name, values in zip(_LINK_NAMES, history.links, strict=True):
            columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


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
