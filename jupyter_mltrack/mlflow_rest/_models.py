"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models...``, ``runs/outputs``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads its files to the model's
artifact location through the proxy, finalizes it (``READY``) and records it as an
output of the run; ``load_model("models:/<id>")`` reads it back, and
``load_model("runs:/<run>/<name>")`` finds it with a search by name.

The tracking store has no logged-model table yet, so :class:`LoggedModelStore` keeps
each model as one JSON document (and each run's outputs as another) in the server's
artifact repository under ``.mltrack-meta/`` (a prefix the proxy refuses). Searches read
the documents of the asked experiments; that is fine for a team's models, and the
store gets a table when the registry issue lands (docs/mlflow-compat.md).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

from ..artifacts import get_artifact_repository
from ..artifacts.base import ArtifactRepository
from ..errors import ArtifactNotFound, InvalidParameter, NotFound
from ..tracking.core import TrackingCore
from ._base import Message, MlflowHandler
from ._convert import file_info_json, kv_list, proxied_uri
from ._filters import matches, parse_clauses

__all__ = ["META_PREFIX", "MODEL_ROUTES", "LoggedModelStore"]

META_PREFIX = ".mltrack-meta"
STATUSES = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}
MODEL_ATTRIBUTES = (
    "model_id",
    "name",
    "status",
    "model_type",
    "source_run_id",
    "creation_timestamp",
    "creation_time",
    "last_updated_timestamp",
    "last_updated_time",
)
MODEL_NUMERIC = (
    "creation_timestamp",
    "creation_time",
    "last_updated_timestamp",
    "last_updated_time",
)


def _now() -> int:
    return time.time_ns() // 1_000_000


class LoggedModelStore:
    """Logged models and run outputs as JSON documents in an artifact repository."""

    def __init__(self, artifacts_uri: str) -> None:
        self.artifacts_uri = artifacts_uri
        self._lock = threading.Lock()

    def _repo(self) -> ArtifactRepository:
        return get_artifact_repository(self.artifacts_uri)

    def _read(self, path: str) -> Any:
        try:
            with self._repo().open_reader(path) as fh:
                return json.loads(fh.read())
        except ArtifactNotFound:
            return None

    def _write(self, path: str, doc: Any) -> None:
        self._repo().write_bytes(path, json.dumps(doc).encode())

    # models
    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._write(f"{META_PREFIX}/logged-models/{doc['model_id']}.json", doc)
        return doc

    def get(self, model_id: str) -> dict[str, Any]:
        if not model_id or "/" in model_id or model_id.startswith("."):
            raise NotFound(f"Logged model with ID '{model_id}' not found.")
        doc = self._read(f"{META_PREFIX}/logged-models/{model_id}.json")
        if doc is None or doc.get("deleted"):
            raise NotFound(f"Logged model with ID '{model_id}' not found.")
        return dict(doc)

    def update(self, model_id: str, change: Any) -> dict[str, Any]:
        with self._lock:
            doc = self.get(model_id)
            change(doc)
            doc["last_updated_timestamp_ms"] = _now()
            self.create(doc)
            return doc

    def all(self) -> list[dict[str, Any]]:
        docs = []
        for info in self._repo().list_artifacts(f"{META_PREFIX}/logged-models"):
            doc = self._read(info.path)
            if doc is not None and not doc.get("deleted"):
                docs.append(doc)
        return docs

    # run outputs
    def run_outputs(self, run_id: str) -> list[dict[str, Any]]:
        if not run_id.isalnum():
            return []
        doc = self._read(f"{META_PREFIX}/run-outputs/{run_id}.json")
        return list(doc or [])

    def add_run_outputs(self, run_id: str, outputs: list[dict[str, Any]]) -> None:
        if not run_id.isalnum():
            raise InvalidParameter(f"Invalid run id {run_id!r}.")
        with self._lock:
            current = self.run_outputs(run_id)
            for item in outputs:
                if item not in current:
                    current.append(item)
            self._write(f"{META_PREFIX}/run-outputs/{run_id}.json", current)


