"""The jupyter_server extension, against a real `jupyter server` subprocess.

The server owns its DuckDB store and serves the store API under ``/mltrack/api/v1``; when
another process owns the store (or ``own_store`` is off, or a foreign program holds the
file) it serves the same routes as that owner's client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_support import REPO, WORKERS, kill_pid, service_pids, wait_gone

from jupyter_mltrack._version import __version__
from jupyter_mltrack.server.app import resolve_tracking_uri
from jupyter_mltrack.widgets import STATIC_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(start_jupyter):
    """A server with no tracking configuration: the default store under its root_dir."""
    srv = start_jupyter("server", env={"MLTRACK_TRACKING_URI": None})
    yield srv
    srv.stop()


def test_info_reports_version_and_default_store(server) -> None:
    info = server.get_json("mltrack/api/info")
    store = server.root_dir.resolve() / "mltrack" / "store.duckdb"
    assert info == {
        "version": __version__,
        "tracking_uri": f"duckdb://{store}",
        "store_path": str(store),
        "api_base": "/mltrack/api/v1",
        "store_owner": {"kind": "jupyter", "pid": server.proc.pid, "this_server": True},
    }


def test_info_needs_the_token(server) -> None:
    status, _ = server.get("mltrack/api/info", token=False)
    assert status == 403


def _lock(store: Path) -> dict[str, Any]:
    text = store.with_name(store.name + ".lock").read_text()
    return json.loads(text) if text.strip() else {}


def _service_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "MLTRACK_STORE_MODE": "service", "PYTHONPATH": path, **extra}


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", *args, "--tracking-uri", str(store)],
        env=_service_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def stray_services() -> Iterator[list[Path]]:
    """Stores whose detached store services are stopped by PID when the test ends."""
    stores: list[Path] = []
    yield stores
    for store in stores:
        for pid in service_pids(store):
            kill_pid(pid)
            wait_gone(pid, 10)


def test_the_server_owns_its_store_and_serves_the_store_api(start_jupyter) -> None:
    srv = start_jupyter("server", env={"MLTRACK_TRACKING_URI": None, "MLTRACK_STORE_MODE": None})
    store = srv.root_dir.resolve() / "mltrack" / "store.duckdb"
    try:
        lock = _lock(store)
        assert lock["kind"] == "jupyter" and lock["pid"] == srv.proc.pid
        info = srv.get_json("mltrack/api/v1/info")
        assert isinstance(info, dict)
        assert info["kind"] == "jupyter" and info["store_path"] == str(store)
        assert info["idle_timeout_s"] is None  # the Jupyter host never exits on idleness

        # the CLI (another process) writes through the server; the route reads it at once
        created = _cli(store, "experiments", "create", "from-cli", "--json")
        assert created.returncode == 0, created.stderr
        experiment_id = json.loads(created.stdout)["experiment_id"]
        experiments = srv.get_json("mltrack/api/v1/experiments")
        assert isinstance(experiments, dict)
        assert {e["name"] for e in experiments["experiments"]} == {"Default", "from-cli"}
        runs = srv.get_json(f"mltrack/api/v1/runs?experiment_ids={experiment_id}")
        assert runs == {"runs": [], "next_page_token": None}
        assert service_pids(store) == []

        assert srv.get("mltrack/api/v1/experiments", token=False)[0] == 403
        status, body = srv.get("mltrack/api/v1/runs/nope")
        assert status == 404 and json.loads(body)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        status, body = srv.get("mltrack/api/v1/no-such-route")
        assert status == 404 and json.loads(body)["error_code"] == "ENDPOINT_NOT_FOUND"
    finally:
        srv.stop()
    # a stopped server releases the store: lock info cleared, socket removed
    assert _lock(store) == {}
    assert not store.with_name("store.duckdb.sock").exists()
    log = srv.log.read_text()
    assert "this server owns the store" in log and "stopped serving the store" in log


def test_the_store_api_follows_the_base_url(start_jupyter) -> None:
    server = start_jupyter("server", env={"MLTRACK_TRACKING_URI": None}, base_url="/hub/user/me/")
    assert server.url.endswith("/hub/user/me/")
    info = server.get_json("mltrack/api/v1/info")
    assert isinstance(info, dict) and info["kind"] == "jupyter"
    legacy = server.get_json("mltrack/api/info")
    assert isinstance(legacy, dict) and legacy["api_base"] == "/mltrack/api/v1"
    server.stop()


def test_a_store_owned_by_the_store_service_is_served_as_its_client(
    start_jupyter, tmp_path: Path, stray_services: list[Path]
) -> None:
    store = tmp_path / "shared" / "store.duckdb"
    store.parent.mkdir()
    stray_services.append(store)
    service = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mltrack.service", "--store", str(store)],
        env=_service_env(MLTRACK_IDLE_TIMEOUT_S="120"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        created = _cli(store, "experiments", "create", "before-jupyter", "--json")
        assert created.returncode == 0, created.stderr
        assert _lock(store)["pid"] == service.pid
        srv = start_jupyter(
            "server", f"--MltrackExtension.tracking_uri={store}", env={"MLTRACK_STORE_MODE": None}
        )
        try:
            info = srv.get_json("mltrack/api/info")
            assert isinstance(info, dict)
            assert info["store_owner"] == {
                "kind": "service",
                "pid": service.pid,
                "this_server": False,
            }
            api_info = srv.get_json("mltrack/api/v1/info")
            assert isinstance(api_info, dict) and api_info["kind"] == "client"
            assert api_info["owner"]["pid"] == service.pid
            experiments = srv.get_json("mltrack/api/v1/experiments")
            assert isinstance(experiments, dict)
            assert "before-jupyter" in {e["name"] for e in experiments["experiments"]}
            assert "is owned by the store service (pid" in srv.log.read_text()
        finally:
            srv.stop()
        assert _lock(store)["pid"] == service.pid  # the server left the owner alone
    finally:
        service.terminate()
        service.wait(15)


def test_own_store_false_leaves_the_store_to_the_store_service(
    start_jupyter, stray_services: list[Path]
) -> None:
    srv = start_jupyter(
        "server", "--MltrackExtension.own_store=False", env={"MLTRACK_TRACKING_URI": None}
    )
    store = srv.root_dir.resolve() / "mltrack" / "store.duckdb"
    stray_services.append(store)
    try:
        # the first request needs the store: the client starts the detached service
        experiments = srv.get_json("mltrack/api/v1/experiments")
        assert isinstance(experiments, dict)
        assert [e["name"] for e in experiments["experiments"]] == ["Default"]
        lock = _lock(store)
        assert lock["kind"] == "service" and lock["pid"] != srv.proc.pid
        assert service_pids(store) == [lock["pid"]]
        assert "own_store is False" in srv.log.read_text()
    finally:
        srv.stop()


def test_a_store_held_by_a_foreign_program_answers_one_clear_error(
    start_jupyter, tmp_path: Path, stray_services: list[Path]
) -> None:
    store = tmp_path / "held" / "store.duckdb"
    store.parent.mkdir()
    stray_services.append(store)
    holder = subprocess.Popen(
        [sys.executable, str(WORKERS), "hold-duckdb", str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        srv = start_jupyter("server", f"--MltrackExtension.tracking_uri={store}")
        try:
            status, body = srv.get("mltrack/api/v1/experiments")
            error = json.loads(body)
            assert status == 503 and error["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert f"PID {holder.pid}" in error["message"]
            assert "cannot own the store" in srv.log.read_text()
        finally:
            srv.stop()
    finally:
        holder.communicate(b"\n", timeout=10)


def test_static_route_serves_widget_bundle_behind_auth(server) -> None:
    status, body = server.get("mltrack/static/runTable.js")
    assert status == 200
    assert body == (STATIC_DIR / "runTable.js").read_bytes()
    status, _ = server.get("mltrack/static/runTable.js", token=False)
    assert status in (302, 403)  # redirect to login for a page-like GET, never the file
    assert server.get("mltrack/static/../server/app.py")[0] in (403, 404)


def test_tracking_uri_option_is_relative_to_root_dir(start_jupyter) -> None:
    srv = start_jupyter(
        "server",
        "--MltrackExtension.tracking_uri=runs/team.duckdb",
        env={"MLTRACK_TRACKING_URI": "/ignored/because/option/wins.duckdb"},
    )
    try:
        info = srv.get_json("mltrack/api/info")
    finally:
        srv.stop()
    store = srv.root_dir.resolve() / "runs" / "team.duckdb"
    assert info["tracking_uri"] == f"duckdb://{store}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("store.duckdb", "duckdb:///root/store.duckdb"),
        ("duckdb:rel/s.duckdb", "duckdb:///root/rel/s.duckdb"),
        ("duckdb:///abs/s.duckdb", "duckdb:///abs/s.duckdb"),
        ("/abs/s.duckdb", "duckdb:///abs/s.duckdb"),
        ("http://tracking.example:5000", "http://tracking.example:5000"),
    ],
)
def test_resolve_tracking_uri(value: str, expected: str) -> None:
    assert resolve_tracking_uri(value, Path("/root")) == expected
