"""``ServerStore``: our client of a team server (``http://host:port``, ``mltrack server``).

The same client as for the local store service (:class:`~.service_store.ServiceStore`):
metric batches go through the buffer and the client spool (written, fsynced, sent with
``(client_id, seq)``, removed once acknowledged; the server's ingest is idempotent, so a
retry never duplicates), runs get heartbeats, errors come back as the same exception
classes. What differs for a server on another machine:

- **Retries** with exponential backoff and jitter on connection errors and on 429/5xx
  answers, for up to ``MLTRACK_HTTP_RETRY_TIMEOUT_S`` (60 s) per call (:mod:`.retry`);
  metric batches retry for at most :data:`BATCH_RETRY_S` per attempt, because the
  buffer's flusher keeps retrying them anyway and a notebook must never wait on them.
- **Where the spool lives**: the server cannot read the client's disk, so the spool is
  in a per-user cache directory keyed by the server URL, :func:`spool_dir_for_url`:
  ``$MLTRACK_SPOOL_DIR`` or ``$XDG_CACHE_HOME/mltrack/spool`` or
  ``~/.cache/mltrack/spool``, then ``<host>_<port>-<sha1(url)[:10]>/<client_id>/<seq>.arrow``.
- **Replay**: a process that died with batches in its spool (killed, or the server was
  down when it exited) cannot send them; the next client of the same URL on this machine
  does, in a background thread, with the dead client's own ``(client_id, seq)`` and the
  header ``X-Mltrack-Replay: 1`` (counted by the server's metrics), then deletes them.

Example::

    mt.set_tracking_uri("http://mltrack.internal:5000")   # or MLTRACK_TRACKING_URI
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from ..._proc import pid_alive
from ...errors import InvalidParameter, MltrackError
from ...settings import API_BASE, auth_headers_from_env, spool_dir_from_env
from .retry import RetryPolicy
from .service_store import ServiceStore
from .spool import CORRUPT_DIR, SpoolReport, ingest_spool, parse_client_id
from .transport import Transport
from .wire import ARROW_CONTENT_TYPE, FRAMES_CONTENT_TYPE, frame_tables, table_to_ipc

__all__ = [
    "BATCH_RETRY_S",
    "REPLAY_HEADER",
    "ServerResolver",
    "ServerStore",
    "server_store_factory",
    "spool_dir_for_url",
]

log = logging.getLogger("jupyter_mltrack.store.remote.server_store")

#: Header on batches resent from a dead client's spool (the server counts them).
REPLAY_HEADER = "X-Mltrack-Replay"
#: Longest a single metric-batch send retries before handing back to the buffer.
BATCH_RETRY_S = 5.0


def _cache_root() -> Path:
    given = spool_dir_from_env()
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mltrack" / "spool"


def spool_dir_for_url(url: str) -> Path:
    """The spool directory of this user for the team server at ``url`` (not created)."""
    parts = urlsplit(url)
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.hostname}_{parts.port or ''}").strip("_")
    digest = hashlib.sha1(url.rstrip("/").encode()).hexdigest()[:10]
    return _cache_root() / f"{slug}-{digest}"


class ServerResolver:
    """The :class:`~.service_store.OwnerResolver` of a team server: always its URL.

    ``info`` is the server's ``GET /mltrack/api/v1/info`` when it answered at start-up
    (one quick try: a server that is down must not stop a notebook from starting).
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.info: dict[str, Any] = {}
        self._spool_dir = spool_dir_for_url(url)
        probe = Transport(url, timeout=5.0, headers=headers)
        try:
            answer = probe.request("GET", API_BASE + "/info")
            if answer.status == 200:
                info = answer.json()
                self.info = info if isinstance(info, dict) else {}
        except MltrackError as exc:
            log.debug("mltrack server %s did not answer at start: %s", url, exc)
        finally:
            probe.close()

    @property
    def store_path(self) -> Path:
        """No store file on this machine: the spool directory stands for it."""
        return self._spool_dir

    @property
    def spool_dir(self) -> Path:
        return self._spool_dir

    def resolve(self) -> str:
        return self.url


