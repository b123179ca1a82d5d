"""``mltrack server`` killed with ``kill -9`` while clients log: they spool and resend.

Real processes throughout: the server (``tests/server_support.py``) and client processes
(``server_clients.py``) that log through our client over HTTP. Asserted: every point
arrives exactly once (nothing acknowledged lost, nothing duplicated) and every run ends
with the status its client gave it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from server_support import ServerProcess, start_mltrack_server

from jupyter_mltrack.store.remote.server_store import ServerStore
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.timeout(600)

CLIENTS = Path(__file__).with_name("server_clients.py")


def _client(
    url: str, spool: Path, *args: str, mode: str = "log", env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MLTRACK_SPOOL_DIR": str(spool),
        "MLTRACK_HTTP_RETRY_TIMEOUT_S": "120",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, str(CLIENTS), mode, url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen[str], timeout: float = 300) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"client failed ({proc.returncode}):\n{err[-3000:]}"
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _ingested(server: ServerProcess) -> int:
    try:
        info = json.loads(server.get("/mltrack/api/v1/info", timeout=5))
    except OSError:
        return -1
    return int(info["ingest"]["rows"])


def _check_runs(
    server: ServerProcess, results: list[dict[str, object]], status: dict[str, str]
) -> None:
    reader = TrackingClient(server.url)
    try:
        for result in results:
            run_id = str(result["run_id"])
            steps = int(str(result["steps"]))
            history = reader.get_metric_history(run_id, "x")
            got = sorted(m.step for m in history)
            assert len(got) == steps, f"run {run_id}: {len(got)} points, expected {steps}"
            assert got == list(range(steps)), f"run {run_id}: missing or repeated steps"
            assert all(m.value == float(m.step) for m in history)
            assert reader.get_run(run_id).info.status == status[run_id]
    finally:
        reader.close()


def test_kill_9_and_restart_while_clients_log(tmp_path: Path) -> None:
    server = start_mltrack_server(tmp_path)
    spool = tmp_path / "spool"
    try:
        clients = [
            _client(server.url, spool, "--seconds", "10", "--rate", "3000", "--name", f"c{i}")
            for i in range(3)
        ]
        failing = _client(server.url, spool, "--seconds", "10", "--rate", "2000", "--fail")
        _wait_for(lambda: _ingested(server) > 5_000, what="clients to log through the server")
        server.kill()  # kill -9: nothing flushed, nothing closed
        killed_at = time.monotonic()
        time.sleep(2.0)  # the clients keep logging meanwhile; batches wait in their spools
        assert any(spool.rglob("*.arrow")), "the clients did not spool while the server was down"
        server.restart()
        down_s = time.monotonic() - killed_at
        results = [_result(c) for c in clients]
        failed = _result(failing)
        status = {str(r["run_id"]): "FINISHED" for r in results}
        status[str(failed["run_id"])] = "FAILED"
        _check_runs(server, [*results, failed], status)
        assert not list(spool.rglob("*.arrow")), "spool files left after every client acked"
        info = json.loads(server.get("/mltrack/api/v1/info"))
        total = sum(int(str(r["points"])) for r in [*results, failed])
        assert total > 20_000 and down_s >= 2.0
        # the new process committed what it received; retried batches were not re-inserted
        assert info["ingest"]["rows"] <= total
    finally:
        server.stop()


def test_points_logged_while_the_server_is_down_arrive_when_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook keeps training with the server gone; its points wait in the spool."""
    monkeypatch.setenv("MLTRACK_SPOOL_DIR", str(tmp_path / "spool"))
    server = start_mltrack_server(tmp_path)
    client = TrackingClient(server.url)
    try:
        run_id = client.create_run("0").info.run_id
        server.kill()
        started = time.perf_counter()
        for step in range(50_000):
            client.log_metric(run_id, "x", float(step), step=step)
        logging_s = time.perf_counter() - started
        assert logging_s < 5.0, f"logging blocked while the server was down ({logging_s:.1f} s)"
        server.restart()
        client.flush()
        history = client.get_metric_history(run_id, "x")
        assert sorted(m.step for m in history) == list(range(50_000))
    finally:
        client.close()
        server.stop()


def test_a_dead_clients_spool_is_resent_by_the_next_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that exits while the server is down keeps its points in the spool (with one
    warning); the next client of that server on this machine resends them, exactly once."""
    spool = tmp_path / "spool"
    monkeypatch.setenv("MLTRACK_SPOOL_DIR", str(spool))
    go = tmp_path / "go"
    server = start_mltrack_server(tmp_path)
    try:
        env_retry = {"MLTRACK_HTTP_RETRY_TIMEOUT_S": "2"}  # its exit gives up quickly
        orphan = _client(
            server.url,
            spool,
            "--points",
            "3000",
            "--wait-file",
            str(go),
            mode="orphan",
            env=env_retry,
        )
        assert orphan.stdout is not None
        run_id = json.loads(orphan.stdout.readline())["started"]
        server.kill()
        go.touch()
        _out, err = orphan.communicate(timeout=300)
        assert orphan.returncode == 0, err
        assert "they are kept in" in err  # the one warning, naming the spool directory
        files = list(spool.rglob("*.arrow"))
        assert files, f"nothing spooled; client stderr:\n{err[-2000:]}"
        server.restart()
        store = ServerStore(server.url)  # a new client of the same server resends them
        try:
            report = store.wait_for_replay()
            assert report.files == len(files) and report.rows == 3000
            again = ServerStore(server.url)  # a second client finds nothing left to send
            assert again.wait_for_replay().files == 0
            again.close()
        finally:
            store.close()
        assert not list(spool.rglob("*.arrow"))
        reader = TrackingClient(server.url)
        history = reader.get_metric_history(run_id, "x")
        reader.close()
        assert sorted(m.step for m in history) == list(range(3000))
        assert "mltrack_spool_replayed_batches_total 0.0" not in server.get("/metrics").decode()
    finally:
        server.stop()
