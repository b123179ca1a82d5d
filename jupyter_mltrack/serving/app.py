"""The scoring server's ASGI application (run by uvicorn; see :mod:`.server`).

Routes (MLflow's scoring protocol plus metrics)::

    POST /invocations   score a body (JSON, CSV or Parquet; see :mod:`.payload`)
    GET  /ping          200 once the model is loaded (empty body), 503 before
    GET  /health        the same, as JSON with the served URI and version
    GET  /version       the package version and the model served
    GET  /metrics       Prometheus text format: requests, latency, errors, rows scored

Answers: 400 naming the field or column, 401 without the bearer token (when one is set),
404/405 for other paths and methods, 413 for a body or batch over the limit, 415 for an
unsupported content type, 504 when a prediction outlives ``timeout_s``, and 500 with a
request id (the traceback goes to the server's log, never to the client).

The app is a bare ASGI callable rather than a framework's: on one core it answers a 1-row
request in a fraction of the time a routing framework takes (benchmarks/bench_serving.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import InvalidParameter
from .loader import ModelHolder
from .payload import PayloadError, encode_predictions, parse_request

__all__ = ["ScoringApp", "ServeOptions"]

log = logging.getLogger("jupyter_mltrack.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
#: latency buckets in seconds (a 1-row sklearn request is ~1 ms, a 10k-row one ~100 ms)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class ServeOptions:
    """What ``mltrack models serve`` passes to every worker."""

    model_uri: str
    timeout_s: float = 60.0
    max_body_bytes: int = 64 * 1024 * 1024
    max_batch_rows: int | None = None
    auth_token: str | None = None
    tracking_uri: str | None = None
    watch_alias_s: float | None = None
    predict_threads: int = 4

    def validate(self) -> None:
        if self.timeout_s <= 0:
            raise InvalidParameter(f"--timeout must be > 0 seconds; got {self.timeout_s}")
        if self.max_body_bytes <= 0:
            raise InvalidParameter(f"the body limit must be > 0 bytes; got {self.max_body_bytes}")
        if self.max_batch_rows is not None and self.max_batch_rows <= 0:
            raise InvalidParameter(f"--max-batch-rows must be > 0; got {self.max_batch_rows}")
        if self.auth_token is not None and len(self.auth_token) < 8:
            raise InvalidParameter("the auth token must be at least 8 characters long")
        if self.predict_threads <= 0:
            raise InvalidParameter(f"predict threads must be > 0; got {self.predict_threads}")


class _Metrics:
    """The server's Prometheus metrics; across workers when PROMETHEUS_MULTIPROC_DIR is set."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter(
            "mltrack_serving_requests", "Scoring requests by status", ["status"], registry=r
        )
        self.errors = Counter(
            "mltrack_serving_errors", "Failed scoring requests by kind", ["kind"], registry=r
        )
        self.rows = Counter("mltrack_serving_rows_scored", "Rows scored", registry=r)
        self.latency = Histogram(
            "mltrack_serving_request_seconds",
            "Time to answer a scoring request",
            buckets=_BUCKETS,
            registry=r,
        )
        live: dict[str, Any] = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.in_flight = Gauge(
            "mltrack_serving_requests_in_flight",
            "Scoring requests being answered now",
            registry=r,
            **live,
        )
        gauge_kw: dict[str, Any] = {"multiprocess_mode": "max"} if self.multiprocess else {}
        self.loaded = Gauge(
            "mltrack_serving_model_loaded_timestamp_seconds",
            "When the served model was loaded",
            registry=r,
            **gauge_kw,
        )

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _row_count(data: Any) -> int:
    if isinstance(data, pd.DataFrame):
        return len(data)
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim else 1
    if isinstance(data, dict):
        for value in data.values():
            return len(value) if hasattr(value, "__len__") else 1
        return 0
    return len(data) if hasattr(data, "__len__") else 1


def _is_input_error(exc: BaseException) -> bool:
    """The model (or its signature check) rejected the input rather than failed."""
    if isinstance(exc, InvalidParameter):
        return True
    code = getattr(exc, "error_code", None)  # MlflowException from an MLflow-made model
    return code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


