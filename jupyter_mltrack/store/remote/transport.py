"""A small HTTP/1.1 client for the store service, over a unix socket or TCP (stdlib only).

Each thread keeps one keep-alive connection per :class:`Transport` (``http.client``
connections are not thread-safe; the metric flusher and the user's thread each get
their own). A request that fails on a *reused* connection with a reset or an empty
answer is retried once on a fresh one: that is the server having closed an idle
connection before reading the request. Anything else that stops the exchange
(refused, socket file missing, timeout) raises :class:`~jupyter_mltrack.errors.StoreUnavailable`
with a message naming the socket or URL and what to do.

Example::

    t = Transport("unix:///data/mltrack/store.duckdb.sock")
    info = t.request("GET", "/mltrack/api/v1/info").raise_for_error().json()
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from ...errors import InvalidParameter, MltrackError, StoreUnavailable

__all__ = ["Response", "Transport", "UnixHTTPConnection"]

Query = Sequence[tuple[str, Any]]


class UnixHTTPConnection(http.client.HTTPConnection):
    """``HTTPConnection`` whose socket is the unix socket at ``socket_path``."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, headers (lower-case names), the whole body, and
    ``request`` (``"GET /path on <socket or URL>"``) for messages."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    request: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def raise_for_error(self) -> Response:
        """``self`` when 2xx; else the server's error rebuilt with ``MltrackError.from_dict``."""
        if self.status < 400:
            return self
        try:
            body = json.loads(self.body)
        except ValueError:
            body = None
        if isinstance(body, dict) and "error_code" in body:
            raise MltrackError.from_dict(body)
        text = self.body[:300].decode("utf-8", "replace")
        cls = StoreUnavailable if self.status in (502, 503, 504) else MltrackError
        raise cls(f"HTTP {self.status} for {self.request} without an mltrack error body: {text!r}")


class _Local(threading.local):
    conn: http.client.HTTPConnection | None = None
    pid: int = 0


class Transport:
    """Requests to one endpoint: ``unix:///path/to.sock``, ``http://host:port[/prefix]``
    or ``https://...``. ``headers`` go with every request (e.g. an ``Authorization``)."""

    def __init__(
        self, endpoint: str, *, timeout: float = 60.0, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme == "unix":
            if not parts.path:
                raise InvalidParameter(f"No socket path in endpoint {endpoint!r}.")
            self.prefix = ""
        elif parts.scheme in ("http", "https") and parts.hostname:
            self.prefix = parts.path.rstrip("/")
        else:
            raise InvalidParameter(
                f"Unsupported store endpoint {endpoint!r}; use 'unix:///path/to.sock' or "
                "'http://host:port'."
            )
        self.endpoint = endpoint
        self.timeout = timeout
        self._parts = parts
        self._headers = dict(headers or {})
        self._local = _Local()
        self._all: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------- connections
    def _new_connection(self) -> http.client.HTTPConnection:
        p = self._parts
        if p.scheme == "unix":
            return UnixHTTPConnection(p.path, self.timeout)
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        return cls(p.hostname or "", p.port, timeout=self.timeout)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        local = self._local
        if local.conn is not None and local.pid == os.getpid():
            return local.conn, True
        conn = self._new_connection()
        local.conn, local.pid = conn, os.getpid()  # a forked child never reuses a parent's
        with self._lock:
            self._all.add(conn)
        return conn, False

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if self._local.conn is conn:
            self._local.conn = None
        with self._lock:
            self._all.discard(conn)

    def close(self) -> None:
        """Close every connection of every thread (the next request opens a new one)."""
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            conn.close()
        self._local.conn = None

    # ---------------------------------------------------------------- requests
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request and read the whole answer (any status; see ``raise_for_error``).

        ``path`` is appended to the endpoint's own path; ``query`` pairs with ``None``
        values are left out and repeated names are kept (``[("run_ids", a), ("run_ids", b)]``).
        """
        pairs = [(k, v) for k, v in query if v is not None]
        url = self.prefix + path + ("?" + urlencode(pairs) if pairs else "")
        all_headers = {**self._headers, **(headers or {})}
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request(method, url, body=body, headers=all_headers)
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop(conn)
                stale = reused and isinstance(exc, ConnectionError | http.client.BadStatusLine)
                if attempt == 0 and stale:
                    continue
                raise self._unavailable(method, path, exc) from exc
            if answer.will_close:
                self._drop(conn)
            heads = {k.lower(): v for k, v in answer.getheaders()}
            return Response(answer.status, heads, data, f"{method} {url} on {self.describe()}")
        raise AssertionError("unreachable")  # pragma: no cover

    def describe(self) -> str:
        """Where requests go, for messages: the socket path or the base URL."""
        p = self._parts
        return p.path if p.scheme == "unix" else f"{p.scheme}://{p.netloc}"

    def _unavailable(self, method: str, path: str, exc: BaseException) -> StoreUnavailable:
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TimeoutError):
            return StoreUnavailable(
                f"The mltrack store at {self.describe()} did not answer {method} {path} within "
                f"{self.timeout:g} s ({why}). It may be busy with a long query or gc; retry, or "
                "pass a larger timeout.",
                endpoint=self.endpoint,
            )
        if self._parts.scheme == "unix":
            return StoreUnavailable(
                f"Could not reach the mltrack store service on the socket {self.describe()} "
                f"({why}). The service may have exited; see service.log next to the store. "
                "The next mltrack call starts a new service, or set MLTRACK_STORE_MODE=direct "
                "to open the store file in this process.",
                endpoint=self.endpoint,
            )
        return StoreUnavailable(
            f"Could not reach the mltrack server at {self.describe()} ({why}). Check that the "
            "server is running and that the tracking URI names the right host and port.",
            endpoint=self.endpoint,
        )
