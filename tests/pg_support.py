"""A real PostgreSQL server for tests: ``initdb`` into a temp dir, a free port, stopped by PID.

Usage (``tests/`` is on ``sys.path``)::

    from pg_support import postgres_server_fixture  # the session fixture ``postgres_server``

    def test_x(postgres_server):
        uri = postgres_server.create_database()   # a fresh, empty database
        store = PostgresStore(uri)

The binaries are the Debian package's (``/usr/lib/postgresql/<version>/bin``, or
``$MLTRACK_TEST_PG_BIN``; ``.ci/run`` installs ``postgresql`` when missing). When the
server cannot start the fixture FAILS, it never skips: tests that need PostgreSQL must
run in CI. As root (CI containers) the cluster is made and run as user ``postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_server_fixture", "start_postgres"]

USER = "mltrack"


def _bin_dir() -> Path:
    explicit = os.environ.get("MLTRACK_TEST_PG_BIN")
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install the "
            "Debian package `postgresql` (.ci/run does) or set MLTRACK_TEST_PG_BIN.",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running PostgreSQL cluster (trust authentication, user ``mltrack``)."""

    bin_dir: Path
    base: Path
    port: int
    as_postgres: bool
    log_path: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off"
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if done.returncode != 0:
            log = (
                self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            )
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{log}")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster by its PID (``fast``: SIGINT, ``immediate``: SIGQUIT)."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT if mode == "immediate" else signal.SIGINT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URI."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def drop_database(self, uri: str) -> None:
        import psycopg

        name = uri.rsplit("/", 1)[1]
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres() -> PostgresServer:
    """initdb into a new temp dir and start the server on a free port (FAILS the test when
    it cannot)."""
    bin_dir = _bin_dir()
    as_postgres = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="mltrack-pg-"))
    if as_postgres:
        shutil.chown(base, "postgres", "postgres")
    server = PostgresServer(bin_dir, base, _free_port(), as_postgres, base / "pg.log")
    try:
        server._run("initdb", "-D", str(server.data), "-U", USER, "--auth=trust", "-E", "UTF8")
        server.start()
    except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"Could not start PostgreSQL from {bin_dir}: {exc} {detail}", pytrace=False)
    return server


@pytest.fixture(scope="session", name="postgres_server")
def postgres_server_fixture() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session; stopped by PID and removed at the end."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop("immediate")  # throwaway data: no shutdown checkpoint
        shutil.rmtree(server.base, ignore_errors=True)
