"""Read paths of the DuckDB store: run loading, search, histories, series, SQL.

Functions take a read cursor (or a query callable over one) from
:meth:`~.connection.Database.reader`, so reads never wait for the write lock.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from ...entities import (
    Dataset,
    DatasetInput,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    MetricHistory,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from ...errors import InvalidParameter
from ...settings import SEARCH_LIMIT
from ..arrow import detached_relation
from ..base import RunPage, RunQuery, SeriesRequest
from ..search import (
    compile_filter,
    compile_order_by,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
    search_fingerprint,
)
from ..series import check_series_request, x_range_predicates
from .dialect import in_list

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
T = TypeVar("T")

_RUN_COLUMNS = (
    "r.run_id, r.experiment_id, r.run_name, r.status, r.start_time_ms, r.end_time_ms, "
    "r.user_id, r.lifecycle_stage, r.artifact_uri, r.parent_run_id"
)
VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")


def view_type_clause(view_type: str, column: str = "lifecycle_stage") -> tuple[str, list[Any]]:
    """SQL for MLflow's ``ViewType`` (``ACTIVE_ONLY``, ``DELETED_ONLY``, ``ALL``)."""
    vt = str(view_type).upper()
    if vt == "ACTIVE_ONLY":
        return f"{column} = ?", [LifecycleStage.ACTIVE]
    if vt == "DELETED_ONLY":
        return f"{column} = ?", [LifecycleStage.DELETED]
    if vt == "ALL":
        return "TRUE", []
    raise InvalidParameter(f"Unknown view type {view_type!r}; use one of {', '.join(VIEW_TYPES)}.")


def load_runs(
    q: Query,
    run_ids: Sequence[str],
    columns: Sequence[str] | None = None,
    rows: list[tuple[Any, ...]] | None = None,
) -> list[Run]:
    """Full :class:`Run` entities for ``run_ids``, in that order (missing ids are dropped).

    ``columns`` (``params.<key>``, ``metrics.<key>``, ``tags.<key>``) narrows the data read
    to those keys and skips the dataset inputs: a table with no key asked is not read. Each
    table is read once for the whole page with a semi-join on the ids (:func:`.in_list`).
    ``rows``: the runs' rows (``_RUN_COLUMNS``) when the caller already read them.
    """
    if not run_ids:
        return []
    ids = list(run_ids)
    if rows is None:
        rows = q(f"SELECT {_RUN_COLUMNS} FROM store.runs r WHERE {in_list('r.run_id')}", [ids])
    data: dict[str, tuple[dict[str, float], dict[str, str], dict[str, str]]] = {
        r[0]: ({}, {}, {}) for r in rows
    }
    wanted = keys_by_table(columns)
    for slot, table in enumerate(("store.latest_metrics", "store.params", "store.tags")):
        keys = wanted.get(table) if wanted is not None else None
        if wanted is not None and not keys:
            continue
        sql = f"SELECT run_id, key, value FROM {table} WHERE {in_list('run_id')}"
        params: list[Any] = [ids]
        if keys:
            sql += f" AND {in_list('key')}"
            params.append(keys)
        for rid, k, v in q(sql, params):
            data[rid][slot][k] = v
    inputs: dict[str, list[DatasetInput]] = {}
    if wanted is None:
        for rid, tags, *ds in q(
            "SELECT i.run_id, i.tags, d.name, d.digest, d.source_type, d.source, d.schema, "
            "d.profile FROM store.run_inputs i JOIN store.datasets d USING (dataset_id) "
            f"WHERE {in_list('i.run_id')} ORDER BY d.name",
            [ids],
        ):
            inputs.setdefault(rid, []).append(DatasetInput(Dataset(*ds), json.loads(tags)))
    links = model_links(q, ids) if wanted is None else {}
    return assemble_runs(ids, rows, data, inputs, links)


#: A run's model links (migration 6), and as outputs at step 0 the logged models whose
#: source run it is that no output link names (what MLflow's ``log_model`` records anyway).
_MODEL_LINKS = (
    "SELECT run_id, direction, model_id, step FROM store.run_model_links "
    f"WHERE {in_list('run_id')} UNION ALL "
    "SELECT m.source_run_id, 'output', m.model_id, 0 FROM store.logged_models m "
    f"WHERE {in_list('m.source_run_id')} AND NOT EXISTS (SELECT 1 FROM store.run_model_links l "
    "WHERE l.run_id = m.source_run_id AND l.model_id = m.model_id AND l.direction = 'output') "
    "ORDER BY run_id, direction, step, model_id"
)


