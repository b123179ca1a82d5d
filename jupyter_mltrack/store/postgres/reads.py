"""Read paths of the PostgreSQL store: run loading, search, histories, series, SQL.

The search SQL is the shared compiler's (:mod:`jupyter_mltrack.store.search`, dialect
``POSTGRES``); answers that the DuckDB store returns as Arrow are built as Arrow here too,
column by column from the fetched rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

from ...entities import (
    MetricHistory,
    Run,
)
from ...errors import InvalidParameter, MltrackError
from ..arrow import detached_relation
from ..base import RunPage, RunQuery, SeriesRequest
from ..duckdb.reads import PageWindow, check_max_results, page_ids, view_type_clause
from ..duckdb.reads import load_runs as shared_load_runs
from ..search import (
    POSTGRES,
    compile_filter,
    compile_search,
    parse_filter,
    parse_order_by,
)
from ..series import check_series_request, x_range_predicates
from .connection import Con
from .dialect import in_list
from .migrations import VIEWS_SCHEMA

__all__ = [
    "load_runs",
    "metric_history",
    "metric_series",
    "read_only_sql",
    "search_runs",
    "search_runs_arrow",
]

_RUN_NAMES = (
    "run_id",
    "experiment_id",
    "run_name",
    "status",
    "start_time_ms",
    "end_time_ms",
    "user_id",
    "lifecycle_stage",
    "artifact_uri",
    "parent_run_id",
)
_RUN_COLUMNS = ", ".join(f"r.{c}" for c in _RUN_NAMES)
_RUN_TYPES = [pa.string()] * 4 + [pa.int64(), pa.int64()] + [pa.string()] * 4
#: Seconds one ``mt.sql`` query may run on the shared database.
SQL_TIMEOUT_S = 60


def load_runs(con: Con, run_ids: Sequence[str], columns: Sequence[str] | None = None) -> list[Run]:
    """Full :class:`Run` entities for ``run_ids``, in that order (missing ids are dropped);
    ``columns`` narrows the data to those keys. The DuckDB store's ``load_runs``: its SQL
    (semi-joins on ``= ANY(?)``, the same tables and columns) is PostgreSQL's too."""
    return shared_load_runs(con.fetchall, run_ids, columns)


def _select_run_ids(query: RunQuery, ordered: bool = True) -> tuple[str, list[Any]]:
    """SQL selecting ``run_id`` of matching runs in order (no LIMIT), with its params;
    ``ordered=False``: without the ORDER BY (for a count)."""
    if not query.experiment_ids:
        raise InvalidParameter(
            "search_runs needs at least one experiment id or name; pass experiment_ids=[...]"
        )
    node = parse_filter(query.filter_string)
    stage_sql, stage_params = view_type_clause(query.view_type, "r.lifecycle_stage")
    scope = f"{in_list('r.experiment_id')} AND {stage_sql}"
    scope_params = [list(query.experiment_ids), *stage_params]
    if not ordered:
        where_sql, where_params = compile_filter(node, run_alias="r", dialect=POSTGRES)
        sql = f"SELECT r.run_id FROM store.runs r WHERE {scope} AND ({where_sql})"
        return sql, [*scope_params, *where_params]
    c = compile_search(node, parse_order_by(list(query.order_by)), run_alias="r", dialect=POSTGRES)
    sql = f"SELECT r.run_id FROM store.runs r {c.joins} WHERE {scope} AND ({c.where})"
    sql += f" ORDER BY {c.order}"
    return sql, [*c.join_params, *scope_params, *c.where_params]


def count_runs(con: Con, query: RunQuery) -> int:
    """How many runs ``query`` matches (paging ignored): one ``count(*)``."""
    sql, params = _select_run_ids(query, ordered=False)
    return int(con.fetchall(f"SELECT count(*) FROM ({sql}) s", params)[0][0])


def search_runs(con: Con, query: RunQuery) -> RunPage:
    """One page of runs as entities, with a token for the next page."""
    sql, params = _select_run_ids(query)
    window = PageWindow.of(query)
    ids, token = window.cut(page_ids(con.fetchall, sql, params, window))
    return RunPage(load_runs(con, ids, query.columns), token)


