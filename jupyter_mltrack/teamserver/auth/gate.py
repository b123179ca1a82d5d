"""Authentication, in one place for every route: a wrapper around each request's delegate.

:class:`TeamApplication` (``teamserver/app.py``) wraps the delegate of every request in an
:class:`AuthGate` when ``--auth`` is on, before tornado routes it, so no handler (ours,
MLflow's, the JSON 404, a route added later) runs for a request that did not
authenticate. Only ``/health`` and ``/metrics`` are exempt (:data:`EXEMPT_PATHS`).

Credentials: HTTP basic auth (``Authorization: Basic``, what the ``mlflow`` client sends
from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``) or a bearer token
(``Authorization: Bearer mlt_...``, ``MLFLOW_TRACKING_TOKEN`` / ``MLTRACK_TRACKING_TOKEN``).
A request without valid credentials gets 401 with ``WWW-Authenticate: Basic`` and is
never routed; its body is not read (a large one closes the connection).

Password checks are argon2 (tens of ms) and run on a thread; a successful
(username, password) pair is remembered for :data:`CACHE_S` seconds under a keyed hash
(never the password itself), so the mlflow client's per-request basic auth costs a
dictionary lookup. Failed logins are rate-limited per username and per client address
(:data:`MAX_FAILURES` per username, :data:`MAX_FAILURES_PER_ADDRESS` per address, in
:data:`FAILURE_WINDOW_S`: then 429 with ``Retry-After``, even for the right password).
Auth events are logged on ``jupyter_mltrack.teamserver.auth`` with the username and the
client address, never a password or token. While the auth database cannot be reached (a
PostgreSQL backend keeps the users there) a request gets 503 ``TEMPORARILY_UNAVAILABLE``,
which clients retry, as the store's routes answer.

For the artifact proxy the gate also checks the caller's permission on the experiment
that the artifact path starts with (``<experiment_id>/<run_id>/artifacts/...``): GET and
listing need READ, PUT EDIT, DELETE MANAGE; a caller who may not read the experiment gets
the 404 a missing artifact gets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from http.client import responses
from typing import Any
from urllib.parse import parse_qs, unquote

import tornado.httputil

from ...errors import StoreUnavailable
from .guard import Policy, Principal, current_principal
from .store import AuthStore, User

__all__ = ["CACHE_S", "EXEMPT_PATHS", "AuthGate", "Authenticator"]

log = logging.getLogger("jupyter_mltrack.teamserver.auth")

EXEMPT_PATHS = frozenset({"/health", "/metrics"})
CACHE_S = 60.0
#: Failed logins of one username, and from one client address, within the window.
MAX_FAILURES = 5
MAX_FAILURES_PER_ADDRESS = 50
FAILURE_WINDOW_S = 60.0
#: ``Retry-After`` of the 503 answered while the auth database cannot be reached.
UNAVAILABLE_RETRY_S = 1
#: Body bytes a rejected request may still send before the connection is closed.
_REJECTED_BODY = 64 * 1024

_ARTIFACTS = re.compile(r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/artifacts(?:/(.*))?$")


class Authenticator:
    """Checks credentials against an :class:`AuthStore` (cache and rate limit included)."""

    def __init__(self, store: AuthStore, policy: Policy) -> None:
        self.store = store
        self.policy = policy
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[float, str, Principal]] = {}
        self._failures: dict[str, deque[float]] = {}

    def _limited(self, *keys: str) -> float:
        """Seconds until ``keys`` may try again (0 when not limited)."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            times = self._failures.get(key)
            while times and now - times[0] > FAILURE_WINDOW_S:
                times.popleft()
            limit = MAX_FAILURES_PER_ADDRESS if key.startswith("ip:") else MAX_FAILURES
            if times is not None and len(times) >= limit:
                wait = max(wait, FAILURE_WINDOW_S - (now - times[0]))
        return wait

    def _failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=MAX_FAILURES_PER_ADDRESS)).append(now)
        if len(self._failures) > 10_000:  # bounded memory under a spray of names
            self._failures.clear()

    @staticmethod
    def _principal(user: User) -> Principal:
        return Principal(user.id, user.username, user.is_admin)

    async def authenticate(
        self, header: str | None, client: str
    ) -> tuple[Principal | None, int, str]:
        """``(principal, 0, "")`` or ``(None, status, message)`` (401 or 429)."""
        if not header:
            return None, 401, "Authentication required: send HTTP basic auth or a bearer token."
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer" and value:
            wait = self._limited("ip:" + client)
            if wait:
                return None, 429, f"Too many failed logins; retry in {wait:.0f} s."
            user = await asyncio.to_thread(self.store.user_of_token, value)
            if user is None:
                self._failed("ip:" + client)
                log.warning("auth: invalid, expired or revoked token from %s", client)
                return None, 401, "The bearer token is invalid, expired or revoked."
            return self._principal(user), 0, ""
        if scheme != "basic" or not value:
            return None, 401, "Unsupported Authorization scheme; use Basic or Bearer."
        try:
            username, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None, 401, "Malformed basic auth credentials."
        if not sep or not username:
            return None, 401, "Malformed basic auth credentials."
        wait = self._limited("user:" + username, "ip:" + client)
        if wait:
            log.warning("auth: login of %r from %s refused: rate limited", username, client)
            return None, 429, f"Too many failed logins; retry in {wait:.0f} s."
        digest = hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()
        cached = self._cache.get(digest)
        user = await asyncio.to_thread(self.store.get_user, username)
        fresh = cached is not None and time.monotonic() - cached[0] < CACHE_S
        if fresh and user is not None and cached is not None and cached[1] == user.password_hash:
            return self._principal(user), 0, ""
        ok = user is not None and await asyncio.to_thread(
            self.store.verify_password, user, password
        )
        if not ok or user is None:
            self._failed("user:" + username, "ip:" + client)
            log.warning("auth: failed login of %r from %s", username, client)
            return None, 401, "Invalid username or password."
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), user.password_hash, self._principal(user))
        log.info("auth: %r logged in from %s", username, client)
        return self._principal(user), 0, ""

    def artifact_check(self, who: Principal, method: str, uri: str) -> tuple[int, str] | None:
        """``None`` when ``who`` may do ``method`` on the artifact at ``uri``, else the
        ``(status, message)`` to answer."""
        path, _, query = uri.partition("?")
        match = _ARTIFACTS.match(path)
        if match is None:
            return None
        target = match.group(1)
        if target is None:  # the listing: ?path=...
            target = parse_qs(query).get("path", [""])[-1]
        for _ in range(8):
            once = unquote(target)
            if once == target:
                break
            target = once
        experiment_id = target.strip("/").split("/")[0]
        if who.is_admin:
            return None
        if not experiment_id:
            return 404, "Listing the artifact root needs an administrator."
        level = self.policy.level(who, experiment_id)
        need = {"GET": "can_read", "PUT": "can_update", "DELETE": "can_delete"}.get(
            method, "can_manage"
        )
        if not level.can_read:
            return 404, f"No artifact at {target!r}."
        if not getattr(level, need):
            return (
                403,
                f"User {who.username!r} may not do {method} on artifacts of experiment "
                f"{experiment_id!r}.",
            )
        return None