def assemble_runs(
    ids: Sequence[str],
    rows: list[tuple[Any, ...]],
    data: dict[str, tuple[dict[str, float], dict[str, str], dict[str, str]]],
    inputs: dict[str, list[DatasetInput]],
    links: dict[str, tuple[list[LoggedModelInput], list[LoggedModelOutput]]],
) -> list[Run]:
    """The :class:`Run` of each of ``rows`` (``_RUN_COLUMNS``), in the order of ``ids``
    (missing ids dropped), from the metrics/params/tags, dataset inputs and model links a
    ``load_runs`` read; the PostgreSQL store's ``load_runs`` ends with it too."""
    by_id: dict[str, Run] = {}
    for r in rows:
        model_inputs, model_outputs = links.get(r[0], ([], []))
        by_id[r[0]] = Run(
            RunInfo(*r),
            RunData(*data[r[0]]),
            RunInputs(inputs.get(r[0], []), model_inputs),
            RunOutputs(model_outputs),
        )
    return [by_id[i] for i in ids if i in by_id]


def model_links(
    q: Query, ids: Sequence[str]
) -> dict[str, tuple[list[LoggedModelInput], list[LoggedModelOutput]]]:
    """``run_id -> (model inputs, model outputs)`` of the runs ``ids`` (one query; the SQL
    is the same on PostgreSQL, whose store calls this too)."""
    out: dict[str, tuple[list[LoggedModelInput], list[LoggedModelOutput]]] = {}
    for rid, direction, model_id, step in q(_MODEL_LINKS, [list(ids), list(ids)]):
        inputs, outputs = out.setdefault(rid, ([], []))
        if direction == "input":
            inputs.append(LoggedModelInput(model_id))
        else:
            outputs.append(LoggedModelOutput(model_id, int(step)))
    return out


_COLUMN_TABLES = {
    "metrics": "store.latest_metrics",
    "params": "store.params",
    "tags": "store.tags",
}


def keys_by_table(columns: Sequence[str] | None) -> dict[str, list[str]] | None:
    """``{"store.params": [keys], ...}`` of ``params.<key>``-style columns, or ``None``."""
    if columns is None:
        return None
    out: dict[str, list[str]] = {}
    for column in columns:
        kind, _, key = column.partition(".")
        out.setdefault(_COLUMN_TABLES[kind], []).append(key)
    return out


def _select_run_ids(query: RunQuery, ordered: bool = True) -> tuple[str, list[Any]]:
    """SQL selecting ``run_id`` of matching runs in order (no LIMIT), with its params;
    ``ordered=False``: without the ORDER BY (for a count)."""
    experiment_ids, view_type = query.experiment_ids, query.view_type
    if not experiment_ids:
        raise InvalidParameter(
            "search_runs needs at least one experiment id or name; pass experiment_ids=[...]"
        )
    where_sql, where_params = compile_filter(parse_filter(query.filter_string), run_alias="r")
    order_sql, order_params = compile_order_by(parse_order_by(list(query.order_by)), run_alias="r")
    stage_sql, stage_params = view_type_clause(view_type, "r.lifecycle_stage")
    sql = (
        "SELECT r.run_id FROM store.runs r "
        f"WHERE {in_list('r.experiment_id')} AND {stage_sql} AND ({where_sql})"
    )
    params = [list(experiment_ids), *stage_params, *where_params]
    if not ordered:
        return sql, params
    return f"{sql} ORDER BY {order_sql}", [*params, *order_params]


def count_runs(q: Query, query: RunQuery) -> int:
    """How many runs ``query`` matches (experiments, view type, filter; paging ignored):
    one ``count(*)``, where a columnar search loaded every match (900 ms for half of
    100,000 runs in the JupyterLab sidebar's filtered total)."""
    sql, params = _select_run_ids(query, ordered=False)
    return int(q(f"SELECT count(*) FROM ({sql}) s", params)[0][0])


