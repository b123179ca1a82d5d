"""TrackingStore contract, part 2: search, histories, series, SQL and gc, on every backend."""

from __future__ import annotations

import math
from dataclasses import replace

import duckdb
import pyarrow as pa
import pytest

from jupyter_mltrack.entities import Dataset, MetricHistory
from jupyter_mltrack.errors import InvalidFilter, InvalidParameter, InvalidState, RunNotFound
from jupyter_mltrack.store.base import RunQuery, SeriesRequest, TrackingStore


def seed_runs(store: TrackingStore, n: int = 5) -> list[str]:
    """``n`` runs in experiment 0: acc = i/10, param lr, tag parity, run i started at 1000+i."""
    ids = []
    for i in range(n):
        run_id = store.create_run("0", f"run-{i}", 1_000 + i, "alice", {}, None).info.run_id
        store.log_batch(
            [(run_id, "acc", i / 10, 5, 0), (run_id, "train/loss", 1.0 - i / 10, 5, 0)],
            [(run_id, "lr", f"0.0{i}")],
            [(run_id, "parity", "even" if i % 2 == 0 else "odd")],
        )
        ids.append(run_id)
    return ids


# ----------------------------------------------------------------------- search
def test_search_runs_filter(store):
    ids = seed_runs(store)
    page = store.search_runs(RunQuery(("0",), "metrics.acc >= 0.3", "ACTIVE_ONLY", None, (), None))
    assert {r.info.run_id for r in page.runs} == {ids[3], ids[4]}
    assert page.next_page_token is None
    either = "params.lr = '0.00' OR (tags.parity = 'odd' AND metrics.`train/loss` < 0.8)"
    page = store.search_runs(RunQuery(("0",), either, "ACTIVE_ONLY", None, (), None))
    assert {r.info.run_id for r in page.runs} == {ids[0], ids[3]}
    assert page.runs[0].data.params["lr"] in ("0.00", "0.03")


def test_search_runs_narrowed_to_columns(store):
    """``RunQuery.columns``: each run carries only the keys asked (a page of the sidebar)."""
    ids = seed_runs(store, 3)
    store.log_batch([], [], [(ids[1], "note", "x")])
    query = RunQuery(("0",), "metrics.acc >= 0.1", "ACTIVE_ONLY", None, ("start_time",))
    narrowed = store.search_runs(replace(query, columns=("metrics.acc", "tags.note")))
    assert [r.info.run_id for r in narrowed.runs] == ids[1:]
    assert [r.data.metrics for r in narrowed.runs] == [{"acc": 0.1}, {"acc": 0.2}]
    assert [r.data.tags for r in narrowed.runs] == [{"note": "x"}, {}]
    assert all(r.data.params == {} for r in narrowed.runs)
    bare = store.search_runs(replace(query, columns=()))
    assert [r.info.run_id for r in bare.runs] == ids[1:]
    assert all(not r.data.metrics and not r.data.params for r in bare.runs)
    full = store.search_runs(query)
    assert full.runs[0].data.params == {"lr": "0.01"}
    assert full.runs[0].data.metrics == {"acc": 0.1, "train/loss": 0.9}


def test_deep_pages_follow_writes(store):
    """A later page read again after a write shows the write (stores may keep a view's
    order between pages; a write must invalidate it)."""
    ids = seed_runs(store, 4)
    order = ("attributes.start_time DESC",)
    first = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, order))
    second = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, order, first.next_page_token))
    assert [r.info.run_id for r in second.runs] == [ids[1], ids[0]]
    again = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, order, first.next_page_token))
    assert [r.info.run_id for r in again.runs] == [ids[1], ids[0]]
    newest = store.create_run("0", "newest", 9_999, "alice", {}, None).info.run_id
    after = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, order, first.next_page_token))
    assert [r.info.run_id for r in after.runs] == [ids[2], ids[1]]
    store.delete_run(ids[2])
    after = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, order, first.next_page_token))
    assert [r.info.run_id for r in after.runs] == [ids[1], ids[0]]
    assert newest


