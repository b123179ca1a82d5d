"""TrackingStore contract, part 1: experiments, runs and writes, on every backend.

Each test runs against ``direct`` (DuckDBStore) and ``remote`` (RemoteStore -> the API on
a unix socket -> DuckDBStore) with the same assertions (fixtures in conftest.py).
"""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from jupyter_mltrack.entities import Dataset, DatasetInput, Run
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidState,
    NotFound,
    ParamOverwrite,
    RunNotFound,
)
from jupyter_mltrack.store.arrow import METRIC_SCHEMA, rows_to_table
from jupyter_mltrack.store.base import TrackingStore


def new_run(store: TrackingStore, experiment_id: str = "0", name: str = "r", **tags: str) -> Run:
    return store.create_run(experiment_id, name, 1_000, "alice", dict(tags), None)


# ------------------------------------------------------------------ experiments
def test_default_experiment_exists(store):
    exp = store.get_experiment("0")
    assert (exp.name, exp.lifecycle_stage) == ("Default", "active")


def test_create_get_and_find_experiment_by_name(store):
    eid = store.create_experiment("exp-a", None, {"team": "vision"})
    exp = store.get_experiment(eid)
    assert exp.experiment_id == eid
    assert (exp.name, exp.tags, exp.lifecycle_stage) == ("exp-a", {"team": "vision"}, "active")
    assert exp.artifact_location.endswith(f"/{eid}")
    assert isinstance(exp.creation_time_ms, int)
    assert store.get_experiment_by_name("exp-a") == exp
    assert store.get_experiment_by_name("no such experiment") is None
    located = store.create_experiment("exp-b", "file:///elsewhere/b", {})
    assert store.get_experiment(located).artifact_location == "file:///elsewhere/b"


def test_duplicate_experiment_name_raises_already_exists(store):
    store.create_experiment("dup", None, {})
    with pytest.raises(AlreadyExists, match="dup"):
        store.create_experiment("dup", None, {})


def test_missing_experiment_raises_experiment_not_found(store):
    for call in (
        lambda: store.get_experiment("999"),
        lambda: store.delete_experiment("999"),
        lambda: store.restore_experiment("999"),
        lambda: store.rename_experiment("999", "x"),
        lambda: store.set_experiment_tags("999", {"a": "b"}),
        lambda: store.delete_experiment_tag("999", "a"),
        lambda: store.create_run("999", "r", 1, "u", {}, None),
    ):
        with pytest.raises(ExperimentNotFound) as info:
            call()
        assert isinstance(info.value, NotFound)


def test_search_experiments_view_type_name_like_and_limit(store):
    ids = [store.create_experiment(f"search-{i}", None, {}) for i in range(3)]
    store.delete_experiment(ids[0])
    active = {e.name for e in store.search_experiments("ACTIVE_ONLY", None, None)}
    assert active == {"Default", "search-1", "search-2"}
    deleted = store.search_experiments("DELETED_ONLY", None, None)
    assert [e.experiment_id for e in deleted] == [ids[0]]
    assert len(store.search_experiments("ALL", None, None)) == 4
    assert {e.name for e in store.search_experiments("ALL", "SEARCH-%", None)} == {
        "search-0",
        "search-1",
        "search-2",
    }
    assert len(store.search_experiments("ALL", None, 2)) == 2


def test_rename_experiment(store):
    eid = store.create_experiment("old", None, {})
    store.create_experiment("taken", None, {})
    store.rename_experiment(eid, "new")
    assert store.get_experiment(eid).name == "new"
    assert store.get_experiment_by_name("old") is None
    with pytest.raises(AlreadyExists):
        store.rename_experiment(eid, "taken")


def test_set_experiment_tags_adds_and_overwrites(store):
    eid = store.create_experiment("tagged", None, {"a": "1"})
    store.set_experiment_tags(eid, {"a": "2", "b": "3"})
    assert store.get_experiment(eid).tags == {"a": "2", "b": "3"}


def test_delete_experiment_tag_removes_only_that_key(store):
    eid = store.create_experiment("untagged", None, {"a": "1", "dir/with space": "2", "c": "3"})
    other = store.create_experiment("same-keys", None, {"a": "1"})
    store.delete_experiment_tag(eid, "a")
    store.delete_experiment_tag(eid, "dir/with space")  # a key the remote path must encode
    assert store.get_experiment(eid).tags == {"c": "3"}
    assert store.get_experiment(other).tags == {"a": "1"}
    with pytest.raises(NotFound, match="No tag with name: a in experiment with id") as info:
        store.delete_experiment_tag(eid, "a")
    assert not isinstance(info.value, ExperimentNotFound)
    store.set_experiment_tags(eid, {"a": "again"})  # a deleted key can be set anew
    assert store.get_experiment(eid).tags == {"a": "again", "c": "3"}


def test_delete_and_restore_experiment_with_its_runs(store):
    eid = store.create_experiment("gone", None, {})
    run_id = new_run(store, eid).info.run_id
    store.delete_experiment(eid)
    assert store.get_experiment(eid).lifecycle_stage == "deleted"
    assert store.run_state(run_id) == ("RUNNING", "deleted")
    with pytest.raises(InvalidState):
        new_run(store, eid)
    store.restore_experiment(eid)
    assert store.get_experiment(eid).lifecycle_stage == "active"
    assert store.run_state(run_id) == ("RUNNING", "active")
    with pytest.raises(InvalidState):
        store.delete_experiment("0")