def _long_table(rows: list[tuple[Any, ...]], value_type: pa.DataType) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pa.table(
        {
            "run_id": pa.array(cols[0], pa.string()),
            "key": pa.array(cols[1], pa.string()),
            "value": pa.array(cols[2], value_type),
            "pos": pa.array(cols[3], pa.int64()),
        }
    )


def search_runs_arrow(con: Con, query: RunQuery) -> dict[str, pa.Table]:
    """Matching runs plus long params/metrics/tags tables, all as Arrow (for DataFrames)."""
    sql, params = _select_run_ids(query)
    limit = check_max_results(query.max_results)
    selected = f"SELECT row_number() OVER () - 1 AS pos, run_id FROM ({sql} LIMIT {limit}) s"
    rows = con.fetchall(
        f"WITH sel AS ({selected}) SELECT {_RUN_COLUMNS} "
        "FROM sel s JOIN store.runs r USING (run_id) ORDER BY s.pos",
        params,
    )
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(_RUN_NAMES)
    out = {
        "runs": pa.table(
            {
                name: pa.array(col, typ)
                for name, col, typ in zip(_RUN_NAMES, cols, _RUN_TYPES, strict=True)
            }
        )
    }
    ids = [r[0] for r in rows]
    for name, table, typ in (
        ("params", "store.params", pa.string()),
        ("metrics", "store.latest_metrics", pa.float64()),
        ("tags", "store.tags", pa.string()),
    ):
        long_rows = con.fetchall(
            f"SELECT t.run_id, t.key, t.value, s.pos - 1 FROM {table} t "
            "JOIN unnest(?::text[]) WITH ORDINALITY AS s(run_id, pos) USING (run_id)",
            [ids],
        )
        out[name] = _long_table(long_rows, typ)
    return out


def metric_history(con: Con, run_id: str, key: str) -> MetricHistory:
    """Every point of one metric of one run, ordered by step then time, with its links."""
    cur = con.execute(
        "SELECT step, value, timestamp_ms, dataset_name, dataset_digest, model_id "
        "FROM store.metrics WHERE run_id = ? AND key = ? ORDER BY step, timestamp_ms",
        [run_id, key],
    )
    rows = cur.fetchall()
    if not rows:
        empty = np.array([], dtype=np.int64)
        return MetricHistory(key, empty, np.array([], dtype=np.float64), empty.copy(), None)
    steps, values, times, names, digests, models = zip(*rows, strict=True)
    has_links = any(n is not None for n in names) or any(m is not None for m in models)
    return MetricHistory(
        key,
        np.fromiter(steps, np.int64, len(rows)),
        np.fromiter(values, np.float64, len(rows)),
        np.fromiter(times, np.int64, len(rows)),
        (list(names), list(digests), list(models)) if has_links else None,
    )


_X_AXES = {
    "step": "m.step::float8",
    "wall_time": "m.timestamp_ms::float8",
    "relative_time": "(m.timestamp_ms - r.start_time_ms)::float8",
}
_SERIES_FIELDS = [
    ("run_id", pa.string()),
    ("bucket", pa.int64()),
    ("n", pa.int64()),
    ("first_x", pa.float64()),
    ("first_value", pa.float64()),
    ("min_x", pa.float64()),
    ("min_value", pa.float64()),
    ("max_x", pa.float64()),
    ("max_value", pa.float64()),
    ("last_x", pa.float64()),
    ("last_value", pa.float64()),
]


def _x_range(con: Con, req: SeriesRequest) -> tuple[str, list[object]]:
    def start_bounds() -> tuple[Any, Any]:
        where = in_list("run_id")
        sql = f"SELECT min(start_time_ms), max(start_time_ms) FROM store.runs WHERE {where}"
        return tuple(con.fetchall(sql, [list(req.run_ids)])[0])

    return x_range_predicates(req, _X_AXES["relative_time"], start_bounds)


