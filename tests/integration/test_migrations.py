"""A store written by schema version 1 (checked in, gzipped) opens in this version."""

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidState, StoreLocked
from jupyter_mltrack.store.duckdb.migrations import MIGRATIONS, SCHEMA_VERSION, current_version
from jupyter_mltrack.store.duckdb.store import DuckDBStore

V1 = Path(__file__).parent.parent / "data" / "store_v1.duckdb.gz"
V1_RUN = "8cbe4f017c2e4fda812f79ce5793f323"


def _unpack(tmp_path: Path) -> Path:
    target = tmp_path / "old" / "store.duckdb"
    target.parent.mkdir()
    with gzip.open(V1, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def test_v1_store_opens_and_keeps_data(tmp_path):
    path = _unpack(tmp_path)
    store = DuckDBStore("duckdb://" + str(path))
    try:
        run = store.get_run(V1_RUN)
        assert run.info.run_name == "old-run"
        assert run.data.params == {"lr": "0.1"}
        assert run.data.metrics == {"loss": 0.1}
        history = store.get_metric_history(V1_RUN, "loss")
        assert len(history) == 10
        assert history.links is None and history[0].dataset_name is None
        assert store.get_experiment_by_name("legacy") is not None
        with store.db.writer() as con:
            assert current_version(con) == SCHEMA_VERSION
    finally:
        store.close()


def test_v1_store_accepts_new_runs(tmp_path, tracking_store):
    path = _unpack(tmp_path)
    mt.set_tracking_uri(path)
    legacy = mt.get_experiment_by_name("legacy")
    # a new experiment: the legacy one's artifact location points where the file was made
    mt.set_experiment("after-upgrade")
    with mt.start_run():
        mt.log_metric("loss", 0.01)
    df = mt.search_runs(
        experiment_ids=[
            legacy.experiment_id,
            mt.get_experiment_by_name("after-upgrade").experiment_id,
        ],
        order_by=["metrics.loss ASC"],
    )
    assert len(df) == 2 and df["metrics.loss"].tolist() == [0.01, 0.1]


def test_v2_store_gains_metric_links_and_keeps_its_points(tmp_path):
    """Version 3 adds the dataset/model link columns of metric points (NULL for old ones)."""
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    for number, statements in enumerate(MIGRATIONS[:2], start=1):
        for stmt in statements:
            con.execute(stmt)
        con.execute("INSERT INTO store.schema_version VALUES (?, 0)", [number])
    con.execute(
        "INSERT INTO store.runs VALUES ('r2', '0', 'v2-run', 'FINISHED', 1, 2, 'u', 'active', "
        "'file:///tmp/a', NULL, NULL)"
    )
    con.execute("INSERT INTO store.metrics VALUES ('r2', 'loss', 0.5, 10, 1)")
    con.execute("INSERT INTO store.latest_metrics VALUES ('r2', 'loss', 0.5, 10, 1)")
    con.close()
    store = DuckDBStore("duckdb://" + str(path))
    try:
        with store.db.writer() as con:
            assert current_version(con) == SCHEMA_VERSION >= 3
        store.log_batch([("r2", "loss", 0.25, 20, 2, "train", "d1", "m-1")], [], [])
        history = store.get_metric_history("r2", "loss")
        assert [(m.step, m.dataset_name, m.dataset_digest, m.model_id) for m in history] == [
            (1, None, None, None),
            (2, "train", "d1", "m-1"),
        ]
        assert store.get_run("r2").data.metrics == {"loss": 0.25}
        columns = store.sql("SELECT * FROM metrics").columns
        assert columns[-3:] == ["dataset_name", "dataset_digest", "model_id"]
    finally:
        store.close()


def test_v4_store_gains_run_model_links(tmp_path):
    """Version 6 adds the run <-> logged model links; a v4 model of a run stays its output."""
    path = tmp_path / "v4.duckdb"
    con = duckdb.connect(str(path))
    for number, statements in enumerate(MIGRATIONS[:4], start=1):
        for stmt in statements:
            con.execute(stmt)
        con.execute("INSERT INTO store.schema_version VALUES (?, 0)", [number])
    con.execute(
        "INSERT INTO store.runs VALUES ('r4', '0', 'v4-run', 'FINISHED', 1, 2, 'u', 'active', "
        "'file:///tmp/a', NULL, NULL)"
    )
    con.execute(
        "INSERT INTO store.logged_models VALUES ('m-4', '0', 'm', 'file:///tmp/m', 1, 1, "
        "'READY', 'r4', NULL)"
    )
    con.close()
    store = DuckDBStore("duckdb://" + str(path))
    try:
        with store.db.writer() as con:
            assert current_version(con) == SCHEMA_VERSION >= 6
        assert [(m.model_id, m.step) for m in store.get_run("r4").outputs.model_outputs] == [
            ("m-4", 0)
        ]
        store.log_model_links("r4", [("output", "m-4", 9)])
        assert [(m.model_id, m.step) for m in store.get_run("r4").outputs.model_outputs] == [
            ("m-4", 9)
        ]
    finally:
        store.close()


def test_newer_schema_is_refused_with_advice(tmp_path):
    path = tmp_path / "s.duckdb"
    DuckDBStore("duckdb://" + str(path)).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO store.schema_version VALUES (999, 0)")
    con.close()
    with pytest.raises(InvalidState, match="upgrade jupyter-mltrack"):
        DuckDBStore("duckdb://" + str(path))


def test_store_held_by_another_process_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('ready', flush=True);"
            " sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match="held by another process") as info:
            DuckDBStore("duckdb://" + str(path))
        assert f"PID {holder.pid}" in str(info.value)
    finally:
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(10)
