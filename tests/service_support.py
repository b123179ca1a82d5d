"""Helpers for the store service tests: a store with short timeouts, processes, teardown.

Every process a test starts (workers, CLI calls) and every store service started for the
test's store (found by its unique store path in ``/proc/<pid>/cmdline``) is stopped by PID
when the test ends.

Import the fixture ``service_env`` in a test module or conftest:
``from service_support import service_env_fixture``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "failure" / "workers.py"

#: Liveness timings short enough for a fast suite (docs/service.md has the defaults).
SHORT_TIMEOUTS = {
    "MLTRACK_HEARTBEAT_S": "0.5",
    "MLTRACK_RUN_TIMEOUT_S": "2",
    "MLTRACK_IDLE_TIMEOUT_S": "60",
}


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.02)
    return process_gone(pid)


def service_pids(store: Path) -> list[int]:
    """PIDs of store service processes started for ``store`` (by their command line)."""
    found = []
    needle = str(store).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"jupyter_mltrack.service" in argv
            and needle in argv
            and not process_gone(int(entry.name))
        ):
            found.append(int(entry.name))
    return found


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@dataclass
class ServiceEnv:
    """A fresh store for one test, the environment its processes get, and their PIDs."""

    root: Path
    store: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return "duckdb://" + str(self.store)

    @property
    def lock(self) -> Path:
        return self.store.with_name(self.store.name + ".lock")

    @property
    def log(self) -> Path:
        return self.store.parent / "service.log"

    @property
    def spool(self) -> Path:
        return self.store.parent / "spool"

    def lock_info(self) -> dict[str, Any]:
        try:
            text = self.lock.read_text()
        except FileNotFoundError:
            return {}
        return json.loads(text) if text.strip() else {}

    def owner_pid(self) -> int | None:
        """The PID of the live owner (lock held and info written), else None."""
        from jupyter_mltrack.service.owner import StorePaths, lock_is_held

        info = self.lock_info()
        if info.get("socket") and lock_is_held(StorePaths.for_store(self.store)):
            return int(info["pid"])
        return None

    def wait_owner(self, timeout: float = 15.0, not_pid: int | None = None) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.owner_pid()
            if pid is not None and pid != not_pid:
                return pid
            time.sleep(0.02)
        raise AssertionError(f"no owner for {self.store} within {timeout} s: {self.lock_info()}")

    def popen(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, **kw: Any
    ) -> subprocess.Popen[bytes]:
        """Start a tracked process with this store's environment."""
        kw.setdefault("stdin", subprocess.PIPE)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(list(args), env={**self.env, **(env or {})}, **kw)
        self.procs.append(proc)
        return proc

    def worker(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``python tests/failure/workers.py ARGS`` (see that file for the roles)."""
        return self.popen([sys.executable, str(WORKERS), *args], env=env)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mltrack.cli", *args, "--tracking-uri", str(self.store)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
                proc.communicate(timeout=10)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        for pid in service_pids(self.store):
            kill_pid(pid)
            wait_gone(pid, 10)


def make_service_env(root: Path, **extra: str) -> ServiceEnv:
    store = root / "store" / "store.duckdb"
    env = {
        **os.environ,
        "MLTRACK_STORE_MODE": "service",
        "MLTRACK_TRACKING_URI": "duckdb://" + str(store),
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p
        ),
        "PYTHONUNBUFFERED": "1",
        **SHORT_TIMEOUTS,
        **extra,
    }
    return ServiceEnv(root, store, env)


@pytest.fixture(name="service_env")
def service_env_fixture(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceEnv]:
    """A store in service mode with short timeouts, in this process and its children."""
    from jupyter_mltrack.testing import reset_tracking_state

    # a short root keeps the socket beside the store (the long-path case has its own test)
    senv = make_service_env(tmp_path_factory.mktemp("svc", numbered=True))
    for key in ("MLTRACK_STORE_MODE", "MLTRACK_TRACKING_URI", *SHORT_TIMEOUTS):
        monkeypatch.setenv(key, senv.env[key])
    reset_tracking_state()
    try:
        yield senv
    finally:
        reset_tracking_state()
        senv.stop_all()


def sql_rows(store: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` through the store's owner (or directly when none runs)."""
    from jupyter_mltrack.store.schemes import get_store

    return list(get_store("duckdb://" + str(store)).sql(query).fetchall())
