"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models...``, ``runs/outputs``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads its files to the model's
artifact location through the proxy, finalizes it (``READY``) and records it as an
output of the run; ``load_model("models:/<id>")`` reads it back, and
``load_model("runs:/<run>/<name>")`` finds it with a search by name.

The models live in the store's logged-model table, reached through the validating core
(``create_logged_model``, ``search_logged_models``, ...); a model's metrics are the points
logged with its ``model_id``. ``runs/outputs`` and the ``models`` of ``runs/log-inputs``
record links of the run to logged models (``TrackingCore.log_model_links``, the store's
``run_model_links``); a run's ``outputs.model_outputs`` also list the models whose
``source_run_id`` it is, at step 0, when no link names them. With ``--auth`` a logged
model has its experiment's permission, and one the caller may not read answers as a
missing one (the guarded store checks it).
"""

from __future__ import annotations

from typing import Any

from ..artifacts import get_artifact_repository
from ..entities import LoggedModel, LoggedModelStatus
from ..errors import NotFound
from ..tracking.core import TrackingCore
from ._base import Message, MlflowHandler, require_active_experiment
from ._convert import file_info_json, float_json, kv_list, proxied_uri

__all__ = ["MODEL_ROUTES", "model_json"]

#: MLflow's ``LoggedModelStatus`` proto names and numbers; ours are the bare names.
STATUSES = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}
_TO_PROTO = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}
#: Largest page of ``logged-models/search`` (MLflow's default is 100).
MAX_SEARCH = 1000


def model_json(model: LoggedModel, prefix: str) -> dict[str, Any]:
    """A ``LoggedModel`` message (``info`` and ``data``)."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": proxied_uri(model.artifact_location, prefix),
        "status": _TO_PROTO.get(model.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
        "tags": kv_list(dict(model.tags)),
    }
    if model.model_type:
        info["model_type"] = model.model_type
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    metrics = []
    for m in model.metrics:
        point: dict[str, Any] = {
            "key": m.key,
            "value": float_json(float(m.value)),
            "timestamp": m.timestamp_ms,
            "step": m.step,
            "model_id": model.model_id,
        }
        if m.run_id:
            point["run_id"] = m.run_id
        if m.dataset_name:
            point["dataset_name"] = m.dataset_name
        if m.dataset_digest:
            point["dataset_digest"] = m.dataset_digest
        metrics.append(point)
    return {"info": info, "data": {"params": kv_list(dict(model.params)), "metrics": metrics}}


def _status(value: Any) -> str:
    """Our status for MLflow's (a proto name or number)."""
    if isinstance(value, int) and not isinstance(value, bool) and value in STATUSES:
        value = STATUSES[value]
    if isinstance(value, str) and value.isdigit() and int(value) in STATUSES:
        value = STATUSES[int(value)]
    if isinstance(value, str) and value in _FROM_PROTO:
        return _FROM_PROTO[value]
    if isinstance(value, str) and value.upper() in LoggedModelStatus.ALL:
        return value.upper()
    raise Message.invalid("status", value, "one of " + ", ".join(_TO_PROTO.values()))


