"""Serve a tornado app on a unix socket from a background thread (tests, benchmarks).

The thread runs its own IOLoop; :meth:`ServerThread.stop` stops listening, closes
open connections, closes the loop, joins the thread, shuts the app's store executor
down and removes the socket file, so a test leaves nothing running.

Example::

    with ServerThread(make_app(store), tmp_path / "api.sock") as server:
        RemoteStore(store.uri, server.endpoint).get_run(run_id)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from .api import shutdown_app

__all__ = ["ServerThread"]


class ServerThread:
    """``app`` served on the unix socket ``socket_path`` (mode 0600) by a daemon thread."""

    def __init__(self, app: tornado.web.Application, socket_path: str | os.PathLike[str]) -> None:
        self.app = app
        self.socket_path = Path(socket_path)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: tornado.ioloop.IOLoop | None = None
        self._thread = threading.Thread(target=self._main, name="mltrack-api", daemon=True)

    @property
    def endpoint(self) -> str:
        """``unix:///path/to.sock``, the endpoint a ``RemoteStore`` takes."""
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving; returns once the socket accepts connections (or raises)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"The API thread did not start within {timeout} s.")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _main(self) -> None:
        loop = tornado.ioloop.IOLoop()
        server = tornado.httpserver.HTTPServer(self.app)
        try:

            async def listen() -> None:
                sock = tornado.netutil.bind_unix_socket(str(self.socket_path), mode=0o600)
                server.add_socket(sock)

            loop.run_sync(listen)
            self._loop = loop
        except BaseException as exc:
            self._error = exc
            loop.close(all_fds=True)
            self._ready.set()
            return
        self._ready.set()
        loop.start()
        server.stop()
        loop.run_sync(server.close_all_connections)
        loop.close(all_fds=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and clean up; safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.add_callback(loop.stop)
            self._thread.join(timeout)
        shutdown_app(self.app)
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