class ServerStore(ServiceStore):
    """Our client of ``mltrack server`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        policy: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        replay: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameter(
                f"Tracking URI {url!r} is not a server URL; use 'http://host:port'."
            )
        # MLTRACK_TRACKING_TOKEN / _USERNAME / _PASSWORD (settings.py); given headers win
        headers = {**auth_headers_from_env(), **(headers or {})}
        super().__init__(
            url,
            ServerResolver(url, headers),
            policy=policy or RetryPolicy.for_server(),
            headers=headers,
        )
        # the buffer retries a failed flush by itself: a batch never holds its thread long
        self.transport.batch_policy = RetryPolicy.for_server(
            min(BATCH_RETRY_S, self.transport.policy.budget_s or BATCH_RETRY_S)
        )
        self.replay_report = SpoolReport()
        self._replay_thread: threading.Thread | None = None
        if replay:
            self._replay_thread = threading.Thread(
                target=self.replay_leftovers, name="mltrack-spool-replay", daemon=True
            )
            self._replay_thread.start()

    # ---------------------------------------------------------- metric batches
    def _send_batch(self, table: Any, client_id: str, seq: int) -> None:
        self._post_batches([table], client_id, seq)

    def _send_chunks(self, tables: list[Any], client_id: str, seq: int) -> None:
        self._post_batches(tables, client_id, seq)

    def _post_batches(
        self, tables: list[pa.Table], client_id: str, seq: int, *, replay: bool = False
    ) -> dict[str, Any]:
        headers = {"X-Mltrack-Client": client_id, "X-Mltrack-Seq": str(int(seq))}
        if replay:
            headers[REPLAY_HEADER] = "1"
        if len(tables) == 1:
            headers["Content-Type"] = ARROW_CONTENT_TYPE
            body = table_to_ipc(tables[0])
        else:
            headers["Content-Type"] = FRAMES_CONTENT_TYPE
            body = frame_tables(tables)
        answer = self.transport.request(
            "POST", API_BASE + "/metric-batches", body=body, headers=headers
        )
        ack: dict[str, Any] = answer.raise_for_error().json()
        return ack

    # ------------------------------------------------------------------ replay
    def replay_leftovers(self) -> SpoolReport:
        """Send the spool files of this machine's dead clients of this server, then
        delete them (idempotent: a batch the server already has is not inserted twice)."""
        root = self.spool.root
        try:
            dead = {d.name for d in root.iterdir() if d.is_dir() and _dead_client(d.name)}
        except FileNotFoundError:
            return self.replay_report
        dead.discard(CORRUPT_DIR)
        if not dead:
            return self.replay_report

        def send(table: pa.Table, client_id: str, seq: int) -> bool:
            return bool(self._post_batches([table], client_id, seq, replay=True)["duplicate"])

        try:
            report = ingest_spool(root, send, client_ids=dead)
        except MltrackError as exc:
            log.warning(
                "Could not resend the spooled metrics of earlier processes to %s (%s); "
                "they stay in %s and the next client resends them.",
                self.uri,
                exc.message,
                root,
            )
            return self.replay_report
        self.replay_report.add(report)
        if report.files:
            log.info(
                "Resent %d spooled batch(es) of earlier processes to %s (%d rows, %d the "
                "server already had).",
                report.files,
                self.uri,
                report.rows,
                report.duplicates,
            )
        return self.replay_report

    def wait_for_replay(self, timeout_s: float = 60.0) -> SpoolReport:
        """Wait for the start-up replay (tests, scripts that exit at once)."""
        if self._replay_thread is not None:
            self._replay_thread.join(timeout_s)
        return self.replay_report


def _dead_client(name: str) -> bool:
    parsed = parse_client_id(name)
    if parsed is None:
        return False
    host, pid = parsed
    return (
        host == socket.gethostname().replace("/", "_")
        and pid != os.getpid()
        and not (pid_alive(pid))
    )


def server_store_factory(uri: str) -> ServerStore:
    """Store factory for ``http://host:port`` and ``https://...`` tracking URIs (the
    ``jupyter_mltrack.stores`` entry points ``http`` and ``https``)."""
    return ServerStore(uri)
