"""TrackingStore contract, metric links: points tied to a dataset (name and digest) and to a
logged model (MLflow 3's ``Metric.dataset_name`` / ``dataset_digest`` / ``model_id``).

Every test runs against ``direct`` and ``remote`` (fixtures in conftest.py) with the same
assertions; the links travel as three nullable columns after the five of a metric batch.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from jupyter_mltrack.entities import Metric
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.store.arrow import (
    LINKED_METRIC_SCHEMA,
    METRIC_SCHEMA,
    conform_metric_table,
    rows_to_table,
)
from jupyter_mltrack.store.duckdb.service_ops import ingest_metric_tables
from jupyter_mltrack.store.remote.wire import metric_rows_from_json, metric_rows_to_json
from jupyter_mltrack.tracking.core import TrackingCore


def _run(store) -> str:
    return store.create_run("0", "r", 1_000, "alice", {}, None).info.run_id


def test_log_batch_keeps_links_per_point(store):
    run_id = _run(store)
    store.log_batch(
        [
            (run_id, "acc", 0.5, 10, 1, "train", "d1", None),
            (run_id, "acc", 0.55, 11, 2),  # a plain point in the same batch
            (run_id, "acc", 0.6, 12, 3, "eval", "d2", "m-7"),
            (run_id, "acc", math.nan, 13, 4, None, None, "m-7"),
        ],
        [],
        [],
    )
    history = store.get_metric_history(run_id, "acc")
    assert [(m.step, m.dataset_name, m.dataset_digest, m.model_id) for m in history] == [
        (1, "train", "d1", None),
        (2, None, None, None),
        (3, "eval", "d2", "m-7"),
        (4, None, None, "m-7"),
    ]
    assert history[2] == Metric("acc", 0.6, 12, 3, "m-7", "eval", "d2")
    assert math.isnan(history[3].value)
    # the run's latest values do not change shape
    assert math.isnan(store.get_run(run_id).data.metrics["acc"])


def test_history_without_links_has_none(store):
    run_id = _run(store)
    store.log_batch([(run_id, "loss", 1.0, 10, 0)], [], [])
    history = store.get_metric_history(run_id, "loss")
    assert history.links is None
    assert (history[0].dataset_name, history[0].dataset_digest, history[0].model_id) == (
        None,
        None,
        None,
    )


def test_linked_metric_table_and_a_partial_one(store):
    run_id = _run(store)
    linked = rows_to_table(
        [(run_id, "f1", 0.1 * s, 100 + s, s, "val", "abc", None) for s in range(3)]
    )
    assert linked.schema == LINKED_METRIC_SCHEMA
    store.log_metric_table(linked)
    # only model_id given: the dataset columns are null
    partial = pa.table(
        {
            "run_id": [run_id],
            "key": ["f1"],
            "value": [0.9],
            "timestamp_ms": [200],
            "step": [9],
            "model_id": ["m-1"],
        }
    )
    store.log_metric_table(partial)
    store.log_metric_table(rows_to_table([(run_id, "f1", 0.95, 300, 10)]))
    history = store.get_metric_history(run_id, "f1")
    assert [(m.step, m.dataset_name, m.model_id) for m in history] == [
        (0, "val", None),
        (1, "val", None),
        (2, "val", None),
        (9, None, "m-1"),
        (10, None, None),
    ]
    assert store.get_run(run_id).data.metrics == {"f1": 0.95}


def test_the_core_refuses_a_dataset_name_without_its_digest(store):
    core = TrackingCore(store)
    run_id = _run(store)
    with pytest.raises(InvalidParameter, match=r"dataset_name .* without the other"):
        core.log_metric(run_id, "acc", 0.5, step=1, dataset_name="train")
    with pytest.raises(InvalidParameter, match="give both"):
        core.log_rows([(run_id, "acc", 0.5, 1, 1, None, "d1", None)])
    with pytest.raises(InvalidParameter, match="model_id of metric 'acc' must be"):
        core.log_metric(run_id, "acc", 0.5, model_id=7)
    with pytest.raises(InvalidParameter, match="give both"):
        core.validate_metric_table(rows_to_table([(run_id, "acc", 0.5, 1, 1, "train", None, None)]))
    core.log_metric(run_id, "acc", 0.5, 1, 2, dataset_name="train", dataset_digest="d1")
    core.log_batch(run_id, metrics=[Metric("acc", 0.7, 2, 3, model_id="m-1")])
    history = core.get_metric_history(run_id, "acc")
    assert [(m.dataset_name, m.dataset_digest, m.model_id) for m in history] == [
        ("train", "d1", None),
        (None, None, "m-1"),
    ]


def test_batches_with_and_without_links_commit_together(duckdb_store):
    """The owner's group commit concatenates plain and linked batches of one request."""
    run_id = _run(duckdb_store)
    plain = rows_to_table([(run_id, "k", 1.0, 1, 0)])
    linked = rows_to_table([(run_id, "k", 2.0, 2, 1, "train", "d1", "m-1")])
    batches = [(plain, "host-1-ab", 1), (linked, "host-1-ab", 2)]
    assert ingest_metric_tables(duckdb_store, batches) == [False, False]
    assert ingest_metric_tables(duckdb_store, batches) == [True, True]  # replays are no-ops
    history = duckdb_store.get_metric_history(run_id, "k")
    assert [(m.value, m.dataset_name, m.model_id) for m in history] == [
        (1.0, None, None),
        (2.0, "train", "m-1"),
    ]


