"""The tornado application of ``mltrack server``: which routes are mounted, in what order.

Routes (first match wins):

1. our store API under ``/mltrack/api/v1`` (``service/api.py``: the very handlers the
   local store service and the Jupyter server extension serve; our client speaks it),
   artifact locations under the destination given as ``mlflow-artifacts:/...``
   (:mod:`.proxied`), so our client moves files through the proxy as MLflow's does;
2. the MLflow REST layer (``jupyter_mltrack.mlflow_rest``: ``/api/2.0/mlflow/...``,
   ``/ajax-api/...``, the ``mlflow-artifacts`` proxy, ``/health``, ``/version``), mounted
   by :func:`mlflow_routes` when that package is installed;
3. ``/metrics`` (Prometheus text format) with ``--expose-metrics``;
4. anything else: a JSON 404 in the API's error shape.

The application records every finished request in the Prometheus request metrics and
keeps the set of requests in flight, so a graceful stop can wait for them
(:meth:`TeamApplication.wait_idle`). It holds no other state: the backend has it all.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import time
import weakref
from typing import Any

import tornado.httputil
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ..service.api import RouteSpec
from ..service.api_base import REQUEST_ID_HEADER, error_response
from ..service.metrics import RouteLabels, observe_request
from ..settings import API_BASE
from ..store.remote.wire import dumps
from .backend import Backend
from .proxied import proxy_store_routes

__all__ = ["MLFLOW_REST_MODULE", "TeamApplication", "build_app", "mlflow_routes"]

log = logging.getLogger("jupyter_mltrack.teamserver")

#: The package of the MLflow REST layer, imported lazily (it may not be installed).
MLFLOW_REST_MODULE = "jupyter_mltrack.mlflow_rest"


class MetricsHandler(tornado.web.RequestHandler):
    """``GET /metrics``: prometheus_client's default registry in the text format."""

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(REGISTRY))


class NotFoundHandler(tornado.web.RequestHandler):
    """Any path no route serves: a JSON 404 in the API's error shape, not tornado's HTML."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        request_id = self._headers.get(REQUEST_ID_HEADER) or "-"
        status, body = error_response(exc, status_code, request_id)
        if status == 404:
            body["message"] = (
                f"No route {self.request.method} {self.request.path} on this mltrack server; "
                f"our API is under {API_BASE}, MLflow's under /api/2.0/mlflow (docs/server.md)."
            )
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(body))


class TeamApplication(tornado.web.Application):
    """A ``tornado.web.Application`` that counts requests in flight and records metrics."""

    def __init__(
        self,
        routes: list[RouteSpec],
        *,
        auth: Any = None,
        reconnect_after_s: float | None = None,
        **settings: Any,
    ) -> None:
        self.labels = RouteLabels(routes)
        #: ``--workers N``: a kept-alive connection older than this is closed after its
        #: current response (``Connection: close``; see :class:`_Tracked`)
        self.reconnect_after_s = reconnect_after_s
        self._opened: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
        #: ``--auth``: the Authenticator every request passes first (teamserver/auth/gate.py)
        self.auth = auth
        self._active: set[object] = set()
        super().__init__(
            routes,
            default_handler_class=NotFoundHandler,
            log_function=self._finished,
            **settings,
        )

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        # Called for a keep-alive connection's *next* request before any byte of it came:
        # a request counts as in flight from its headers on.
        delegate = super().start_request(server_conn, request_conn)
        if self.auth is not None:  # authentication of every route, in this one place
            from .auth.gate import AuthGate

            delegate = AuthGate(
                delegate, request_conn, self.auth, lambda: self._active.discard(request_conn)
            )
        closing = False
        if self.reconnect_after_s is not None:
            opened = self._opened.setdefault(server_conn, time.monotonic())
            closing = time.monotonic() - opened >= self.reconnect_after_s
        return _Tracked(delegate, request_conn, self._active, closing)

    def _finished(self, handler: tornado.web.RequestHandler) -> None:
        self._active.discard(handler.request.connection)
        observe_request(handler, self.labels)
        if handler.get_status() >= 500:
            log.warning(
                "%s %s -> %d", handler.request.method, handler.request.uri, handler.get_status()
            )

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered."""
        return len(self._active)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight; False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while self._active:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class _Tracked(tornado.httputil.HTTPMessageDelegate):
    """Passes everything on; a connection closed mid-request stops counting as in flight.

    ``closing``: answer this request with ``Connection: close`` and then close. With
    ``--workers N`` the processes share one listening socket, and a client keeps the
    connection it got for as long as it runs: 8 clients connecting at once landed 6 and 2
    (server CPU 3.4 s against 1.0 s), so one process did three quarters of the work. A
    connection reopened every ``reconnect_after_s`` lands on whichever process accepts first,
    the less busy one; the clients (ours, MLflow's, any HTTP/1.1 client) reconnect on their
    own, before their next request.
    """

    def __init__(
        self,
        inner: tornado.httputil.HTTPMessageDelegate,
        conn: object,
        active: set[object],
        closing: bool = False,
    ) -> None:
        self.inner = inner
        self.conn = conn
        self.active = active
        self.closing = closing

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Any:
        self.active.add(self.conn)
        if self.closing:
            # tornado's HTTP1Connection decided keep-alive from the request's headers just
            # before this call; set here, it sends "Connection: close" and closes on finish
            self.conn._disconnect_on_finish = True  # type: ignore[attr-defined]
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        self.inner.finish()

    def on_connection_close(self) -> None:
        self.active.discard(self.conn)
        self.inner.on_connection_close()


