"""``start_store_owner``: what the jupyter_server extension calls to own the default store.

Here the IOLoop runs in a thread of the test process (the server's loop, in Jupyter);
clients are real processes in service mode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from service_support import ServiceEnv, service_env_fixture, service_pids  # noqa: F401

from jupyter_mltrack.service.api_thread import ServerThread
from jupyter_mltrack.service.process import OwnerSettings, StoreOwner, start_store_owner
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.remote.store import RemoteStore
from jupyter_mltrack.store.schemes import get_store

T = TypeVar("T")
SETTINGS = OwnerSettings(run_timeout_s=2.0, heartbeat_s=0.5, idle_timeout_s=None)


class LoopThread:
    """An asyncio/tornado loop in a daemon thread, like the Jupyter server's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


def _start(loop: LoopThread, senv: ServiceEnv) -> StoreOwner | None:
    async def start() -> StoreOwner | None:
        return start_store_owner(senv.store, kind="jupyter", settings=SETTINGS)

    return loop.run(start)


def test_the_server_process_owns_the_store_and_serves_kernels(
    service_env: ServiceEnv, server_loop: LoopThread
) -> None:
    owner = _start(server_loop, service_env)
    assert owner is not None
    try:
        info = service_env.lock_info()
        assert info["kind"] == "jupyter" and info["pid"] == service_env.wait_owner()
        # in the server process itself, get_store hands out the owned store
        assert get_store(service_env.uri) is owner.store
        # a kernel (any other process) is served by this owner; no service is started
        writer = service_env.worker("writer", "--points", "5000", "--flush-every", "1000")
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err.decode()[-2000:]
        run_id = out.decode().split("done ")[1].split()[0]
        assert service_pids(service_env.store) == []
        assert len(owner.store.get_metric_history(run_id, "x")) == 5000
        assert owner.ingestor.stats.rows == 5000

        stop = service_env.cli("service", "stop")
        assert stop.returncode == 1 and "served by a Jupyter server" in stop.stderr
        status = service_env.cli("service", "status")
        assert "Jupyter server, pid" in status.stdout and "never exits" in status.stdout
    finally:
        server_loop.run(owner.stop)
    assert service_env.owner_pid() is None and service_env.lock_info() == {}
    assert not owner.paths.socket.exists()
    DuckDBStore(service_env.uri).close()  # the file is free again


def test_the_same_api_serves_the_servers_own_routes(
    service_env: ServiceEnv, server_loop: LoopThread
) -> None:
    owner = _start(server_loop, service_env)
    assert owner is not None
    import tornado.web

    app = tornado.web.Application(owner.handlers())
    try:
        with ServerThread(app, service_env.root / "http.sock") as extra:
            remote = RemoteStore(service_env.uri, extra.endpoint)
            run = remote.create_run("0", "r", 0, "u", {}, None)
            remote.heartbeat("host-1-aa", 1, [run.info.run_id])
            assert remote.info()["kind"] == "jupyter"
            remote.close()
        assert owner.store.get_run(run.info.run_id).info.run_name == "r"
    finally:
        server_loop.run(owner.stop)


def test_a_store_already_served_elsewhere_is_not_taken(
    service_env: ServiceEnv, server_loop: LoopThread
) -> None:
    get_store(service_env.uri)  # starts the detached service
    service_pid = service_env.wait_owner()
    assert _start(server_loop, service_env) is None
    assert service_env.owner_pid() == service_pid


def test_a_killed_kernels_run_is_ended_by_the_server(
    service_env: ServiceEnv, server_loop: LoopThread
) -> None:
    owner = _start(server_loop, service_env)
    assert owner is not None
    try:
        writer = service_env.worker("hanging-writer", "--points", "100", "--extra", "100")
        assert writer.stdout is not None
        run_id = writer.stdout.readline().split()[1].decode()
        while not writer.stdout.readline().startswith(b"spooled"):
            pass
        writer.kill()
        writer.wait(10)
        end = time.monotonic() + 15
        while owner.store.run_state(run_id)[0] != "KILLED" and time.monotonic() < end:
            time.sleep(0.1)
        assert owner.store.run_state(run_id)[0] == "KILLED"
        assert len(owner.store.get_metric_history(run_id, "x")) == 200
    finally:
        server_loop.run(owner.stop)