def test_search_runs_order_by_and_paging(store):
    ids = seed_runs(store)
    order = ["metrics.acc DESC"]
    seen, token, pages = [], None, 0
    while True:
        page = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, tuple(order), token))
        seen += [r.info.run_id for r in page.runs]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == ids[::-1] and pages == 3
    first = store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, tuple(order), None))
    with pytest.raises(InvalidParameter, match="different search"):
        store.search_runs(
            RunQuery(("0",), "", "ACTIVE_ONLY", 2, ("start_time",), first.next_page_token)
        )
    with pytest.raises(InvalidParameter):
        store.search_runs(RunQuery(("0",), "", "ACTIVE_ONLY", 2, tuple(order), "garbage"))


def test_order_by_several_keys_with_nan_and_missing_values(store):
    """Missing values sort last both ways, a metric's NaN after the numbers both ways (as in
    MLflow), a second key (a param) breaks ties, and a filter on the ordered key narrows;
    the same on every backend (PostgreSQL reads order keys by joins, DuckDB by subqueries)."""
    runs = {}
    for name, loss, opt in [
        ("a", 0.5, "sgd"),
        ("b", math.nan, "adam"),
        ("c", None, "sgd"),
        ("d", 0.2, "adam"),
        ("e", 0.5, "adam"),
        ("f", None, None),
    ]:
        run_id = store.create_run("0", name, 1_000, "alice", {}, None).info.run_id
        store.log_batch(
            [(run_id, "loss", loss, 5, 0)] if loss is not None else [],
            [(run_id, "opt", opt)] if opt is not None else [],
            [],
        )
        runs[run_id] = name

    def names(order: tuple[str, ...], filter_string: str = "") -> str:
        page = store.search_runs(RunQuery(("0",), filter_string, "ACTIVE_ONLY", 100, order))
        return "".join(runs[r.info.run_id] for r in page.runs)

    assert names(("metrics.loss DESC", "params.opt ASC")) == "eadbcf"
    assert names(("metrics.loss ASC", "params.opt DESC")) == "daebcf"
    assert names(("params.opt DESC", "metrics.loss DESC")) == "acedbf"
    assert names(("metrics.loss DESC", "params.opt ASC"), "metrics.loss < 1") == "ead"
    # a filter item on an ordered key becomes PostgreSQL's inner join (compile_search): the
    # same answers, NaN included by ``> 0.1`` and still after the numbers
    assert names(("metrics.loss DESC", "params.opt ASC"), "metrics.loss > 0.1") == "eadb"
    both = "metrics.loss > 0.1 AND params.opt = 'adam'"
    assert names(("params.opt ASC", "metrics.loss ASC"), both) == "deb"
    assert names(("metrics.loss ASC",), "params.opt = 'sgd' AND metrics.loss >= 0.5") == "a"
    either = "metrics.loss > 0.3 OR params.opt = 'sgd'"
    assert names(("metrics.loss DESC", "params.opt ASC"), either) == "eabc"


def test_search_runs_view_type_and_bad_arguments(store):
    ids = seed_runs(store, 3)
    store.delete_run(ids[0])

    def found(view: str) -> set[str]:
        return {
            r.info.run_id
            for r in store.search_runs(RunQuery(("0",), "", view, None, (), None)).runs
        }

    assert found("ACTIVE_ONLY") == set(ids[1:])
    assert found("DELETED_ONLY") == {ids[0]}
    assert found("ALL") == set(ids)
    with pytest.raises(InvalidFilter) as info:
        store.search_runs(RunQuery(("0",), "metrics.acc >> 1", "ALL", None, (), None))
    assert isinstance(info.value.details.get("position"), int)
    with pytest.raises(InvalidParameter):
        store.search_runs(RunQuery(("0",), "", "SOMETIMES", None, (), None))
    with pytest.raises(InvalidParameter):
        store.search_runs(RunQuery(("0",), "", "ALL", 0, (), None))
    with pytest.raises(InvalidParameter):
        store.search_runs(RunQuery((), "", "ALL", None, (), None))