# ------------------------------------------------------------------------- runs
def test_create_and_get_run(store):
    parent = new_run(store, name="parent")
    run = store.create_run("0", "child", 1_234, "bob", {"k": "v"}, parent.info.run_id)
    info = run.info
    assert (info.experiment_id, info.run_name, info.status) == ("0", "child", "RUNNING")
    assert (info.start_time_ms, info.end_time_ms, info.user_id) == (1_234, None, "bob")
    assert (info.lifecycle_stage, info.parent_run_id) == ("active", parent.info.run_id)
    assert info.artifact_uri.endswith(f"/{info.run_id}/artifacts")
    assert run.data.tags == {"k": "v"}
    assert store.get_run(info.run_id) == run
    with pytest.raises(RunNotFound):
        store.create_run("0", "orphan", 1, "u", {}, "no-such-parent")


def test_missing_run_raises_run_not_found(store):
    for call in (
        lambda: store.get_run("nope"),
        lambda: store.run_state("nope"),
        lambda: store.update_run("nope", "FINISHED", 5, None),
        lambda: store.delete_run("nope"),
        lambda: store.restore_run("nope"),
        lambda: store.delete_tag("nope", "k"),
        lambda: store.get_metric_history("nope", "loss"),
    ):
        with pytest.raises(RunNotFound) as info:
            call()
        assert isinstance(info.value, NotFound)


def test_update_run_status_end_time_and_name(store):
    run_id = new_run(store).info.run_id
    store.update_run(run_id, "FINISHED", 9_000, "renamed")
    info = store.get_run(run_id).info
    assert (info.status, info.end_time_ms, info.run_name) == ("FINISHED", 9_000, "renamed")
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "renamed"
    store.update_run(run_id, "RUNNING", None, None)
    assert store.get_run(run_id).info.end_time_ms is None
    assert store.run_state(run_id) == ("RUNNING", "active")


def test_delete_restore_run_and_run_state(store):
    run_id = new_run(store).info.run_id
    store.delete_run(run_id)
    assert store.run_state(run_id) == ("RUNNING", "deleted")
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    store.restore_run(run_id)
    assert store.run_state(run_id) == ("RUNNING", "active")


# ----------------------------------------------------------------------- writes
SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]


def test_log_batch_round_trips_params_tags_and_special_floats(store):
    run_id = new_run(store).info.run_id
    metrics = [(run_id, "odd", v, 10 + i, i) for i, v in enumerate(SPECIAL)]
    metrics += [(run_id, "nan_last", 1.0, 1, 0), (run_id, "nan_last", math.nan, 2, 1)]
    params = [(run_id, "lr", "0.01"), (run_id, "text", "NaN")]
    tags = [(run_id, "note", "Infinity"), (run_id, "team", "vision")]
    store.log_batch(metrics, params, tags)
    history = store.get_metric_history(run_id, "odd")
    assert list(history.steps) == list(range(len(SPECIAL)))
    values = list(history.values)
    assert math.isnan(values[0])
    assert values[1:] == SPECIAL[1:]
    assert math.copysign(1.0, values[3]) == -1.0  # -0.0 keeps its sign
    data = store.get_run(run_id).data
    assert data.params == {"lr": "0.01", "text": "NaN"}
    assert data.tags["note"] == "Infinity" and data.tags["team"] == "vision"
    assert data.metrics["odd"] == 5e-324
    assert math.isnan(data.metrics["nan_last"])


def test_param_overwrite_raises_and_same_value_is_fine(store):
    run_id = new_run(store).info.run_id
    store.log_batch([], [(run_id, "lr", "0.01")], [])
    store.log_batch([], [(run_id, "lr", "0.01")], [])
    with pytest.raises(ParamOverwrite) as info:
        store.log_batch([(run_id, "m", 1.0, 1, 0)], [(run_id, "lr", "0.1")], [])
    assert info.value.details == {"run_id": run_id, "key": "lr"}
    assert len(store.get_metric_history(run_id, "m")) == 0  # the batch was all or nothing
    with pytest.raises(ParamOverwrite):
        store.log_batch([], [(run_id, "x", "1"), (run_id, "x", "2")], [])


def test_log_metric_table(store):
    run_id = new_run(store).info.run_id
    table = rows_to_table([(run_id, "loss", 1.0 / (s + 1), 100 + s, s) for s in range(500)])
    assert table.schema == METRIC_SCHEMA
    store.log_metric_table(table)
    store.log_metric_table(pa.table({n: [] for n in METRIC_SCHEMA.names}, schema=METRIC_SCHEMA))
    history = store.get_metric_history(run_id, "loss")
    assert len(history) == 500 and history[499].value == 1.0 / 500
    assert store.get_run(run_id).data.metrics == {"loss": 1.0 / 500}


def test_delete_tag(store):
    run_id = new_run(store, **{"a/b c": "1", "keep": "2"}).info.run_id
    store.delete_tag(run_id, "a/b c")
    assert store.get_run(run_id).data.tags == {"keep": "2"}
    with pytest.raises(NotFound):
        store.delete_tag(run_id, "a/b c")


def test_log_inputs_appear_on_get_run(store):
    run_id = new_run(store).info.run_id
    train = Dataset("train", "abc123", "local", "/data/train.csv", '{"a": "int"}', None)
    test = Dataset("test", "def456", "local", "/data/test.csv")
    store.log_inputs(run_id, [(train, {"mlflow.data.context": "training"}), (test, {})])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert inputs == [
        DatasetInput(test, {}),
        DatasetInput(train, {"mlflow.data.context": "training"}),
    ]
    assert inputs[1].context == "training"


def test_log_inputs_on_missing_run_raises_run_not_found(store):
    with pytest.raises(RunNotFound):
        store.log_inputs("nope", [(Dataset("d", "x", "local", "/d"), {})])