class OrderCache:
    """The ordered run ids of the last few searches, each valid while the store's write
    counter (:attr:`.connection.Database.writes`) is unchanged.

    A view scrolled to a deep page asks ``LIMIT 100 OFFSET n`` for many ``n``: each such
    page sorts every matching run again to skip ``n`` of them. With the ids kept, the first
    deep page sorts once and every later one is a slice.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.hits = 0
        self._items: OrderedDict[str, tuple[int, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def ids(self, q: Query, sql: str, params: list[Any], version: int) -> list[str]:
        """Every id ``sql`` selects, in order; read now unless kept at ``version``."""
        key = sql + "\x00" + repr(params)
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] == version:
                self.hits += 1
                self._items.move_to_end(key)
                return found[1]
        ids = [r[0] for r in q(sql, params)]
        with self._lock:
            self._items[key] = (version, ids)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return ids


@dataclass(frozen=True, slots=True)
class PageWindow:
    """Where one page of a run search starts (``offset``, from its page token) and how many
    runs it holds (``limit``), bound to the search by ``fingerprint``; every store's row
    search pages through it (DuckDB, PostgreSQL, the sidebar's row pages)."""

    fingerprint: str
    offset: int
    limit: int

    @classmethod
    def of(cls, query: RunQuery) -> PageWindow:
        """The window of ``query``; raises ``InvalidParameter`` for a bad token or limit."""
        fingerprint = search_fingerprint(
            query.experiment_ids, query.filter_string, query.order_by, query.view_type
        )
        token = query.page_token
        offset = decode_page_token(token, fingerprint) if token else 0
        return cls(fingerprint, offset, check_max_results(query.max_results))

    def cut(self, items: list[T]) -> tuple[list[T], str | None]:
        """``items`` read from ``offset`` (at most ``limit + 1``: one more tells whether a
        next page exists) as the page and the next page's token (``None`` at the end)."""
        if len(items) <= self.limit:
            return items, None
        return items[: self.limit], encode_page_token(self.offset + self.limit, self.fingerprint)


def page_ids(
    q: Query,
    sql: str,
    params: list[Any],
    window: PageWindow,
    order: OrderCache | None = None,
    version: int = 0,
) -> list[str]:
    """The ids ``sql`` selects from ``window.offset`` on, ``window.limit + 1`` at most. The
    first page is a top-N select; deeper pages slice the ordered ids that ``order`` keeps at
    the store's write counter ``version`` (read it before calling)."""
    offset, limit = window.offset, window.limit
    if offset and order is not None:
        return order.ids(q, sql, params, version)[offset : offset + limit + 1]
    return [r[0] for r in q(sql + f" LIMIT {limit + 1} OFFSET {int(offset)}", params)]


def search_runs(
    q: Query, query: RunQuery, order: OrderCache | None = None, version: int = 0
) -> RunPage:
    """One page of runs as entities, with a token for the next page: the page's ids
    (:func:`page_ids`), then each data table read once for the page (:func:`load_runs`)."""
    sql, params = _select_run_ids(query)
    window = PageWindow.of(query)
    ids, token = window.cut(page_ids(q, sql, params, window, order, version))
    return RunPage(load_runs(q, ids, query.columns), token)


def check_max_results(max_results: int | None) -> int:
    """``max_results`` of a run search, ``SEARCH_LIMIT`` for ``None``; raises
    ``InvalidParameter`` unless it is a positive integer."""
    if max_results is None:
        return SEARCH_LIMIT
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidParameter(f"max_results must be a positive integer, got {max_results!r}.")
    return max_results


def search_runs_arrow(con: duckdb.DuckDBPyConnection, query: RunQuery) -> dict[str, pa.Table]:
    """Matching runs plus long params/metrics/tags tables, all as Arrow (for DataFrames)."""
    sql, params = _select_run_ids(query)
    limit = check_max_results(query.max_results)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _mt_sel AS SELECT row_number() OVER () AS _pos, run_id "
        f"FROM ({sql} LIMIT {limit}) s",
        params,
    )
    try:
        runs = con.sql(
            f"SELECT {_RUN_COLUMNS} FROM _mt_sel s JOIN store.runs r USING (run_id) ORDER BY s._pos"
        ).to_arrow_table()
        out = {"runs": runs}
        for name, table in (
            ("params", "store.params"),
            ("metrics", "store.latest_metrics"),
            ("tags", "store.tags"),
        ):
            # pos (0-based row of the run in "runs") spares the client an id lookup
            out[name] = con.sql(
                f"SELECT t.run_id, t.key, t.value, CAST(s._pos - 1 AS BIGINT) AS pos "
                f"FROM {table} t JOIN _mt_sel s USING (run_id)"
            ).to_arrow_table()
        return out
    finally:
        con.execute("DROP TABLE IF EXISTS _mt_sel")


