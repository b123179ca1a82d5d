"""The fluent API against a real DuckDB store: runs, params, metrics, tags, experiments."""

import math

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
    ParamOverwrite,
    RunNotFound,
)


def test_run_lifecycle_params_metrics_tags(tracking_store):
    exp = mt.set_experiment("demo")
    with mt.start_run(run_name="first", tags={"team": "a"}, description="hello") as run:
        assert mt.active_run().info.run_id == run.info.run_id
        mt.log_param("lr", 0.01)
        mt.log_params({"depth": 3, "opt": "adam"})
        mt.log_metric("loss", 0.5, step=1)
        mt.log_metric("loss", 0.25, step=2)
        mt.log_metric("nan", float("nan"))
        mt.log_metric("inf", float("inf"))
        mt.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
        mt.set_tag("stage", "dev")
        mt.set_tags({"a": 1})
        mt.set_tag("gone", "x")
        mt.delete_tag("gone")
    assert mt.active_run() is None
    got = mt.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.run_name == "first"
    assert got.info.end_time_ms >= got.info.start_time_ms
    assert got.data.params == {"lr": "0.01", "depth": "3", "opt": "adam"}
    assert got.data.metrics["loss"] == 0.25
    assert math.isnan(got.data.metrics["nan"]) and got.data.metrics["inf"] == math.inf
    assert got.data.tags["team"] == "a" and got.data.tags["stage"] == "dev"
    assert got.data.tags["a"] == "1" and "gone" not in got.data.tags
    assert got.data.tags["mlflow.note.content"] == "hello"
    assert got.data.tags["mlflow.runName"] == "first"
    assert mt.last_active_run().info.run_id == run.info.run_id
    # read again, as MLflow does: what is logged to the ended run afterwards is there
    mt.MlflowClient().set_tag(run.info.run_id, "later", "yes")
    assert mt.last_active_run().data.tags["later"] == "yes"
    history = mt.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    assert history.to_pandas()["value"].tolist() == [0.5, 0.25]


def test_auto_generated_name_and_auto_started_run(tracking_store):
    mt.log_metric("x", 1.0)  # like MLflow, logging without a run starts one
    run = mt.active_run()
    assert run is not None and run.info.run_name.count("-") == 2
    mt.end_run()
    assert mt.get_run(run.info.run_id).info.status == "FINISHED"


def test_exception_fails_run_and_keyboard_interrupt_kills_it(tracking_store):
    def fail_inside_run():
        with mt.start_run() as run:
            mt.log_metric("m", 1.0)
            failed.append(run)
            raise ValueError("boom")

    failed = []
    with pytest.raises(ValueError, match="boom"):
        fail_inside_run()
    failed = failed[0]
    assert mt.get_run(failed.info.run_id).info.status == "FAILED"
    assert mt.get_run(failed.info.run_id).data.metrics == {"m": 1.0}
    with pytest.raises(KeyboardInterrupt), mt.start_run() as killed:
        raise KeyboardInterrupt
    assert mt.get_run(killed.info.run_id).info.status == "KILLED"


def test_nested_runs(tracking_store):
    with mt.start_run(run_name="parent") as parent:
        with pytest.raises(InvalidState, match="nested=True"):
            mt.start_run()
        with mt.start_run(run_name="child", nested=True) as child:
            assert mt.active_run().info.run_id == child.info.run_id
        assert mt.active_run().info.run_id == parent.info.run_id
    child_run = mt.get_run(child.info.run_id)
    assert child_run.info.parent_run_id == parent.info.run_id
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    df = mt.search_runs(filter_string=f"parent_run_id = '{parent.info.run_id}'")
    assert df["run_id"].tolist() == [child.info.run_id]


def test_param_overwrite_names_both_values(tracking_store):
    with mt.start_run():
        mt.log_param("lr", 0.1)
        mt.log_param("lr", 0.1)  # same value again is fine
        with pytest.raises(ParamOverwrite, match=r"'0.1'.*'0.2'"):
            mt.log_param("lr", 0.2)


def test_bad_inputs_are_clear_errors(tracking_store):
    with mt.start_run():
        with pytest.raises(InvalidParameter, match="non-numeric"):
            mt.log_metric("m", "high")
        with pytest.raises(InvalidParameter, match="limit is 250"):
            mt.log_metric("k" * 251, 1.0)
        with pytest.raises(InvalidParameter, match="contains"):
            mt.log_param("bad key!", 1)
        with pytest.raises(InvalidParameter, match="limit is 6000"):
            mt.log_param("long", "x" * 6001)
        with pytest.raises(InvalidParameter, match="limit is 8000"):
            mt.set_tag("long", "x" * 8001)
    with pytest.raises(RunNotFound, match="No run with id"):
        mt.get_run("nope")
    with pytest.raises(ExperimentNotFound):
        mt.get_experiment("12345")
    with pytest.raises(InvalidParameter, match="output_format"):
        mt.search_runs(output_format="xml")


