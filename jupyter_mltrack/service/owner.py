"""Who owns a store: the election lock, the lock-file info and where the socket lives.

Beside ``DIR/store.duckdb`` (docs/service-design.md)::

    store.duckdb.lock   held with an exclusive ``flock`` by the owner for its whole life;
                        holds JSON: pid, socket, started_ms, kind ("service" | "jupyter" |
                        "direct"), store, host, version (or "error" after a failed start)
    store.duckdb.sock   the owner's unix socket (elsewhere when that path is too long)
    spool/              client spool files (:mod:`.spool`)
    service.log         stdout/stderr of the detached service

A lock whose owner died is released by the kernel, so a stale lock needs no cleanup:
the next owner takes it, overwrites the info and rebinds the socket file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MltrackError, StoreUnavailable
from ..store.remote.spool import spool_dir_for_store_file

__all__ = [
    "SOCKET_PATH_MAX",
    "LockInfo",
    "OwnerLock",
    "StorePaths",
    "lock_is_held",
    "read_lock_info",
    "resolve_socket_path",
]

#: Longest usable unix socket path in bytes (``sun_path`` minus its NUL): 107 on Linux.
SOCKET_PATH_MAX = 103 if sys.platform == "darwin" else 107


@dataclass(frozen=True, slots=True)
class StorePaths:
    """Every file the service keeps beside one store file."""

    store: Path
    lock: Path
    socket: Path
    spool: Path
    log: Path

    @classmethod
    def for_store(cls, store: str | os.PathLike[str]) -> StorePaths:
        """The paths for the DuckDB file ``store`` (made absolute)."""
        path = Path(store).expanduser().resolve()
        return cls(
            store=path,
            lock=path.with_name(path.name + ".lock"),
            socket=resolve_socket_path(path),
            spool=spool_dir_for_store_file(path),
            log=path.parent / "service.log",
        )


def _fits(path: Path) -> bool:
    return len(os.fsencode(str(path))) <= SOCKET_PATH_MAX


def resolve_socket_path(store: Path) -> Path:
    """``DIR/store.duckdb.sock``, or a short path in a private directory when that is too long.

    The fallback is ``$XDG_RUNTIME_DIR/mltrack-<h>.sock``, else
    ``/tmp/mltrack-<uid>/<h>.sock`` (a 0700 directory of this user), with ``<h>`` the
    first 16 hex digits of the SHA-1 of the store path. Raises ``StoreUnavailable``
    when no candidate fits or the private directory is not safe to use.
    """
    beside = store.with_name(store.name + ".sock")
    if _fits(beside):
        return beside
    digest = hashlib.sha1(str(store).encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        candidate = Path(runtime) / f"mltrack-{digest}.sock"
        if _fits(candidate):
            return candidate
    private = Path(tempfile.gettempdir()) / f"mltrack-{os.getuid()}"
    candidate = private / f"{digest}.sock"
    if not _fits(candidate):
        raise StoreUnavailable(
            f"The socket path for the store {store} is longer than the {SOCKET_PATH_MAX} bytes "
            f"the OS allows ({beside}), and so is the fallback {candidate}. Set TMPDIR or "
            "XDG_RUNTIME_DIR to a short directory, or move the store to a shorter path.",
            path=str(store),
        )
    _ensure_private_dir(private)
    return candidate


def _ensure_private_dir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not path.is_dir() or path.is_symlink() or st.st_uid != os.getuid():
        raise StoreUnavailable(
            f"{path} (the directory for store service sockets) is not a directory owned by "
            f"this user (uid {os.getuid()}); remove it or set TMPDIR to another directory."
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)


@dataclass(frozen=True, slots=True)
class LockInfo:
    """What the lock file says about its (current or last) owner."""

    pid: int | None
    kind: str | None
    socket: str | None
    started_ms: int | None
    store: str | None
    host: str | None
    error: dict[str, Any] | None
    written_ms: int | None

    def describe(self) -> str:
        """``"the store service (pid 123)"`` and the like, for messages."""
        what = {
            "service": "the store service",
            "jupyter": "a Jupyter server",
            "server": "mltrack server",
        }.get(self.kind or "", "a process that opened the store directly")
        return f"{what} (pid {self.pid})" if self.pid else what


def read_lock_info(paths: StorePaths) -> LockInfo | None:
    """The lock file's JSON, or ``None`` when it is missing, empty or unreadable."""
    try:
        text = paths.lock.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None

    def _int(key: str) -> int | None:
        value = data.get(key)
        return value if isinstance(value, int) else None

    def _str(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    error = data.get("error")
    return LockInfo(
        pid=_int("pid"),
        kind=_str("kind"),
        socket=_str("socket"),
        started_ms=_int("started_ms"),
        store=_str("store"),
        host=_str("host"),
        error=error if isinstance(error, dict) else None,
        written_ms=_int("written_ms"),
    )


def lock_is_held(paths: StorePaths) -> bool:
    """Whether some process (this one included) holds the election lock now."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except PermissionError:
        return True  # not ours to take anyway; the caller's open will say why
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# Forked children must not keep an owner's lock alive after the owner dies: they close
# their copy of every lock descriptor (the parent's copy keeps the lock).
_held: weakref.WeakSet[OwnerLock] = weakref.WeakSet()


def _close_inherited_locks() -> None:
    for lock in list(_held):
        lock._forget_in_child()


os.register_at_fork(after_in_child=_close_inherited_locks)


class OwnerLock:
    """The exclusive election lock on ``store.duckdb.lock``; at most one per store.

    Example::

        lock = OwnerLock.try_acquire(paths, "service")
        if lock is None:
            ...  # another process owns the store
        lock.write_info(socket=paths.socket)
        ...
        lock.release()
    """

    def __init__(self, paths: StorePaths, kind: str, fd: int) -> None:
        self.paths = paths
        self.kind = kind
        self._fd: int | None = fd
        self._guard = threading.Lock()
        self.started_ms = _now_ms()
        _held.add(self)

    @classmethod
    def try_acquire(cls, paths: StorePaths, kind: str, *, wait_s: float = 0.0) -> OwnerLock | None:
        """Take the lock, or return ``None`` when another process holds it.

        ``wait_s`` retries for that long: a client probing the lock holds it shared for
        a moment, which must not make a starting owner give up.
        Raises ``StoreUnavailable`` when the lock file cannot be created or opened.
        """
        try:
            paths.lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError as exc:
            raise _permission_error(paths, exc) from exc
        except OSError as exc:
            raise StoreUnavailable(
                f"Could not create the lock file {paths.lock} ({exc.strerror}); check that "
                "the store's directory exists and is writable.",
                path=str(paths.store),
            ) from exc
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(paths, kind, fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.02)
            except OSError:
                os.close(fd)
                raise

    @property
    def held(self) -> bool:
        return self._fd is not None

    def write_info(self, socket_path: Path | None = None, **extra: Any) -> None:
        """Replace the lock file's JSON with this owner's pid, kind, socket and ``extra``."""
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "kind": self.kind,
            "socket": None if socket_path is None else str(socket_path),
            "started_ms": self.started_ms,
            "store": str(self.paths.store),
            "host": socket.gethostname(),
            "written_ms": _now_ms(),
            **extra,
        }
        self._write(json.dumps(info).encode())

    def write_error(self, error: MltrackError) -> None:
        """Record why this owner could not start, for the client that is waiting for it."""
        self.write_info(None, error=error.to_dict())

    def _write(self, data: bytes) -> None:
        with self._guard:
            if self._fd is None:
                return
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
            os.fsync(self._fd)

    def release(self, *, keep_info: bool = False) -> None:
        """Give the lock up (idempotent); the info is cleared unless ``keep_info``."""
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if not keep_info:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        _held.discard(self)

    def _forget_in_child(self) -> None:
        fd, self._fd = self._fd, None
        self._guard = threading.Lock()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"<OwnerLock {self.paths.lock} kind={self.kind} {state}>"


def _permission_error(paths: StorePaths, exc: OSError) -> StoreUnavailable:
    where = paths.lock.parent
    try:
        import pwd

        owner = pwd.getpwuid(where.stat().st_uid).pw_name
        whose = f" (it belongs to user {owner!r})"
    except (OSError, KeyError, ImportError):
        whose = ""
    return StoreUnavailable(
        f"Permission denied: cannot open the lock file {paths.lock} beside the store "
        f"{paths.store}{whose} ({errno.errorcode.get(exc.errno or 0, exc.errno)}). The store "
        "service needs to write in the store's directory: ask its owner for write access "
        "or point MLTRACK_TRACKING_URI at a store you own.",
        path=str(paths.store),
    )
