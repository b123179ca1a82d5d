"""``mltrack server`` as a real process: our client over HTTP, options, metrics, shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from server_support import ServerProcess, start_mltrack_server

import jupyter_mltrack as mt
from jupyter_mltrack.errors import RunNotFound
from jupyter_mltrack.store.schemes import close_all_stores
from jupyter_mltrack.testing import reset_tracking_state

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    monkeypatch.setenv("MLTRACK_SPOOL_DIR", str(tmp_path / "client-spool"))
    with start_mltrack_server(tmp_path) as proc:
        yield proc
        reset_tracking_state()
        close_all_stores()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_our_client_logs_and_reads_through_the_server(server: ServerProcess) -> None:
    mt.set_tracking_uri(server.url)
    mt.set_experiment("team")
    with mt.start_run(run_name="first") as run:
        mt.log_param("lr", "0.1")
        mt.set_tag("team", "vision")
        for step in range(2_000):
            mt.log_metric("loss", 1.0 / (step + 1), step=step)
    client = mt.MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1"}
    assert got.data.tags["team"] == "vision"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(2_000))
    assert history[-1].value == pytest.approx(1 / 2_000)
    found = mt.search_runs(experiment_names=["team"], filter_string="params.lr = '0.1'")
    assert list(found["run_id"]) == [run.info.run_id]
    # errors come back as the same classes
    with pytest.raises(RunNotFound):
        client.get_run("0" * 32)
    info = json.loads(server.get("/mltrack/api/v1/info"))
    assert info["kind"] == "server" and info["ingest"]["rows"] == 2_000


def test_metrics_endpoint_counts_requests_and_ingest(server: ServerProcess) -> None:
    mt.set_tracking_uri(server.url)
    with mt.start_run():
        for step in range(100):
            mt.log_metric("x", float(step), step=step)
    text = server.get("/metrics").decode()
    assert 'mltrack_ingested_points_total{store="' + str(server.store) + '"} 100.0' in text
    assert 'mltrack_http_requests_total{method="POST",route="/mltrack/api/v1/runs"' in text
    assert "mltrack_http_request_duration_seconds_bucket" in text
    assert "mltrack_store_size_bytes" in text and "mltrack_live_runs" in text


def test_unknown_path_is_a_json_404(server: ServerProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        server.get("/no/such/route")
    assert caught.value.code == 404
    body = json.loads(caught.value.read())
    assert body["error_code"] == "ENDPOINT_NOT_FOUND" and "/no/such/route" in body["message"]


def test_sigterm_stops_cleanly_and_releases_the_store(server: ServerProcess) -> None:
    mt.set_tracking_uri(server.url)
    with mt.start_run():
        mt.log_metric("x", 1.0)
    assert server.stop() == 0
    assert "Released the store" in server.log() and "Stopped." in server.log()
    lock = server.store.with_name(server.store.name + ".lock")
    assert lock.read_text() == ""  # the lock info is cleared on a clean exit


def test_help_documents_every_option_and_its_variable() -> None:
    result = _cli("server", "--help")
    assert result.returncode == 0
    for option, env in [
        ("--host", "MLTRACK_SERVER_HOST"),
        ("--port", "MLTRACK_SERVER_PORT"),
        ("--backend-store-uri", "MLTRACK_SERVER_BACKEND_STORE_URI"),
        ("--artifacts-destination", "MLTRACK_SERVER_ARTIFACTS_DESTINATION"),
        ("--workers", "MLTRACK_SERVER_WORKERS"),
        ("--expose-metrics", "MLTRACK_SERVER_EXPOSE_METRICS"),
    ]:
        assert option in result.stdout and env in result.stdout


def test_workers_above_one_with_duckdb_is_refused_clearly(tmp_path: Path) -> None:
    result = _cli("server", "--backend-store-uri", str(tmp_path / "s.duckdb"), "--workers", "2")
    assert result.returncode == 1
    assert "--workers 2" in result.stderr and "PostgreSQL" in result.stderr
    assert not (tmp_path / "s.duckdb").exists()  # refused before anything was opened


def test_bad_environment_values_are_named(tmp_path: Path) -> None:
    result = _cli("server", env={"MLTRACK_SERVER_PORT": "eighty"})
    assert result.returncode == 1 and "MLTRACK_SERVER_PORT must be an integer" in result.stderr
    result = _cli(
        "server", "--backend-store-uri", "sqlite:///x.db", env={"MLTRACK_SERVER_PORT": "0"}
    )
    assert result.returncode == 1 and "--backend-store-uri" in result.stderr
    # PostgreSQL is served; a database that cannot be reached is one clear line
    result = _cli(
        "server",
        "--backend-store-uri",
        "postgresql://nobody@db.invalid/x",
        env={"MLTRACK_SERVER_PORT": "0"},
    )
    assert result.returncode == 1
    assert "error: The PostgreSQL database db.invalid:5432/x is not reachable" in result.stderr


def test_a_taken_port_is_reported_without_touching_the_store(
    server: ServerProcess, tmp_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    result = _cli("server", "--port", str(server.port), "--backend-store-uri", str(other))
    assert result.returncode == 1 and f"127.0.0.1:{server.port}" in result.stderr
    assert not other.exists()


def test_a_store_owned_elsewhere_is_refused_naming_the_owner(
    server: ServerProcess,
) -> None:
    result = _cli("server", "--port", "0", "--backend-store-uri", str(server.store))
    assert result.returncode == 1
    assert "already served by mltrack server" in result.stderr
    assert f"pid {server.pid}" in result.stderr


def test_sigint_also_stops_gracefully(tmp_path: Path) -> None:
    with start_mltrack_server(tmp_path) as proc:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.proc.wait(timeout=60) == 0
        assert "Stopped." in proc.log()


def test_jupyter_metrics_endpoint_has_the_same_mltrack_metrics(start_jupyter) -> None:  # type: ignore[no-untyped-def]
    """Inside JupyterLab the server extension owns the store: Jupyter's own /metrics (the
    same prometheus_client registry) carries the store metrics and our routes' requests."""
    jupyter = start_jupyter("server", env={"MLTRACK_TRACKING_URI": None})
    try:
        status, _ = jupyter.get("mltrack/api/v1/info")
        assert status == 200
        status, body = jupyter.get("metrics")
        assert status == 200
        text = body.decode()
        store = jupyter.root_dir.resolve() / "mltrack" / "store.duckdb"
        assert f'mltrack_live_runs{{store="{store}"}}' in text
        assert f'mltrack_ingested_points_total{{store="{store}"}}' in text
        assert 'route="/mltrack/api/v1/info"' in text and "mltrack_http_requests_total" in text
    finally:
        jupyter.stop()
