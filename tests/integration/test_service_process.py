"""The detached store service as real processes: start, election, idling, stop, errors."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
from service_support import (
    ServiceEnv,
    kill_pid,
    make_service_env,
    service_env_fixture,  # noqa: F401  (fixture 'service_env')
    service_pids,
    wait_gone,
)

from jupyter_mltrack.errors import StoreLocked, StoreUnavailable
from jupyter_mltrack.service import discovery
from jupyter_mltrack.store.duckdb.migrations import SCHEMA_VERSION
from jupyter_mltrack.store.remote.service_store import ServiceStore
from jupyter_mltrack.store.schemes import close_all_stores, get_store
from jupyter_mltrack.tracking.client import TrackingClient

CREATE_EXPERIMENT = (
    "import sys, jupyter_mltrack as mt\n"
    "mt.set_experiment(sys.argv[1])\n"
    "print(mt.get_experiment_by_name(sys.argv[1]).experiment_id)\n"
)


def test_first_client_starts_a_detached_service_on_a_private_socket(
    service_env: ServiceEnv,
) -> None:
    store = get_store(service_env.uri)
    assert isinstance(store, ServiceStore)
    pid = service_env.wait_owner()
    info = service_env.lock_info()
    assert info["kind"] == "service" and info["store"] == str(service_env.store)
    sock = Path(info["socket"])
    assert sock == service_env.store.with_name("store.duckdb.sock")
    assert sock.stat().st_mode & 0o777 == 0o600
    assert os.getsid(pid) != os.getsid(0), "the service runs in its own session"
    assert store.info()["pid"] == pid and store.info()["schema_version"] == SCHEMA_VERSION
    assert "Serving" in service_env.log.read_text()
    # reads go through the owner too
    client = TrackingClient(service_env.uri)
    run_id = client.create_run("0").info.run_id
    for step in range(100):
        client.log_metric(run_id, "x", step, step=step)
    assert len(client.get_metric_history(run_id, "x")) == 100
    assert client.sql("SELECT count(*) FROM metrics").fetchall() == [(100,)]


def test_racing_clients_elect_exactly_one_owner(service_env: ServiceEnv) -> None:
    procs = [
        service_env.popen([sys.executable, "-c", CREATE_EXPERIMENT, f"e{i}"]) for i in range(4)
    ]
    ids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
        ids.add(out.strip())
    assert len(ids) == 4
    owner = service_env.wait_owner()
    deadline = time.monotonic() + 10
    while service_pids(service_env.store) != [owner] and time.monotonic() < deadline:
        time.sleep(0.05)  # the losers of the election exit
    assert service_pids(service_env.store) == [owner]
    log = service_env.log.read_text()
    assert log.count("Serving ") == 1


def test_idle_service_exits_and_the_next_call_starts_another(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_IDLE_TIMEOUT_S", "0.5")
    client = TrackingClient(service_env.uri)
    first = service_env.wait_owner()
    assert wait_gone(first, 15), "the idle service exited by itself"
    assert service_env.owner_pid() is None
    assert not service_env.store.with_name("store.duckdb.sock").exists()
    assert service_env.lock_info() == {}
    # the same client keeps working: the store finds (starts) the next owner
    assert client.get_experiment("0").name == "Default"
    assert service_env.wait_owner(not_pid=first) != first


def test_a_live_run_keeps_an_idle_service_up(service_env: ServiceEnv) -> None:
    writer = service_env.worker(
        "hanging-writer", "--points", "10", "--extra", "10", env={"MLTRACK_IDLE_TIMEOUT_S": "0.5"}
    )
    assert writer.stdout is not None
    while not writer.stdout.readline().startswith(b"spooled"):
        pass
    owner = service_env.wait_owner()
    time.sleep(1.5)
    assert service_env.owner_pid() == owner, "heartbeats count as activity"
    kill_pid(writer.pid)
    assert wait_gone(owner, 20), "once the run is reaped the service idles out"


def test_sigterm_shuts_the_service_down_cleanly(service_env: ServiceEnv) -> None:
    TrackingClient(service_env.uri).create_run("0")
    pid = service_env.wait_owner()
    assert os.getppid() != pid and _parent_of(pid) != os.getpid(), "nobody's child"
    close_all_stores()
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid, 15)
    assert service_env.lock_info() == {}
    assert not service_env.store.with_name("store.duckdb.sock").exists()
    assert "Released the store" in service_env.log.read_text()


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_service_status_and_stop_commands(service_env: ServiceEnv) -> None:
    down = service_env.cli("service", "status")
    assert down.returncode == 0 and "owner:   none" in down.stdout
    TrackingClient(service_env.uri)
    pid = service_env.wait_owner()
    text = service_env.cli("service", "status")
    assert text.returncode == 0, text.stderr
    assert f"store service, pid {pid}" in text.stdout and "(answering)" in text.stdout
    status = json.loads(service_env.cli("service", "status", "--json").stdout)
    assert status["served"] and status["owner"]["pid"] == pid
    assert status["info"]["run_timeout_s"] == 2.0 and status["pending_spool_files"] == 0
    close_all_stores()
    stop = service_env.cli("service", "stop")
    assert stop.returncode == 0 and f"Stopped the store service (pid {pid})" in stop.stdout
    assert wait_gone(pid, 10)
    again = service_env.cli("service", "stop")
    assert again.returncode == 0 and "No store service is running" in again.stdout


def test_a_dead_owners_stale_lock_and_socket_are_recovered(service_env: ServiceEnv) -> None:
    first = TrackingClient(service_env.uri)
    run_id = first.create_run("0").info.run_id
    dead = service_env.wait_owner()
    # no client of ours may start the next owner (a heartbeat would) before `status` looks
    first.close()
    close_all_stores()
    kill_pid(dead)
    assert wait_gone(dead, 10)
    assert service_env.lock_info()["pid"] == dead  # the info stays, the flock is gone
    status = service_env.cli("service", "status")
    assert f"its last owner, pid {dead}, died" in status.stdout
    client = TrackingClient(service_env.uri)
    client.log_metric(run_id, "x", 1.0)
    client.flush()  # the client starts the next owner
    new = service_env.wait_owner()
    assert new != dead
    assert client.get_run(run_id).data.metrics == {"x": 1.0}


def test_long_store_path_serves_on_a_fallback_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    senv = make_service_env(tmp_path / ("long" * 10) / ("path" * 10))
    monkeypatch.setenv("MLTRACK_STORE_MODE", "service")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "no-such-dir"))
    try:
        client = TrackingClient(senv.uri)
        run_id = client.create_run("0").info.run_id
        client.log_metric(run_id, "x", 2.0)
        client.flush()
        sock = Path(senv.lock_info()["socket"])
        assert sock.parent == Path(tempfile.gettempdir()) / f"mltrack-{os.getuid()}"
        assert client.get_run(run_id).data.metrics == {"x": 2.0}
        close_all_stores()
        stop = senv.cli("service", "stop")  # a clean stop removes the socket
        assert stop.returncode == 0, stop.stderr
        assert not sock.exists()
    finally:
        senv.stop_all()


def test_direct_mode_process_blocks_service_clients_with_its_pid(
    service_env: ServiceEnv,
) -> None:
    holder = service_env.popen(
        [
            sys.executable,
            "-c",
            "import sys, jupyter_mltrack as mt\n"
            "mt.set_experiment('d')\nprint('ready', flush=True)\nsys.stdin.readline()\n",
        ],
        env={"MLTRACK_STORE_MODE": "direct"},
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
    with pytest.raises(StoreLocked, match=f"pid {holder.pid}") as caught:
        get_store(service_env.uri)
    assert "MLTRACK_STORE_MODE=direct" in str(caught.value)
    holder.communicate(b"\n", timeout=20)
    assert get_store(service_env.uri).get_experiment_by_name("d") is not None


def test_direct_mode_uses_a_running_service_instead(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_store(service_env.uri)
    owner = service_env.wait_owner()
    close_all_stores()
    monkeypatch.setenv("MLTRACK_STORE_MODE", "direct")
    store = get_store(service_env.uri)
    assert isinstance(store, ServiceStore) and store.info()["pid"] == owner


def test_direct_mode_opens_the_file_and_ingests_leftover_spools(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_STORE_MODE", "direct")
    client = TrackingClient(service_env.uri)
    assert type(client.store).__name__ == "DirectStore"
    assert service_env.lock_info()["kind"] == "direct"
    assert service_pids(service_env.store) == []


def test_unknown_store_mode_is_a_clear_error(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRACK_STORE_MODE", "shared")
    with pytest.raises(Exception, match="MLTRACK_STORE_MODE='shared' is not a store mode"):
        get_store(service_env.uri)


def test_a_failing_service_start_shows_its_log(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # failure injection at the subprocess boundary: the service dies while starting
    crash = "import sys; print('boom: cannot start', file=sys.stderr); sys.exit(1)"
    monkeypatch.setattr(discovery, "_service_command", lambda paths: [sys.executable, "-c", crash])
    with pytest.raises(StoreUnavailable, match="exited before serving") as caught:
        get_store(service_env.uri)
    assert "boom: cannot start" in str(caught.value)