def test_conform_metric_table_names_what_is_wrong():
    plain = rows_to_table([("r", "k", 1.0, 1, 0)])
    assert conform_metric_table(plain).schema == METRIC_SCHEMA
    with pytest.raises(InvalidParameter, match="lacks the column"):
        conform_metric_table(pa.table({"run_id": ["r"], "key": ["k"]}))
    wrong = plain.append_column("dataset_name", pa.array([1], pa.int64()))
    assert conform_metric_table(wrong).column("dataset_name").to_pylist() == ["1"]
    bad = plain.append_column("model_id", pa.array([[1]], pa.list_(pa.int64())))
    with pytest.raises(InvalidParameter, match="wrongly typed"):
        conform_metric_table(bad)


def test_json_rows_carry_links_and_refuse_bad_ones():
    rows = [("r", "k", math.inf, 1, 0), ("r", "k", 0.5, 2, 1, "train", "d1", None)]
    wire = metric_rows_to_json(rows)
    assert wire == [["r", "k", "Infinity", 1, 0], ["r", "k", 0.5, 2, 1, "train", "d1", None]]
    assert metric_rows_from_json(wire) == rows
    with pytest.raises(InvalidParameter, match=r"metrics\[0\] must be"):
        metric_rows_from_json([["r", "k", 0.5, 2, 1, "train", 5, None]])
    with pytest.raises(InvalidParameter, match=r"metrics\[0\] must be"):
        metric_rows_from_json([["r", "k", 0.5, 2, 1, "train"]])


def test_links_show_in_the_sql_view_and_are_stored_once(store):
    run_id = _run(store)
    rows = [(run_id, "acc", 0.1 * s, 10 + s, s, "val", "d1", None) for s in range(3)]
    store.log_batch([*rows, (run_id, "acc", 0.9, 20, 9)], [], [])
    store.log_batch([(run_id, "acc", 1.0, 30, 10, "val", "d1", None)], [], [])
    (links,) = store.sql("SELECT count(*) FROM metrics WHERE dataset_name = 'val'").fetchall()
    assert links == (4,)
    view = store.sql(
        "SELECT step, dataset_name, dataset_digest, model_id FROM metrics ORDER BY step"
    ).fetchall()
    linked = [(step, "val", "d1", None) for step in (0, 1, 2)]
    assert view == [*linked, (9, None, None, None), (10, "val", "d1", None)]


def test_gc_removes_the_links_of_deleted_runs(duckdb_store):
    run_id = _run(duckdb_store)
    duckdb_store.log_batch([(run_id, "acc", 0.5, 1, 1, "val", "d1", "m-1")], [], [])
    assert duckdb_store.db.read("SELECT count(*) FROM store.metric_links") == [(1,)]
    duckdb_store.delete_run(run_id)
    assert duckdb_store.gc([run_id]) == [run_id]
    assert duckdb_store.db.read("SELECT count(*) FROM store.metric_links") == [(0,)]


def test_a_link_row_is_kept_once_per_run_key_and_link(duckdb_store):
    run_id = _run(duckdb_store)
    for step in range(3):
        duckdb_store.log_batch([(run_id, "acc", 0.5, 1, step, "val", "d1", None)], [], [])
    duckdb_store.log_batch([(run_id, "f1", 0.5, 1, 0, "val", "d1", None)], [], [])
    assert duckdb_store.db.read(
        "SELECT key, count(*) FROM store.metric_links GROUP BY key ORDER BY key"
    ) == [("acc", 1), ("f1", 1)]