class AuthGate(tornado.httputil.HTTPMessageDelegate):
    """Authenticates a request from its headers, then passes everything on, or answers it."""

    def __init__(
        self,
        inner: tornado.httputil.HTTPMessageDelegate,
        conn: tornado.httputil.HTTPConnection,
        auth: Authenticator,
        on_reject: Callable[[], None],
    ) -> None:
        self.inner = inner
        self.conn = conn
        self.auth = auth
        self.on_reject = on_reject
        self.rejected = False

    async def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Any:
        assert isinstance(start_line, tornado.httputil.RequestStartLine)
        path = start_line.path.split("?", 1)[0]
        current_principal.set(None)
        if path in EXEMPT_PATHS:
            return await _maybe(self.inner.headers_received(start_line, headers))
        context = getattr(self.conn, "context", None)
        client = str(getattr(context, "remote_ip", "") or "-")
        try:
            who, status, message = await self.auth.authenticate(
                headers.get("Authorization"), client
            )
            denied = (
                None
                if who is None
                else self.auth.artifact_check(who, start_line.method, start_line.path)
            )
        except StoreUnavailable as exc:  # the auth tables' database is gone (PostgreSQL)
            log.warning("auth: cannot check credentials from %s: %s", client, exc)
            return self._reject(503, str(exc), exc.code, retry=UNAVAILABLE_RETRY_S)
        if who is not None:
            if denied is not None:
                status, message = denied
                code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "PERMISSION_DENIED"
                return self._reject(status, message, code)
            current_principal.set(who)
            return await _maybe(self.inner.headers_received(start_line, headers))
        code = "UNAUTHENTICATED" if status == 401 else "RESOURCE_EXHAUSTED"
        return self._reject(
            status, message, code, retry=int(FAILURE_WINDOW_S) if status == 429 else None
        )

    def _reject(self, status: int, message: str, code: str, retry: int | None = None) -> None:
        self.rejected = True
        body = json.dumps({"error_code": code, "message": message}).encode()
        headers = tornado.httputil.HTTPHeaders(
            {"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="mltrack", charset="UTF-8"'
        if retry is not None:
            headers["Retry-After"] = str(retry)
        reason = responses.get(status, "Error")
        set_max = getattr(self.conn, "set_max_body_size", None)
        if set_max is not None:
            set_max(_REJECTED_BODY)
        self.conn.write_headers(
            tornado.httputil.ResponseStartLine("HTTP/1.1", status, reason), headers, body
        )
        self.conn.finish()
        self.on_reject()

    def data_received(self, chunk: bytes) -> Any:
        if self.rejected:
            return None
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        if not self.rejected:
            self.inner.finish()

    def on_connection_close(self) -> None:
        if not self.rejected:
            self.inner.on_connection_close()


async def _maybe(value: Any) -> Any:
    if value is not None and hasattr(value, "__await__"):
        return await value
    return value
