"""Fixtures shared by the integration and browser tests: real Jupyter servers as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Each test's store is used by one process at a time: open it directly rather than start a
# store service per test. The service tests (tests/integration/test_service_*, tests/failure)
# set MLTRACK_STORE_MODE=service for the processes they start.
os.environ.setdefault("MLTRACK_STORE_MODE", "direct")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # surface 302s (e.g. to the login page) instead of following them


_opener = urllib.request.build_opener(_NoRedirect)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class JupyterProcess:
    """A `jupyter server` or `jupyter lab` started by :func:`start_jupyter`."""

    url: str  # base URL, ending in "/"
    token: str
    root_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, *, token: bool = True) -> tuple[int, bytes]:
        """GET ``path`` (relative to the base URL) without following redirects.

        Returns the status and body; HTTP errors are returned, not raised.
        """
        request = urllib.request.Request(self.url + path.lstrip("/"))
        if token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with _opener.open(request, timeout=10) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_json(self, path: str) -> object:
        status, body = self.get(path)
        assert status == 200, f"GET {path} -> {status}: {body[:500]!r}"
        return json.loads(body)

    def stop(self) -> None:
        """Stop the server by its PID, then anything left in its process group (kernels)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _wait_ready(server: JupyterProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        with contextlib.suppress(OSError):
            if server.get("api/status")[0] == 200:
                return
        time.sleep(0.25)
    server.stop()
    log = server.log.read_text(errors="replace")[-4000:]
    pytest.fail(f"Jupyter did not become ready at {server.url}; log tail:\n{log}")


@pytest.fixture(scope="session")
def start_jupyter(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., JupyterProcess]]:
    """Factory: ``start_jupyter("server"|"lab", *extra_args, env={...}, base_url="/")``.

    Returns a ready server (readiness is polled at ``<base_url>api/status``).

    Each server binds 127.0.0.1 on a free port, has its own temp root, runtime and config
    dirs, and is stopped by PID at the latest when the session ends (``.stop()`` stops it
    earlier). ``env`` entries with value None are removed from the environment.
    """
    started: list[JupyterProcess] = []

    def start(
        app: str = "server",
        *extra_args: str,
        env: dict[str, str | None] | None = None,
        base_url: str = "/",
    ) -> JupyterProcess:
        base = tmp_path_factory.mktemp(f"jupyter-{app}")
        root = base / "root"
        root.mkdir()
        port, token = free_port(), f"test-token-{os.getpid()}-{len(started)}"
        full_env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        log = base / "server.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab" if app == "lab" else "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--ServerApp.base_url={base_url}",
            *extra_args,
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
            )
        server = JupyterProcess(f"http://127.0.0.1:{port}{base_url}", token, root, proc, log)
        started.append(server)
        _wait_ready(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test that used an ``mltrack server`` shows whether it was still running and
    the end of its log (a refused connection alone does not say why)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        log, alive = getattr(value, "log", None), getattr(value, "alive", None)
        if callable(log) and callable(alive) and hasattr(value, "log_path"):
            state = "running" if alive() else f"exited ({value.proc.poll()})"
            report.sections.append((f"mltrack server {name!r}: {state}", str(log())[-4000:]))


@pytest.fixture(autouse=True)
def _mlflow_uris_do_not_leak() -> Iterator[None]:
    """``mlflow.set_tracking_uri``/``set_registry_uri`` are process-wide: a test that set them
    for its server would send a later test's registry calls to that stopped server."""
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and hasattr(mlflow, "set_registry_uri"):
        mlflow.set_registry_uri(None)
        mlflow.set_tracking_uri(None)
