"""A real ``mltrack server`` process for tests: start it on a free port, stop it by PID.

Usage (any test module; ``tests/`` is on ``sys.path``)::

    from server_support import start_mltrack_server

    def test_x(tmp_path):
        with start_mltrack_server(tmp_path) as server:
            client = MlflowClient(server.url)
            ...
            server.kill()            # kill -9
            server = server.restart()  # same store, same port

or the fixture ``mltrack_server`` (import it into a conftest or module:
``from server_support import mltrack_server_fixture as mltrack_server``).
:func:`api_call` sends one JSON request with basic auth or a bearer token
(``--auth`` servers) and returns the status and the decoded body.

The server binds 127.0.0.1 on a port the OS picked (``--port 0``), prints its URL on
stdout, and is stopped with SIGTERM (then SIGKILL) by its PID when the block ends. Its
stderr is in ``server.log_path``, shown when it fails to start.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ServerProcess", "api_call", "mltrack_server_fixture", "start_mltrack_server"]

_LISTENING = re.compile(r"mltrack server listening on (http://\S+) \(pid (\d+)\)")
#: Seconds to wait for a server to start (a loaded 2-core CI machine imports slowly).
START_TIMEOUT_S = float(os.environ.get("MLTRACK_TEST_SERVER_START_S", "60"))


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@dataclass
class ServerProcess:
    """One running ``mltrack server``; ``url`` is ``http://127.0.0.1:PORT``."""

    url: str
    pid: int
    port: int
    store: Path
    artifacts: Path
    log_path: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    _log_file: object = field(default=None, repr=False)

    @property
    def store_uri(self) -> str:
        return "duckdb://" + str(self.store)

    def alive(self) -> bool:
        return self.proc.poll() is None and not _gone(self.pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 10.0) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            data: bytes = answer.read()
            return data

    def kill(self) -> None:
        """``kill -9``: no cleanup at all (committed data must survive)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop), SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        return int(self.proc.returncode)

    def restart(self) -> ServerProcess:
        """Start a new server on the same store and port (after :meth:`kill` or :meth:`stop`);
        this object then stands for the new process (``pid`` changes, ``url`` does not)."""
        self.stop()
        new = _launch(self.args, self.env, self.store, self.artifacts, self.log_path)
        self.pid, self.proc, self._log_file = new.pid, new.proc, new._log_file
        return self

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _launch(
    args: list[str], env: dict[str, str], store: Path, artifacts: Path, log_path: Path
) -> ServerProcess:
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log_file, env=env, start_new_session=True
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    assert proc.stdout is not None
    line = b""
    os.set_blocking(proc.stdout.fileno(), False)  # poll: a hung server must not hang the test
    buffer = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        buffer += chunk
        match = _LISTENING.search(buffer.decode(errors="replace"))
        if match:
            line = match.group(0).encode()
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    match = _LISTENING.search(line.decode())
    if match is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        log_file.close()
        log = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(
            f"mltrack server did not start within {START_TIMEOUT_S:g} s (exit "
            f"{proc.returncode}); stdout {buffer[-500:]!r}; log:\n{log}"
        )
    url = match.group(1)
    return ServerProcess(
        url=url,
        pid=int(match.group(2)),
        port=int(url.rsplit(":", 1)[1]),
        store=store,
        artifacts=artifacts,
        log_path=log_path,
        args=_with_port(args, url.rsplit(":", 1)[1]),  # a restart keeps the port
        env=env,
        proc=proc,
        _log_file=log_file,
    )


def _with_port(args: list[str], port: str) -> list[str]:
    i = args.index("--port")
    return [*args[: i + 1], port, *args[i + 2 :]]


def start_mltrack_server(
    tmp_path: Path,
    *,
    store: Path | None = None,
    artifacts: Path | None = None,
    expose_metrics: bool = True,
    extra_args: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start ``mltrack server`` on 127.0.0.1 and a free port; returns once it listens.

    Args:
        tmp_path: where the store (``server/store.duckdb``), the artifacts
            (``server/artifacts``) and the log (``server/server.log``) go by default.
        store, artifacts: other locations.
        expose_metrics: pass ``--expose-metrics``.
        extra_args: more command-line arguments.
        env: extra environment variables for the server process.
    """
    base = tmp_path / "server"
    base.mkdir(parents=True, exist_ok=True)
    store = store or base / "store.duckdb"
    artifacts = artifacts or base / "artifacts"
    args = [
        sys.executable,
        "-m",
        "jupyter_mltrack.cli",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--backend-store-uri",
        "duckdb://" + str(store),
        "--artifacts-destination",
        str(artifacts),
        *(["--expose-metrics"] if expose_metrics else []),
        *(extra_args or []),
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return _launch(args, full_env, store, artifacts, base / "server.log")


@pytest.fixture
def mltrack_server_fixture(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running ``mltrack server`` on a fresh store in ``tmp_path``; stopped afterwards."""
    server = start_mltrack_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def api_call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    auth: tuple[str, str] | str | None = None,
) -> tuple[int, dict[str, Any]]:
    """``method path`` at the server ``url`` with a JSON ``body``; ``auth`` a (username,
    password) pair for basic auth or a bearer token. HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if isinstance(auth, tuple):
        pair = base64.b64encode(":".join(auth).encode()).decode()
        req.add_header("Authorization", "Basic " + pair)
    elif isinstance(auth, str):
        req.add_header("Authorization", "Bearer " + auth)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"text": raw.decode(errors="replace")}
