"""``mltrack server --artifacts-destination s3://...`` against a real S3 server (SeaweedFS).

The unchanged mlflow client logs and downloads artifacts through the server's proxy (it
has no S3 credentials: its environment has none), and the objects land in the bucket
under the prefix, at ``<prefix>/<experiment>/<run>/artifacts/...``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from s3_support import S3Server
from s3_support import s3_server_fixture as s3_server  # noqa: F401  (fixture)
from server_support import start_mltrack_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402


def test_mlflow_client_logs_artifacts_into_s3_through_the_proxy(
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811  (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = s3_server.new_prefix() + "/team"
    prefix = uri.split("/", 3)[3]
    env = {k: v for k, v in s3_server.env.items() if k != "MLTRACK_S3_ENDPOINT_URL"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLTRACK_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)  # the client side has no S3 credentials
    with start_mltrack_server(
        tmp_path,
        extra_args=["--artifacts-destination", uri, "--s3-endpoint-url", s3_server.endpoint],
        env=env,
    ) as server:
        client = MlflowClient(server.url)
        exp = client.create_experiment("s3-team")
        assert client.get_experiment(exp).artifact_location == f"mlflow-artifacts:/{exp}"
        run = client.create_run(exp)
        run_id = run.info.run_id
        big = tmp_path / "weights.bin"
        big.write_bytes(os.urandom(12 * 1024 * 1024))  # over one multipart part
        client.log_artifact(run_id, str(big), "model")
        client.log_text(run_id, "hello", "notes/readme.txt")

        names = {f.path for f in client.list_artifacts(run_id)}
        assert names == {"model", "notes"}
        local = client.download_artifacts(run_id, "model/weights.bin", str(tmp_path / "dl"))
        assert Path(local).read_bytes() == big.read_bytes()

        listed = s3_server.client().list_objects_v2(
            Bucket=s3_server.bucket, Prefix=f"{prefix}/{exp}/{run_id}/artifacts/"
        )
        keys = {o["Key"].rsplit("/artifacts/", 1)[1]: o["Size"] for o in listed["Contents"]}
        assert keys == {"model/weights.bin": big.stat().st_size, "notes/readme.txt": 5}
