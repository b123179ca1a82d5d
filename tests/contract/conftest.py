"""Backends of the TrackingStore contract suite.

- ``direct``: a ``DuckDBStore`` on a file in ``tmp_path``;
- ``remote``: a ``RemoteStore`` talking to the real tornado API on a unix socket, served
  from a background thread, in front of a ``DuckDBStore`` like the direct one.

Every test in ``test_tracking_store.py`` runs against both with the same assertions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_mltrack.service.api import make_app
from jupyter_mltrack.service.api_thread import ServerThread
from jupyter_mltrack.store.base import TrackingStore
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.remote import RemoteStore

BACKENDS = ("direct", "remote")


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/api.sock``, or a short temp dir when that path is over the OS limit."""
    path = tmp_path / "api.sock"
    if len(str(path).encode()) < 100:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mlt") as short:
        yield Path(short) / "api.sock"


@pytest.fixture
def duckdb_store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore("duckdb://" + str(tmp_path / "store" / "store.duckdb"))
    yield store
    store.close()


@dataclass
class Served:
    """The remote leg's parts: the store behind the API, the server and a client."""

    direct: DuckDBStore
    server: ServerThread
    remote: RemoteStore


@pytest.fixture
def served(duckdb_store: DuckDBStore, socket_path: Path) -> Iterator[Served]:
    server = ServerThread(make_app(duckdb_store), socket_path).start()
    remote = RemoteStore(duckdb_store.uri, server.endpoint, timeout=30)
    yield Served(duckdb_store, server, remote)
    remote.close()
    server.stop()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> TrackingStore:
    """The store under test: ``direct`` or ``remote`` (see the module docstring)."""
    if request.param == "direct":
        direct: DuckDBStore = request.getfixturevalue("duckdb_store")
        return direct
    remote: RemoteStore = request.getfixturevalue("served").remote
    return remote
