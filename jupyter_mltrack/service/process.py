"""The owner of a store: election, the DuckDB connection, the unix socket, reaping, idling.

One :class:`StoreOwner` per store, in one of two hosts:

- the detached service, ``python -m jupyter_mltrack.service --store PATH`` (:func:`main`),
  started by the first client that needs the store (:mod:`.discovery`); it exits after
  ``idle_timeout_s`` without requests and without live runs, or on SIGTERM;
- the jupyter_server extension, which calls :func:`start_store_owner` on its IOLoop and
  :meth:`StoreOwner.stop` when the server stops (no idle exit).

Both serve the same API (:mod:`.api`) on ``DIR/store.duckdb.sock`` (mode 0600).

Example (what the server extension does)::

    owner = start_store_owner(tracking_uri, kind="jupyter")
    if owner is not None:   # else another process owns the store: be its client
        self.handlers.extend(owner.handlers(authenticated=True))
    ...
    await owner.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.ioloop
import tornado.netutil
import tornado.web

from ..config import normalize_uri, resolve_duckdb_path
from ..errors import MltrackError, StoreUnavailable
from ..settings import (
    DEFAULT_HEARTBEAT_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_RUN_TIMEOUT_S,
    ENV_HEARTBEAT_S,
    ENV_IDLE_TIMEOUT_S,
    ENV_RUN_TIMEOUT_S,
    env_seconds,
)
from ..store.duckdb.migrations import SCHEMA_VERSION
from ..store.duckdb.store import DuckDBStore
from ..store.schemes import register_local_store, unregister_local_store
from .api import API_BASE, RouteSpec, make_handlers
from .ingest import Ingestor
from .liveness import Reaper
from .owner import (
    OwnerLock,
    StorePaths,
    read_lock_info,
)

__all__ = [
    "OwnerSettings",
    "StoreOwner",
    "main",
    "run_service",
    "start_store_owner",
]

log = logging.getLogger("jupyter_mltrack.service")


#: Exit code of a service that could not open its store (the reason is in the lock file).
EXIT_STORE_ERROR = 3
#: Threads running store calls (API requests, ingest, the reaper) in an owner.
STORE_THREADS = 8


@dataclass(frozen=True, slots=True)
class OwnerSettings:
    """Timing of an owner; ``idle_timeout_s=None`` never exits on idleness (Jupyter).

    ``heartbeat_s`` is what clients are told to use (``GET /info``); it is capped at a
    third of ``run_timeout_s`` so that a live run is never reaped.
    """

    run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        object.__setattr__(self, "heartbeat_s", min(self.heartbeat_s, self.run_timeout_s / 3))

    @classmethod
    def from_env(cls, *, idle: bool = True) -> OwnerSettings:
        """From ``MLTRACK_RUN_TIMEOUT_S``, ``MLTRACK_HEARTBEAT_S``, ``MLTRACK_IDLE_TIMEOUT_S``."""
        return cls(
            run_timeout_s=env_seconds(ENV_RUN_TIMEOUT_S, DEFAULT_RUN_TIMEOUT_S),
            heartbeat_s=env_seconds(ENV_HEARTBEAT_S, DEFAULT_HEARTBEAT_S),
            idle_timeout_s=(
                env_seconds(ENV_IDLE_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S) if idle else None
            ),
        )

    @property
    def tick_s(self) -> float:
        """How often the reaper looks for quiet runs."""
        return max(0.1, min(self.run_timeout_s / 4, 5.0))


class _Activity(tornado.httputil.HTTPServerConnectionDelegate):
    """Wraps the app to note the time of every request (for the idle exit)."""

    def __init__(self, app: tornado.web.Application, touch: Callable[[], None]) -> None:
        self.app = app
        self.touch = touch

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        self.touch()
        return self.app.start_request(server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


@dataclass
class _Timers:
    reap: tornado.ioloop.PeriodicCallback | None = None
    idle: tornado.ioloop.PeriodicCallback | None = None
    tick: Future[Any] | None = None


class StoreOwner:
    """Owns one store (create it with :func:`start_store_owner`).

    ``store`` (also ``duckdb``) holds the only DuckDB connection; its reads run on read
    cursors, so they never wait for commits; ``executor`` the threads that run store
    calls (API requests, ingest, reaping). ``ingest``, ``heartbeat`` and ``info`` are the
    collaborators the API handlers take (:func:`.api.make_handlers`).
    """

    def __init__(
        self,
        paths: StorePaths,
        lock: OwnerLock,
        duck: DuckDBStore,
        kind: str,
        settings: OwnerSettings,
    ) -> None:
        self.paths = paths
        self.lock = lock
        self.duckdb = duck
        self.store = duck
        self.kind = kind
        self.settings = settings
        # Several threads: batches waiting for a commit are grouped (see .ingest), and reads
        # run beside commits on read cursors; the store's write lock serializes writes.
        self.executor = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="mltrack-store")
        self.ingestor = Ingestor(duck, paths.spool)
        self.reaper = Reaper(duck, settings.run_timeout_s, before_kill=self._ingest_client)
        self.last_request = time.monotonic()
        self.on_idle: Callable[[], None] | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._timers = _Timers()
        self._stopped = False

    # ------------------------------------------------------- API collaborators
    def ingest(self, table: Any, client_id: str | None, seq: int | None) -> dict[str, Any]:
        """``POST /metric-batches`` (runs on the store executor)."""
        return self.ingestor(table, client_id, seq)

    def ingest_many(
        self, tables: list[Any], client_id: str | None, seq: int | None
    ) -> dict[str, Any]:
        """``POST /metric-batches`` with several chunks (runs on the store executor)."""
        return self.ingestor.many(tables, client_id, seq)

    def heartbeat(self, body: dict[str, Any]) -> None:
        """``POST /heartbeats`` (runs on the IOLoop: only notes it in memory)."""
        self.reaper.record(body)

    def info(self) -> dict[str, Any]:
        """``GET /info``: who serves the store, how, and what it has done."""
        from .._version import __version__

        return {
            "version": __version__,
            "store_path": str(self.paths.store),
            "pid": os.getpid(),
            "kind": self.kind,
            "schema_version": SCHEMA_VERSION,
            "socket": str(self.paths.socket),
            "started_ms": self.lock.started_ms,
            "heartbeat_s": self.settings.heartbeat_s,
            "run_timeout_s": self.settings.run_timeout_s,
            "idle_timeout_s": self.settings.idle_timeout_s,
            "live_runs": self.reaper.live_runs,
            "ingest": self.ingestor.stats.as_dict(),
        }

    def handlers(
        self, base_path: str = API_BASE, *, authenticated: bool = False
    ) -> list[RouteSpec]:
        """The API routes for this store (the server extension adds them to its own)."""
        return make_handlers(
            lambda: self.store,
            base_path,
            ingest=self.ingest,
            ingest_many=self.ingest_many,
            heartbeat=self.heartbeat,
            info=self.info,
            authenticated=authenticated,
            executor=self.executor,
        )

    # ---------------------------------------------------------------- serving
    def _touch(self) -> None:
        self.last_request = time.monotonic()

    def serve_socket(self) -> None:
        """Listen on the store's unix socket (mode 0600) on the current IOLoop."""
        app = tornado.web.Application(self.handlers(), log_function=_log_request)
        path = str(self.paths.socket)
        old_umask = os.umask(0o177)  # no moment where the socket is open to others
        try:
            sock = tornado.netutil.bind_unix_socket(path, mode=0o600)
        except OSError as exc:
            raise StoreUnavailable(
                f"Could not listen on the store service socket {path} ({exc.strerror}). "
                "Check that the store's directory is writable, or that no other program "
                "created a file with that name.",
                path=str(self.paths.store),
            ) from exc
        finally:
            os.umask(old_umask)
        self._server = tornado.httpserver.HTTPServer(_Activity(app, self._touch))
        self._server.add_socket(sock)
        self.lock.write_info(self.paths.socket)

    def start_timers(self) -> None:
        """Start the reaper (and, with an idle timeout, the idle check) on this IOLoop."""
        self._timers.reap = tornado.ioloop.PeriodicCallback(
            self._schedule_tick, self.settings.tick_s * 1000
        )
        self._timers.reap.start()
        if self.settings.idle_timeout_s is not None:
            every = max(0.05, min(1.0, self.settings.idle_timeout_s / 4))
            self._timers.idle = tornado.ioloop.PeriodicCallback(self._check_idle, every * 1000)
            self._timers.idle.start()

    def _schedule_tick(self) -> None:
        running = self._timers.tick
        if self._stopped or (running is not None and not running.done()):
            return
        self._timers.tick = self.executor.submit(self._tick)

    def _tick(self) -> None:
        try:
            self.reaper.tick()
            # clients that died between writing a spool file and getting its acknowledgement
            self.ingestor.ingest_spool(older_than_s=max(2.0, self.settings.run_timeout_s))
        except Exception:
            log.exception("The reaper failed; it runs again in %.1f s", self.settings.tick_s)

    def _ingest_client(self, client_id: str) -> None:
        report = self.ingestor.ingest_spool(client_ids={client_id})
        if report.files:
            log.info(
                "Ingested %d spool file(s) (%d rows) of client %s before ending its runs.",
                report.files,
                report.rows,
                client_id,
            )

    def idle_for(self) -> float:
        """Seconds since the last request."""
        return time.monotonic() - self.last_request

    def _check_idle(self) -> None:
        timeout = self.settings.idle_timeout_s
        if timeout is None or self._stopped or self.idle_for() < timeout:
            return
        if self.reaper.live_runs:
            return  # stay to end runs whose client dies without a word
        log.info("No request for %.0f s and no live runs: exiting.", self.idle_for())
        if self.on_idle is not None:
            self.on_idle()

    # ---------------------------------------------------------------- stopping
    async def stop(self) -> None:
        """Stop serving, finish running store calls, close DuckDB, remove the socket and
        release the lock (idempotent; call on the IOLoop that serves the socket)."""
        if self._stopped:
            return
        self._stopped = True
        for timer in (self._timers.reap, self._timers.idle):
            if timer is not None:
                timer.stop()
        if self._server is not None:
            self._server.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.close_all_connections(), 5)
        await asyncio.get_running_loop().run_in_executor(None, self._close_blocking)

    def _close_blocking(self) -> None:
        self.executor.shutdown(wait=True)
        try:
            self.reaper.flush()
        except Exception:
            log.exception("Could not save the last heartbeats")
        self._release()

    def _release(self) -> None:
        unregister_local_store(self.paths.store, self.store)
        try:
            self.store.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                if self._server is not None:
                    self.paths.socket.unlink()
            self.lock.release()
        log.info("Released the store %s.", self.paths.store)

    def __repr__(self) -> str:
        return f"<StoreOwner {self.kind} {self.paths.store} pid={os.getpid()}>"


