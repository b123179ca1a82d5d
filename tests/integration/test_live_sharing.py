"""Issue #3's done-when, with real processes: the Jupyter server owns its store while two
notebooks (nbclient, their own kernels) and a terminal script log to it at once, and the
server's store route and the ``mltrack`` CLI read it live.

Every writer logs half of its points, flushes, writes ``<name>.waiting`` and waits for the
test's ``release`` file, so "read while the runs are RUNNING" is checked at a known moment
instead of by timing; then it logs the other half (small sleeps between points) and ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from service_support import REPO, kill_pid, process_gone, service_pids, wait_gone

from jupyter_mltrack.store.remote.wire import ipc_to_table

pytestmark = pytest.mark.slow

POINTS = 2000
HALF = POINTS // 2
EXPERIMENT = "live-sharing"
WRITERS = ("notebook-a", "notebook-b", "script-c")

# The body shared by the notebooks and the script: {name} and {gate} are filled in.
WRITER_CODE = """\
import os, time
from pathlib import Path
import jupyter_mltrack as mt

gate = Path({gate!r})
(gate / "{name}.pid").write_text(str(os.getpid()))
mt.set_experiment({experiment!r})
with mt.start_run(run_name="{name}") as run:
    for step in range({points}):
        mt.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(0.002)
        if step == {half} - 1:
            mt.flush()  # the first half is committed: the test reads it while RUNNING
            (gate / "{name}.waiting").write_text(run.run_id)
            deadline = time.monotonic() + 120
            while not (gate / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
print("done", run.run_id)
"""

# Runs one notebook in its own kernel (nbclient) and saves the executed notebook.
NOTEBOOK_RUNNER = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=240, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[1])
"""


@dataclass
class Writers:
    """The writer processes of one test and the PIDs to stop when it ends."""

    gate: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> None:
        log = (self.gate / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def output(self, name: str) -> str:
        return (self.gate / f"{name}.log").read_text(errors="replace")[-3000:]

    def wait_all_waiting(self, timeout: float) -> dict[str, str]:
        """Run ids of every writer once each waits at the gate; fails on an early exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited with {proc.returncode}:\n{self.output(name)}")
            files = {n: self.gate / f"{n}.waiting" for n in WRITERS}
            if all(f.is_file() and f.read_text() for f in files.values()):
                return {n: f.read_text() for n, f in files.items()}
            time.sleep(0.05)
        logs = "\n".join(f"--- {n}\n{self.output(n)}" for n in self.procs)
        pytest.fail(f"the writers did not reach the gate within {timeout} s:\n{logs}")

    def stop(self) -> None:
        """Stop each writer's process group (the runner and its kernel), then any kernel
        that left it, by PID."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        for pid_file in self.gate.glob("*.pid"):
            pid = int(pid_file.read_text())
            if not process_gone(pid):
                kill_pid(pid)
                wait_gone(pid, 10)


@pytest.fixture
def writers(tmp_path: Path) -> Iterator[Writers]:
    gate = tmp_path / "gate"
    gate.mkdir()
    w = Writers(gate, {})
    yield w
    w.stop()


def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, path)


def _cli(env: dict[str, str], store: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", *args, "--tracking-uri", str(store)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_notebooks_and_a_script_log_to_the_servers_store_live(
    start_jupyter: Any, writers: Writers, tmp_path: Path
) -> None:
    # The default (service) mode everywhere: nothing inherits the suite's direct mode.
    server = start_jupyter("server", env={"MLTRACK_STORE_MODE": None, "MLTRACK_TRACKING_URI": None})
    store = server.root_dir.resolve() / "mltrack" / "store.duckdb"
    try:
        lock = json.loads(store.with_name("store.duckdb.lock").read_text())
        assert lock["kind"] == "jupyter" and lock["pid"] == server.proc.pid

        env = {
            **os.environ,
            "MLTRACK_STORE_MODE": "service",
            "MLTRACK_TRACKING_URI": f"duckdb://{store}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        writers.env = env
        # Created up front: two kernels racing through set_experiment would both create it.
        experiment_id = _cli(env, store, "experiments", "create", EXPERIMENT, "--json")[
            "experiment_id"
        ]

        for name in WRITERS:
            code = WRITER_CODE.format(
                name=name, gate=str(writers.gate), experiment=EXPERIMENT, points=POINTS, half=HALF
            )
            if name.startswith("notebook"):
                nb = tmp_path / f"{name}.ipynb"
                _notebook(nb, code)
                writers.start(name, [sys.executable, "-c", NOTEBOOK_RUNNER, str(nb), str(tmp_path)])
            else:
                script = tmp_path / f"{name}.py"
                script.write_text(code)
                writers.start(name, [sys.executable, str(script)])

        run_ids = writers.wait_all_waiting(timeout=180)
        names = {run_id: name for name, run_id in run_ids.items()}

        # Mid-flight: the server's route and the CLI see the three runs RUNNING, with the
        # first half of their points.
        runs_path = f"mltrack/api/v1/runs?experiment_ids={experiment_id}"
        live = server.get_json(runs_path)
        assert isinstance(live, dict)
        seen = {r["info"]["run_id"]: r for r in live["runs"]}
        assert set(seen) == set(names)
        for run_id, run in seen.items():
            assert run["info"]["status"] == "RUNNING", run
            assert run["info"]["run_name"] == names[run_id]
            assert run["data"]["metrics"]["loss"] == pytest.approx(1.0 / HALF)
            assert _history(server, run_id)["step"].to_pylist() == list(range(HALF))
        listed = _cli(env, store, "runs", "list", "-e", EXPERIMENT, "--json")
        assert {r["run_id"]: r["status"] for r in listed} == dict.fromkeys(names, "RUNNING")

        # Release the writers and keep reading while they log the second half.
        (writers.gate / "release").touch()
        counts: dict[str, list[int]] = {run_id: [] for run_id in names}
        deadline = time.monotonic() + 120
        while any(p.poll() is None for p in writers.procs.values()):
            assert time.monotonic() < deadline, "the writers did not finish within 120 s"
            for run_id in names:
                counts[run_id].append(len(_history(server, run_id)))
            time.sleep(0.1)
        for name, proc in writers.procs.items():
            assert proc.returncode == 0, f"{name}:\n{writers.output(name)}"
        for run_id, seq in counts.items():
            assert seq == sorted(seq), f"points of {names[run_id]} went backwards: {seq}"
        # the second half was read while it was being logged, not only at the end
        assert any(HALF < n < POINTS for seq in counts.values() for n in seq), counts

        # The end: three FINISHED runs, every point exactly once.
        for run_id in names:
            run = server.get_json(f"mltrack/api/v1/runs/{run_id}")
            assert isinstance(run, dict) and run["info"]["status"] == "FINISHED"
            history = _history(server, run_id)
            assert history["step"].to_pylist() == list(range(POINTS))
            assert history["value"].to_pylist() == [1.0 / (s + 1) for s in range(POINTS)]
        rows = _cli(
            env,
            store,
            "sql",
            "SELECT run_id, count(*) AS n, count(DISTINCT step) AS steps FROM metrics "
            "GROUP BY run_id",
            "--json",
        )
        assert {r["run_id"]: (r["n"], r["steps"]) for r in rows} == dict.fromkeys(
            names, (POINTS, POINTS)
        )
        listed = _cli(env, store, "runs", "list", "-e", EXPERIMENT, "--json")
        assert {r["run_id"]: r["status"] for r in listed} == dict.fromkeys(names, "FINISHED")

        # Nobody started a store service: the server owned the store throughout.
        assert service_pids(store) == []
        lock = json.loads(store.with_name("store.duckdb.lock").read_text())
        assert lock["kind"] == "jupyter" and lock["pid"] == server.proc.pid
        owner = server.get_json("mltrack/api/v1/info")
        assert isinstance(owner, dict) and owner["kind"] == "jupyter"
        assert owner["ingest"]["rows"] == 3 * POINTS
    finally:
        writers.stop()
        server.stop()
        for pid in service_pids(store):  # started by a kernel after the server stopped
            kill_pid(pid)
            wait_gone(pid, 10)
    assert not store.with_name("store.duckdb.sock").exists()


def _history(server: Any, run_id: str) -> Any:
    status, body = server.get(f"mltrack/api/v1/runs/{run_id}/metrics/loss")
    assert status == 200, body[:500]
    return ipc_to_table(body)