def _order(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        entry = Message(item, None)
        field = entry.string("field_name", required=True)
        if field.startswith("attributes."):
            field = field[len("attributes.") :]
        out.append(f"{field} {'ASC' if entry.boolean('ascending', True) else 'DESC'}")
    return out


def _dataset(item: dict[str, Any]) -> dict[str, Any]:
    """One ``DatasetFilter`` of ``SearchLoggedModels`` (the core checks the name)."""
    entry = Message(item, None)
    return {
        "dataset_name": entry.string("dataset_name"),
        "dataset_digest": entry.string("dataset_digest") or None,
    }


class Base(MlflowHandler):
    def body(self, model: LoggedModel) -> dict[str, Any]:
        return {"model": model_json(model, self.ctx.artifacts_prefix)}


class LoggedModels(Base):
    """``POST /logged-models``: create (status ``PENDING``)."""

    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id", required=True)
        name = msg.string("name") or None
        model_type = msg.string("model_type") or None
        run_id = msg.string("source_run_id") or None  # kept as given, as MLflow does
        params = msg.key_values("params")
        tags = msg.key_values("tags")

        def create(c: TrackingCore) -> LoggedModel:
            require_active_experiment(c, exp_id)  # MLflow's errors for a missing or deleted one
            return c.create_logged_model(
                exp_id, name, run_id, tags, params, model_type, check_source_run=False
            )

        self.reply(self.body(await self.ctx.run(create)))


class LoggedModelRoute(Base):
    """``GET`` / ``PATCH`` (finalize) / ``DELETE`` ``/logged-models/<id>``."""

    async def get(self, model_id: str) -> None:
        self.reply(self.body(await self.ctx.run(lambda c: c.get_logged_model(model_id))))

    async def patch(self, model_id: str) -> None:
        status = _status(self.message()._raw("status"))
        model = await self.ctx.run(lambda c: c.finalize_logged_model(model_id, status))
        self.reply(self.body(model))

    async def delete(self, model_id: str) -> None:
        await self.answer(lambda c: c.delete_logged_model(model_id))


class LoggedModelTags(Base):
    async def patch(self, model_id: str) -> None:
        tags = self.message().key_values("tags")

        def set_tags(c: TrackingCore) -> None:
            if tags:
                c.set_logged_model_tags(model_id, tags)
            else:
                c.get_logged_model(model_id)

        await self.answer(set_tags)


class LoggedModelTag(Base):
    async def delete(self, model_id: str, key: str) -> None:
        def delete(c: TrackingCore) -> None:
            if key not in c.get_logged_model(model_id).tags:  # MLflow answers 404 here
                raise NotFound(f"No tag with key {key!r} on logged model {model_id!r}.")
            c.delete_logged_model_tag(model_id, key)

        await self.answer(delete)


class LoggedModelParams(Base):
    async def post(self, model_id: str) -> None:
        params = self.message().key_values("params")
        await self.answer(lambda c: c.log_model_params(model_id, params))


class SearchLoggedModels(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_ids = msg.strings("experiment_ids")
        text = msg.string("filter") or None
        limit = msg.integer("max_results", default=50)
        if limit < 1:
            raise Message.invalid("max_results", limit, "a positive integer")
        order = _order(msg.objects("order_by")) or None
        token = msg.string("page_token") or None
        sets = [_dataset(d) for d in msg.objects("datasets")]
        page = await self.ctx.run(
            lambda c: c.search_logged_models(
                exp_ids or None, text, sets or None, min(limit, MAX_SEARCH), order, token
            )
        )
        body: dict[str, Any] = {"models": [model_json(m, self.ctx.artifacts_prefix) for m in page]}
        if page.token:
            body["next_page_token"] = page.token
        self.reply(body)


class LoggedModelArtifacts(Base):
    """``GET /logged-models/<id>/artifacts/directories``: one level of the model's files."""

    async def get(self, model_id: str) -> None:
        path = self.message().string("artifact_directory_path") or None
        model = await self.ctx.run(lambda c: c.get_logged_model(model_id))
        repo = get_artifact_repository(model.artifact_location)
        infos = await self.ctx.io(lambda: repo.list_artifacts(path))
        self.reply({"files": [file_info_json(i) for i in infos]})


MODEL_ROUTES: list[tuple[str, type[MlflowHandler]]] = [
    ("logged-models", LoggedModels),
    ("logged-models/search", SearchLoggedModels),
    ("logged-models/([^/]+)", LoggedModelRoute),
    ("logged-models/([^/]+)/tags", LoggedModelTags),
    ("logged-models/([^/]+)/tags/(.+)", LoggedModelTag),
    ("logged-models/([^/]+)/params", LoggedModelParams),
    ("logged-models/([^/]+)/artifacts/directories", LoggedModelArtifacts),
]
