"""The SQL that only PostgreSQL speaks, behind the same names as the DuckDB store's
(:mod:`jupyter_mltrack.store.duckdb.dialect`):

- :data:`PLACEHOLDER`: the bound-parameter marker. The store writes ``?`` like the DuckDB
  store and the search compiler do; :func:`to_psycopg` turns a statement into psycopg's
  ``%s`` form;
- :func:`in_list`: membership in a bound list (``column = ANY(?)``, a text array);
- :func:`upsert_into`: insert or replace on the primary key (``ON CONFLICT ... DO UPDATE``);
- :data:`LATEST_ORDER_KEY`: the (step, time) order of metric points, a row compare;
- :func:`registered`: an Arrow table visible to SQL under a name for one block (``COPY``
  into a temporary table dropped at the end of the block).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.csv

__all__ = [
    "LATEST_ORDER_KEY",
    "PLACEHOLDER",
    "copy_table",
    "in_list",
    "registered",
    "to_psycopg",
    "upsert_into",
]

PLACEHOLDER = "%s"

#: Metric points ordered by step, then time (a row value compares element by element).
LATEST_ORDER_KEY = "(step, timestamp_ms)"

_PG_TYPES = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.float64(): "DOUBLE PRECISION",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN",
}


def to_psycopg(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    The store's statements never hold a ``?`` or ``%`` of their own inside a literal;
    user text only ever arrives as a bound parameter.
    """
    return sql.replace("%", "%%").replace("?", PLACEHOLDER)


def in_list(column: str) -> str:
    """``column`` is one of the values of a bound list parameter."""
    return f"{column} = ANY(?)"


def upsert_into(table: str, key: Sequence[str], columns: Sequence[str]) -> str:
    """An insert of ``columns`` that replaces the row with the same ``key`` (its primary key).

    Unlike DuckDB's ``INSERT OR REPLACE`` PostgreSQL names the key and the columns it sets:
    the statement ends after ``VALUES (?, ...)``.
    """
    names = ", ".join(columns)
    values = ", ".join("?" for _ in columns)
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key) or None
    action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT ({', '.join(key)}) {action}"
    )


def copy_table(cur: Any, target: str, table: pa.Table) -> None:
    """Append ``table``'s rows to ``target`` (columns by name) with one ``COPY`` in CSV.

    pyarrow writes the CSV (strings quoted, NULL as an unquoted empty field, NaN and
    infinities as PostgreSQL reads them), so no Python object is made per row.
    """
    if table.num_rows == 0:
        return
    buffer = io.BytesIO()
    pyarrow.csv.write_csv(
        table,
        buffer,
        write_options=pyarrow.csv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    names = ", ".join(table.schema.names)
    with cur.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getbuffer())


@contextmanager
def registered(cur: Any, name: str, table: pa.Table) -> Iterator[str]:
    """Make the pyarrow ``table`` queryable as the temporary table ``name`` inside the block."""
    columns = ", ".join(
        f"{field.name} {_PG_TYPES.get(field.type, 'TEXT')}" for field in table.schema
    )
    cur.execute(f"CREATE TEMP TABLE {name} ({columns})")
    try:
        copy_table(cur, name, table)
        yield name
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