def mlflow_routes(backend: Backend) -> list[RouteSpec]:
    """The MLflow REST layer's routes, or ``[]`` when ``jupyter_mltrack.mlflow_rest`` is absent.

    The mounting point: we call ``jupyter_mltrack.mlflow_rest.make_handlers(**kwargs)``
    with these keyword arguments (only those its signature names, so either side can grow):

    - ``store_provider``: ``() -> TrackingStore``, the served store; cheap, call it per
      request (a PostgreSQL backend may hand out a pooled store);
    - ``executor``: the ``concurrent.futures.Executor`` store calls must run on (never on
      the IOLoop); shared with our own API, sized for the store's read cursors;
    - ``artifacts_destination``: ``pathlib.Path``, the directory the ``mlflow-artifacts``
      proxy serves (``--artifacts-destination``); it exists;
    - ``ingest`` / ``ingest_many``: the backend's idempotent metric-batch ingest
      (``(table, client_id, seq)``), should the layer want it;
    - ``backend``: the whole :class:`~.backend.Backend`, for anything else.

    It returns tornado route specs ``(pattern, handler class, init kwargs)``, mounted after
    our own API and before ``/metrics`` and the JSON 404.
    """
    try:
        module = importlib.import_module(MLFLOW_REST_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MLFLOW_REST_MODULE:
            raise  # the package is there but broken: say so, do not hide it
        log.info("%s is not installed: serving our API only.", MLFLOW_REST_MODULE)
        return []
    make_handlers = getattr(module, "make_handlers", None)
    if make_handlers is None:  # e.g. a namespace package left by a partial install
        log.warning("%s has no make_handlers(): serving our API only.", MLFLOW_REST_MODULE)
        return []
    offered: dict[str, Any] = {
        "store_provider": backend.store_provider,
        "executor": backend.executor,
        "artifacts_destination": backend.artifacts_destination,
        "ingest": backend.ingest,
        "ingest_many": backend.ingest_many,
        "backend": backend,
    }
    params = inspect.signature(make_handlers).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in offered.items() if takes_all or k in params}
    routes: list[RouteSpec] = list(make_handlers(**kwargs))
    return routes


def build_app(
    backend: Backend,
    *,
    expose_metrics: bool = False,
    auth: Any = None,
    reconnect_after_s: float | None = None,
    **settings: Any,
) -> TeamApplication:
    """The application serving ``backend`` (see the module docstring for the routes).

    ``auth``: an :class:`~jupyter_mltrack.teamserver.auth.AuthSetup` (``--auth``): every
    request is authenticated first, the routes see the guarded backend, and the user and
    permission routes are mounted before the others. ``reconnect_after_s``: close kept-alive
    connections older than this after their current response (``--workers N``, so clients
    spread over the processes again; see ``_Tracked``).
    """
    if auth is not None:
        backend = auth.guard(backend)
    ours = proxy_store_routes(backend.handlers(API_BASE), backend.artifacts_destination)
    routes: list[RouteSpec] = [*ours, *mlflow_routes(backend)]
    if auth is not None:
        routes = [*auth.routes(), *routes]
    if expose_metrics:
        routes.append(("/metrics", MetricsHandler, {}))
    authenticator = None if auth is None else auth.authenticator
    return TeamApplication(
        routes, auth=authenticator, reconnect_after_s=reconnect_after_s, **settings
    )
