"""``mltrack server --workers N``: N server processes on one listening socket.

Only for a PostgreSQL backend (the processes share nothing but the database). The parent
binds the port, forks the workers (each runs :func:`.process.serve` on the inherited
sockets with its own connection pool: nothing is opened before the fork), waits until
every one of them serves, then prints the usual line::

    mltrack server listening on http://HOST:PORT (pid PARENT); store ..., N workers

The kernel spreads new connections over the workers. SIGTERM/SIGINT to the parent is
passed to every worker (each drains its requests in flight and closes its pool) and the
parent exits once they have. A worker that dies on its own is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import replace

from .options import ServerOptions

__all__ = ["run_workers"]

log = logging.getLogger("jupyter_mltrack.teamserver")

#: Seconds the parent waits for every worker to serve before it gives up.
START_TIMEOUT_S = 120.0


def _worker(options: ServerOptions, sockets: list[object], ready_fd: int) -> None:
    from .process import serve

    for handler in logging.root.handlers:  # the parent's format names the parent's pid
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s [pid {os.getpid()}] %(levelname)s %(name)s: %(message)s"
            )
        )

    def ready() -> None:
        os.write(ready_fd, b"r")

    code = 1
    try:
        code = asyncio.run(serve(options, bound=sockets, on_listening=ready))  # type: ignore[arg-type]
    except BaseException:
        log.exception("Worker %d failed", os.getpid())
    finally:
        os._exit(code)


def run_workers(options: ServerOptions) -> int:
    """Run ``options.workers`` server processes (see the module docstring); exit code."""
    from .process import _bind

    options = options.validated()
    sockets = _bind(options)
    options = replace(options, port=sockets[0].getsockname()[1])
    read_fd, write_fd = os.pipe()
    children: dict[int, int] = {}  # pid -> slot
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _worker(options, list(sockets), write_fd)
        children[pid] = slot

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for slot in range(options.workers):
        spawn(slot)
    deadline = time.monotonic() + START_TIMEOUT_S
    ready = 0
    while ready < options.workers and not stopping:
        if time.monotonic() > deadline or _reap_any(children) is not None:
            log.error("A worker did not start; stopping the others.")
            forward(signal.SIGTERM, None)
            _wait_all(children)
            return 1
        with contextlib.suppress(InterruptedError, BlockingIOError):
            os.set_blocking(read_fd, False)
            ready += len(os.read(read_fd, 64))
        time.sleep(0.02)
    if not stopping:
        print(
            f"mltrack server listening on {options.url} (pid {os.getpid()}); store "
            f"{options.backend_store_uri}, artifacts {options.artifacts_destination}, "
            f"{options.workers} workers",
            flush=True,
        )
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        lost = children.pop(pid) if pid in children else None
        if lost is not None and not stopping:
            log.warning("Worker %d exited (status %d); starting another.", pid, status)
            spawn(lost)
    for sock in sockets:
        sock.close()
    return 0


def _reap_any(children: dict[int, int]) -> int | None:
    for pid in list(children):
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.pop(pid, None)
            return pid
    return None


def _wait_all(children: dict[int, int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        children.pop(pid, None)
    sys.stdout.flush()