def test_count_runs_through_the_core(store):
    """``TrackingCore.count_runs``: the store's ``count(*)`` (DuckDB, PostgreSQL) or a
    columnar search (the remote store): the same totals, paging and max_results ignored."""
    from jupyter_mltrack.store.base import RunCounter
    from jupyter_mltrack.tracking.core import TrackingCore

    ids = seed_runs(store, 5)
    store.delete_run(ids[0])
    core = TrackingCore(store)
    assert isinstance(store, RunCounter) == (type(store).__name__ != "RemoteStore")

    def count(filter_string: str = "", view_type: str = "ACTIVE_ONLY", **kw: object) -> int:
        return core.count_runs(RunQuery(("0",), filter_string, view_type, **kw))  # type: ignore[arg-type]

    assert count() == 4
    assert count(view_type="ALL") == 5 and count(view_type="DELETED_ONLY") == 1
    assert count("metrics.acc >= 0.2") == 3
    assert count("tags.parity = 'even' and params.lr != '0.02'") == 1
    assert count("metrics.acc >= 0.2", max_results=1, order_by=("metrics.acc DESC",)) == 3
    assert count("metrics.nope > 1") == 0
    with pytest.raises(InvalidFilter):
        count("metrics.acc >> 1")
    with pytest.raises(InvalidParameter):
        core.count_runs(RunQuery((), ""))


def test_search_runs_arrow(store):
    ids = seed_runs(store, 4)
    tables = store.search_runs_arrow(
        RunQuery(("0",), "metrics.acc > 0.05", max_results=2, order_by=("start_time DESC",))
    )
    assert set(tables) == {"runs", "params", "metrics", "tags"}
    assert all(isinstance(t, pa.Table) for t in tables.values())
    assert tables["runs"].column("run_id").to_pylist() == [ids[3], ids[2]]
    assert tables["runs"].column("start_time_ms").type == pa.int64()
    params = sorted((p["run_id"], p["value"]) for p in tables["params"].to_pylist())
    assert params == sorted([(ids[3], "0.03"), (ids[2], "0.02")])
    metrics = tables["metrics"].to_pylist()
    assert {(m["run_id"], m["key"]) for m in metrics} == {
        (r, k) for r in ids[2:] for k in ("acc", "train/loss")
    }
    assert tables["tags"].column_names == ["run_id", "key", "value", "pos"]
    order = tables["runs"].column("run_id").to_pylist()
    for p in tables["params"].to_pylist():  # pos is the run's row in "runs"
        assert order[p["pos"]] == p["run_id"]
    empty = store.search_runs_arrow(RunQuery(("0",), "metrics.acc > 99", "ACTIVE_ONLY", None, ()))
    assert empty["runs"].num_rows == 0 and "run_id" in empty["runs"].column_names


# ------------------------------------------------------------- history, series
def test_get_metric_history(store):
    run_id = store.create_run("0", "h", 1, "u", {}, None).info.run_id
    points = [(run_id, "a/b c", float(s * s), 50 - s, s) for s in (3, 1, 2, 0)]
    points.append((run_id, "a/b c", math.inf, 99, 1))
    store.log_batch(points, [], [])
    history = store.get_metric_history(run_id, "a/b c")
    assert isinstance(history, MetricHistory) and history.key == "a/b c"
    assert list(history.steps) == [0, 1, 1, 2, 3]
    assert list(history.values) == [0.0, 1.0, math.inf, 4.0, 9.0]
    assert list(history.timestamps_ms) == [50, 49, 99, 48, 47]
    assert history.steps.dtype.kind == "i" and history.values.dtype.kind == "f"
    assert len(store.get_metric_history(run_id, "never-logged")) == 0