class ScoringApp:
    """One worker's ASGI app around a :class:`~.loader.ModelHolder`."""

    def __init__(self, options: ServeOptions, holder: ModelHolder | None = None) -> None:
        options.validate()
        self.options = options
        self.holder = holder or ModelHolder(options.model_uri, tracking_uri=options.tracking_uri)
        self.metrics = _Metrics()
        self._pool = ThreadPoolExecutor(options.predict_threads, thread_name_prefix="predict")
        self._token = options.auth_token.encode() if options.auth_token else None
        #: set by a prediction that outlived the timeout; the server recycles the worker
        self.on_stuck: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Load the model (blocking) and start the alias watcher when asked."""
        self.holder.load()
        self.metrics.loaded.set(self.holder.loaded_at)
        if self.options.watch_alias_s:
            self.holder.watch(self.options.watch_alias_s)

    def close(self) -> None:
        self.holder.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations":
            if method != "POST":
                await self._send(send, 405, _error("METHOD_NOT_ALLOWED", "Use POST /invocations."))
                return
            await self._invocations(scope, receive, send)
        elif path in ("/ping", "/health", "/version", "/metrics"):
            if method not in ("GET", "HEAD"):
                await self._send(send, 405, _error("METHOD_NOT_ALLOWED", f"Use GET {path}."))
                return
            if path == "/ping":
                ready = self.holder.model is not None
                await self._send(send, 200 if ready else 503, b"\n", [])
            elif path == "/health":
                await self._send(
                    send, 200 if self.holder.model is not None else 503, self._health()
                )
            elif not self._authorized(scope):
                await self._unauthorized(send)
            elif path == "/version":
                await self._send(send, 200, self._version())
            else:
                body, ctype = self.metrics.render()
                await self._send(send, 200, body, [(b"content-type", ctype.encode())])
        else:
            await self._send(
                send,
                404,
                _error(
                    "NOT_FOUND",
                    f"No route {path}; use POST /invocations, GET /ping, /health, /version "
                    "or /metrics.",
                ),
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------ routes
    def _health(self) -> bytes:
        import json

        return json.dumps(
            {
                "status": "ok" if self.holder.model is not None else "loading",
                "model_uri": self.holder.model_uri,
                "model_version": self.holder.version,
                "loaded_at": self.holder.loaded_at,
                "reloads": self.holder.reloads,
            }
        ).encode()

    def _version(self) -> bytes:
        import json

        return json.dumps(
            {
                "version": __version__,
                "model_uri": self.holder.model_uri,
                "model_version": self.holder.version,
            }
        ).encode()

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    token.strip(), self._token
                )
        return False

    async def _unauthorized(self, send: Send) -> None:
        await self._send(
            send,
            401,
            _UNAUTHENTICATED,
            [*_JSON, (b"www-authenticate", b'Bearer realm="mltrack"')],
        )

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex[:16]
        m = self.metrics
        m.in_flight.inc()
        try:
            status, body, kind = await self._score(scope, receive, request_id)
        finally:
            m.in_flight.dec()
        m.requests.labels(str(status)).inc()
        if kind:
            m.errors.labels(kind).inc()
        m.latency.observe(time.perf_counter() - started)
        headers = [*_JSON, (b"x-request-id", request_id.encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="mltrack"'))
        await self._send(send, status, body, headers)

    async def _score(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[int, bytes, str | None]:
        if not self._authorized(scope):
            await _drain(receive)
            return 401, _UNAUTHENTICATED, "auth"
        limit = self.options.max_body_bytes
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return 413, _too_large(int(length), limit), "too_large"
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return 413, _too_large(size, limit), "too_large"
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        holder = self.holder
        model, columns = holder.model, holder.columns
        if model is None:
            return 503, _error("TEMPORARILY_UNAVAILABLE", "The model is still loading."), "loading"
        try:
            data, params = parse_request(raw, _header(scope, b"content-type") or "", columns)
        except PayloadError as exc:
            kind = "unsupported_type" if exc.status == 415 else "bad_request"
            return exc.status, _error(_code(exc.status), exc.message), kind
        rows = _row_count(data)
        cap = self.options.max_batch_rows
        if cap is not None and rows > cap:
            return (
                413,
                _error(
                    "REQUEST_TOO_LARGE",
                    f"The request has {rows} rows; this server scores at most {cap} per request "
                    "(--max-batch-rows). Split it into smaller requests.",
                ),
                "too_many_rows",
            )
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, _predict, model, data, params)
        try:
            predictions = await asyncio.wait_for(future, self.options.timeout_s)
        except TimeoutError:
            log.error("request %s: prediction exceeded %ss", request_id, self.options.timeout_s)
            if self.on_stuck is not None:
                self.on_stuck()
            return (
                504,
                _error(
                    "TIMEOUT",
                    f"The prediction took longer than {self.options.timeout_s:g} s (--timeout); "
                    f"request id {request_id}.",
                ),
                "timeout",
            )
        except Exception as exc:
            if _is_input_error(exc):
                text = str(getattr(exc, "message", None) or exc)
                return 400, _error("BAD_REQUEST", text), "bad_request"
            log.exception("request %s: the model failed", request_id)
            return (
                500,
                _error(
                    "INTERNAL_ERROR",
                    f"The model failed to score this request (request id {request_id}); the "
                    "server's log has the details.",
                    request_id=request_id,
                ),
                "model_error",
            )
        try:
            out = encode_predictions(predictions)
        except Exception:
            log.exception("request %s: predictions not serialisable", request_id)
            return (
                500,
                _error(
                    "INTERNAL_ERROR",
                    f"The model's output could not be written as JSON (request id {request_id}).",
                    request_id=request_id,
                ),
                "model_error",
            )
        self.metrics.rows.inc(rows)
        return 200, out, None

    @staticmethod
    async def _send(
        send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        hs = list(_JSON if headers is None else headers)
        hs.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": hs})
        await send({"type": "http.response.body", "body": body})


def _predict(model: Any, data: Any, params: dict[str, Any] | None) -> Any:
    if params:
        return model.predict(data, params=params)
    return model.predict(data)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if not message.get("more_body", False):
            return


def _code(status: int) -> str:
    return {400: "BAD_REQUEST", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}.get(
        status, "BAD_REQUEST"
    )


def _too_large(size: int, limit: int) -> bytes:
    return _error(
        "REQUEST_TOO_LARGE",
        f"The body is {size} bytes or more; this server takes at most {limit} bytes "
        "(--max-body-mb). Split it into smaller requests.",
    )


def _error(code: str, message: str, **extra: Any) -> bytes:
    import json

    return json.dumps({"error_code": code, "message": message, **extra}).encode()


_UNAUTHENTICATED = _error(
    "UNAUTHENTICATED", "This server needs a bearer token: send 'Authorization: Bearer <token>'."
)
