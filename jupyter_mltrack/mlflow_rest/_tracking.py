"""MLflow's tracking endpoints (experiments, runs, logging, search, metric history).

Each handler reads MLflow's request message (:class:`~._base.Message`), calls the
validating :class:`~jupyter_mltrack.tracking.core.TrackingCore` on the store executor and
answers in MLflow's JSON shapes (:mod:`._convert`). Where MLflow's semantics differ from
ours, MLflow's are implemented here; what still differs is listed in docs/mlflow-compat.md.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np

from ..entities import Dataset, Metric, Param, Run, RunTag
from ..errors import InvalidParameter, NotFound, RunNotFound
from ..store.base import RunQuery
from ..tracking.core import TrackingCore
from ._base import Message, MlflowHandler, require_active_experiment
from ._convert import (
    experiment_json,
    file_info_json,
    metric_json,
    run_info_json,
    run_json,
)
from ._filters import filter_experiments

__all__ = ["TRACKING_ROUTES"]

# MLflow's limits (mlflow/utils/validation.py, mlflow/server/handlers.py)
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASETS_PER_BATCH = 1000
MAX_RUNS_BULK = 100
MAX_RESULTS_PER_RUN = 2500
MAX_SEARCH_RESULTS = 50000
MAX_HISTORY_PAGE = 25000
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
VIEW_TYPE_NUMBERS = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}


def _run_id(msg: Message) -> str:
    """``run_id``, or its old name ``run_uuid``; one of them is required."""
    value = msg.string("run_id") or msg.string("run_uuid")
    if not value:
        raise Message.missing("run_id")
    return str(value)


def _view_type(msg: Message, name: str) -> str:
    raw = msg._raw(name)
    if raw is None or raw == "":
        return "ACTIVE_ONLY"
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in VIEW_TYPE_NUMBERS:
        return VIEW_TYPE_NUMBERS[raw]
    if isinstance(raw, str) and raw.isdigit() and int(raw) in VIEW_TYPE_NUMBERS:
        return VIEW_TYPE_NUMBERS[int(raw)]
    if isinstance(raw, str) and raw.upper() in VIEW_TYPE_NUMBERS.values():
        return raw.upper()
    raise Message.invalid(name, raw, "one of ACTIVE_ONLY, DELETED_ONLY, ALL")


def _max_results(msg: Message, default: int, limit: int) -> int:
    value = msg.integer("max_results", default=default)
    if value < 1 or value > limit:
        raise InvalidParameter(
            f"Invalid value {value} for parameter 'max_results' supplied. It must be at "
            f"most {limit}, and at least 1."
        )
    return int(value)


def _offset_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except Exception:
        raise InvalidParameter(
            f"Invalid page token {token!r:.60}; it could not be parsed."
        ) from None
    if offset < 0:
        raise InvalidParameter(f"Invalid page token {token!r:.60}.")
    return offset


def _make_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _resolve_local(location: str | None) -> str | None:
    """A relative local path made absolute against the server's directory, as MLflow does."""
    if location is None or "://" in location or ":" in location.split("/")[0]:
        return location
    return os.path.abspath(location)


class Base(MlflowHandler):
    """Shared helpers of the tracking routes."""

    @property
    def prefix(self) -> str:
        return self.ctx.artifacts_prefix

    def run_body(
        self, core: TrackingCore, run: Run, latest: dict[str, tuple[int, int]] | None = None
    ) -> dict[str, Any]:
        points = latest_points(core, run) if latest is None else latest
        return run_json(run, self.prefix, points)


def latest_points_many(
    core: TrackingCore, runs: list[Run]
) -> dict[str, dict[str, tuple[int, int]]]:
    """:func:`latest_points` of many runs in one query (a search page): ``run_id -> ...``."""
    ids = [r.info.run_id for r in runs if r.data.metrics and r.info.run_id.isalnum()]
    out: dict[str, dict[str, tuple[int, int]]] = {r.info.run_id: {} for r in runs}
    if not ids or getattr(core.store, "sql", None) is None:
        return out
    listed = ", ".join(f"'{i}'" for i in ids)  # alphanumeric ids (checked above)
    try:
        rows = core.sql(
            f"SELECT run_id, key, timestamp_ms, step FROM latest_metrics WHERE run_id IN ({listed})"
        ).fetchall()
    except Exception:  # a store without SQL views: MLflow's client needs only the values
        return out
    for run_id, key, ts, step in rows:
        out.setdefault(str(run_id), {})[str(key)] = (int(ts), int(step))
    return out


