"""``ServiceStore``: the client-side store of a local DuckDB file served by its owner process.

It is a :class:`~.store.RemoteStore` that spools metric batches (:mod:`.spool`), sends
heartbeats for the runs it created (:mod:`.heartbeats`), and, when the owner goes away,
asks its :class:`OwnerResolver` for the next one and retries the request (reads, metric
batches and heartbeats always; other writes only when the request never reached the old
owner). Finding or starting an owner is the owner side's job
(``jupyter_mltrack.service.discovery.OwnerConnector`` implements :class:`OwnerResolver`).
A team server's client (:class:`~.server_store.ServerStore`) is the same class with a
resolver that always names the server's URL and a backoff policy (:mod:`.retry`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ...entities import Run, RunStatus
from ...errors import InvalidParameter, StoreUnavailable
from ...settings import DEFAULT_HEARTBEAT_S
from .heartbeats import HeartbeatSender
from .retry import LOCAL_POLICY, RetryPolicy
from .spool import ClientSpool
from .store import RemoteStore
from .transport import Query, Response, Transport

__all__ = ["OwnerResolver", "ServiceStore"]


class OwnerResolver(Protocol):
    """Finds the endpoint of the live owner of one store (starting one if needed)."""

    #: ``GET /info`` of the owner last found (``heartbeat_s`` among others)
    info: dict[str, Any]

    @property
    def store_path(self) -> Path: ...
    @property
    def spool_dir(self) -> Path: ...
    def resolve(self) -> str: ...


class _OwnerTransport(Transport):
    """A transport that follows the store to its next owner when the current one is gone,
    retrying as ``policy`` says (:mod:`.retry`)."""

    def __init__(
        self,
        connector: OwnerResolver,
        endpoint: str,
        timeout: float,
        policy: RetryPolicy = LOCAL_POLICY,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(endpoint, timeout=timeout, headers=headers)
        self.connector = connector
        self.policy = policy
        #: The policy of ``POST /metric-batches`` when it differs (a team server's client).
        self.batch_policy: RetryPolicy | None = None
        #: Requests retried so far (all threads), for tests and diagnostics.
        self.retries = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        policy = self.policy
        if self.batch_policy is not None and path.endswith("/metric-batches"):
            policy = self.batch_policy
        sleeps = policy.schedule()
        while True:
            try:
                answer = super().request(method, path, query=query, body=body, headers=headers)
            except StoreUnavailable as exc:
                if not _may_retry(method, path, headers, exc):
                    raise
                delay = next(sleeps, None)
                if delay is None:
                    raise
            else:
                if answer.status not in policy.retry_statuses or not _may_retry_status(
                    method, path, headers, answer.status
                ):
                    return answer
                delay = next(sleeps, None)
                if delay is None:
                    return answer
            self.retries += 1
            if delay:
                time.sleep(delay)
            endpoint = self.connector.resolve()
            if endpoint != self.endpoint:
                self.close()
                Transport.__init__(self, endpoint, timeout=self.timeout, headers=self._headers)


def _idempotent(method: str, path: str, headers: Mapping[str, str] | None) -> bool:
    if method in ("GET", "PATCH", "DELETE"):
        return True
    if path.endswith("/heartbeats"):
        return True
    return path.endswith("/metric-batches") and "X-Mltrack-Seq" in (headers or {})


def _may_retry(
    method: str, path: str, headers: Mapping[str, str] | None, exc: StoreUnavailable
) -> bool:
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        return False  # the owner is alive but busy: asking again only adds load
    if isinstance(cause, ConnectionRefusedError | FileNotFoundError):
        return True  # the request never reached an owner
    return _idempotent(method, path, headers)


def _may_retry_status(
    method: str, path: str, headers: Mapping[str, str] | None, status: int
) -> bool:
    # 503 is our StoreUnavailable (or a proxy's "no upstream"): nothing was done
    return status == 503 or _idempotent(method, path, headers)


class ServiceStore(RemoteStore):
    """The store of a local DuckDB file, served by its owner process.

    ``spool`` is the client spool the tracking client commits metric batches through;
    ``heartbeats`` keeps the runs this process created alive on the owner.
    """

    def __init__(
        self,
        uri: str,
        connector: OwnerResolver,
        *,
        policy: RetryPolicy = LOCAL_POLICY,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        endpoint = connector.resolve()
        super().__init__(uri, endpoint, headers=headers)
        self.transport: _OwnerTransport = _OwnerTransport(
            connector, endpoint, self.transport.timeout, policy, headers
        )
        self.connector = connector
        self.path = connector.store_path
        self.spool = ClientSpool(connector.spool_dir, self._send_batch, send_many=self._send_chunks)
        interval = connector.info.get("heartbeat_s")
        self.heartbeats = HeartbeatSender(
            self._send_heartbeat,
            lambda: self.spool.client_id,
            float(interval) if isinstance(interval, int | float) else DEFAULT_HEARTBEAT_S,
        )

    def _send_batch(self, table: Any, client_id: str, seq: int) -> None:
        self.log_metric_table(table, client_id=client_id, seq=seq)

    def _send_chunks(self, tables: list[Any], client_id: str, seq: int) -> None:
        try:
            self.post_metric_chunks(tables, client_id=client_id, seq=seq)
        except InvalidParameter:
            # an owner of an older version reads the framed body as one Arrow stream and
            # rejects it: send the batches one by one (idempotent, so nothing doubles)
            for i, table in enumerate(tables):
                self._send_batch(table, client_id, seq + i)

    def _send_heartbeat(self, client_id: str, pid: int, run_ids: Any) -> None:
        self.heartbeat(client_id, pid, run_ids)

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run:
        run = super().create_run(
            experiment_id, run_name, start_time_ms, user_id, tags, parent_run_id
        )
        self.heartbeats.add_run(run.info.run_id)
        return run

    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None:
        super().update_run(run_id, status, end_time_ms, run_name)
        if status == RunStatus.RUNNING:
            self.heartbeats.add_run(run_id)
        elif status in RunStatus.TERMINAL:
            self.heartbeats.remove_run(run_id)

    def close(self) -> None:
        self.heartbeats.stop()
        super().close()
