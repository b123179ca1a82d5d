"""Running ``mltrack server``: open the backend, bind the port, serve, stop gracefully.

:func:`serve` is the whole life of the process::

    options validated -> backend opened (DuckDB: this process becomes the store's owner)
    -> app built -> TCP port bound -> "listening" line on stdout -> serve
    -> SIGTERM / SIGINT -> stop accepting -> wait for requests in flight (up to
       ``drain_s``) -> backend.stop() (running store calls finish, heartbeats flushed,
       DuckDB closed, lock released) -> close the remaining connections -> exit 0

The line ``mltrack server listening on http://HOST:PORT (pid N)`` is printed (and
flushed) once the port accepts connections; tests and scripts wait for it. With
``--port 0`` the port is the one the OS picked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil

from ..errors import InvalidParameter, StoreUnavailable
from ..service.metrics import register_source, unregister_source
from .app import build_app
from .backend import open_backend
from .options import ServerOptions

__all__ = ["DRAIN_S", "MAX_BODY_BYTES", "main_loop", "serve"]

log = logging.getLogger("jupyter_mltrack.teamserver")

#: Seconds a stopping server waits for requests in flight before closing connections.
DRAIN_S = 20.0
#: ``--workers N``: seconds a kept-alive connection lives before the server closes it after a
#: response, so long-running clients spread over the processes (``app._Tracked``).
RECONNECT_AFTER_S = 1.0
#: Largest request body read into memory (a batch request of 32 x 10,000 points is ~5 MB;
#: streamed routes such as artifact uploads raise their own limit).
MAX_BODY_BYTES = 512 * 1024 * 1024


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(options: ServerOptions) -> list[socket.socket]:
    try:
        return tornado.netutil.bind_sockets(options.port, options.host)
    except OSError as exc:
        why = exc.strerror or str(exc)
        hint = (
            "another process listens on it: pick another --port (or 0 for a free one)"
            if exc.errno == 98
            else "check --host names an interface of this machine"
        )
        raise StoreUnavailable(
            f"mltrack server could not listen on {options.host}:{options.port} ({why}); {hint}."
        ) from exc


def _auth(options: ServerOptions, backend: Any) -> Any:
    """The auth setup of ``--auth`` (None without it).

    A PostgreSQL backend keeps users, tokens and grants in its own database (schema
    ``mltrack_auth``), so every process serving it shares them; a DuckDB one in
    ``auth.sqlite`` beside the store file (or ``--auth-db``).
    """
    if not options.auth:
        return None
    from .auth import setup_auth
    from .pg_backend import PostgresBackend

    where: Path | str | None = options.auth_db
    if isinstance(backend, PostgresBackend):
        if where is not None:
            raise InvalidParameter(
                "--auth-db is for a DuckDB backend store: with a PostgreSQL one the users, "
                "tokens and permissions live in that database (schema mltrack_auth), shared "
                "by every server process. Drop --auth-db."
            )
        where = backend.uri
    elif where is None:
        where = options.store_path.parent / "auth.sqlite"
    return setup_auth(where, default_permission=options.auth_default_permission)


def _tls(options: ServerOptions) -> ssl.SSLContext | None:
    if options.certfile is None and options.keyfile is None:
        return None
    if options.certfile is None:
        raise InvalidParameter("--keyfile needs --certfile (the certificate chain) too.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.certfile, options.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameter(f"--certfile/--keyfile could not be loaded: {exc}.") from None
    return context


async def serve(
    options: ServerOptions,
    *,
    stop: asyncio.Event | None = None,
    bound: list[socket.socket] | None = None,
    on_listening: Callable[[], None] | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set); returns the exit code (0).

    ``bound``: sockets already listening (the workers of ``--workers N`` share the parent's);
    ``on_listening``: called instead of printing the "listening" line (a worker tells its
    parent, which prints it once every worker serves; see :mod:`.workers`).
    """
    options = options.validated()
    artifacts = options.artifacts_destination
    assert artifacts is not None  # validated() fills it
    if options.s3_endpoint_url:
        from ..artifacts.s3 import ENV_S3_ENDPOINT_URL

        os.environ[ENV_S3_ENDPOINT_URL] = options.s3_endpoint_url  # read by s3_client()
    sockets = bound or _bind(options)  # before owning the store: a taken port changes nothing
    options = replace(options, port=sockets[0].getsockname()[1])
    try:
        backend = open_backend(options.backend_store_uri, artifacts)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    server: tornado.httpserver.HTTPServer | None = None
    app = None
    auth = None
    try:
        auth = _auth(options, backend)
        app = build_app(
            backend,
            expose_metrics=options.expose_metrics,
            auth=auth,
            reconnect_after_s=RECONNECT_AFTER_S if options.workers > 1 else None,
        )
        register_source(backend.metrics_source)
        server = tornado.httpserver.HTTPServer(
            app,
            max_body_size=MAX_BODY_BYTES,
            max_buffer_size=MAX_BODY_BYTES,
            xheaders=True,
            ssl_options=_tls(options),
        )
        server.add_sockets(sockets)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if not _is_loopback(options.host) and auth is None:
            log.warning(
                "Listening on %s: anyone who can reach this port can read and write every "
                "run (start it with --auth, docs/auth.md, or put a reverse proxy with auth "
                "in front).",
                options.host,
            )
        if on_listening is not None:
            on_listening()
        else:
            print(
                f"mltrack server listening on {options.url} (pid {os.getpid()}); store "
                f"{options.backend_store_uri}, artifacts {options.artifacts_destination}",
                flush=True,
            )
        log.info("Serving %s on %s", options.backend_store_uri, options.url)
        await stop.wait()
        log.info("Stopping: finishing %d request(s) in flight.", app.in_flight)
    finally:
        if server is not None:
            server.stop()  # no new connections
        if app is not None and not await app.wait_idle(DRAIN_S):
            log.warning("%d request(s) still running after %.0f s.", app.in_flight, DRAIN_S)
        unregister_source(backend.metrics_source)
        await backend.stop()
        if auth is not None:
            auth.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.close_all_connections(), 5)
    log.info("Stopped.")
    return 0


def main_loop(options: ServerOptions) -> int:
    """Run :func:`serve` in a new event loop, logging to stderr (the CLI's entry point)."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [pid {os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    if options.workers > 1:
        from .workers import run_workers

        return run_workers(options)
    return asyncio.run(serve(options))