def metric_series(con: Con, req: SeriesRequest) -> pa.Table:
    """M4 downsampling, as the DuckDB store's: per run and x bucket the first, min, max and
    last points. PostgreSQL has no ``arg_min``: ``min(ARRAY[x, value])`` is the point with
    the smallest x (arrays compare element by element), and so on for the others."""
    check_series_request(req, _X_AXES)
    rng, rng_params = _x_range(con, req)
    join = "JOIN store.runs r ON r.run_id = m.run_id" if req.x_axis == "relative_time" else ""
    sql = f"""
        WITH pts AS (
            SELECT q.pos AS run_pos, {_X_AXES[req.x_axis]} AS x, m.value
            FROM store.metrics m {join}
            JOIN unnest(?::text[]) WITH ORDINALITY AS q(run_id, pos) ON q.run_id = m.run_id
            WHERE m.key = ? {rng}
        ),
        b AS (SELECT min(x) AS lo, greatest(max(x) - min(x), 1e-12) AS span FROM pts),
        bucketed AS (
            SELECT run_pos, x, value,
                   least(floor((x - b.lo) / b.span * ?)::bigint, ? - 1) AS bucket
            FROM pts, b
        )
        SELECT run_pos, bucket, count(*),
               min(x), (min(ARRAY[x, value]))[2],
               (min(ARRAY[value, x]))[2], min(value),
               (max(ARRAY[value, x]))[2], max(value),
               max(x), (max(ARRAY[x, value]))[2]
        FROM bucketed GROUP BY run_pos, bucket ORDER BY run_pos, bucket
    """
    ids = list(req.run_ids)
    rows = con.fetchall(sql, [ids, req.key, *rng_params, req.width, req.width])
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * len(_SERIES_FIELDS)
    cols[0] = [ids[p - 1] for p in cols[0]]
    return pa.table(
        {name: pa.array(col, typ) for (name, typ), col in zip(_SERIES_FIELDS, cols, strict=True)}
    )


def read_only_sql(con: Con, query: str) -> duckdb.DuckDBPyRelation:
    """Run one SELECT over the documented views (schema ``mltrack_views``) in a read-only
    transaction with a time limit; the answer is a DuckDB relation, as from the DuckDB store.

    The statement is checked with DuckDB's parser first (so the messages are the DuckDB
    store's); what DuckDB cannot parse is left to PostgreSQL, which refuses any write in a
    read-only transaction.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("mt.sql needs a non-empty SQL string, e.g. 'SELECT * FROM runs'.")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error:
        statements = None
    if statements is not None:
        if len(statements) != 1:
            raise InvalidParameter(
                f"mt.sql runs exactly one statement, got {len(statements)}; split them into calls."
            )
        if statements[0].type != duckdb.StatementType.SELECT:
            raise InvalidParameter(
                f"mt.sql is read-only: only SELECT queries are allowed, got a "
                f"{statements[0].type.name} statement. Use the mt API to change data."
            )
    try:
        with con.conn.transaction():
            con.execute("SET TRANSACTION READ ONLY", None)
            con.execute(f"SET LOCAL search_path = {VIEWS_SCHEMA}", None)
            con.execute(f"SET LOCAL statement_timeout = '{SQL_TIMEOUT_S}s'", None)
            # an empty parameter list: the extended protocol, one statement only
            cur = con.cur.execute(query.replace("%", "%%"), [])
            if cur.description is None:
                raise InvalidParameter("mt.sql is read-only: only SELECT queries are allowed.")
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
    except MltrackError:
        raise
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise InvalidParameter(
            f"mt.sql is read-only: only SELECT queries are allowed ({exc}). Use the mt API "
            "to change data."
        ) from exc
    except psycopg.errors.QueryCanceled as exc:
        raise InvalidParameter(
            f"The query ran longer than {SQL_TIMEOUT_S} s and was cancelled; narrow it."
        ) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise
    except psycopg.Error as exc:
        raise InvalidParameter(f"SQL error: {str(exc).strip()}") from exc
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    table = pa.table({_unique(names, i): pa.array(list(c)) for i, c in enumerate(cols)})
    return detached_relation(table)


def _unique(names: list[str], i: int) -> str:
    name = names[i]
    return name if names.index(name) == i else f"{name}_{i}"