def model_json(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    info = {
        "model_id": doc["model_id"],
        "experiment_id": doc["experiment_id"],
        "name": doc["name"],
        "creation_timestamp_ms": doc["creation_timestamp_ms"],
        "last_updated_timestamp_ms": doc["last_updated_timestamp_ms"],
        "artifact_uri": proxied_uri(doc["artifact_location"], prefix),
        "status": doc["status"],
        "tags": kv_list(doc.get("tags", {})),
    }
    for name in ("model_type", "source_run_id", "status_message"):
        if doc.get(name):
            info[name] = doc[name]
    return {"info": info, "data": {"params": kv_list(doc.get("params", {})), "metrics": []}}


def _status(value: Any) -> str:
    if isinstance(value, int) and value in STATUSES:
        return STATUSES[value]
    if isinstance(value, str) and value.isdigit() and int(value) in STATUSES:
        return STATUSES[int(value)]
    if isinstance(value, str) and value in STATUSES.values():
        return value
    raise Message.invalid("status", value, "one of " + ", ".join(STATUSES.values()))


def _model_value(doc: dict[str, Any], kind: str, key: str) -> Any:
    if kind == "tag":
        return doc.get("tags", {}).get(key)
    if kind == "param":
        return doc.get("params", {}).get(key)
    if kind != "attribute":
        return None
    if key in ("creation_timestamp", "creation_time"):
        return doc["creation_timestamp_ms"]
    if key in ("last_updated_timestamp", "last_updated_time"):
        return doc["last_updated_timestamp_ms"]
    return doc.get(key)


def _order_field(field: str) -> tuple[str, str]:
    entity, _, key = field.partition(".")
    if entity in ("tags", "params", "metrics") and key:
        return entity[:-1], key
    return "attribute", field


class Base(MlflowHandler):
    @property
    def models(self) -> LoggedModelStore:
        store: LoggedModelStore = self.ctx.logged_models
        return store

    def body(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"model": model_json(doc, self.ctx.artifacts_prefix)}


class LoggedModels(Base):
    """``POST /logged-models``: create (status ``PENDING``)."""

    async def post(self) -> None:
        msg = self.message()
        exp_id = msg.string("experiment_id", required=True)
        name = msg.string("name") or None
        model_type = msg.string("model_type") or None
        run_id = msg.string("source_run_id") or None
        params = msg.key_values("params")
        tags = msg.key_values("tags")

        def create(c: TrackingCore) -> dict[str, Any]:
            exp = c.get_experiment(exp_id)  # source_run_id is kept as given, as in MLflow
            model_id = "m-" + secrets.token_hex(16)
            now = _now()
            return {
                "model_id": model_id,
                "experiment_id": exp.experiment_id,
                "name": name or f"model-{model_id[2:10]}",
                "model_type": model_type,
                "source_run_id": run_id,
                "artifact_location": exp.artifact_location.rstrip("/")
                + f"/models/{model_id}/artifacts",
                "creation_timestamp_ms": now,
                "last_updated_timestamp_ms": now,
                "status": "LOGGED_MODEL_PENDING",
                "params": params,
                "tags": tags,
            }

        doc = await self.ctx.run(create)
        await self.ctx.io(lambda: self.models.create(doc))
        self.reply(self.body(doc))


class LoggedModel(Base):
    """``GET`` / ``PATCH`` (finalize) / ``DELETE`` ``/logged-models/<id>``."""

    async def get(self, model_id: str) -> None:
        doc = await self.ctx.io(lambda: self.models.get(model_id))
        self.reply(self.body(doc))

    async def patch(self, model_id: str) -> None:
        msg = self.message()
        status = _status(msg._raw("status"))
        status_message = msg.string("status_message")

        def change(doc: dict[str, Any]) -> None:
            doc["status"] = status
            if status_message is not None:
                doc["status_message"] = status_message

        doc = await self.ctx.io(lambda: self.models.update(model_id, change))
        self.reply(self.body(doc))

    async def delete(self, model_id: str) -> None:
        await self.ctx.io(lambda: self.models.update(model_id, lambda d: d.update(deleted=True)))
        self.reply({})


class LoggedModelTags(Base):
    async def patch(self, model_id: str) -> None:
        tags = self.message().key_values("tags")
        await self.ctx.io(lambda: self.models.update(model_id, lambda d: d["tags"].update(tags)))
        self.reply({})


class LoggedModelTag(Base):
    async def delete(self, model_id: str, key: str) -> None:
        def change(doc: dict[str, Any]) -> None:
            if key not in doc["tags"]:
                raise NotFound(f"No tag with key {key!r} on logged model {model_id}.")
            del doc["tags"][key]

        await self.ctx.io(lambda: self.models.update(model_id, change))
        self.reply({})


class LoggedModelParams(Base):
    async def post(self, model_id: str) -> None:
        params = self.message().key_values("params")
        await self.ctx.io(
            lambda: self.models.update(model_id, lambda d: d["params"].update(params))
        )
        self.reply({})


class SearchLoggedModels(Base):
    async def post(self) -> None:
        msg = self.message()
        exp_ids = set(msg.strings("experiment_ids"))
        clauses = parse_clauses(msg.string("filter") or "", MODEL_ATTRIBUTES, MODEL_NUMERIC)
        limit = msg.integer("max_results", default=50)
        if limit < 1:
            raise Message.invalid("max_results", limit, "a positive integer")
        order = msg.objects("order_by")
        token = msg.string("page_token")
        offset = int(token) if token and token.isdigit() else 0
        docs = await self.ctx.io(self.models.all)
        found = [
            d
            for d in docs
            if (not exp_ids or d["experiment_id"] in exp_ids)
            and all(matches(_model_value(d, k, key), op, v) for k, key, op, v in clauses)
        ]
        found.sort(key=lambda d: (-d["creation_timestamp_ms"], d["model_id"]))
        for item in reversed(order):
            entry = Message(item, None)
            field = entry.string("field_name", required=True)
            kind, key = _order_field(field)
            found.sort(
                key=lambda d: (_model_value(d, kind, key) is None, _model_value(d, kind, key) or 0),
                reverse=not entry.boolean("ascending", True),
            )
        page = found[offset : offset + limit]
        body: dict[str, Any] = {"models": [model_json(d, self.ctx.artifacts_prefix) for d in page]}
        if offset + limit < len(found):
            body["next_page_token"] = str(offset + limit)
        self.reply(body)


class LoggedModelArtifacts(Base):
    """``GET /logged-models/<id>/artifacts/directories``: one level of the model's files."""

    async def get(self, model_id: str) -> None:
        path = self.message().string("artifact_directory_path") or None
        doc = await self.ctx.io(lambda: self.models.get(model_id))
        repo = get_artifact_repository(doc["artifact_location"])
        infos = await self.ctx.io(lambda: repo.list_artifacts(path))
        self.reply({"files": [file_info_json(i) for i in infos]})


MODEL_ROUTES: list[tuple[str, type[MlflowHandler]]] = [
    ("logged-models", LoggedModels),
    ("logged-models/search", SearchLoggedModels),
    ("logged-models/([^/]+)", LoggedModel),
    ("logged-models/([^/]+)/tags", LoggedModelTags),
    ("logged-models/([^/]+)/tags/(.+)", LoggedModelTag),
    ("logged-models/([^/]+)/params", LoggedModelParams),
    ("logged-models/([^/]+)/artifacts/directories", LoggedModelArtifacts),
]
