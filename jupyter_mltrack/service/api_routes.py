"""The handlers of the store API, one class per path (wire protocol: docs/service-design.md).

Each verb parses its request on the IOLoop, runs the call (and the encoding of the
answer) on the store executor via :meth:`ApiHandler.answer`, and raises on error;
:mod:`.api_base` turns exceptions into responses. Every call goes through the validating
:class:`~jupyter_mltrack.tracking.core.TrackingCore` (``c`` below), never to a store
directly: what a remote client sends is checked exactly as a notebook's call is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyarrow as pa

from ..errors import InvalidParameter
from ..store.arrow import conform_metric_table, history_to_table
from ..store.base import RunQuery, SeriesRequest
from ..store.remote.wire import (
    FRAMES_CONTENT_TYPE,
    dataset_from_dict,
    dumps,
    experiment_to_dict,
    frame_tables,
    get_field,
    ipc_to_table,
    metric_rows_from_json,
    run_query_from_params,
    run_to_dict,
    unframe_tables,
)
from ..tracking.core import TrackingCore
from .api_base import ApiHandler
from .api_registry import REGISTRY_ROUTES

__all__ = ["ROUTES"]

RUNS_ARROW_TABLES = ("runs", "params", "metrics", "tags")


def _str_map(body: dict[str, Any], name: str) -> dict[str, str]:
    value = get_field(body, name, dict, required=False) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidParameter(f"Field {name!r} must map strings to strings.")
    return dict(value)


def _triples(body: dict[str, Any], name: str) -> list[tuple[str, str, str]]:
    rows = get_field(body, name, list, required=False) or []
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 3 and all(isinstance(x, str) for x in row)):
            raise InvalidParameter(f"{name}[{i}] must be [run_id, key, value] strings.")
    return [(r[0], r[1], r[2]) for r in rows]


def _stage(body: dict[str, Any]) -> str | None:
    stage: str | None = get_field(body, "lifecycle_stage", str, required=False)
    if stage not in (None, "active", "deleted"):
        raise InvalidParameter(
            f"Field 'lifecycle_stage' must be 'active' or 'deleted', got {stage!r}."
        )
    return stage


class InfoHandler(ApiHandler):
    async def get(self) -> None:
        self.reply(dumps(self.api.info()))


class ExperimentsHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        name = get_field(body, "name", str)
        location = get_field(body, "artifact_location", str, required=False)
        tags = _str_map(body, "tags")
        await self.answer(lambda c: {"experiment_id": c.create_experiment(name, location, tags)})

    async def get(self) -> None:
        view = self.query("view_type", "ACTIVE_ONLY") or "ACTIVE_ONLY"
        like, limit = self.query("name_like"), self.query_number("max_results", int)
        await self.answer(
            lambda c: {
                "experiments": [
                    experiment_to_dict(e) for e in c.search_experiments(view, limit, like)
                ]
            }
        )


class ExperimentByNameHandler(ApiHandler):
    async def get(self) -> None:
        name = self.required_query("name")

        def find(c: TrackingCore) -> dict[str, Any]:
            exp = c.get_experiment_by_name(name)
            return {"experiment": experiment_to_dict(exp) if exp else None}

        await self.answer(find)


class ExperimentHandler(ApiHandler):
    async def get(self, experiment_id: str) -> None:
        await self.answer(lambda c: experiment_to_dict(c.get_experiment(experiment_id)))

    async def patch(self, experiment_id: str) -> None:
        body = self.json_body()
        name, stage = get_field(body, "name", str, required=False), _stage(body)
        tags = _str_map(body, "tags")

        def update(c: TrackingCore) -> None:
            if stage == "deleted":
                c.delete_experiment(experiment_id)
            elif stage == "active":
                c.restore_experiment(experiment_id)
            if name is not None:
                c.rename_experiment(experiment_id, name)
            if tags:
                c.set_experiment_tags(experiment_id, tags)
            if stage is None and name is None and not tags:
                c.get_experiment(experiment_id)  # an empty PATCH still 404s on a bad id

        await self.done(update)


class ExperimentTagHandler(ApiHandler):
    async def delete(self, experiment_id: str, key: str) -> None:
        await self.done(lambda c: c.delete_experiment_tag(experiment_id, key))


def _run_query(h: ApiHandler) -> RunQuery:
    """The :class:`RunQuery` of ``GET /runs`` and ``GET /runs.arrow``."""
    return run_query_from_params(h.query_list, lambda name: h.query_number(name, int))


class RunsHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        experiment_id = get_field(body, "experiment_id", str)
        run_name = get_field(body, "run_name", str)
        start = get_field(body, "start_time_ms", int)
        user_id = get_field(body, "user_id", str)
        tags = _str_map(body, "tags")
        parent = get_field(body, "parent_run_id", str, required=False)
        await self.answer(
            lambda c: run_to_dict(
                c.create_run_as(experiment_id, run_name, start, user_id, tags, parent)
            )
        )

    async def get(self) -> None:
        query = _run_query(self)

        def search(c: TrackingCore) -> dict[str, Any]:
            page = c.search_page(query)
            return {
                "runs": [run_to_dict(r) for r in page.runs],
                "next_page_token": page.next_page_token,
            }

        await self.answer(search)


class RunsArrowHandler(ApiHandler):
    async def get(self) -> None:
        query = replace(_run_query(self), page_token=None)

        def search(c: TrackingCore) -> bytes:
            tables = c.search_tables(query)
            return frame_tables([tables[name] for name in RUNS_ARROW_TABLES])

        self.reply(await self.api.run(search), FRAMES_CONTENT_TYPE)


class RunHandler(ApiHandler):
    async def get(self, run_id: str) -> None:
        await self.answer(lambda c: run_to_dict(c.get_run(run_id)))

    async def patch(self, run_id: str) -> None:
        body = self.json_body()
        status = get_field(body, "status", str, required=False)
        end = get_field(body, "end_time_ms", int, required=False)
        name, stage = get_field(body, "run_name", str, required=False), _stage(body)

        def update(c: TrackingCore) -> None:
            if stage == "deleted":
                c.delete_run(run_id)
            elif stage == "active":
                c.restore_run(run_id)
            if stage is None or status is not None or end is not None or name is not None:
                c.update_run(run_id, status, name, end)

        await self.done(update)


class RunStateHandler(ApiHandler):
    async def get(self, run_id: str) -> None:
        def state(c: TrackingCore) -> dict[str, str]:
            status, stage = c.store.run_state(c.check_id(run_id))
            return {"status": status, "lifecycle_stage": stage}

        await self.answer(state)


class RunTagHandler(ApiHandler):
    async def delete(self, run_id: str, key: str) -> None:
        await self.done(lambda c: c.delete_tag(run_id, key))


class RunInputsHandler(ApiHandler):
    async def post(self, run_id: str) -> None:
        items = get_field(self.json_body(), "datasets", list)
        datasets = []
        for i, item in enumerate(items):
            if not (isinstance(item, list) and len(item) == 2):
                raise InvalidParameter(f"datasets[{i}] must be [dataset, tags].")
            datasets.append((dataset_from_dict(item[0]), _str_map({"tags": item[1]}, "tags")))
        await self.done(lambda c: c.log_inputs(run_id, datasets))


class MetricHistoryHandler(ApiHandler):
    async def get(self, run_id: str, key: str) -> None:
        def history(c: TrackingCore) -> pa.Table:
            return history_to_table(c.get_metric_history(run_id, key))

        await self.answer_table(history)


class BatchHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        metrics = metric_rows_from_json(body.get("metrics") or [])
        params, tags = _triples(body, "params"), _triples(body, "tags")
        await self.done(lambda c: c.log_rows(metrics, params, tags))


class MetricBatchHandler(ApiHandler):
    async def post(self) -> None:
        client_id = self.request.headers.get("X-Mltrack-Client")
        seq_text = self.request.headers.get("X-Mltrack-Seq")
        body = self.request.body
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == FRAMES_CONTENT_TYPE:
            await self.answer(lambda c: self._ingest_frames(c, body, client_id, _seq(seq_text)))
            return

        def ingest(c: TrackingCore) -> dict[str, Any]:
            table = ipc_to_table(body)
            meta = table.schema.metadata or {}
            cid = client_id or (meta[b"client_id"].decode() if b"client_id" in meta else None)
            seq = _seq(seq_text or (meta[b"seq"].decode() if b"seq" in meta else None))
            return self.api.ingest(c.validate_metric_table(_metric_table(table)), cid, seq)

        await self.answer(ingest)

    def _ingest_frames(
        self, core: TrackingCore, body: bytes, client_id: str | None, seq: int | None
    ) -> dict[str, Any]:
        """Several chunks, numbered ``seq``, ``seq + 1``, ...: committed together."""
        tables = [
            core.validate_metric_table(_metric_table(t.replace_schema_metadata(None)))
            for t in unframe_tables(body)
        ]
        if self.api.ingest_many is not None:
            return self.api.ingest_many(tables, client_id, seq)
        answers = [
            self.api.ingest(t, client_id, None if seq is None else seq + i)
            for i, t in enumerate(tables)
        ]
        dups = sum(bool(a.get("duplicate")) for a in answers)
        return {
            "committed": sum(int(a.get("committed", 0)) for a in answers),
            "duplicate": dups == len(answers),
            "duplicates": dups,
        }


def _seq(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidParameter(
            f"Header 'X-Mltrack-Seq' must be an integer, got {text!r}."
        ) from None


def _metric_table(table: pa.Table) -> pa.Table:
    """``table`` in ``METRIC_SCHEMA`` column order and types (plus the link columns when it
    has any); names what is missing."""
    return conform_metric_table(table)


class SeriesHandler(ApiHandler):
    async def get(self) -> None:
        width = self.query_number("width", int)
        request = SeriesRequest(
            tuple(self.query_list("run_ids")),
            self.required_query("key"),
            1000 if width is None else width,
            self.query("x_axis", "step") or "step",
            self.query_number("x_min", float),
            self.query_number("x_max", float),
        )
        await self.answer_table(lambda c: c.series_table(request))


class SqlHandler(ApiHandler):
    async def get(self) -> None:
        query = self.required_query("q")
        await self.answer_table(lambda c: c.sql(query).to_arrow_table())


class GcHandler(ApiHandler):
    async def post(self) -> None:
        ids = get_field(self.json_body(), "run_ids", list, required=False)
        if ids is not None and not all(isinstance(i, str) for i in ids):
            raise InvalidParameter("Field 'run_ids' must be a list of strings or null.")
        await self.answer(lambda c: {"removed": c.gc_store(ids)})


class HeartbeatHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        get_field(body, "client_id", str)
        get_field(body, "pid", int)
        run_ids = get_field(body, "run_ids", list)
        if not all(isinstance(i, str) for i in run_ids):
            raise InvalidParameter("Field 'run_ids' must be a list of strings.")
        self.api.heartbeat(body)
        self.reply(b"{}")


_ID = r"([^/]+)"
#: ``(path under the base, handler)``, most specific first.
ROUTES: list[tuple[str, type[ApiHandler]]] = [
    (r"/info", InfoHandler),
    (r"/experiments", ExperimentsHandler),
    (r"/experiments-by-name", ExperimentByNameHandler),
    (rf"/experiments/{_ID}", ExperimentHandler),
    (rf"/experiments/{_ID}/tags/(.+)", ExperimentTagHandler),
    (r"/runs", RunsHandler),
    (r"/runs\.arrow", RunsArrowHandler),
    (r"/runs/batch", BatchHandler),
    (rf"/runs/{_ID}", RunHandler),
    (rf"/runs/{_ID}/state", RunStateHandler),
    (rf"/runs/{_ID}/tags/(.+)", RunTagHandler),
    (rf"/runs/{_ID}/inputs", RunInputsHandler),
    (rf"/runs/{_ID}/metrics/(.+)", MetricHistoryHandler),
    (r"/metric-batches", MetricBatchHandler),
    (r"/series", SeriesHandler),
    (r"/sql", SqlHandler),
    (r"/gc", GcHandler),
    (r"/heartbeats", HeartbeatHandler),
    *REGISTRY_ROUTES,
]
