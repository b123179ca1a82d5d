"""Find the owner of a DuckDB store, or start one: no user configuration.

:func:`open_store` is the ``duckdb`` store factory (entry point group
``jupyter_mltrack.stores``, see ``store/schemes.py``):

- an owner living in this process (a Jupyter server, a direct-mode script): its store;
- ``MLTRACK_STORE_MODE=direct``: open the file here (:class:`DirectStore`, holding the
  election lock so that no service starts behind its back); when a service or Jupyter
  already serves the store, use it instead, so the switch stays invisible;
- ``MLTRACK_STORE_MODE=service`` (the default): a :class:`ServiceStore` bound to the live
  owner, found through the lock file and its socket; with none, the detached service is
  started and awaited (``MLTRACK_SERVICE_START_TIMEOUT_S``, default 10 s).

The client side of the service (``ServiceStore``, its spool, heartbeats and transport)
lives in ``store/remote/``; :class:`OwnerConnector` is what it asks for the owner.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .._proc import pid_alive
from ..config import resolve_duckdb_path
from ..errors import MltrackError, StoreLocked, StoreUnavailable
from ..settings import API_BASE, ENV_STORE_MODE, service_start_timeout_s, store_mode
from ..store.base import TrackingStore
from ..store.duckdb.service_ops import ingest_metric_table
from ..store.duckdb.store import DuckDBStore
from ..store.remote.service_store import ServiceStore
from ..store.remote.spool import ingest_spool
from ..store.remote.transport import Transport
from ..store.schemes import local_store, register_local_store, unregister_local_store
from .owner import LockInfo, OwnerLock, StorePaths, lock_is_held, read_lock_info

__all__ = ["DirectStore", "OwnerConnector", "open_direct", "open_service", "open_store"]

log = logging.getLogger("jupyter_mltrack.service.discovery")

_LOG_ROTATE_BYTES = 1_000_000
_MAX_SPAWNS = 5
# Starts the service and exits at once, so that the service is nobody's child (no zombie,
# no Popen to keep) and runs in its own session: argv = log path, then the command.
_LAUNCHER = (
    "import subprocess, sys\n"
    "with open(sys.argv[1], 'ab') as log:\n"
    "    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,\n"
    "                         stderr=subprocess.STDOUT, start_new_session=True)\n"
    "print(p.pid)\n"
)


def open_store(uri: str) -> TrackingStore:
    """The store for a ``duckdb:`` URI in the mode in force (see the module docstring)."""
    paths = StorePaths.for_store(resolve_duckdb_path(uri))
    owned: TrackingStore | None = local_store(paths.store)
    if owned is not None:
        return owned
    if store_mode() == "direct":
        return open_direct(uri, paths)
    return open_service(uri, paths)


# ------------------------------------------------------------------ direct
class DirectStore(DuckDBStore):
    """A DuckDB store opened by this process, which holds the election lock meanwhile."""

    def __init__(self, uri: str, lock: OwnerLock) -> None:
        self.owner_lock = lock
        super().__init__(uri)

    def close(self) -> None:
        try:
            super().close()
        finally:
            unregister_local_store(self.path, self)
            self.owner_lock.release()


def open_direct(uri: str, paths: StorePaths | None = None) -> TrackingStore:
    """Open the store file in this process (``MLTRACK_STORE_MODE=direct``).

    Leftover spool files are ingested first. When a service or Jupyter server owns the
    store, a :class:`ServiceStore` is returned instead; when another direct-mode process
    holds it, ``StoreLocked`` names that process.
    """
    paths = paths or StorePaths.for_store(resolve_duckdb_path(uri))
    lock = OwnerLock.try_acquire(paths, "direct", wait_s=0.3)
    if lock is None:
        info = read_lock_info(paths)
        if info is not None and info.kind in ("service", "jupyter", "server"):
            log.debug("direct mode: %s serves %s; using it", info.describe(), paths.store)
            return open_service(uri, paths)
        raise _held_directly(paths, info)
    try:
        lock.write_info(None)
        store = DirectStore("duckdb://" + str(paths.store), lock)
    except BaseException:
        lock.release()
        raise
    try:
        ingest_spool(paths.spool, lambda t, c, s: ingest_metric_table(store, t, c, s))
    except BaseException:
        store.close()
        raise
    register_local_store(paths.store, store)
    return store


def _held_directly(paths: StorePaths, info: LockInfo | None) -> StoreLocked:
    holder = info.describe() if info is not None else "another process"
    return StoreLocked(
        f"The store {paths.store} is open in {holder}, which uses it alone "
        f"({ENV_STORE_MODE}=direct). Wait for it to finish, or stop it; then the store is "
        "shared through the store service again.",
        path=str(paths.store),
        pid=info.pid if info is not None else None,
    )


# ----------------------------------------------------------------- service
class OwnerConnector:
    """Finds the live owner of one store, starting the detached service when there is none."""

    def __init__(self, paths: StorePaths, *, start_timeout_s: float | None = None) -> None:
        self.paths = paths
        self.start_timeout_s = start_timeout_s or service_start_timeout_s()
        self.info: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def store_path(self) -> Path:
        return self.paths.store

    @property
    def spool_dir(self) -> Path:
        return self.paths.spool

    def find(self) -> str | None:
        """The endpoint of the live owner answering on its socket, else ``None``."""
        lock_info = read_lock_info(self.paths)
        if lock_info is None or not lock_info.socket or not lock_is_held(self.paths):
            return None
        endpoint = "unix://" + lock_info.socket
        probe = Transport(endpoint, timeout=5.0)
        try:
            info = probe.request("GET", API_BASE + "/info").raise_for_error().json()
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, PermissionError):
                raise _socket_denied(self.paths, lock_info) from exc
            return None
        finally:
            probe.close()
        if not isinstance(info, dict) or info.get("store_path") != str(self.paths.store):
            return None
        self.info = info
        return endpoint

    def resolve(self) -> str:
        """The endpoint of the owner, started if needed; raises a clear error otherwise."""
        with self._lock:
            return self._resolve()

    def _resolve(self) -> str:
        _check_readable(self.paths)
        started = time.monotonic()
        attempt_ms = time.time_ns() // 1_000_000
        child: int | None = None  # the pid of the service this call started
        spawns = 0
        while True:
            endpoint = self.find()
            if endpoint is not None:
                return endpoint
            info = read_lock_info(self.paths)
            if lock_is_held(self.paths):
                if info is not None and info.kind == "direct" and info.pid != os.getpid():
                    raise _held_directly(self.paths, info)
            elif child is None or not pid_alive(child):
                if info is not None and info.error and (info.written_ms or 0) >= attempt_ms:
                    raise MltrackError.from_dict(info.error)  # e.g. StoreLocked, by PID
                if child is not None and not _owned_since(info, child, attempt_ms):
                    raise self._start_failed()
                if spawns >= _MAX_SPAWNS:
                    raise self._start_failed()
                if info is not None and info.pid and not pid_alive(info.pid):
                    log.info(
                        "The owner pid %s of %s died; starting a new one.",
                        info.pid,
                        self.paths.store,
                    )
                child = self._spawn()
                spawns += 1
            if time.monotonic() - started > self.start_timeout_s:
                raise self._not_answering(info)
            time.sleep(0.03)

    def _spawn(self) -> int:
        """Start the detached service; its pid."""
        paths = self.paths
        try:
            paths.store.parent.mkdir(parents=True, exist_ok=True)
            if paths.log.is_file() and paths.log.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(paths.log, paths.log.with_name(paths.log.name + ".1"))
            with open(paths.log, "ab"):
                pass
        except PermissionError as exc:
            raise StoreUnavailable(
                f"Permission denied: cannot write {exc.filename} beside the store "
                f"{paths.store}. The store service keeps its lock, socket and log there; "
                "ask the directory's owner for write access or use a store you own.",
                path=str(paths.store),
            ) from exc
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(paths.log), *_service_command(paths)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=paths.store.parent,
            env=_child_env(),
            timeout=30,
            check=False,
        )
        text = launched.stdout.decode(errors="replace").strip()
        if launched.returncode != 0 or not text.isdigit():
            why = launched.stderr.decode(errors="replace").strip()[-2000:]
            raise StoreUnavailable(
                f"Could not start the store service for {paths.store}: {why or text}",
                path=str(paths.store),
            )
        log.debug("started the store service pid %s for %s", text, paths.store)
        return int(text)

    def _log_tail(self) -> str:
        try:
            lines = self.paths.log.read_text(errors="replace").splitlines()[-8:]
        except OSError:
            return ""
        return "\n".join("    " + line for line in lines)

    def _start_failed(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"The store service for {self.paths.store} exited before serving. Last lines of "
            f"{self.paths.log}:\n{self._log_tail()}",
            path=str(self.paths.store),
        )

    def _not_answering(self, info: LockInfo | None) -> StoreUnavailable:
        holder = info.describe() if info is not None else "a process"
        return StoreUnavailable(
            f"The store {self.paths.store} is owned by {holder}, which did not answer on "
            f"its socket within {self.start_timeout_s:g} s. It may still be starting (a big "
            "leftover spool) or be stuck: see `mltrack service status` and "
            f"{self.paths.log}; `mltrack service stop` stops it.",
            path=str(self.paths.store),
            pid=info.pid if info is not None else None,
        )


def _owned_since(info: LockInfo | None, child: int, attempt_ms: int) -> bool:
    """Whether another process took the lock after ``attempt_ms`` (our service lost to it)."""
    return (
        info is not None and info.pid not in (None, child) and (info.started_ms or 0) >= attempt_ms
    )


def _service_command(paths: StorePaths) -> list[str]:
    return [sys.executable, "-m", "jupyter_mltrack.service", "--store", str(paths.store)]


def _child_env() -> dict[str, str]:
    # The child must import this very package, also when it runs from a source checkout.
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


def _check_readable(paths: StorePaths) -> None:
    if paths.lock.exists() and not os.access(paths.lock, os.R_OK | os.W_OK):
        try:
            import pwd

            whose = f" (it belongs to {pwd.getpwuid(paths.lock.stat().st_uid).pw_name!r})"
        except (OSError, KeyError):
            whose = ""
        raise StoreUnavailable(
            f"Permission denied: cannot use the lock file {paths.lock}{whose}. The store "
            f"{paths.store} is another user's; each user needs their own store: point "
            "MLTRACK_TRACKING_URI at a store you own.",
            path=str(paths.store),
        )


def _socket_denied(paths: StorePaths, info: LockInfo) -> StoreUnavailable:
    return StoreUnavailable(
        f"Permission denied on the store service socket {info.socket}: the store "
        f"{paths.store} is served by {info.describe()}, which runs as another user. Each "
        "user needs their own store; point MLTRACK_TRACKING_URI at a store you own.",
        path=str(paths.store),
    )


def open_service(uri: str, paths: StorePaths | None = None) -> ServiceStore:
    """A :class:`ServiceStore` for the store at ``uri`` (finding or starting its owner)."""
    paths = paths or StorePaths.for_store(resolve_duckdb_path(uri))
    return ServiceStore(uri, OwnerConnector(paths))