def test_logging_to_an_ended_run_is_allowed_and_to_a_deleted_run_refused(tracking_store):
    """MLflow's semantics: later cells evaluate and tag a finished run; deleted runs refuse."""
    with mt.start_run() as run:
        pass
    rid = run.info.run_id
    client = mt.TrackingClient()
    try:
        client.log_metric(rid, "m", 1.0, step=3)
        client.log_param(rid, "p", 1)
        client.set_tag(rid, "t", "late")
        client.flush()
        ended = mt.get_run(rid)
        assert ended.info.status == "FINISHED"  # logging does not revive it
        assert ended.data.metrics == {"m": 1.0}
        assert ended.data.params == {"p": "1"} and ended.data.tags["t"] == "late"
        mt.delete_run(rid)  # through another client of this process: seen at once
        for write in (
            lambda: client.set_tag(rid, "t", 1),
            lambda: client.log_metric(rid, "m", 2.0),
            lambda: client.log_param(rid, "q", 1),
        ):
            with pytest.raises(InvalidState, match="deleted"):
                write()
        mt.restore_run(rid)
        with mt.start_run(run_id=rid):
            mt.log_metric("m", 2.0, step=4)
        assert mt.get_run(rid).data.metrics == {"m": 2.0}
    finally:
        client.close()


def test_experiments(tracking_store):
    assert mt.get_experiment("0").name == "Default"
    eid = mt.create_experiment("exp-a", tags={"owner": "me"})
    with pytest.raises(AlreadyExists, match="exp-a"):
        mt.create_experiment("exp-a")
    assert mt.get_experiment_by_name("exp-a").tags == {"owner": "me"}
    assert mt.get_experiment_by_name("missing") is None
    mt.set_experiment(experiment_id=eid)
    mt.set_experiment_tag("k", "v")
    mt.set_experiment_tags({"k2": "v2"})
    assert mt.get_experiment(eid).tags == {"owner": "me", "k": "v", "k2": "v2"}
    mt.delete_experiment_tag("k")
    assert mt.get_experiment(eid).tags == {"owner": "me", "k2": "v2"}
    with pytest.raises(NotFound, match="No tag with name: k in experiment"):
        mt.delete_experiment_tag("k")
    with pytest.raises(InvalidParameter, match="tag key"):
        mt.delete_experiment_tag("")
    names = [e.name for e in mt.search_experiments()]
    assert "exp-a" in names and "Default" in names
    mt.delete_experiment(eid)
    assert "exp-a" not in [e.name for e in mt.search_experiments()]
    assert "exp-a" in [e.name for e in mt.search_experiments(view_type="DELETED_ONLY")]
    with pytest.raises(InvalidState, match="deleted"):
        mt.set_experiment("exp-a")
    mt.restore_experiment(eid)
    assert mt.set_experiment("exp-a").experiment_id == eid
    with pytest.raises(InvalidState):
        mt.delete_experiment("0")
    with pytest.raises(InvalidParameter):
        mt.create_experiment("")


def test_search_runs_frame_and_list(tracking_store):
    mt.set_experiment("search")
    for i in range(5):
        with mt.start_run(run_name=f"r{i}"):
            mt.log_param("i", i)
            mt.log_metric("acc", i / 10)
            if i % 2 == 0:
                mt.set_tag("even", "yes")
    df = mt.search_runs(filter_string="metrics.acc >= 0.2", order_by=["metrics.acc DESC"])
    assert df["run_name"].tolist() == ["r4", "r3", "r2"]
    assert df["params.i"].tolist() == ["4", "3", "2"]
    assert df["metrics.acc"].tolist() == [0.4, 0.3, 0.2]
    assert {"run_id", "status", "start_time", "end_time", "tags.even"} <= set(df.columns)
    runs = mt.search_runs(
        filter_string="tags.even = 'yes' OR params.i = '1'",
        order_by=["params.i"],
        output_format="list",
    )
    assert [r.info.run_name for r in runs] == ["r0", "r1", "r2", "r4"]
    assert len(mt.search_runs(experiment_names=["search"], max_results=2)) == 2
    assert len(mt.search_runs(search_all_experiments=True)) == 5


def test_paging_with_client(tracking_store):
    with mt.start_run():
        pass
    for _ in range(4):
        with mt.start_run():
            pass
    client = mt.TrackingClient()
    seen = []
    token = None
    while True:
        page = client.search_runs(["0"], max_results=2, page_token=token)
        seen += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5


def test_sql_is_read_only(tracking_store):
    with mt.start_run():
        mt.log_metric("m", 1.0, step=3)
    rel = mt.sql("SELECT key, step, value FROM metrics")
    assert rel.fetchall() == [("m", 3, 1.0)]
    assert list(mt.sql("SELECT count(*) AS n FROM runs").df()["n"]) == [1]
    for bad in ("DELETE FROM runs", "DROP TABLE store.runs", "SELECT 1; SELECT 2", ""):
        with pytest.raises(InvalidParameter):
            mt.sql(bad)
    with pytest.raises(InvalidParameter, match="SQL error"):
        mt.sql("SELECT nope FROM runs")


