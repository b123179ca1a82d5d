"""The handlers of the store API, one class per path (wire protocol: docs/service-design.md).

Each verb parses its request on the IOLoop, runs the store call (and the encoding of
the answer) on the store executor via :meth:`ApiHandler.answer`, and raises on error;
:mod:`.api_base` turns exceptions into responses.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..errors import InvalidParameter
from ..store.arrow import METRIC_SCHEMA
from ..store.base import SeriesRequest, TrackingStore
from ..store.remote.wire import (
    FRAMES_CONTENT_TYPE,
    dataset_from_dict,
    dumps,
    experiment_to_dict,
    frame_tables,
    get_field,
    ipc_to_table,
    metric_rows_from_json,
    run_to_dict,
    unframe_tables,
)
from .api_base import ApiHandler

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
        await self.answer(lambda s: {"experiment_id": s.create_experiment(name, location, tags)})

    async def get(self) -> None:
        view = self.query("view_type", "ACTIVE_ONLY") or "ACTIVE_ONLY"
        like, limit = self.query("name_like"), self.query_number("max_results", int)
        await self.answer(
            lambda s: {
                "experiments": [
                    experiment_to_dict(e) for e in s.search_experiments(view, like, limit)
                ]
            }
        )


class ExperimentByNameHandler(ApiHandler):
    async def get(self) -> None:
        name = self.required_query("name")

        def find(s: TrackingStore) -> dict[str, Any]:
            exp = s.get_experiment_by_name(name)
            return {"experiment": experiment_to_dict(exp) if exp else None}

        await self.answer(find)


class ExperimentHandler(ApiHandler):
    async def get(self, experiment_id: str) -> None:
        await self.answer(lambda s: experiment_to_dict(s.get_experiment(experiment_id)))

    async def patch(self, experiment_id: str) -> None:
        body = self.json_body()
        name, stage = get_field(body, "name", str, required=False), _stage(body)
        tags = _str_map(body, "tags")

        def update(s: TrackingStore) -> None:
            if stage == "deleted":
                s.delete_experiment(experiment_id)
            elif stage == "active":
                s.restore_experiment(experiment_id)
            if name is not None:
                s.rename_experiment(experiment_id, name)
            if tags:
                s.set_experiment_tags(experiment_id, tags)
            if stage is None and name is None and not tags:
                s.get_experiment(experiment_id)  # an empty PATCH still 404s on a bad id

        await self.done(update)


def _search_args(h: ApiHandler) -> tuple[list[str], str, str, int | None, list[str]]:
    """``search_runs`` arguments from the query of ``GET /runs`` and ``GET /runs.arrow``."""
    return (
        h.query_list("experiment_ids"),
        h.query("filter", "") or "",
        h.query("view_type", "ACTIVE_ONLY") or "ACTIVE_ONLY",
        h.query_number("max_results", int),
        h.query_list("order_by"),
    )


class RunsHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        args = (
            get_field(body, "experiment_id", str),
            get_field(body, "run_name", str),
            get_field(body, "start_time_ms", int),
            get_field(body, "user_id", str),
            _str_map(body, "tags"),
            get_field(body, "parent_run_id", str, required=False),
        )
        await self.answer(lambda s: run_to_dict(s.create_run(*args)))

    async def get(self) -> None:
        args, token = _search_args(self), self.query("page_token") or None

        def search(s: TrackingStore) -> dict[str, Any]:
            page = s.search_runs(*args, token)
            return {
                "runs": [run_to_dict(r) for r in page.runs],
                "next_page_token": page.next_page_token,
            }

        await self.answer(search)


class RunsArrowHandler(ApiHandler):
    async def get(self) -> None:
        args = _search_args(self)

        def search(s: TrackingStore) -> bytes:
            tables = s.search_runs_arrow(*args)
            return frame_tables([tables[name] for name in RUNS_ARROW_TABLES])

        self.reply(await self.api.run(search), FRAMES_CONTENT_TYPE)


class RunHandler(ApiHandler):
    async def get(self, run_id: str) -> None:
        await self.answer(lambda s: run_to_dict(s.get_run(run_id)))

    async def patch(self, run_id: str) -> None:
        body = self.json_body()
        status = get_field(body, "status", str, required=False)
        end = get_field(body, "end_time_ms", int, required=False)
        name, stage = get_field(body, "run_name", str, required=False), _stage(body)

        def update(s: TrackingStore) -> None:
            if stage == "deleted":
                s.delete_run(run_id)
            elif stage == "active":
                s.restore_run(run_id)
            if stage is None or status is not None or end is not None or name is not None:
                s.update_run(run_id, status, end, name)

        await self.done(update)


class RunStateHandler(ApiHandler):
    async def get(self, run_id: str) -> None:
        def state(s: TrackingStore) -> dict[str, str]:
            status, stage = s.run_state(run_id)
            return {"status": status, "lifecycle_stage": stage}

        await self.answer(state)


class RunTagHandler(ApiHandler):
    async def delete(self, run_id: str, key: str) -> None:
        await self.done(lambda s: s.delete_tag(run_id, key))


class RunInputsHandler(ApiHandler):
    async def post(self, run_id: str) -> None:
        items = get_field(self.json_body(), "datasets", list)
        datasets = []
        for i, item in enumerate(items):
            if not (isinstance(item, list) and len(item) == 2):
                raise InvalidParameter(f"datasets[{i}] must be [dataset, tags].")
            datasets.append((dataset_from_dict(item[0]), _str_map({"tags": item[1]}, "tags")))
        await self.done(lambda s: s.log_inputs(run_id, datasets))


class MetricHistoryHandler(ApiHandler):
    async def get(self, run_id: str, key: str) -> None:
        def history(s: TrackingStore) -> pa.Table:
            h = s.get_metric_history(run_id, key)
            return pa.table(
                {
                    "step": pa.array(h.steps, pa.int64()),
                    "value": pa.array(h.values, pa.float64()),
                    "timestamp_ms": pa.array(h.timestamps_ms, pa.int64()),
                }
            )

        await self.answer_table(history)


class BatchHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        metrics = metric_rows_from_json(body.get("metrics") or [])
        params, tags = _triples(body, "params"), _triples(body, "tags")
        await self.done(lambda s: s.log_batch(metrics, params, tags))


class MetricBatchHandler(ApiHandler):
    async def post(self) -> None:
        client_id = self.request.headers.get("X-Mltrack-Client")
        seq_text = self.request.headers.get("X-Mltrack-Seq")
        body = self.request.body
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == FRAMES_CONTENT_TYPE:
            await self.answer(lambda _: self._ingest_frames(body, client_id, _seq(seq_text)))
            return

        def ingest(_: TrackingStore) -> dict[str, Any]:
            table = ipc_to_table(body)
            meta = table.schema.metadata or {}
            cid = client_id or (meta[b"client_id"].decode() if b"client_id" in meta else None)
            seq = _seq(seq_text or (meta[b"seq"].decode() if b"seq" in meta else None))
            return self.api.ingest(_metric_table(table), cid, seq)

        await self.answer(ingest)

    def _ingest_frames(self, body: bytes, client_id: str | None, seq: int | None) -> dict[str, Any]:
        """Several chunks, numbered ``seq``, ``seq + 1``, ...: committed together."""
        tables = [_metric_table(t.replace_schema_metadata(None)) for t in unframe_tables(body)]
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
    """``table`` in ``METRIC_SCHEMA`` column order and types; names what is missing."""
    if table.schema.equals(METRIC_SCHEMA):
        return table
    missing = [n for n in METRIC_SCHEMA.names if n not in table.column_names]
    if missing:
        raise InvalidParameter(
            f"The metric batch lacks the column(s) {', '.join(missing)}; expected "
            f"{', '.join(METRIC_SCHEMA.names)}."
        )
    try:
        return table.select(METRIC_SCHEMA.names).cast(METRIC_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidParameter(f"The metric batch has wrongly typed columns: {exc}.") from exc


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
        await self.answer_table(lambda s: s.get_metric_series(request))


class SqlHandler(ApiHandler):
    async def get(self) -> None:
        query = self.required_query("q")
        await self.answer_table(lambda s: s.sql(query).to_arrow_table())


class GcHandler(ApiHandler):
    async def post(self) -> None:
        ids = get_field(self.json_body(), "run_ids", list, required=False)
        if ids is not None and not all(isinstance(i, str) for i in ids):
            raise InvalidParameter("Field 'run_ids' must be a list of strings or null.")
        await self.answer(lambda s: {"removed": s.gc(ids)})


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
]
