"""Plumbing of the MLflow REST layer: the context, request messages and the one error path.

:func:`mlflow_error` is the only place that turns an exception into a response on these
routes, in MLflow's shape ``{"error_code": ..., "message": ...}`` with MLflow's HTTP
statuses (``RESOURCE_DOES_NOT_EXIST`` 404, ``INVALID_PARAMETER_VALUE`` 400, ...). Anything
unexpected is a 500 ``INTERNAL_ERROR`` naming a request id, with the traceback logged.

Request bodies are read by :class:`MlflowHandler` itself (``@stream_request_body``), so
an oversized JSON body is refused with a 413 from its ``Content-Length`` before any of it
is read, and a streamed body that grows past the limit stops at the limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from http.client import responses
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import tornado.web

from ..errors import InvalidParameter, MltrackError, RunNotFound
from ..store.base import TrackingStore
from ..tracking.core import CoreCache, TrackingCore

__all__ = [
    "MAX_JSON_BODY_BYTES",
    "Message",
    "MlflowContext",
    "MlflowHandler",
    "RequestTooLarge",
    "mlflow_error",
]

log = logging.getLogger("jupyter_mltrack.mlflow_rest")
T = TypeVar("T")

#: Largest JSON request body (MLflow's biggest, a full log-batch, is well under 1 MB).
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024

#: MLflow's HTTP status of each error code (``mlflow.protos.databricks_pb2``, handlers.py).
_STATUS_OF_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_LIMIT_EXCEEDED": 413,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}
_CODE_OF_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "ENDPOINT_NOT_FOUND",
    413: "RESOURCE_LIMIT_EXCEEDED",
}


class RequestTooLarge(MltrackError):
    """A request body over the route's limit."""

    code = "RESOURCE_LIMIT_EXCEEDED"
    http_status = 413


@dataclass(slots=True)
class MlflowContext:
    """The collaborators of every MLflow route, passed as the route's init kwarg ``ctx``.

    Handlers reach the store only through :meth:`core` (the validating
    :class:`~jupyter_mltrack.tracking.core.TrackingCore`); store calls run on
    ``executor``, artifact I/O on ``artifact_executor``, never on the IOLoop.
    """

    store_provider: Callable[[], TrackingStore]
    executor: Executor
    artifact_executor: Executor
    #: The artifact root the ``mlflow-artifacts`` proxy serves (a URI or a local path).
    artifacts_uri: str
    #: ``file://`` form of the root, as the store writes run artifact URIs under it.
    artifacts_prefix: str
    _cores: CoreCache = field(default_factory=CoreCache)

    def core(self) -> TrackingCore:
        """The validating core over the store the provider returns now."""
        return self._cores.of(self.store_provider())

    async def run(self, fn: Callable[[TrackingCore], T]) -> T:
        """``fn(core)`` on the store executor."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: fn(self.core())
        )

    async def io(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the artifact executor (file and object-store I/O)."""
        return await asyncio.get_running_loop().run_in_executor(self.artifact_executor, fn)


_NO_RUN = re.compile(r"^No run with id '([^']*)'")


#: Registry errors: MLflow's sentence (what its clients and tests match on), then ours.
_REGISTRY_WORDING = (
    (
        re.compile(r"^No registered model named '([^']*)'"),
        "Registered Model with name={0} not found.",
    ),
    (
        re.compile(r"^A registered model named '([^']*)' already exists"),
        "Registered Model (name={0}) already exists.",
    ),
    (
        re.compile(r"^Registered model '([^']*)' has no version (\d+)"),
        "Model Version (name={0}, version={1}) not found.",
    ),
    (re.compile(r"^No logged model with id '([^']*)'"), "Logged model with ID '{0}' not found."),
    (
        re.compile(r"^Registered model '([^']*)' has no alias '([^']*)'"),
        "Registered model alias {1} not found.",
    ),
)