def latest_points(core: TrackingCore, run: Run) -> dict[str, tuple[int, int]]:
    """``key -> (timestamp_ms, step)`` of each latest metric of ``run`` (``{}`` if unknown)."""
    if not run.data.metrics:
        return {}
    sql = getattr(core.store, "sql", None)
    if sql is None or not run.info.run_id.isalnum():
        return {}
    try:  # run_id is alphanumeric (checked above): safe to inline in this read-only query
        rows = core.sql(
            f"SELECT key, timestamp_ms, step FROM latest_metrics WHERE run_id = '{run.info.run_id}'"
        ).fetchall()
    except Exception:  # a store without SQL views: MLflow's client needs only the values
        return {}
    return {str(k): (int(t), int(s)) for k, t, s in rows}


# ------------------------------------------------------------------ experiments
class CreateExperiment(Base):
    async def post(self) -> None:
        msg = self.message()
        name = msg.string("name", required=True)
        location = _resolve_local(msg.string("artifact_location") or None)
        tags = msg.key_values("tags")
        await self.answer(lambda c: {"experiment_id": c.create_experiment(name, location, tags)})


class GetExperiment(Base):
    async def get(self) -> None:
        exp_id = self.message().string("experiment_id", required=True)
        await self.answer(
            lambda c: {"experiment": experiment_json(c.get_experiment(exp_id), self.prefix)}
        )


class GetExperimentByName(Base):
    async def get(self) -> None:
        name = self.message().string("experiment_name", required=True)

        def find(c: TrackingCore) -> dict[str, Any]:
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise NotFound(f"Could not find experiment with name '{name}'")
            return {"experiment": experiment_json(exp, self.prefix)}

        await self.answer(find)


class SearchExperiments(Base):
    async def post(self) -> None:
        msg = self.message()
        view = _view_type(msg, "view_type")
        limit = _max_results(msg, 1000, MAX_SEARCH_RESULTS)
        filter_string = msg.string("filter") or ""
        order_by = msg.strings("order_by")
        offset = _offset_token(msg.string("page_token"))

        def search(c: TrackingCore) -> dict[str, Any]:
            every = c.search_experiments(view_type=view, max_results=None)
            found = filter_experiments(every, filter_string, order_by)
            page = found[offset : offset + limit]
            body: dict[str, Any] = {"experiments": [experiment_json(e, self.prefix) for e in page]}
            if offset + limit < len(found):
                body["next_page_token"] = _make_token(offset + limit)
            return body

        await self.answer(search)

    get = post


class DeleteExperiment(Base):
    async def post(self) -> None:
        exp_id = self.message().string("experiment_id", required=True)
        await self.answer(lambda c: c.delete_experiment(exp_id))


class RestoreExperiment(Base):
    async def post(self) -> None:
        exp_id = self.message().string("experiment_id", required=True)
        await self.answer(lambda c: c.restore_experiment(exp_id))


