"""``RemoteStore``: the ``TrackingStore`` protocol over the store API (unix socket or TCP).

Every method is one request (docs/service-design.md, "Wire protocol"). Errors come back
as the server's ``err.to_dict()`` and are rebuilt with ``MltrackError.from_dict``, so
``except RunNotFound`` works as with ``DuckDBStore``; a service that cannot be reached
raises ``StoreUnavailable``.

Example::

    store = RemoteStore("duckdb:///data/store.duckdb", "unix:///data/store.duckdb.sock")
    run = store.create_run("0", "demo", now_ms, "me", {}, None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from ...entities import Dataset, Experiment, MetricHistory, Run
from ...errors import InvalidParameter
from ...settings import API_BASE
from ..arrow import detached_relation, history_from_table
from ..base import LinkedMetricRow, MetricRow, RunPage, RunQuery, SeriesRequest, TrackingStore
from .registry import RemoteRegistry
from .transport import Query, Transport
from .wire import (
    ARROW_CONTENT_TYPE,
    FRAMES_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    dataset_to_dict,
    dumps,
    experiment_from_dict,
    frame_tables,
    ipc_to_table,
    metric_rows_to_json,
    run_from_dict,
    run_query_to_params,
    table_to_ipc,
    unframe_tables,
)

__all__ = ["API_BASE", "RemoteStore", "remote_store_factory"]

_RUNS_ARROW_TABLES = ("runs", "params", "metrics", "tags")
_JSON = {"Content-Type": JSON_CONTENT_TYPE}


def _q(segment: str) -> str:
    return quote(segment, safe="")


class RemoteStore(RemoteRegistry):
    """A tracking store served by another process.

    Args:
        uri: the tracking URI this store stands for (``duckdb:///...`` for the local
            service, the server URL for a team server); kept as ``self.uri``.
        endpoint: where the API listens: ``unix:///path/to.sock`` or ``http://host:port``.
        timeout: seconds to wait for a connection or an answer.
        headers: sent with every request (e.g. ``{"Authorization": "token ..."}``).
    """

    def __init__(
        self,
        uri: str,
        endpoint: str,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.uri = uri
        self.endpoint = endpoint
        self.transport = Transport(endpoint, timeout=timeout, headers=headers)

    # ---------------------------------------------------------------- plumbing
    def _call(
        self, method: str, path: str, body: Any = None, query: Query = (), **headers: str
    ) -> bytes:
        try:
            data = None if body is None else dumps(body)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"Cannot send {method} {path} to the store: {exc}.") from exc
        answer = self.transport.request(
            method, API_BASE + path, query=query, body=data, headers={**_JSON, **headers}
        )
        return answer.raise_for_error().body

    def _json(self, method: str, path: str, body: Any = None, query: Query = ()) -> Any:
        return json.loads(self._call(method, path, body, query))

    def _table(self, path: str, query: Query = ()) -> pa.Table:
        return ipc_to_table(self._call("GET", path, query=query))

    def info(self) -> dict[str, Any]:
        """``GET /info``: version, store path, owner pid and kind, schema version."""
        info: dict[str, Any] = self._json("GET", "/info")
        return info

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        body = {"name": name, "artifact_location": artifact_location, "tags": tags}
        return str(self._json("POST", "/experiments", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return experiment_from_dict(self._json("GET", f"/experiments/{_q(experiment_id)}"))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._json("GET", "/experiments-by-name", query=[("name", name)])["experiment"]
        return None if found is None else experiment_from_dict(found)

    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Experiment]:
        query = [("view_type", view_type), ("name_like", name_like), ("max_results", max_results)]
        answer = self._json("GET", "/experiments", query=query)
        return [experiment_from_dict(e) for e in answer["experiments"]]

    def _patch_experiment(self, experiment_id: str, body: dict[str, Any]) -> None:
        self._call("PATCH", f"/experiments/{_q(experiment_id)}", body)

    def delete_experiment(self, experiment_id: str) -> None:
        self._patch_experiment(experiment_id, {"lifecycle_stage": "deleted"})

    def restore_experiment(self, experiment_id: str) -> None:
        self._patch_experiment(experiment_id, {"lifecycle_stage": "active"})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._patch_experiment(experiment_id, {"name": new_name})

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None:
        self._patch_experiment(experiment_id, {"tags": tags})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call("DELETE", f"/experiments/{_q(experiment_id)}/tags/{_q(key)}")

    # -------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time_ms": start_time_ms,
            "user_id": user_id,
            "tags": tags,
            "parent_run_id": parent_run_id,
        }
        return run_from_dict(self._json("POST", "/runs", body))

    def get_run(self, run_id: str) -> Run:
        return run_from_dict(self._json("GET", f"/runs/{_q(run_id)}"))

    def run_state(self, run_id: str) -> tuple[str, str]:
        answer = self._json("GET", f"/runs/{_q(run_id)}/state")
        return str(answer["status"]), str(answer["lifecycle_stage"])

    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None:
        body = {"status": status, "end_time_ms": end_time_ms, "run_name": run_name}
        self._call("PATCH", f"/runs/{_q(run_id)}", body)

    def delete_run(self, run_id: str) -> None:
        self._call("PATCH", f"/runs/{_q(run_id)}", {"lifecycle_stage": "deleted"})

    def restore_run(self, run_id: str) -> None:
        self._call("PATCH", f"/runs/{_q(run_id)}", {"lifecycle_stage": "active"})

    # ------------------------------------------------------------------ writes
    def log_batch(
        self,
        metrics: Sequence[MetricRow | LinkedMetricRow],
        params: Sequence[tuple[str, str, str]],
        tags: Sequence[tuple[str, str, str]],
    ) -> None:
        body = {
            "metrics": metric_rows_to_json(metrics),
            "params": [list(p) for p in params],
            "tags": [list(t) for t in tags],
        }
        self._call("POST", "/runs/batch", body)

    def log_metric_table(
        self, table: pa.Table, *, client_id: str | None = None, seq: int | None = None
    ) -> None:
        """Append a ``METRIC_SCHEMA`` table; with ``client_id``/``seq`` the owner ingests it
        idempotently (a repeated pair is acknowledged without inserting)."""
        self.post_metric_batch(table, client_id=client_id, seq=seq)

    def post_metric_batch(
        self, table: pa.Table, *, client_id: str | None = None, seq: int | None = None
    ) -> dict[str, Any]:
        """Like :meth:`log_metric_table`; returns the owner's ``{"committed", "duplicate"}``."""
        headers = {"Content-Type": ARROW_CONTENT_TYPE}
        if client_id is not None:
            headers["X-Mltrack-Client"] = client_id
        if seq is not None:
            headers["X-Mltrack-Seq"] = str(int(seq))
        answer = self.transport.request(
            "POST", API_BASE + "/metric-batches", body=table_to_ipc(table), headers=headers
        )
        ack: dict[str, Any] = answer.raise_for_error().json()
        return ack

    def post_metric_chunks(
        self, tables: Sequence[pa.Table], *, client_id: str, seq: int
    ) -> dict[str, Any]:
        """Several batches in one request, numbered ``seq``, ``seq + 1``, ...; the owner
        commits them together and answers ``{"committed", "duplicate", "duplicates"}``."""
        headers = {
            "Content-Type": FRAMES_CONTENT_TYPE,
            "X-Mltrack-Client": client_id,
            "X-Mltrack-Seq": str(int(seq)),
        }
        answer = self.transport.request(
            "POST", API_BASE + "/metric-batches", body=frame_tables(tables), headers=headers
        )
        ack: dict[str, Any] = answer.raise_for_error().json()
        return ack

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("DELETE", f"/runs/{_q(run_id)}/tags/{_q(key)}")

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        body = {"datasets": [[dataset_to_dict(ds), tags] for ds, tags in datasets]}
        self._call("POST", f"/runs/{_q(run_id)}/inputs", body)

    def heartbeat(self, client_id: str, pid: int, run_ids: Sequence[str]) -> None:
        """Tell the owner that ``run_ids`` of process ``pid`` are alive."""
        body = {"client_id": client_id, "pid": pid, "run_ids": list(run_ids)}
        self._call("POST", "/heartbeats", body)

    # ------------------------------------------------------------------- reads
    def search_runs(self, query: RunQuery) -> RunPage:
        answer = self._json("GET", "/runs", query=run_query_to_params(query))
        return RunPage([run_from_dict(r) for r in answer["runs"]], answer["next_page_token"])

    def search_runs_arrow(self, query: RunQuery) -> dict[str, Any]:
        params = run_query_to_params(replace(query, page_token=None))
        tables = unframe_tables(self._call("GET", "/runs.arrow", query=params))
        return dict(zip(_RUNS_ARROW_TABLES, tables, strict=True))

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        return history_from_table(key, self._table(f"/runs/{_q(run_id)}/metrics/{_q(key)}"))

    def get_metric_series(self, request: SeriesRequest) -> Any:
        query = [
            *(("run_ids", r) for r in request.run_ids),
            ("key", request.key),
            ("width", request.width),
            ("x_axis", request.x_axis),
            ("x_min", request.x_min),
            ("x_max", request.x_max),
        ]
        return self._table("/series", query)

    def sql(self, query: str) -> Any:
        """Run one read-only SELECT on the owner; a DuckDB relation over the Arrow answer."""
        return detached_relation(self._table("/sql", [("q", query)]))

    # ------------------------------------------------------------- maintenance
    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        body = {"run_ids": None if run_ids is None else list(run_ids)}
        return [str(r) for r in self._json("POST", "/gc", body)["removed"]]


def remote_store_factory(uri: str) -> RemoteStore:
    """Store factory for ``http://host:port[/prefix]`` (and ``https``) tracking URIs:
    ``register_store("http", remote_store_factory)``."""
    return RemoteStore(uri, uri)


if TYPE_CHECKING:  # mypy proves RemoteStore satisfies the protocol, not only isinstance()

    def _conforms(store: RemoteStore) -> TrackingStore:
        return store