def test_get_metric_series_downsamples(store):
    run_id = store.create_run("0", "s", 1, "u", {}, None).info.run_id
    rows = [(run_id, "loss", float(s % 7), 1_000 + s, s) for s in range(1_000)]
    rows[500] = (run_id, "loss", 1e6, 1_500, 500)  # a spike must survive downsampling
    store.log_batch(rows, [], [])
    table = store.get_metric_series(SeriesRequest((run_id,), "loss", 10))
    assert isinstance(table, pa.Table)
    assert table.num_rows == 10 and sum(table.column("n").to_pylist()) == 1_000
    assert max(table.column("max_value").to_pylist()) == 1e6
    zoom = store.get_metric_series(SeriesRequest((run_id,), "loss", 5, "step", 100.0, 199.0))
    assert sum(zoom.column("n").to_pylist()) == 100
    rel = store.get_metric_series(SeriesRequest((run_id,), "loss", 4, "relative_time"))
    assert rel.column("first_x").to_pylist()[0] == 999.0  # ms since the run started at 1
    with pytest.raises(InvalidParameter):
        store.get_metric_series(SeriesRequest((run_id,), "loss", 10, "sideways"))
    with pytest.raises(InvalidParameter):
        store.get_metric_series(SeriesRequest((run_id,), "loss", 0))


def test_series_ranges_on_every_axis_match_the_points_inside(store):
    """Range bounds become column predicates; what they keep must equal the exact filter."""
    early = store.create_run("0", "early", 1_000, "u", {}, None).info.run_id
    late = store.create_run("0", "late", 5_000, "u", {}, None).info.run_id
    starts = ((early, 1_000), (late, 5_000))
    rows = [(r, "m", float(s), start + 10 * s, s) for r, start in starts for s in range(300)]
    store.log_batch(rows, [], [])

    def count(axis: str, lo: float | None, hi: float | None) -> dict[str, int]:
        table = store.get_metric_series(SeriesRequest((early, late), "m", 50, axis, lo, hi))
        out: dict[str, int] = {}
        for rid, n in zip(
            table.column("run_id").to_pylist(), table.column("n").to_pylist(), strict=True
        ):
            out[rid] = out.get(rid, 0) + n
        return out

    # relative: x = 10 * step for both runs although they started 4 s apart
    assert count("relative_time", 100.5, 1_000.0) == {early: 90, late: 90}
    assert count("relative_time", None, 29.0) == {early: 3, late: 3}
    assert count("step", 10.5, 20.5) == {early: 10, late: 10}
    assert count("wall_time", 3_990.0, None) == {early: 1, late: 300}
    assert count("step", 1e9, None) == {}


# -------------------------------------------------------------------------- sql
def test_sql_returns_a_duckdb_relation(store):
    ids = seed_runs(store, 3)
    rel = store.sql("SELECT run_id, value FROM latest_metrics WHERE key = 'acc' ORDER BY value")
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert rel.fetchall() == [(ids[0], 0.0), (ids[1], 0.1), (ids[2], 0.2)]
    assert rel.to_arrow_table().num_rows == 3
    assert store.sql("SELECT count(*) AS n FROM runs").fetchall() == [(3,)]


@pytest.mark.parametrize(
    "query",
    ["DELETE FROM runs", "CREATE TABLE x (a INT)", "SELECT 1; SELECT 2", "", "SELEC nonsense"],
)
def test_sql_refuses_anything_but_one_select(store, query):
    with pytest.raises(InvalidParameter):
        store.sql(query)


def test_sql_error_in_a_select_is_invalid_parameter(store):
    with pytest.raises(InvalidParameter, match="no_such_table"):
        store.sql("SELECT * FROM no_such_table")


# --------------------------------------------------------------------------- gc
def test_gc_removes_deleted_runs_only(store):
    ids = seed_runs(store, 3)
    store.log_inputs(ids[0], [(Dataset("d", "x1", "local", "/d"), {})])
    with pytest.raises(InvalidState):
        store.gc([ids[1]])
    store.delete_run(ids[0])
    store.delete_run(ids[1])
    assert store.gc([ids[0]]) == [ids[0]]
    with pytest.raises(RunNotFound):
        store.get_run(ids[0])
    assert store.sql(f"SELECT count(*) FROM metrics WHERE run_id = '{ids[0]}'").fetchall() == [(0,)]
    assert store.gc(None) == [ids[1]]
    assert store.gc(None) == []
    assert store.get_run(ids[2]).info.lifecycle_stage == "active"
