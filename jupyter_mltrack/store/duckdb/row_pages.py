"""Pages of run rows for views that show a few columns of many runs (the JupyterLab sidebar).

A view scrolled from top to bottom asks for every page of one ordered search in turn. Each
page through :func:`.reads.search_runs` reads the page's runs and values by semi-joins on
its ids, which scan the runs and latest-metrics tables whatever the page's size, then builds
:class:`~jupyter_mltrack.entities.Run` entities: about 52 ms for 3,000 rows of 3 metric
columns at 100,000 runs, most of the server's work in a scroll. Here a deep page of one
search at one store version starts building the whole ordered result, as one Arrow
table of the run columns and the asked values (161 ms, 13 MB at 100,000 runs, on a thread
of its own), and every page after it is a slice of it (3 ms). The table is dropped at the
next write (the store's write counter, as :class:`.reads.OrderCache` does); a store written
while a view is read (runs logging) builds only when a version stays long enough for a
second deep page (see :class:`RowTableCache`), never once per page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import duckdb
import pyarrow as pa

from ..base import ROW_FIELDS, RunPage, RunQuery, RunRows
from .reads import (
    _COLUMN_TABLES,
    OrderCache,
    PageWindow,
    _select_run_ids,
    load_runs,
    page_ids,
)

__all__ = ["RowTableCache", "search_run_rows"]

log = logging.getLogger(__name__)


class RowTableCache:
    """The ordered row tables of the last ``size`` searches, each valid at one store version;
    ``builds`` counts the tables built, ``hits`` the pages sliced from one.

    A table is built on a thread of its own, so no page waits for it: the page that starts
    the build, and those asked while it runs, read their own rows. It starts at the first
    deep page of a search at a version, so it is there when a scroll begins (started at the
    second page, the scroll's own reads, the first of it, competed with the build: the
    bench_jupyterlab scroll stood blank 591-650 ms at its start). When the search's table of
    the previous version is younger than ``busy_s``, the store is being written while the
    view is read (runs logging) and a table would soon be stale: the build then waits for a
    second deep page at one version.
    """

    def __init__(self, size: int = 4, busy_s: float = 5.0) -> None:
        self.size = size
        self.busy_s = busy_s
        self.builds = 0
        self.hits = 0
        #: key -> (version, table or None, whether a build runs, when the version was first seen)
        self._tables: OrderedDict[str, tuple[int, pa.Table | None, bool, float]] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def table(self, key: str, version: int, build: Callable[[], pa.Table]) -> pa.Table | None:
        """The table of ``key`` at ``version``, or ``None`` (read the page alone; a build
        may have started)."""
        now = time.monotonic()
        with self._lock:
            found = self._tables.get(key)
            if found is not None and found[0] == version:
                if found[1] is not None:
                    self.hits += 1
                    self._tables.move_to_end(key)
                    return found[1]
                if not found[2]:
                    self._start(key, version, build, found[3])
                return None
            if found is not None and now - found[3] < self.busy_s:
                self._remember(key, version, None, False, now)  # build at the second page
            else:
                self._start(key, version, build, now)
            return None

    def _start(self, key: str, version: int, build: Callable[[], pa.Table], seen: float) -> None:
        self._remember(key, version, None, True, seen)
        thread = threading.Thread(target=self._build, args=(key, version, build, seen), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for the builds running now (tests, and a store closing)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _build(self, key: str, version: int, build: Callable[[], pa.Table], seen: float) -> None:
        try:
            table = build()
        except Exception:  # the store closed or changed under it: pages read alone
            log.debug("Building the row table failed", exc_info=True)
            table = None
        with self._lock:
            found = self._tables.get(key)
            if found is not None and found[0] == version:
                self._remember(key, version, table, False, seen)
                if table is not None:
                    self.builds += 1

    def _remember(
        self, key: str, version: int, table: pa.Table | None, building: bool, seen: float
    ) -> None:
        self._tables[key] = (version, table, building, seen)
        self._tables.move_to_end(key)
        while len(self._tables) > self.size:
            self._tables.popitem(last=False)


def _build(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any], columns: Sequence[str]
) -> pa.Table:
    """Every row ``sql`` selects, in its order, with the run fields and ``columns``."""
    values = [""] * len(columns)
    joins: list[str] = []
    join_params: list[Any] = []
    by_table: dict[str, list[tuple[int, str]]] = {}
    for i, column in enumerate(columns):
        kind, _, key = column.partition(".")
        by_table.setdefault(_COLUMN_TABLES[kind], []).append((i, key))
    for t, (table, keys) in enumerate(by_table.items()):
        picks = []
        for i, key in keys:  # one row per (run_id, key) in each table: max() is that value
            picks.append(f"max(value) FILTER (WHERE key = ?) AS c{i}")
            join_params.append(key)
            values[i] = f"v{t}.c{i}"
        joins.append(
            f"LEFT JOIN (SELECT run_id, {', '.join(picks)} FROM {table} "
            f"WHERE key = ANY(?) GROUP BY run_id) v{t} USING (run_id)"
        )
        join_params.append([key for _, key in keys])
    fields = ", ".join(f"r.{name}" for name in ROW_FIELDS)
    picked = "".join(f", {v}" for v in values)
    text = (
        f"WITH s AS (SELECT run_id, row_number() OVER () AS pos FROM ({sql}) o) "
        f"SELECT {fields}{picked} FROM s JOIN store.runs r USING (run_id) {' '.join(joins)} "
        "ORDER BY s.pos"
    )
    table = cur.sql(text, params=[*params, *join_params]).to_arrow_table()
    return table.rename_columns([*ROW_FIELDS, *columns])


def search_run_rows(
    cur: duckdb.DuckDBPyConnection,
    query: RunQuery,
    cache: RowTableCache,
    order: OrderCache,
    version: int,
    reader: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
) -> RunRows:
    """One page of ``query`` as rows (see the module docstring); ``version`` is the store's
    write counter read before the call, ``reader`` gives the table's build a cursor."""
    columns = list(query.columns or ())
    sql, params = _select_run_ids(query)
    window = PageWindow.of(query)
    key = "\x00".join([sql, repr(params), *columns])

    def build() -> pa.Table:
        with reader() as own:
            return _build(own, sql, params, columns)

    table = cache.table(key, version, build) if window.offset else None
    if table is None:

        def q(text: str, p: Sequence[Any]) -> list[tuple[Any, ...]]:
            return cur.execute(text, list(p)).fetchall()

        ids, token = window.cut(page_ids(q, sql, params, window, order, version))
        return RunRows.of_runs(RunPage(load_runs(q, ids, columns), token), columns)
    rows, token = window.cut(table.slice(window.offset, window.limit + 1).to_pylist())
    return RunRows(rows, token)
