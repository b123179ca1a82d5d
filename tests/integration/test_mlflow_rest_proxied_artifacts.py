"""Our client's artifacts on a team server go through the ``mlflow-artifacts`` proxy.

A real ``mltrack server`` keeps its artifacts in a directory of its own; the client only
ever has the URL. Experiments and runs created through our store API read as
``mlflow-artifacts:/...`` (as with ``mlflow server --artifacts-destination``), and
``log_artifact`` / ``list_artifacts`` / ``download_artifacts`` move bytes over HTTP.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from server_support import start_mltrack_server

import jupyter_mltrack as mt
from jupyter_mltrack.artifacts import ProxiedArtifactRepository, get_artifact_repository
from jupyter_mltrack.artifacts.proxy import resolve_proxied_uri
from jupyter_mltrack.errors import ArtifactNotFound, InvalidParameter, StoreUnavailable
from jupyter_mltrack.testing import reset_tracking_state


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory):
    server_dir = tmp_path_factory.mktemp("server-side")
    with start_mltrack_server(server_dir, artifacts=server_dir / "far-away-artifacts") as srv:
        yield srv


@pytest.fixture
def client_uri(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLTRACK_SPOOL_DIR", str(tmp_path / "spool"))
    reset_tracking_state()
    mt.set_tracking_uri(server.url)
    yield server.url
    reset_tracking_state()


def test_round_trip_through_the_proxy(server, client_uri, tmp_path: Path) -> None:
    client_side = tmp_path / "client"
    client_side.mkdir()
    weights = client_side / "weights.bin"
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several blocks of the upload
    weights.write_bytes(payload)
    tree = client_side / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")

    exp_id = mt.create_experiment("proxied")
    exp = mt.get_experiment(exp_id)
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    with mt.start_run(experiment_id=exp_id) as run:
        run_id = run.info.run_id
        assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
        mt.log_artifact(str(weights), "model")
        mt.log_artifacts(str(tree), "tree")
        mt.log_text("hello", "notes/readme.txt")
        mt.log_dict({"lr": 0.1}, "config.json")

    # The bytes are on the server's side only, under its artifacts destination.
    stored = server.artifacts / exp_id / run_id / "artifacts"
    assert (stored / "model" / "weights.bin").read_bytes() == payload
    assert (stored / "tree" / "sub" / "b.txt").read_text() == "b"
    assert not str(stored).startswith(str(tmp_path))

    # ... and reachable through the proxy's own route.
    url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/config.json"
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert json.loads(resp.read()) == {"lr": 0.1}

    client = mt.TrackingClient()
    top = [(f.path, f.is_dir) for f in client.list_artifacts(run_id)]
    assert ("model", True) in top and ("tree", True) in top and ("config.json", False) in top
    model = client.list_artifacts(run_id, "model")
    assert [(f.path, f.file_size) for f in model] == [("model/weights.bin", len(payload))]
    assert [f.path for f in client.list_artifacts(run_id, "tree")] == ["tree/a.txt", "tree/sub"]

    dst = tmp_path / "downloaded"
    local = client.download_artifacts(run_id, "model/weights.bin", str(dst))
    assert Path(local).read_bytes() == payload
    whole = Path(client.download_artifacts(run_id, "tree", str(tmp_path / "d2")))
    assert (whole / "a.txt").read_text() == "a" and (whole / "sub" / "b.txt").read_text() == "b"
    notes = Path(client.download_artifacts(run_id, "notes", str(tmp_path / "d4")))
    assert (notes / "readme.txt").read_text() == "hello"

    with pytest.raises(ArtifactNotFound):
        client.download_artifacts(run_id, "missing.txt", str(tmp_path / "d3"))


def test_mlflow_client_and_ours_see_the_same_artifacts(server, client_uri, tmp_path) -> None:
    mlflow = pytest.importorskip("mlflow")
    with mt.start_run() as run:
        mt.log_text("from mltrack", "ours.txt")
    mlflow_client = mlflow.MlflowClient(server.url)
    assert mlflow_client.get_run(run.info.run_id).info.artifact_uri == run.info.artifact_uri
    path = mlflow_client.download_artifacts(run.info.run_id, "ours.txt", str(tmp_path))
    assert Path(path).read_text() == "from mltrack"
    mlflow_client.log_text(run.info.run_id, "from mlflow", "theirs.txt")
    names = [f.path for f in mt.TrackingClient().list_artifacts(run.info.run_id)]
    # (environment/ holds what start_run captured: it went through the proxy too)
    assert names == ["environment", "ours.txt", "theirs.txt"]


def test_repository_directly(server, tmp_path: Path) -> None:
    host = server.url.split("://", 1)[1]
    repo = get_artifact_repository(f"mlflow-artifacts://{host}/scratch/run1")
    assert isinstance(repo, ProxiedArtifactRepository)
    repo.write_bytes("x/y.txt", b"yy")
    assert (server.artifacts / "scratch" / "run1" / "x" / "y.txt").read_bytes() == b"yy"
    writer = repo.open_writer("streamed.bin")
    for _ in range(4):
        writer.write(b"z" * 1000)
    writer.commit()
    with repo.open_reader("streamed.bin") as reader:
        assert reader.read() == b"z" * 4000
    repo.delete_artifacts("x")
    assert [(f.path, f.file_size) for f in repo.list_artifacts()] == [("streamed.bin", 4000)]
    repo.delete_artifacts("never-there")  # a no-op, as in MLflow
    with pytest.raises(InvalidParameter, match=r"'\.\.' segment"):
        repo.write_bytes("../escape.txt", b"")
    with pytest.raises(InvalidParameter, match="refused"):
        repo.open_reader("%2e%2e/%2e%2e/etc/passwd")


def test_resolution_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_proxied_uri("mlflow-artifacts:/1/r/artifacts", "http://h:5000") == (
        "mlflow-artifacts://h:5000/1/r/artifacts"
    )
    assert resolve_proxied_uri("mlflow-artifacts:/1", "https://h") == "mlflow-artifacts+https://h/1"
    assert resolve_proxied_uri("file:///x", "http://h:1") == "file:///x"
    assert resolve_proxied_uri("mlflow-artifacts:/1", "duckdb:///s.duckdb") == "mlflow-artifacts:/1"
    reset_tracking_state()
    mt.set_tracking_uri(f"duckdb:///{tmp_path}/s.duckdb")
    try:
        with pytest.raises(InvalidParameter, match=r"mt\.set_tracking_uri"):
            get_artifact_repository("mlflow-artifacts:/1/r/artifacts")
    finally:
        reset_tracking_state()
    monkeypatch.setenv("MLTRACK_ARTIFACT_TIMEOUT_S", "5")
    repo = get_artifact_repository("mlflow-artifacts://127.0.0.1:9/x")  # discard port
    with pytest.raises(StoreUnavailable, match="could not be reached"):
        repo.list_artifacts()