def _log_request(handler: tornado.web.RequestHandler) -> None:
    # Access logs at thousands of batches a second would drown the service log.
    status = handler.get_status()
    if status >= 500:
        log.warning("%s %s -> %d", handler.request.method, handler.request.uri, status)


def start_store_owner(
    store: str | os.PathLike[str],
    *,
    kind: str = "jupyter",
    settings: OwnerSettings | None = None,
    wait_s: float = 0.3,
    artifact_root: str | None = None,
) -> StoreOwner | None:
    """Become the owner of a DuckDB store and serve it on the current IOLoop.

    ``kind`` is ``"jupyter"``, ``"service"`` or ``"server"`` (``mltrack server``);
    ``artifact_root`` is where new experiments keep their artifacts (default: an
    ``artifacts`` directory beside the store file).

    Takes the election lock, opens the store (migrating it), ingests leftover spool files,
    ends runs whose heartbeats stopped while no owner ran, binds the unix socket and starts
    the reaper. Call on the IOLoop thread. Returns ``None`` when another process owns the
    store (use ``jupyter_mltrack.store.schemes.get_store(uri)`` to be its client).

    Raises ``StoreLocked`` (naming the process) when a foreign program holds the DuckDB
    file, ``StoreUnavailable`` for an unusable lock file or socket path.
    """
    paths = StorePaths.for_store(resolve_duckdb_path(normalize_uri(os.fspath(store))))
    settings = settings or OwnerSettings.from_env(idle=kind == "service")
    lock = OwnerLock.try_acquire(paths, kind, wait_s=wait_s)
    if lock is None:
        return None
    try:
        lock.write_info(None, starting=True)
        duck = DuckDBStore("duckdb://" + str(paths.store), artifact_root)
        duck.db.warm_up()  # before serving: the first batch must not pay the imports
    except MltrackError as exc:
        lock.write_error(exc)
        lock.release(keep_info=True)
        raise
    except BaseException:
        lock.release()
        raise
    owner = StoreOwner(paths, lock, duck, kind, settings)
    try:
        report = owner.ingestor.ingest_spool()
        if report.files or report.corrupt:
            log.info(
                "Ingested %d leftover spool file(s): %d rows, %d already in, %d unreadable.",
                report.files,
                report.rows,
                report.duplicates,
                len(report.corrupt),
            )
        owner.reaper.tick()
        register_local_store(paths.store, owner.store)
        owner.serve_socket()
        owner.start_timers()
    except BaseException:
        owner.executor.shutdown(wait=False)
        owner._release()
        raise
    log.info("Serving %s on %s (pid %d, %s).", paths.store, paths.socket, os.getpid(), kind)
    return owner


