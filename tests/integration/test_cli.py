"""The ``mltrack`` command line against a real DuckDB store.

Most tests call ``main([...])`` in this process, which shares the store with the fluent API
(DuckDB allows one process per file); ``test_entry_point_*`` close the store and run the real
``python -m jupyter_mltrack.cli`` in a subprocess.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.cli import build_parser, main
from jupyter_mltrack.testing import reset_tracking_state

REPO = Path(__file__).resolve().parents[2]
RUN_KEYS = {
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
    "params",
    "metrics",
    "tags",
}


@dataclass
class Store:
    uri: str
    alpha: str  # experiment ids
    beta: str
    good: str  # run ids
    bad: str
    other: str


@pytest.fixture
def store(tracking_store: str) -> Store:
    """Two experiments, three runs; ``good`` has a NaN metric, a text artifact and an input."""
    alpha = mt.set_experiment("alpha").experiment_id
    with mt.start_run(run_name="good") as good:
        mt.log_param("lr", 0.1)
        mt.log_metric("acc", 0.95)
        mt.log_metric("loss", float("nan"))
        mt.set_tag("stage", "prod")
        mt.log_text("hello", "notes/readme.txt")
        mt.log_input(mt.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train"), "training")
    with mt.start_run(run_name="bad") as bad:
        mt.log_param("lr", 0.5)
        mt.log_metric("acc", 0.5)
        mt.log_metric("loss", 1.0)
    beta = mt.set_experiment("beta").experiment_id
    with mt.start_run(run_name="other") as other:
        mt.log_metric("acc", 0.7)
    return Store(tracking_store, alpha, beta, good.info.run_id, bad.info.run_id, other.info.run_id)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def cli(store: Store, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli("runs", "list")`` runs ``mltrack --tracking-uri STORE runs list`` in-process."""

    def run(*argv: str) -> Result:
        code = main(["--tracking-uri", store.uri, *argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def error_lines(result: Result) -> list[str]:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    return result.err.splitlines()


class FakeTerminal(io.StringIO):
    """Stdin of a person at a terminal (the one boundary these tests replace)."""

    def isatty(self) -> bool:
        return True


# ------------------------------------------------------------------ experiments


def test_experiments_list_table_and_json(cli, store):
    result = cli("experiments", "list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["experiment_id", "name", "created"]
    assert set(lines[1]) <= {"-", " "}
    assert {line.split()[1] for line in lines[2:]} == {"alpha", "beta", "Default"}

    records = cli("experiments", "list", "--json").json()
    assert {r["name"]: r["experiment_id"] for r in records}["alpha"] == store.alpha
    assert set(records[0]) == {
        "experiment_id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        "tags",
        "creation_time_ms",
        "last_update_time_ms",
    }


def test_experiments_create_rename_delete_restore_by_name_or_id(cli):
    created = cli("experiments", "create", "gamma", "--json")
    assert created.code == 0
    gamma = created.json()["experiment_id"]
    assert cli("experiments", "rename", "gamma", "delta").code == 0
    assert mt.get_experiment(gamma).name == "delta"

    deleted = cli("experiments", "delete", gamma)
    assert deleted.code == 0 and f"mltrack experiments restore {gamma}" in deleted.out
    assert [r["name"] for r in cli("experiments", "list", "--deleted", "--json").json()] == [
        "delta"
    ]
    assert "delta" not in cli("experiments", "list").out
    everything = cli("experiments", "list", "--all")
    assert "deleted" in everything.out and "stage" in everything.out.splitlines()[0]

    assert cli("experiments", "restore", "delta").code == 0
    assert mt.get_experiment(gamma).lifecycle_stage == "active"
    plain = cli("experiments", "create", "epsilon", "--artifact-location", "file:///tmp/eps")
    assert re.fullmatch(r"Created experiment 'epsilon' with id \S+\.\n", plain.out)


def test_experiments_errors_are_one_line(cli):
    taken = cli("experiments", "create", "alpha")
    assert error_lines(taken) == [taken.err.strip()]
    assert taken.err.startswith("error: ") and "alpha" in taken.err
    missing = cli("experiments", "delete", "no-such-experiment")
    assert error_lines(missing) == [
        "error: No experiment with id or name 'no-such-experiment'; list them with "
        "'mltrack experiments list --all'."
    ]


# ------------------------------------------------------------------------- runs


def test_runs_list_table(cli, store):
    result = cli("runs", "list")
    assert result.code == 0
    header, _, *rows = result.out.splitlines()
    assert header.split() == [
        "run_id",
        "run_name",
        "status",
        "start_time",
        "duration",
        "metrics.acc",
        "metrics.loss",
    ]
    by_name = {row.split()[1]: row.split() for row in rows}
    assert set(by_name) == {"good", "bad", "other"}
    assert by_name["good"][0] == store.good[:8]
    assert by_name["good"][2] == "FINISHED"
    assert by_name["good"][-2:] == ["0.95", "NaN"]
    assert by_name["other"][-1] == "-"  # no loss metric


def test_runs_list_json_parses_back_with_stable_fields(cli, store):
    result = cli("runs", "list", "--experiment", "alpha", "--json")
    runs = {r["run_name"]: r for r in result.json()}
    assert set(runs) == {"good", "bad"}
    good = runs["good"]
    assert set(good) == RUN_KEYS
    assert good["run_id"] == store.good and good["experiment_id"] == store.alpha
    assert good["params"] == {"lr": "0.1"} and good["tags"]["stage"] == "prod"
    assert good["metrics"] == {"acc": 0.95, "loss": "NaN"}
    assert math.isnan(float(good["metrics"]["loss"]))
    assert isinstance(good["start_time_ms"], int) and good["end_time_ms"] >= good["start_time_ms"]


def test_runs_list_experiments_by_id_and_max(cli, store):
    both = cli("runs", "list", "-e", store.beta, "alpha", "--json").json()
    assert len(both) == 3
    first = cli("runs", "list", "--max", "1", "--json")
    assert len(first.json()) == 1
    assert "raise --max" in first.err
    assert cli("runs", "list", "--max", "0").code == 2


def test_runs_show_table_json_and_id_prefix(cli, store):
    shown = cli("runs", "show", store.good[:8])
    assert shown.code == 0
    assert f"run_id           {store.good}" in shown.out
    assert f"experiment       {store.alpha} (alpha)" in shown.out
    for section in ("Params:", "Metrics:", "Tags:", "Inputs:"):
        assert section in shown.out
    assert re.search(r"^  lr\s+0\.1$", shown.out, re.MULTILINE)
    assert re.search(r"^  train\s+\S+\s+training", shown.out, re.MULTILINE)

    record = cli("runs", "show", store.bad, "--json").json()
    assert set(record) == RUN_KEYS | {"inputs"}
    assert record["run_name"] == "bad" and record["inputs"] == []
    inputs = cli("runs", "show", store.good, "--json").json()["inputs"]
    assert [(i["name"], i["context"]) for i in inputs] == [("train", "training")]


def test_unknown_run_id_is_one_error_line(cli):
    for argv in (["runs", "show", "0123456789abcdef"], ["artifacts", "list", "nope"]):
        result = cli(*argv)
        assert len(error_lines(result)) == 1
        assert result.err.startswith("error: No run with id") and result.out == ""


def test_runs_search_filter_order_and_columns(cli, store):
    result = cli("runs", "search", "--filter", "metrics.acc > 0.6", "--order-by", "metrics.acc")
    header, _, *rows = result.out.splitlines()
    assert "metrics.acc" in header.split()
    assert [row.split()[1] for row in rows] == ["other", "good"]

    flat = cli(
        "runs",
        "search",
        "-f",
        "params.lr = '0.5'",
        "--columns",
        "run_id,params.lr,duration",
        "--json",
    ).json()
    assert len(flat) == 1 and set(flat[0]) == {"run_id", "params.lr", "duration_ms"}
    assert flat[0]["run_id"] == store.bad and isinstance(flat[0]["duration_ms"], int)

    full = cli("runs", "search", "-f", "tags.stage = 'prod'", "--json").json()
    assert [r["run_id"] for r in full] == [store.good]
    mentioned = cli("runs", "search", "-f", "params.lr = '0.1'").out.splitlines()[0].split()
    assert "params.lr" in mentioned
    assert cli("runs", "search", "-f", "metrics.acc > 2").out == "No runs.\n"


def test_runs_search_errors(cli):
    bad = cli("runs", "search", "--filter", "metrics.acc >> 0.9")
    lines = error_lines(bad)
    assert lines[0].startswith("error: ") and "at position 13" in lines[0]
    assert lines[-1].strip() == "^"  # the caret under the offending character
    column = cli("runs", "search", "--columns", "run_id,bogus")
    assert error_lines(column)[0].startswith("error: Unknown column 'bogus'")


def test_runs_delete_and_restore(cli, store):
    untouched = cli("runs", "delete", store.good, "deadbeefdeadbeef")
    assert untouched.code == 1
    assert mt.get_run(store.good).info.lifecycle_stage == "active"  # resolved ids first

    result = cli("runs", "delete", store.good, store.bad[:8])
    assert result.code == 0 and f"Deleted run {store.bad}." in result.out
    assert [r["run_name"] for r in cli("runs", "list", "--json").json()] == ["other"]
    deleted = cli("runs", "list", "--deleted", "--json").json()
    assert {r["run_name"] for r in deleted} == {"good", "bad"}
    assert len(cli("runs", "list", "--all", "--json").json()) == 3

    assert cli("runs", "restore", store.good, store.bad).code == 0
    assert mt.get_run(store.bad).info.lifecycle_stage == "active"


# -------------------------------------------------------------------- artifacts


def test_artifacts_list_and_download(cli, store, tmp_path):
    top = cli("artifacts", "list", store.good)
    assert top.code == 0 and re.search(r"^notes/\s+-$", top.out, re.MULTILINE)
    files = cli("artifacts", "list", store.good, "notes", "--json").json()
    assert files == [{"path": "notes/readme.txt", "is_dir": False, "file_size": 5}]
    assert "5 B" in cli("artifacts", "list", store.good, "notes").out
    assert "No artifacts under 'nothing'" in cli("artifacts", "list", store.other, "nothing").out

    dst = tmp_path / "downloads"
    result = cli("artifacts", "download", store.good[:8], "notes/readme.txt", "--dst", str(dst))
    assert result.code == 0
    local = Path(result.out.strip())
    assert local.read_text() == "hello" and local.is_relative_to(dst)
    missing = cli("artifacts", "download", store.good, "nope.txt", "--dst", str(dst))
    assert len(error_lines(missing)) == 1


# -------------------------------------------------------------------------- sql


def test_sql_table_json_csv(cli, store):
    query = f"SELECT key, value FROM latest_metrics WHERE run_id = '{store.good}' ORDER BY key"
    table = cli("sql", query).out.splitlines()
    assert table[0].split() == ["key", "value"] and table[2:] == ["acc    0.95", "loss    NaN"]
    assert cli("sql", query, "--json").json() == [
        {"key": "acc", "value": 0.95},
        {"key": "loss", "value": "NaN"},
    ]
    assert cli("sql", query, "--csv").out == "key,value\nacc,0.95\nloss,NaN\n"
    assert cli("sql", "SELECT 1 AS x WHERE false").out == "(no rows)\n"


def test_sql_rejects_writes_and_conflicting_formats(cli, monkeypatch):
    refused = cli("sql", "DELETE FROM runs")
    assert "read-only" in error_lines(refused)[0]
    assert cli("sql", "SELECT 1", "--json", "--csv").code == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT 42 AS answer"))
    assert cli("sql", "-", "--json").json() == [{"answer": 42}]


# --------------------------------------------------------------------------- gc


def test_gc_refuses_without_yes_when_stdin_is_not_a_terminal(cli, store, monkeypatch):
    assert cli("gc").out == "No deleted runs to remove.\n"
    mt.delete_run(store.good)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    refused = cli("gc")
    assert error_lines(refused) == [
        "error: Refusing to remove runs without confirmation: stdin is not a terminal. "
        "Re-run with --yes to remove them, or --dry-run to only list them."
    ]
    assert store.good in refused.out  # what would have been removed
    dry = cli("gc", "--dry-run")
    assert dry.code == 0 and store.good in dry.out
    assert mt.get_run(store.good).info.lifecycle_stage == "deleted"


def test_gc_yes_removes_runs_and_artifacts(cli, store):
    artifact_dir = Path(mt.get_run(store.good).info.artifact_uri.removeprefix("file://"))
    assert (artifact_dir / "notes" / "readme.txt").is_file()
    mt.delete_run(store.good)
    mt.delete_run(store.bad)
    not_deleted = cli("gc", "--run-ids", store.other)
    assert "is not deleted" in error_lines(not_deleted)[0]

    result = cli("gc", "--run-ids", store.good, "--yes")
    assert result.code == 0 and "Removed 1 run and its artifacts." in result.out
    assert not any(p.is_file() for p in artifact_dir.rglob("*"))
    assert error_lines(cli("runs", "show", store.good))[0].startswith("error: No run")
    assert mt.get_run(store.bad).info.lifecycle_stage == "deleted"  # not named, kept


def test_gc_asks_on_a_terminal(cli, store, monkeypatch):
    mt.delete_run(store.bad)
    monkeypatch.setattr(sys, "stdin", FakeTerminal("n\n"))
    declined = cli("gc")
    assert declined.code == 1 and "[y/N]" in declined.err and "Nothing removed." in declined.out
    assert mt.get_run(store.bad).info.lifecycle_stage == "deleted"
    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    assert "Removed 1 run" in cli("gc").out
    assert cli("runs", "list", "--all", "--max", "10", "--json").code == 0
    assert store.bad not in cli("runs", "list", "--all").out


# ------------------------------------------------------------------ error paths


def test_usage_errors_exit_2_and_help_exits_0(cli, capsys):
    assert cli("runs").code == 2
    assert cli("runs", "show").code == 2
    assert cli("nonsense").code == 2
    assert main(["--help"]) == 0
    assert "experiments" in capsys.readouterr().out


def test_unexpected_error_is_one_line_unless_debug(cli, monkeypatch):
    def broken(self: object, run_id: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mt.TrackingClient, "get_run", broken)
    result = cli("runs", "show", "abc")
    assert error_lines(result) == [
        "error: RuntimeError: disk on fire (run with --debug for details)"
    ]
    debug = cli("runs", "show", "abc", "--debug")
    assert debug.code == 1 and "Traceback" in debug.err
    assert debug.err.splitlines()[-1] == "error: RuntimeError: disk on fire"


def test_missing_store_is_reported_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "store.duckdb"
    assert main(["--tracking-uri", str(missing), "runs", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: No tracking store at {missing}") and err.count("\n") == 1
    assert not missing.parent.exists()


def test_global_options_after_the_command(store, capsys):
    assert main(["runs", "list", "--json", "--tracking-uri", store.uri]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


# ---------------------------------------------------------- real entry point


def _run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_entry_point_in_a_subprocess(store):
    reset_tracking_state()  # DuckDB: release the file so another process can open it
    listed = _run_cli("--tracking-uri", store.uri, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["run_id"] for r in json.loads(listed.stdout)} == {store.good, store.bad, store.other}

    env = {"MLTRACK_TRACKING_URI": store.uri}
    failed = _run_cli("runs", "show", "0123456789abcdef", env=env)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: No run with id") and failed.stderr.count("\n") == 1
    usage = _run_cli("runs", "frobnicate", env=env)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


# ------------------------------------------------------------------------ docs


def _commands(parser: object, prefix: str = "") -> Iterator[str]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                children = list(_commands(sub, path))
                yield from children or [path]


def test_every_command_is_documented():
    doc = (REPO / "docs" / "cli.md").read_text()
    commands = list(_commands(build_parser()))
    assert len(commands) == 46
    missing = [c for c in commands if f"mltrack {c}" not in doc]
    assert missing == []


def test_public_surface():
    import jupyter_mltrack.cli as cli_module

    assert cli_module.__all__ == ["build_parser", "main"]