def metric_history(con: duckdb.DuckDBPyConnection, run_id: str, key: str) -> MetricHistory:
    """Every point of one metric of one run, ordered by step then time, with the datasets
    and models the points name (``MetricHistory.links``).

    The key's links are looked up first in the small ``metric_links`` table; a key without
    any (the common case) reads the three columns it always read.
    """
    found = con.execute(
        "SELECT link_id, dataset_name, dataset_digest, model_id FROM store.metric_links "
        "WHERE run_id = ? AND key = ?",
        [run_id, key],
    ).fetchall()
    columns = "step, value, timestamp_ms" + (", link_id" if found else "")
    table = con.sql(
        f"SELECT {columns} FROM store.metrics WHERE run_id = ? AND key = ? "
        "ORDER BY step, timestamp_ms",
        params=[run_id, key],
    ).to_arrow_table()
    links = None
    if found:
        by_id = {row[0]: row[1:] for row in found}
        point_links = [
            by_id.get(i, (None, None, None)) for i in table.column("link_id").to_pylist()
        ]
        names, digests, models = ([p[j] for p in point_links] for j in range(3))
        links = (names, digests, models)
    return MetricHistory(
        key,
        table.column("step").to_numpy(),
        table.column("value").to_numpy(),
        table.column("timestamp_ms").to_numpy(),
        links,
    )


_X_AXES = {
    "step": "CAST(m.step AS DOUBLE)",
    "wall_time": "CAST(m.timestamp_ms AS DOUBLE)",
    "relative_time": "CAST(m.timestamp_ms - r.start_time_ms AS DOUBLE)",
}


def _x_range(con: duckdb.DuckDBPyConnection, req: SeriesRequest) -> tuple[str, list[object]]:
    def start_bounds() -> tuple[Any, Any]:
        where = in_list("run_id")
        sql = f"SELECT min(start_time_ms), max(start_time_ms) FROM store.runs WHERE {where}"
        return tuple(con.execute(sql, [list(req.run_ids)]).fetchall()[0])

    return x_range_predicates(req, _X_AXES["relative_time"], start_bounds)


def metric_series(con: duckdb.DuckDBPyConnection, req: SeriesRequest) -> pa.Table:
    """M4 downsampling: per run and x bucket, the first, min, max and last points.

    The answer has at most ``4 * width`` points per run whatever the history size,
    and spikes survive because every bucket keeps its extremes. A range read costs what
    the range holds, not what the history holds: the bounds become predicates on the
    stored columns, which the scan uses to skip row groups.
    """
    check_series_request(req, _X_AXES)
    rng, rng_params = _x_range(con, req)
    join = "JOIN store.runs r ON r.run_id = m.run_id" if req.x_axis == "relative_time" else ""
    # Grouping by the run's position in the request (an integer) instead of its id text,
    # and min/max instead of arg_min(x, x), keeps the hash aggregate cheap.
    sql = f"""
        WITH pts AS (
            SELECT list_position(?, m.run_id) AS run_pos, {_X_AXES[req.x_axis]} AS x, m.value
            FROM store.metrics m {join}
            WHERE {in_list("m.run_id")} AND m.key = ? {rng}
        ),
        b AS (SELECT min(x) AS lo, greatest(max(x) - min(x), 1e-12) AS span FROM pts),
        agg AS (
            SELECT run_pos,
                   least(CAST(floor((x - b.lo) / b.span * ?) AS BIGINT), ? - 1) AS bucket,
                   count(*) AS n,
                   min(x) AS first_x, arg_min(value, x) AS first_value,
                   arg_min(x, value) AS min_x, min(value) AS min_value,
                   arg_max(x, value) AS max_x, max(value) AS max_value,
                   max(x) AS last_x, arg_max(value, x) AS last_value
            FROM pts, b GROUP BY run_pos, bucket
        )
        SELECT list_extract(?, run_pos) AS run_id, * EXCLUDE (run_pos)
        FROM agg ORDER BY run_pos, bucket
    """
    ids = list(req.run_ids)
    params = [ids, ids, req.key, *rng_params, req.width, req.width, ids]
    return con.sql(sql, params=params).to_arrow_table()


def read_only_sql(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation:
    """Run one SELECT over the documented views; anything else is refused."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("mt.sql needs a non-empty SQL string, e.g. 'SELECT * FROM runs'.")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidParameter(f"Could not parse SQL: {exc}") from exc
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
        table = con.sql(query).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidParameter(f"SQL error: {exc}".strip()) from exc
    return detached_relation(table)
