"""Pages of flat run rows (``DuckDBStore.search_run_rows``, ``store/duckdb/row_pages.py``):
the same rows as pages of entities, from a table of the whole search kept per store version.

A real DuckDB file; the oracle is ``RunRows.of_runs`` over ``search_runs``, the path every
other store takes (``TrackingCore.search_rows``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack.store.base import RunQuery, RunRows
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.tracking.core import TrackingCore

COLUMNS = ("metrics.m", "params.p", "tags.t", "metrics.absent")


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NaN spelled out (NaN != NaN would fail every comparison)."""
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


@pytest.fixture
def store(tmp_path: Path):
    store = DuckDBStore(f"duckdb://{tmp_path / 'store.duckdb'}")
    experiment = store.create_experiment("rows", None, {})
    for i in range(230):
        run_id = store.create_run(experiment, f"run-{i}", 1_000 + i, "ana", {}, None).info.run_id
        value = math.nan if i % 17 == 0 else (i % 23) / 23
        metrics = [] if i % 11 == 0 else [(run_id, "m", value, 5, 0)]
        store.log_batch(metrics, [(run_id, "p", str(i % 7))], [(run_id, "t", f"t{i % 3}")])
    yield store, experiment
    store.close()


def _walk(store: DuckDBStore, query: RunQuery, read) -> list[list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    pages, token = [], None
    while True:
        page = read(RunQuery(**{**_fields(query), "page_token": token}))
        pages.append(_plain(page.rows))
        token = page.next_page_token
        if token is None:
            return pages


def _fields(query: RunQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in RunQuery.__slots__}


def test_row_pages_match_entity_pages_and_are_sliced_from_one_table(store) -> None:
    store, experiment = store
    query = RunQuery(
        (experiment,), "params.p != '3'", "ACTIVE_ONLY", 40, ("metrics.m DESC",), None, COLUMNS
    )

    def entities(q: RunQuery) -> RunRows:
        return RunRows.of_runs(store.search_runs(q), COLUMNS)

    expected = _walk(store, query, entities)
    got = _walk(store, query, store.search_run_rows)  # pages while the table is built
    assert got == expected and len(got) == 5
    assert sum(len(p) for p in got) == len([i for i in range(230) if i % 7 != 3])
    assert got[0][0]["metrics.absent"] is None and "NaN" in [r["metrics.m"] for p in got for r in p]
    # the first deep page of the version read alone, the second started the table's build
    store.row_cache.settle()
    assert store.row_cache.builds == 1
    hits = store.row_cache.hits
    again = _walk(store, query, store.search_run_rows)
    assert again == expected  # deep pages 2..5, each a slice of the table
    assert store.row_cache.builds == 1 and store.row_cache.hits == hits + 4


def _second_page(store: DuckDBStore, query: RunQuery) -> None:
    first = store.search_run_rows(query)
    store.search_run_rows(RunQuery(**{**_fields(query), "page_token": first.next_page_token}))
    store.row_cache.settle()


def test_a_write_drops_the_table_and_the_next_pages_show_it(store) -> None:
    store, experiment = store
    query = RunQuery((experiment,), "", "ACTIVE_ONLY", 50, ("metrics.m ASC",), None, COLUMNS)
    _second_page(store, query)  # a view's first deep page starts the table's build
    assert store.row_cache.builds == 1
    _walk(store, query, store.search_run_rows)
    store.row_cache.settle()
    builds = store.row_cache.builds
    assert builds == 1
    newest = store.create_run(experiment, "late", 5_000, "ana", {}, None).info.run_id
    store.log_batch([(newest, "m", -1.0, 6, 0)], [(newest, "p", "x")], [])
    # the view's table went stale within seconds (runs logging): no build on one deep page
    _second_page(store, query)
    assert store.row_cache.builds == builds
    got = _walk(store, query, store.search_run_rows)
    store.row_cache.settle()
    assert got[0][0]["run_id"] == newest and got[0][0]["params.p"] == "x"
    assert got == _walk(store, query, lambda q: RunRows.of_runs(store.search_runs(q), COLUMNS))
    assert _walk(store, query, store.search_run_rows) == got  # sliced from the new table
    assert store.row_cache.builds == builds + 1  # rebuilt once for the new version


def test_the_core_reads_rows_from_stores_without_their_own_reader(store) -> None:
    store, experiment = store

    class EntitiesOnly:  # a store without search_run_rows (as the remote store)
        def __getattr__(self, name: str) -> Any:
            if name == "search_run_rows":
                raise AttributeError(name)
            return getattr(store, name)

    query = RunQuery((experiment,), "", "ACTIVE_ONLY", 60, (), None, COLUMNS)
    direct = TrackingCore(store).search_rows(query)
    fallback = TrackingCore(EntitiesOnly()).search_rows(query)  # type: ignore[arg-type]
    assert _plain(direct.rows) == _plain(fallback.rows) and len(direct.rows) == 60
    assert direct.next_page_token == fallback.next_page_token is not None