def _mlflow_message(exc: MltrackError) -> str:
    """MLflow's wording where its clients or tests match on it (``Run with id=X not found``,
    ``Registered Model with name=X not found``, ...)."""
    if isinstance(exc, RunNotFound):
        match = _NO_RUN.match(exc.message)
        if match:
            return f"Run with id={match.group(1)} not found"
    for pattern, wording in _REGISTRY_WORDING:
        match = pattern.match(exc.message)
        if match:
            return f"{wording.format(*match.groups())} {exc.message}"
    return exc.message


def mlflow_error(
    exc: BaseException | None, status: int, request_id: str
) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` answering ``exc`` in MLflow's error shape; the only such mapping."""
    if isinstance(exc, MltrackError):
        return _STATUS_OF_CODE.get(exc.code, exc.http_status), {
            "error_code": exc.code,
            "message": _mlflow_message(exc),
        }
    if isinstance(exc, tornado.web.HTTPError) or exc is None:
        code = getattr(exc, "status_code", status)
        message = (exc.get_message() if exc else None) or (
            getattr(exc, "reason", None) or responses.get(code, "HTTP error")
        )
        if code < 500:
            return code, {
                "error_code": _CODE_OF_STATUS.get(code, "BAD_REQUEST"),
                "message": message,
            }
        return code, {"error_code": "INTERNAL_ERROR", "message": message}
    return 500, {
        "error_code": "INTERNAL_ERROR",
        "message": (
            f"Unexpected {type(exc).__name__} in the mltrack server: {exc}. The traceback is "
            f"in the server log under request id {request_id}."
        ),
    }


class Message:
    """The fields of one MLflow request: a JSON body, or a GET's query arguments.

    MLflow's clients send GET parameters as query arguments (repeated fields repeat the
    argument) and everything else as a JSON body. Accessors check types and give MLflow's
    messages for missing or malformed fields.
    """

    def __init__(
        self,
        body: dict[str, Any] | None,
        query: dict[str, list[bytes]] | None,
        prefix: str = "",
    ) -> None:
        self._body = body
        self._query = query
        #: Written before field names in messages (``metrics[0].`` for a batch item).
        self._prefix = prefix

    @staticmethod
    def missing(name: str) -> InvalidParameter:
        return InvalidParameter(
            f"Missing value for required parameter '{name}'. See the API docs for more "
            "information about request parameters."
        )

    @staticmethod
    def invalid(name: str, value: Any, expected: str) -> InvalidParameter:
        try:  # MLflow writes the value as JSON: "5" for a string, 5 for a number
            shown = json.dumps(value)
        except (TypeError, ValueError):
            shown = repr(value)
        return InvalidParameter(
            f"Invalid value {shown:.100} for parameter '{name}' supplied: it must be {expected}."
        )

    def _raw(self, name: str) -> Any:
        if self._body is not None:
            return self._body.get(name)
        values = (self._query or {}).get(name)
        if not values:
            return None
        return values[-1].decode("utf-8", "replace")

    def has(self, name: str) -> bool:
        return self._raw(name) is not None

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> Any:
        value = self._raw(name)
        if value is None or (required and value == ""):
            if required:
                raise self.missing(self._prefix + name)
            return default
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and name in ("experiment_id", "experiment_ids")
        ):
            return str(value)  # numeric experiment ids are accepted; MLflow refuses run_id 31
        if not isinstance(value, str):
            raise self.invalid(self._prefix + name, value, "a string")
        return value

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> Any:
        value = self._raw(name)
        if value is None:
            if required:
                raise self.missing(self._prefix + name)
            return default
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise self.invalid(self._prefix + name, value, "an integer") from None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.invalid(self._prefix + name, value, "an integer")
        return value

    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._raw(name)
        if value is None:
            if required:
                raise self.missing(self._prefix + name)
            return None
        if isinstance(value, str):  # proto3 JSON writes NaN and infinities as strings
            try:
                return float(value)
            except ValueError:
                raise self.invalid(self._prefix + name, value, "a number") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.invalid(self._prefix + name, value, "a number")
        return float(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.invalid(self._prefix + name, value, "true or false")
        return value

    def strings(self, name: str) -> list[str]:
        """A repeated string field (``[]`` when absent)."""
        if self._body is None:
            return [v.decode("utf-8", "replace") for v in (self._query or {}).get(name, [])]
        value = self._body.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.invalid(self._prefix + name, value, "a list of strings")
        return [str(v) for v in value]

    def objects(self, name: str) -> list[dict[str, Any]]:
        """A repeated message field, as JSON objects (``[]`` when absent)."""
        value = self._body.get(name) if self._body is not None else None
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.invalid(self._prefix + name, value, "a list of JSON objects")
        return value

    def key_values(self, name: str) -> dict[str, str]:
        """A repeated ``{key, value}`` field (tags, params) as a dict; later keys win."""
        out: dict[str, str] = {}
        for item in self.objects(name):
            entry = Message(item, None)
            key = entry.string("key", required=True)
            value = entry.string("value")
            out[key] = "" if value is None else value
        return out


@tornado.web.stream_request_body
class MlflowHandler(tornado.web.RequestHandler):
    """Base of every MLflow route: bounded body, the request message, replies, errors."""

    ctx: MlflowContext
    #: Largest body this route accepts; ``None`` streams it to :meth:`data_received`.
    max_body: ClassVar[int | None] = MAX_JSON_BODY_BYTES
    _request_id: str | None = None

    def initialize(self, ctx: MlflowContext) -> None:
        self.ctx = ctx
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            self._request_id = secrets.token_hex(8)
        return self._request_id

    def set_default_headers(self) -> None:
        self.set_header("X-Mltrack-Request-Id", self.request_id)

    def prepare(self) -> Any:
        limit = self.max_body
        if limit is None:
            return None
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RequestTooLarge(
                f"The request body has {int(length)} bytes; this route takes at most {limit}."
            )
        self.request.connection.set_max_body_size(limit + 1)  # type: ignore[union-attr]
        return None

    def data_received(self, chunk: bytes) -> Any:
        self._size += len(chunk)
        limit = self.max_body
        if limit is not None and self._size > limit:
            raise RequestTooLarge(f"The request body is over this route's {limit}-byte limit.")
        self._chunks.append(chunk)
        return None

    # ------------------------------------------------------------------ requests
    def message(self) -> Message:
        """The request's fields: the query for GET, the JSON object body otherwise."""
        if self.request.method == "GET" and self.request.query_arguments:
            return Message(None, self.request.query_arguments)
        raw = b"".join(self._chunks)
        if not raw.strip():
            if self.request.query_arguments:
                return Message(None, self.request.query_arguments)
            return Message({}, None)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(body, dict):
            raise InvalidParameter(f"The request body must be a JSON object, got {body!r:.80}.")
        return Message(body, None)

    # ------------------------------------------------------------------- replies
    def reply(self, body: Any = None) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({} if body is None else body, allow_nan=True))

    async def answer(self, fn: Callable[[TrackingCore], Any]) -> None:
        """Reply with ``fn(core)`` (a JSON-able dict), computed on the store executor."""
        self.reply(await self.ctx.run(fn))

    # -------------------------------------------------------------------- errors
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        status, body = mlflow_error(exc, status_code, self.request_id)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        summary = f"{self.request.method} {self.request.uri}"
        if isinstance(value, MltrackError | tornado.web.HTTPError):
            log.debug("%s -> %s", summary, value)
        else:
            log.error(
                "Unexpected error in %s (request id %s)",
                summary,
                self.request_id,
                exc_info=(typ, value, tb) if typ and value else None,
            )


class EndpointNotFound(MlflowHandler):
    """Any other path under an MLflow API prefix: MLflow's 404 shape."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(
            404,
            "No MLflow REST endpoint %s %s on this server; see docs/mlflow-compat.md.",
            self.request.method,
            self.request.path,
        )


def require_active_experiment(c: TrackingCore, exp_id: str) -> None:
    """MLflow's ``_check_experiment_is_active``: writes to a deleted experiment are refused."""
    exp = c.get_experiment(exp_id)
    if exp.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The experiment {exp_id} must be in the 'active' state. "
            f"Current state is {exp.lifecycle_stage}."
        )