def test_downsampled_series_keeps_spikes(tracking_store):
    client = mt.TrackingClient()
    with mt.start_run() as run:
        for step in range(10_000):
            mt.log_metric("loss", 100.0 if step == 4321 else 1.0, step=step)
    series = client.get_metric_series([run.info.run_id], "loss", width=100)
    assert len(series) == 100
    assert series["max_value"].max() == 100.0
    assert series["n"].sum() == 10_000
    zoom = client.get_metric_series([run.info.run_id], "loss", width=10, x_min=4000, x_max=4999)
    assert zoom["n"].sum() == 1000 and zoom["max_value"].max() == 100.0
    rel = client.get_metric_series([run.info.run_id], "loss", width=5, x_axis="relative_time")
    assert rel["n"].sum() == 10_000
    with pytest.raises(InvalidParameter, match="x axis"):
        client.get_metric_series([run.info.run_id], "loss", x_axis="epoch")


def test_public_api_is_exported():
    for name in mt.__all__:
        assert hasattr(mt, name), name


def test_set_experiment_survives_a_concurrent_create(tracking_store, monkeypatch):
    """Two kernels setting the same new experiment at once: the loser uses the winner's."""
    from jupyter_mltrack.tracking.fluent import get_client

    client = get_client()
    real_lookup = client.get_experiment_by_name
    calls = {"n": 0}

    def racing_lookup(name):
        calls["n"] += 1
        if calls["n"] == 1:  # first look-up misses; "another process" creates it right after
            other = mt.TrackingClient(tracking_store)
            other.create_experiment(name)
            return None
        return real_lookup(name)

    monkeypatch.setattr(client, "get_experiment_by_name", racing_lookup)
    exp = mt.set_experiment("raced")
    assert exp.name == "raced"
    assert [e.name for e in mt.search_experiments(name_like="raced")] == ["raced"]


def test_system_metrics_are_sampled_into_the_run(tracking_store, monkeypatch):
    import time

    monkeypatch.setenv("MLTRACK_SYSTEM_METRICS_INTERVAL_S", "0.05")
    with mt.start_run(log_system_metrics=True) as run:
        time.sleep(0.4)
    metrics = mt.get_run(run.info.run_id).data.metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100 * 64
    assert metrics["system/system_memory_usage_megabytes"] > 0
    assert len(mt.get_metric_history(run.info.run_id, "system/disk_usage_percentage")) >= 2
    monkeypatch.setenv("MLTRACK_SYSTEM_METRICS_INTERVAL_S", "soon")
    with pytest.raises(InvalidParameter, match="INTERVAL_S"):
        mt.start_run(log_system_metrics=True)


def test_unknown_experiment_names_are_ignored_with_a_warning(tracking_store):
    """MLflow ignores unknown names; a live view that starts before its experiment exists
    must not fail."""
    mt.set_experiment("known")
    with mt.start_run(run_name="r"):
        pass
    with pytest.warns(UserWarning, match="'not-yet'"):
        df = mt.search_runs(experiment_names=["known", "not-yet"])
    assert list(df["tags.mlflow.runName"]) == ["r"]
    with pytest.warns(UserWarning, match="'not-yet'"):
        assert len(mt.search_runs(experiment_names=["not-yet"])) == 0
    with pytest.warns(UserWarning, match="no experiment"):
        assert mt.search_runs(experiment_names=["not-yet"], output_format="list") == []


def test_points_the_store_does_not_take_at_close_are_spooled_and_ingested_later(tmp_path):
    """Direct mode too: a failed final flush keeps the points in the spool beside the store,
    with a warning naming it; the next process that opens the store ingests them."""
    import subprocess
    import sys

    uri = "duckdb://" + str(tmp_path / "store.duckdb")
    script = (
        "import jupyter_mltrack as mt\n"
        "from jupyter_mltrack.tracking.fluent import get_client\n"
        "run = mt.start_run(run_name='late')\n"
        "mt.end_run()\n"
        "client = get_client()\n"
        "client.store.close()  # the store goes away before the buffer is committed\n"
        "for step in range(100):  # buffered as log_metric does (no store call to check)\n"
        "    client.append_metric_row((run.info.run_id, 'x', float(step), 1, step))\n"
        "print(run.info.run_id)\n"
    )
    env = {
        **__import__("os").environ,
        "MLTRACK_TRACKING_URI": uri,
        "MLTRACK_STORE_MODE": "direct",
        "PYTHONWARNINGS": "always",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "100 buffered metric points" in done.stderr and "spool" in done.stderr
    run_id = done.stdout.split()[-1]
    from jupyter_mltrack.testing import reset_tracking_state

    mt.set_tracking_uri(uri)
    try:
        history = mt.get_metric_history(run_id, "x")
        assert sorted(history.steps) == list(range(100))
    finally:
        reset_tracking_state()
