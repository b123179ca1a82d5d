"""Plumbing shared by every route of the store API: context, request parsing, the error path.

:func:`error_response` is the one place that turns an exception into a response:

- ``MltrackError`` -> ``err.http_status`` and exactly ``err.to_dict()``;
- tornado's ``HTTPError`` (405, an auth 403, a malformed request) -> its status with an
  MLflow-style code (``BAD_REQUEST``, ``PERMISSION_DENIED``, ``ENDPOINT_NOT_FOUND``, ...);
- anything else -> 500 ``{"error_code": "INTERNAL_ERROR", "message", "request_id"}``, with
  the traceback logged under that request id.

Handlers raise; tornado routes every exception to :meth:`ApiHandler.write_error`, which
calls :func:`error_response`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from http.client import responses
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
import tornado.web

from ..errors import InvalidParameter, MltrackError
from ..store.base import TrackingStore
from ..store.remote.wire import ARROW_CONTENT_TYPE, JSON_CONTENT_TYPE, dumps, loads, table_to_ipc
from ..tracking.core import CoreCache, TrackingCore

__all__ = [
    "REQUEST_ID_HEADER",
    "ApiContext",
    "ApiHandler",
    "Heartbeat",
    "Info",
    "Ingest",
    "IngestMany",
    "error_response",
]

log = logging.getLogger("jupyter_mltrack.service.api")

REQUEST_ID_HEADER = "X-Mltrack-Request-Id"
T = TypeVar("T")
#: ``ingest(table, client_id, seq) -> {"committed": n, "duplicate": bool}``.
Ingest = Callable[[pa.Table, str | None, int | None], dict[str, Any]]
#: ``ingest_many(tables, client_id, first_seq) -> {"committed", "duplicate", "duplicates"}``.
IngestMany = Callable[[list[pa.Table], str | None, int | None], dict[str, Any]]
Heartbeat = Callable[[dict[str, Any]], None]
Info = Callable[[], dict[str, Any]]

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "ENDPOINT_NOT_FOUND",
}


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The collaborators of every handler, passed as the route's init kwarg ``api``.

    Handlers never touch a store: :meth:`run` hands them the validating
    :class:`~jupyter_mltrack.tracking.core.TrackingCore` of the current store (one per
    store, kept here), so every write is checked as it is from a notebook. Store calls run
    on ``executor`` (the IOLoop stays free for ``/info`` and heartbeats). ``info`` and
    ``heartbeat`` run on the IOLoop thread and must not block.
    """

    store_provider: Callable[[], TrackingStore]
    executor: Executor
    ingest: Ingest
    heartbeat: Heartbeat
    info: Info
    ingest_many: IngestMany | None = None
    _cores: CoreCache = field(default_factory=CoreCache)

    def core(self) -> TrackingCore:
        """The validating core over the store the provider returns now."""
        return self._cores.of(self.store_provider())

    async def run(self, fn: Callable[[TrackingCore], T]) -> T:
        """``fn(core)`` on the store executor."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: fn(self.core())
        )


def error_response(
    exc: BaseException | None, status: int, request_id: str
) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` answering ``exc``; the only exception-to-response mapping."""
    if isinstance(exc, MltrackError):
        return exc.http_status, exc.to_dict()
    if isinstance(exc, tornado.web.HTTPError) or exc is None:
        code = getattr(exc, "status_code", status)
        message = (exc.get_message() if exc else None) or (
            getattr(exc, "reason", None) or responses.get(code, "HTTP error")
        )
        if code >= 500:
            return code, {
                "error_code": "INTERNAL_ERROR",
                "message": message,
                "request_id": request_id,
            }
        return code, {"error_code": _HTTP_CODES.get(code, "BAD_REQUEST"), "message": message}
    return 500, {
        "error_code": "INTERNAL_ERROR",
        "message": (
            f"Unexpected {type(exc).__name__} in the mltrack store service: {exc}. The "
            f"traceback is in the service log under request id {request_id}."
        ),
        "request_id": request_id,
    }


class ApiHandler(tornado.web.RequestHandler):
    """Base of every API route: parsing helpers, replies and the single error path."""

    #: True in the jupyter_server variant, whose ``finish`` forces JSON unless told otherwise.
    jupyter: ClassVar[bool] = False
    api: ApiContext
    _request_id: str | None = None

    def initialize(self, api: ApiContext) -> None:
        self.api = api

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            self._request_id = secrets.token_hex(8)
        return self._request_id

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header(REQUEST_ID_HEADER, self.request_id)

    # ------------------------------------------------------------------ requests
    def json_body(self) -> dict[str, Any]:
        body = loads(self.request.body)
        if not isinstance(body, dict):
            raise InvalidParameter(f"The request body must be a JSON object, got {body!r:.80}.")
        return body

    def query(self, name: str, default: str | None = None) -> str | None:
        # strip=False: keys and filters may legitimately end in a space.
        return self.get_query_argument(name, default, strip=False)

    def required_query(self, name: str) -> str:
        value = self.query(name)
        if value is None:
            raise InvalidParameter(f"Missing required query parameter {name!r}.")
        return value

    def query_list(self, name: str) -> list[str]:
        return self.get_query_arguments(name, strip=False)

    def query_number(self, name: str, kind: Callable[[str], T]) -> T | None:
        text = self.query(name)
        if text is None or text == "":
            return None
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise InvalidParameter(
                f"Query parameter {name!r} must be {what}, got {text!r}."
            ) from None

    # ------------------------------------------------------------------- replies
    def reply(self, body: bytes, content_type: str = JSON_CONTENT_TYPE) -> None:
        self.set_header("Content-Type", content_type)
        if self.jupyter:
            self.finish(body, set_content_type=content_type)  # type: ignore[call-arg]  # APIHandler
        else:
            self.finish(body)

    async def answer(self, fn: Callable[[TrackingCore], Any]) -> None:
        """Reply with ``fn(core)`` as JSON, computed and encoded on the store executor."""
        self.reply(await self.api.run(lambda core: dumps(fn(core))))

    async def done(self, fn: Callable[[TrackingCore], None]) -> None:
        """Run ``fn(core)`` on the store executor and reply ``{}``."""
        await self.api.run(fn)
        self.reply(b"{}")

    async def answer_table(self, fn: Callable[[TrackingCore], pa.Table]) -> None:
        """Reply with ``fn(core)`` as one Arrow IPC stream."""
        self.reply(await self.api.run(lambda s: table_to_ipc(fn(s))), ARROW_CONTENT_TYPE)

    # -------------------------------------------------------------------- errors
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        status, body = error_response(exc, status_code, self.request_id)
        self.set_status(status)
        self.reply(dumps(body))

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        summary = f"{self.request.method} {self.request.uri}"
        if isinstance(value, MltrackError):
            log.debug("%s -> %s %s: %s", summary, value.http_status, value.code, value.message)
        elif isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)
        else:
            log.error(
                "Unexpected error in %s (request id %s)",
                summary,
                self.request_id,
                exc_info=(typ, value, tb) if typ and value else None,
            )


class FallbackHandler(ApiHandler):
    """Any other path under the API base: a JSON 404 instead of tornado's HTML page."""

    async def get(self, path: str) -> None:
        raise tornado.web.HTTPError(
            404, "No API route %s %s; see docs/service-design.md.", self.request.method, path
        )

    post = patch = delete = put = get