class UpdateExperiment(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id", required=True)
        new_name = msg.string("new_name")
        if new_name is None:
            await self.answer(lambda c: c.get_experiment(exp_id) and None)
            return
        await self.answer(lambda c: c.rename_experiment(exp_id, new_name))


class SetExperimentTag(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id", required=True)
        key = msg.string("key", required=True)
        value = msg.string("value") or ""
        await self.answer(lambda c: c.set_experiment_tag(exp_id, key, value))


class DeleteExperimentTag(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id", required=True)
        key = msg.string("key", required=True)

        def delete(c: TrackingCore) -> None:
            require_active_experiment(c, exp_id)  # MLflow checks the stage before the tag
            c.delete_experiment_tag(exp_id, key)

        await self.answer(delete)


# ------------------------------------------------------------------------- runs
class CreateRun(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id") or "0"
        tags = msg.key_values("tags")
        user = msg.string("user_id") or None
        start = msg.integer("start_time")
        name = msg.string("run_name") or None
        parent = tags.get("mlflow.parentRunId") or None

        def create(c: TrackingCore) -> dict[str, Any]:
            require_active_experiment(c, exp_id)
            known_parent = parent
            if parent is not None:
                try:  # MLflow keeps a parent tag naming no run; we nest only under real runs
                    c.get_run(parent)
                except RunNotFound:
                    known_parent = None
            run = c.create_run(
                exp_id,
                start_time=start,
                tags=tags,
                run_name=name,
                parent_run_id=known_parent,
                user_id=user,
            )
            return {"run": self.run_body(c, run)}

        await self.answer(create)


class UpdateRun(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        status = msg.string("status")
        end_time = msg.integer("end_time")
        name = msg.string("run_name") or None

        def update(c: TrackingCore) -> dict[str, Any]:
            c.check_writable(run_id)
            c.update_run(run_id, status=status, name=name, end_time=end_time)
            if name is not None:
                c.set_tag(run_id, "mlflow.runName", name)
            return {"run_info": run_info_json(c.get_run(run_id).info, self.prefix)}

        await self.answer(update)


class DeleteRun(Base):
    async def post(self) -> None:
        run_id = _run_id(self.message())
        await self.answer(lambda c: c.delete_run(run_id))


class RestoreRun(Base):
    async def post(self) -> None:
        run_id = _run_id(self.message())
        await self.answer(lambda c: c.restore_run(run_id))


class GetRun(Base):
    async def get(self) -> None:
        run_id = _run_id(self.message())
        await self.answer(lambda c: {"run": self.run_body(c, c.get_run(run_id))})


def _metric(item: dict[str, Any], where: str, prefix: str = "") -> Metric:
    msg = Message(item, None, prefix)
    key = msg.string("key", required=True)
    value = msg.number("value", required=True)
    timestamp = msg.integer("timestamp", required=True)
    step = msg.integer("step", default=0)
    dataset_name, dataset_digest = msg.string("dataset_name"), msg.string("dataset_digest")
    model_id = msg.string("model_id")
    assert value is not None
    try:
        return Metric(key, value, timestamp, step, model_id, dataset_name, dataset_digest)
    except TypeError as exc:  # pragma: no cover - fields are checked above
        raise InvalidParameter(f"{where}: {exc}") from None


class LogMetric(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        m = _metric(msg._body or {}, "log-metric")

        def log(c: TrackingCore) -> None:
            c.log_metric(
                run_id,
                m.key,
                m.value,
                m.timestamp_ms,
                m.step,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
                model_id=m.model_id,
            )
            c._before_read()

        await self.answer(log)


class LogParam(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        key = msg.string("key", required=True)
        value = msg.string("value", default="")

        def log(c: TrackingCore) -> None:
            c.log_param(run_id, key, value)

        await self.answer(log)


class SetTag(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        key = msg.string("key", required=True)
        value = msg.string("value", default="")

        def tag(c: TrackingCore) -> None:
            c.set_tag(run_id, key, value)
            if key == "mlflow.runName":  # MLflow keeps the run's name and this tag in step
                c.update_run(run_id, name=value)

        await self.answer(tag)


class DeleteTag(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        key = msg.string("key", required=True)

        def delete(c: TrackingCore) -> None:
            run = c.get_run(run_id)
            if run.info.lifecycle_stage != "active":  # MLflow checks the run first
                raise InvalidParameter(
                    f"The run {run_id} must be in the 'active' state. "
                    f"Current state is {run.info.lifecycle_stage}."
                )
            if key not in run.data.tags:
                raise NotFound(f"No tag with name: {key} in run with id {run_id}")
            c.delete_tag(run_id, key)

        await self.answer(delete)


def _batch_limit(name: str, limit: int, length: int) -> None:
    if length > limit:
        raise InvalidParameter(
            f"A batch logging request can contain at most {limit} {name}. Got {length} "
            f"{name}. Please split up {name} across multiple requests and try again."
        )


class LogBatch(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        metrics = [
            _metric(m, "log-batch metrics", f"metrics[{i}].")
            for i, m in enumerate(msg.objects("metrics"))
        ]
        params = [Param(k, v) for k, v in _pairs(msg, "params")]
        tags = [RunTag(k, v) for k, v in _pairs(msg, "tags")]
        _batch_limit("metrics", MAX_METRICS_PER_BATCH, len(metrics))
        _batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(params))
        _batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(tags))
        _batch_limit(
            "metrics, params, and tags",
            MAX_ENTITIES_PER_BATCH,
            len(metrics) + len(params) + len(tags),
        )
        _check_duplicate_params(params)

        def log(c: TrackingCore) -> None:
            c.log_batch(run_id, metrics=metrics, params=params, tags=tags)
            c._before_read()
            name = next((t.value for t in tags if t.key == "mlflow.runName"), None)
            if name is not None:
                c.update_run(run_id, name=name)

        await self.answer(log)


def _pairs(msg: Message, name: str) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(msg.objects(name)):
        entry = Message(item, None, f"{name}[{i}].")
        value = entry.string("value", default="")
        out.append((entry.string("key", required=True), value))
    return out


def _check_duplicate_params(params: list[Param]) -> None:
    seen: dict[str, str] = {}
    for p in params:
        if p.key in seen and seen[p.key] != p.value:
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: [{p.key!r}]. Please ensure "
                "the request contains only one param value per param key."
            )
        seen[p.key] = p.value


class LogInputs(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        items = msg.objects("datasets")
        _batch_limit("datasets", MAX_DATASETS_PER_BATCH, len(items))
        datasets = [_dataset_input(item) for item in items]
        models = [
            ("input", Message(item, None, f"models[{i}].").string("model_id", required=True), 0)
            for i, item in enumerate(msg.objects("models"))
        ]

        def log(c: TrackingCore) -> None:
            if datasets:
                c.log_inputs(run_id, datasets)
            else:
                c.check_writable(run_id)
            c.log_model_links(run_id, models)

        await self.answer(log)


def _dataset_input(item: dict[str, Any]) -> tuple[Dataset, dict[str, str]]:
    entry = Message(item, None)
    tags = entry.key_values("tags")
    raw = item.get("dataset")
    if not isinstance(raw, dict):
        raise Message.missing("dataset")
    ds = Message(raw, None)
    dataset = Dataset(
        name=ds.string("name", required=True),
        digest=ds.string("digest", required=True),
        source_type=ds.string("source_type", required=True),
        source=ds.string("source", required=True),
        schema=ds.string("schema"),
        profile=ds.string("profile"),
    )
    return dataset, tags


class LogOutputs(Base):
    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        outputs = []
        for i, item in enumerate(msg.objects("models")):
            entry = Message(item, None, f"models[{i}].")
            model_id = entry.string("model_id", required=True)
            outputs.append(("output", model_id, entry.integer("step", default=0)))
        await self.answer(lambda c: c.log_model_links(run_id, outputs))


class LogModel(Base):
    """``runs/log-model``: appends the model's JSON to the ``mlflow.log-model.history`` tag."""

    async def post(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        model_json = msg.string("model_json", required=True)
        try:
            model = json.loads(model_json)
        except ValueError:
            raise InvalidParameter(
                f"Malformed model info. \n {model_json!r:.200}\n is not a valid JSON."
            ) from None
        if not isinstance(model, dict) or not {"artifact_path", "flavors"} <= set(model):
            raise InvalidParameter("Model json is missing mandatory fields: artifact_path, flavors")

        def log(c: TrackingCore) -> None:
            old = c.get_run(run_id).data.tags.get(LOG_MODEL_HISTORY_TAG)
            history = json.loads(old) if old else []
            history.append(model)
            c.set_tag(run_id, LOG_MODEL_HISTORY_TAG, json.dumps(history))

        await self.answer(log)


class SearchRuns(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_ids = msg.strings("experiment_ids")
        filter_string = msg.string("filter") or ""
        view = _view_type(msg, "run_view_type")
        limit = _max_results(msg, 1000, MAX_SEARCH_RESULTS)
        order_by = msg.strings("order_by")
        token = msg.string("page_token") or None

        def search(c: TrackingCore) -> dict[str, Any]:
            if not exp_ids:
                return {"runs": []}
            query = RunQuery(tuple(exp_ids), filter_string, view, limit, tuple(order_by), token)
            page = c.search_page(query)
            latest = latest_points_many(c, page.runs)  # one query, not one per run
            body: dict[str, Any] = {
                "runs": [self.run_body(c, r, latest[r.info.run_id]) for r in page.runs]
            }
            if page.next_page_token:
                body["next_page_token"] = page.next_page_token
            return body

        await self.answer(search)

    get = post


class GetMetricHistory(Base):
    async def get(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        key = msg.string("metric_key", required=True)
        limit = msg.integer("max_results", default=MAX_HISTORY_PAGE)
        if limit < 1:
            raise Message.invalid("max_results", limit, "a positive integer")
        offset = _offset_token(msg.string("page_token"))

        def history(c: TrackingCore) -> dict[str, Any]:
            c.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run
            points = c.get_metric_history(run_id, key)
            page = points[offset : offset + limit]
            body: dict[str, Any] = {"metrics": [metric_json(m) for m in page]}
            if offset + limit < len(points):
                body["next_page_token"] = _make_token(offset + limit)
            return body

        await self.answer(history)


class GetMetricHistoryBulk(Base):
    """``metrics/get-history-bulk`` (MLflow's UI asks it): one key's history of several
    runs, runs in id order, each run's points by (timestamp, step, value), at most
    ``max_results`` points in all."""

    async def get(self) -> None:
        msg = self.message()
        run_ids = msg.strings("run_id")
        if not run_ids:
            raise InvalidParameter("GetMetricHistoryBulk request must specify at least one run_id.")
        if len(run_ids) > MAX_RUNS_BULK:
            raise InvalidParameter(
                f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_BULK} "
                f"run_ids. Received {len(run_ids)} run_ids."
            )
        key = msg.string("metric_key")
        if not key:
            raise InvalidParameter("GetMetricHistoryBulk request must specify a metric_key.")
        limit = msg.integer("max_results", default=MAX_HISTORY_PAGE)
        if not 1 <= limit <= MAX_HISTORY_PAGE:
            raise Message.invalid("max_results", limit, f"between 1 and {MAX_HISTORY_PAGE}")

        def history(c: TrackingCore) -> dict[str, Any]:
            out: list[dict[str, Any]] = []
            for run_id in sorted(set(run_ids)):
                try:
                    points = c.get_metric_history(run_id, key)
                except RunNotFound:
                    continue  # as MLflow's store: an unknown run has no points
                ordered = sorted(points, key=lambda m: (m.timestamp_ms, m.step, m.value))
                out.extend(metric_json(m, run_id) for m in ordered)
                if len(out) >= limit:
                    break
            return {"metrics": out[:limit]}

        await self.answer(history)


class GetMetricHistoryBulkInterval(Base):
    async def get(self) -> None:
        msg = self.message()
        run_ids = msg.strings("run_ids")
        if not run_ids:
            raise Message.missing("run_ids")
        if len(run_ids) > MAX_RUNS_BULK:
            raise InvalidParameter(
                f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK} "
                f"run_ids. Received {len(run_ids)} run_ids."
            )
        key = msg.string("metric_key", required=True)
        limit = msg.integer("max_results", default=MAX_RESULTS_PER_RUN)
        if not 1 <= limit <= MAX_RESULTS_PER_RUN:
            raise InvalidParameter(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")
        start, end = msg.integer("start_step"), msg.integer("end_step")
        if (start is None) != (end is None):
            raise InvalidParameter(
                "If either start step or end step are specified, both must be specified."
            )
        if start is not None and start > end:
            raise InvalidParameter(
                "end_step must be greater than start_step. "
                f"Found start_step={start} and end_step={end}."
            )

        def bulk(c: TrackingCore) -> dict[str, Any]:
            return {"metrics": bulk_interval(c, run_ids, key, limit, start, end)}

        await self.answer(bulk)


def bulk_interval(
    core: TrackingCore, run_ids: list[str], key: str, limit: int, start: int | None, end: int | None
) -> list[dict[str, Any]]:
    """MLflow's sampling (its ``AbstractStore.get_metric_history_bulk_interval``): of the
    steps any run logged inside the range, those at ``int(i * n / limit)`` for
    ``i < limit`` plus the last one, plus each run's first and last step; then every point
    of each run at a chosen step, ordered by (step, time), at most ``MAX_RESULTS_PER_RUN``
    per run (several points at one step all come back, as MLflow's REST tests expect)."""
    histories = [(r, core.get_metric_history(r, key)) for r in run_ids]
    every = [np.asarray(h.steps, dtype=np.int64) for _, h in histories]
    steps = np.unique(np.concatenate(every)) if every else np.array([], dtype=np.int64)
    lo = 0 if start is None else start
    hi = (int(steps[-1]) if len(steps) else 0) if end is None else end
    bounds = {int(s) for run in every if len(run) for s in (run.min(), run.max())}
    inside = steps[(steps >= lo) & (steps <= hi)]
    limit = max(1, limit)
    if len(inside) > limit:
        interval = len(inside) / limit
        chosen = {int(inside[int(i * interval)]) for i in range(limit)}
        chosen.add(int(inside[-1]))
    else:
        chosen = {int(s) for s in inside}
    chosen |= {s for s in bounds if lo <= s <= hi}
    out: list[dict[str, Any]] = []
    for run_id, history in histories:
        points = [m for m in history if m.step in chosen]
        points.sort(key=lambda m: (m.step, m.timestamp_ms))
        out.extend(metric_json(m, run_id) for m in points[:MAX_RESULTS_PER_RUN])
    return out


class ListArtifacts(Base):
    """``artifacts/list``: one level of a run's artifacts (paths relative to the run root)."""

    async def get(self) -> None:
        msg = self.message()
        run_id = _run_id(msg)
        path = msg.string("path") or None
        run = await self.ctx.run(lambda c: c.get_run(run_id))
        from ..artifacts import get_artifact_repository, validate_artifact_path

        if path is not None:
            try:
                path = validate_artifact_path(path)
            except InvalidParameter:
                raise InvalidParameter("Invalid path") from None  # MLflow's exact message
        repo = get_artifact_repository(run.info.artifact_uri)
        infos = await self.ctx.io(lambda: repo.list_artifacts(path))
        root = run_info_json(run.info, self.prefix)["artifact_uri"]
        self.reply({"root_uri": root, "files": [file_info_json(i) for i in infos]})


TRACKING_ROUTES: list[tuple[str, type[MlflowHandler]]] = [
    ("experiments/create", CreateExperiment),
    ("experiments/get", GetExperiment),
    ("experiments/get-by-name", GetExperimentByName),
    ("experiments/search", SearchExperiments),
    ("experiments/list", SearchExperiments),
    ("experiments/delete", DeleteExperiment),
    ("experiments/restore", RestoreExperiment),
    ("experiments/update", UpdateExperiment),
    ("experiments/set-experiment-tag", SetExperimentTag),
    ("experiments/delete-experiment-tag", DeleteExperimentTag),
    ("runs/create", CreateRun),
    ("runs/update", UpdateRun),
    ("runs/delete", DeleteRun),
    ("runs/restore", RestoreRun),
    ("runs/get", GetRun),
    ("runs/log-metric", LogMetric),
    ("runs/log-parameter", LogParam),
    ("runs/set-tag", SetTag),
    ("runs/delete-tag", DeleteTag),
    ("runs/log-batch", LogBatch),
    ("runs/log-inputs", LogInputs),
    ("runs/outputs", LogOutputs),
    ("runs/log-model", LogModel),
    ("runs/search", SearchRuns),
    ("metrics/get-history", GetMetricHistory),
    ("metrics/get-history-bulk-interval", GetMetricHistoryBulkInterval),
    ("metrics/get-history-bulk", GetMetricHistoryBulk),
    ("artifacts/list", ListArtifacts),
]