# ------------------------------------------------------------- the service
async def _serve_until_stopped(store: Path, settings: OwnerSettings) -> int:
    try:
        owner = start_store_owner(store, kind="service", settings=settings)
    except MltrackError as exc:
        log.error("Cannot serve the store %s: %s", store, exc.message)
        return EXIT_STORE_ERROR
    if owner is None:
        info = read_lock_info(StorePaths.for_store(store))
        holder = info.describe() if info else "another process"
        log.info("The store %s is already owned by %s; exiting.", store, holder)
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    owner.on_idle = stop.set
    try:
        await stop.wait()
    finally:
        await owner.stop()
    return 0


def run_service(store: str | os.PathLike[str], settings: OwnerSettings) -> int:
    """Serve ``store`` until idle or SIGTERM; the process's exit code.

    0: served and exited cleanly, or another owner already serves the store;
    3: the store could not be opened (the error is in the lock file and the log).
    """
    path = Path(store).expanduser().resolve()
    return asyncio.run(_serve_until_stopped(path, settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_mltrack.service",
        description="Serve one jupyter-mltrack DuckDB store on its unix socket until idle.",
    )
    parser.add_argument("--store", required=True, help="path of the DuckDB store file")
    defaults = OwnerSettings.from_env()
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle_timeout_s,
        metavar="S",
        help="exit after S seconds without requests and without live runs (default %(default)s)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=defaults.run_timeout_s,
        metavar="S",
        help="end a RUNNING run as KILLED after S seconds without heartbeats (default %(default)s)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=defaults.heartbeat_s,
        metavar="S",
        help="heartbeat interval clients are told to use (default %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jupyter_mltrack.service``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [pid {os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    settings = OwnerSettings(
        run_timeout_s=args.run_timeout,
        heartbeat_s=args.heartbeat,
        idle_timeout_s=args.idle_timeout,
    )
    return run_service(args.store, settings)
