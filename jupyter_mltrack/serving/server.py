"""``mltrack models serve``: a supervisor and N worker processes accepting on one socket.

The supervisor binds the listening socket once and starts the workers
(``python -m jupyter_mltrack.serving.worker``), each inheriting the socket and running the
:class:`~.app.ScoringApp` under uvicorn; the kernel spreads connections across them, so
CPU-bound models use every core. Connections arriving while a worker (re)loads wait in the
socket's backlog instead of being refused.

* A worker that dies is replaced; one whose prediction outlived ``--timeout`` finishes its
  other requests and is replaced (its thread cannot be interrupted).
* SIGTERM or SIGINT: the workers stop accepting, finish the requests in flight (up to
  ``grace_s``), then exit; the supervisor exits 0.
* Metrics are collected across workers (prometheus_client's multiprocess mode in a
  temporary directory removed on exit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from types import FrameType

from ..errors import InvalidParameter, MltrackError
from .app import ServeOptions

__all__ = ["ENV_OPTIONS", "ServeFailed", "serve"]

#: the worker's options travel in the environment (the auth token must not be in argv)
ENV_OPTIONS = "MLTRACK_SERVE_OPTIONS"
#: a worker that cannot load the model exits with this code; the supervisor then gives up
EXIT_LOAD_FAILED = 3


class ServeFailed(MltrackError):
    """The server could not start (the model did not load, the port is taken)."""


@dataclasses.dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    ready_r: int
    ready: bool = False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeFailed(
            f"Cannot listen on {host}:{port} ({exc.strerror}); pick another --port."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    options: ServeOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    grace_s: float = 30.0,
    log: Callable[[str], None] | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0 after a graceful stop)."""
    options.validate()
    if not 1 <= workers <= 64:
        raise InvalidParameter(f"--workers must be between 1 and 64; got {workers}")
    if not 0 <= port <= 65535:
        raise InvalidParameter(f"--port must be between 0 and 65535; got {port}")
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="mltrack-serve-metrics-")
    env = dict(os.environ)
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    env[ENV_OPTIONS] = json.dumps(dataclasses.asdict(options))
    env.setdefault("PYTHONUNBUFFERED", "1")

    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def start() -> _Worker:
        ready_r, ready_w = os.pipe()
        cmd = [
            sys.executable,
            "-m",
            "jupyter_mltrack.serving.worker",
            str(sock.fileno()),
            str(ready_w),
            str(grace_s),
        ]
        proc = subprocess.Popen(cmd, env=env, pass_fds=(sock.fileno(), ready_w))
        os.close(ready_w)
        return _Worker(proc, ready_r)

    pool = [start() for _ in range(workers)]
    announced = False
    code = 0
    try:
        while not stopping:
            pending = {w.ready_r: w for w in pool if not w.ready}
            if pending:
                readable, _, _ = select.select(list(pending), [], [], 0.2)
                for fd in readable:
                    w = pending[fd]
                    with contextlib.suppress(OSError):
                        if os.read(fd, 1):
                            w.ready = True
            else:
                time.sleep(0.2)
            if not announced and any(w.ready for w in pool):
                announced = True
                say(
                    f"Serving {options.model_uri} on http://{host}:{bound_port} "
                    f"({workers} worker{'s' if workers > 1 else ''}, pid {os.getpid()})"
                )
            for i, w in enumerate(pool):
                rc = w.proc.poll()
                if rc is None or stopping:
                    continue
                with contextlib.suppress(OSError):
                    os.close(w.ready_r)
                if rc == EXIT_LOAD_FAILED and not w.ready:
                    raise ServeFailed(
                        f"The model {options.model_uri} could not be loaded (see the error "
                        "above); the server did not start."
                    )
                say(f"worker pid {w.proc.pid} exited ({rc}); starting a new one")
                pool[i] = start()
    except ServeFailed:
        code = 1
        raise
    finally:
        _stop_all(pool, grace_s)
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for s, h in previous.items():
            signal.signal(s, h)
        if code == 0 and announced:
            say("Server stopped.")
    return code


def _stop_all(pool: list[_Worker], grace_s: float) -> None:
    for w in pool:
        if w.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                w.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s + 5
    for w in pool:
        try:
            w.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()
        with contextlib.suppress(OSError):
            os.close(w.ready_r)
