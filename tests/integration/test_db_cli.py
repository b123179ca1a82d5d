"""``mltrack db upgrade`` and ``mltrack db copy`` on real stores: a DuckDB file and a real
PostgreSQL database (``tests/pg_support.py``), through the CLI process.

- a PostgreSQL database left at schema version 1 (by an older version) opens in this one,
  and ``db upgrade`` brings it to the latest version, keeping its rows;
- a DuckDB store with params, tags, metrics (some linked to a dataset), inputs and an
  artifact file is copied into an empty PostgreSQL database and back into a new DuckDB
  file: the runs, histories and artifacts are the same at each end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pg_support import postgres_server_fixture  # noqa: F401 - postgres_server

from jupyter_mltrack.entities import Dataset
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.postgres.connection import Database
from jupyter_mltrack.store.postgres.migrations import SCHEMA_VERSION, migrate
from jupyter_mltrack.store.postgres.store import PostgresStore

pytestmark = pytest.mark.timeout(300)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_an_old_postgres_schema_opens_and_upgrades(postgres_server) -> None:
    uri = postgres_server.create_database("old")
    db = Database(uri, pool_size=1)
    with db.transaction() as con:
        migrate(con, upto=1)  # what an older jupyter-mltrack left
        con.execute(
            "INSERT INTO store.experiments VALUES ('7', 'old', 'file:///x/7', 'active', 1, 1)"
        )
    db.close()
    result = _cli("db", "upgrade", uri)
    assert result.returncode == 0, result.stderr
    assert f"from version 1 to {SCHEMA_VERSION}" in result.stdout
    assert "already up to date" in _cli("db", "upgrade", uri).stdout
    store = PostgresStore(uri, "/tmp/unused")
    try:
        assert store.get_experiment("7").name == "old"
        run = store.create_run("7", "r", 1, "u", {}, None)
        store.log_batch([(run.info.run_id, "acc", 0.5, 1, 0, "val", "d1", None)], [], [])
        assert store.get_metric_history(run.info.run_id, "acc").links == (["val"], ["d1"], [None])
    finally:
        store.close()
    with psycopg.connect(uri) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM store.schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def _seed(store: DuckDBStore, tmp_path: Path) -> dict[str, str]:
    exp = store.create_experiment("team", None, {"owner": "ana"})
    ids = {}
    for name in ("a", "b"):
        run = store.create_run(exp, name, 1_000, "ana", {"k": name}, None)
        rid = run.info.run_id
        ids[name] = rid
        store.log_batch(
            [(rid, "loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(250)]
            + [(rid, "acc", 0.9, 2_000, 1, "val", "d1", None)],
            [(rid, "lr", "0.1")],
            [(rid, "note", "x")],
        )
        store.log_inputs(rid, [(Dataset("val", "d1", "local", "/data/val"), {"ctx": "eval"})])
        art = Path(store.get_run(rid).info.artifact_uri[len("file://") :])
        art.mkdir(parents=True, exist_ok=True)
        (art / "model.txt").write_text(f"model {name}")
    store.update_run(ids["b"], "FINISHED", 5_000, None)
    return ids


def _same_runs(a, b, ids: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for rid in ids.values():
        ra, rb = a.get_run(rid), b.get_run(rid)
        assert (ra.data.params, ra.data.tags, ra.data.metrics) == (
            rb.data.params,
            rb.data.tags,
            rb.data.metrics,
        )
        assert ra.info.status == rb.info.status
        assert [d.dataset.name for d in ra.inputs.dataset_inputs] == ["val"]
        assert [d.dataset.name for d in rb.inputs.dataset_inputs] == ["val"]
        ha, hb = a.get_metric_history(rid, "loss"), b.get_metric_history(rid, "loss")
        assert ha.steps.tolist() == hb.steps.tolist() == list(range(250))
        assert ha.values.tolist() == hb.values.tolist()
        assert b.get_metric_history(rid, "acc").links == (["val"], ["d1"], [None])
        art = Path(rb.info.artifact_uri[len("file://") :])
        assert (art / "model.txt").read_text() == f"model {ra.info.run_name}"


def test_copy_duckdb_to_postgres_and_back(postgres_server, tmp_path: Path) -> None:
    source_uri = "duckdb://" + str(tmp_path / "laptop" / "store.duckdb")
    laptop = DuckDBStore(source_uri)
    ids = _seed(laptop, tmp_path)
    laptop.close()
    pg_uri = postgres_server.create_database("copy")
    team_art = tmp_path / "team-artifacts"
    result = _cli("db", "copy", source_uri, pg_uri, "--artifacts-destination", str(team_art))
    assert result.returncode == 0, result.stderr
    assert "metrics: 502 rows" in result.stderr  # progress
    assert "2 runs, 502 metric points and 2 artifact files" in result.stdout
    again = _cli("db", "copy", source_uri, pg_uri)
    assert again.returncode == 1 and "already holds runs" in again.stderr

    back_uri = "duckdb://" + str(tmp_path / "back" / "store.duckdb")
    result = _cli("db", "copy", pg_uri, back_uri)
    assert result.returncode == 0, result.stderr
    laptop, team = DuckDBStore(source_uri), PostgresStore(pg_uri, str(team_art))
    back = DuckDBStore(back_uri)
    try:
        _same_runs(laptop, team, ids)
        _same_runs(team, back, ids)
        exp = team.get_experiment_by_name("team")
        assert exp is not None and exp.tags == {"owner": "ana"}
        assert exp.artifact_location.startswith(team_art.as_uri())
        assert team.create_experiment("new", None, {}) not in {"0", exp.experiment_id}
        # the copy left planner statistics of what it wrote (refresh_statistics): without
        # them PostgreSQL plans the first searches for empty tables (reltuples -1)
        planned = team.db.read(
            "SELECT relname, reltuples FROM pg_class WHERE relnamespace = 'store'::regnamespace "
            "AND relname IN ('runs', 'metrics')"
        )
        assert dict(planned) == {"runs": 2, "metrics": 502}
    finally:
        laptop.close()
        team.close()
        back.close()
