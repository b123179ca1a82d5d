"""MLflow's model registry endpoints (``/registered-models/...``, ``/model-versions/...``).

Each route reads MLflow's request message (``mlflow/protos/model_registry.proto``), calls
the registry methods of the validating core (the names of ``MlflowClient``) on the store
executor and answers in the proto's JSON shapes. MLflow's deprecated stages are not kept:
``current_stage`` is always ``"None"``, ``get-latest-versions`` answers the latest version
whatever ``stages`` asks, and ``transition-stage`` answers ``ENDPOINT_NOT_FOUND``.

A version's ``get-download-uri`` is where its files are, given as the proxy's
``mlflow-artifacts:/`` URI when they are under the served root: a ``models:/<model_id>``
source resolves to that logged model's artifact location, ``runs:/<run>/<path>`` to the
run's artifact directory.

Permissions (``--auth``) are checked by the guarded store under the core: a model the
caller may not read answers exactly as a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.web

from ..entities import ModelVersion, RegisteredModel
from ..errors import InvalidParameter
from ..settings import MAX_RESULTS_PAGE
from ..tracking.core import TrackingCore
from ._base import Message, MlflowHandler
from ._convert import kv_list, proxied_uri
from ._sources import checked_version_source

__all__ = ["REGISTRY_ROUTES", "model_version_json", "registered_model_json"]

#: MLflow's search limits (mlflow/store/model_registry/__init__.py).
SEARCH_REGISTERED_MODEL_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX = 1000
SEARCH_MODEL_VERSION_DEFAULT = 10_000
SEARCH_MODEL_VERSION_MAX = 200_000


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    """A ``ModelVersion`` message."""
    out: dict[str, Any] = {
        "name": mv.name,
        "version": str(mv.version),
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "current_stage": "None",
        "description": mv.description or "",
        "source": mv.source or "",
        "status": mv.status or "READY",
        "tags": kv_list(dict(mv.tags)),
        "aliases": list(mv.aliases),
    }
    if mv.user_id:
        out["user_id"] = mv.user_id
    if mv.run_id:
        out["run_id"] = mv.run_id
    if mv.run_link:
        out["run_link"] = mv.run_link
    if mv.model_id:
        out["model_id"] = mv.model_id
    return out


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    """A ``RegisteredModel`` message."""
    out: dict[str, Any] = {
        "name": rm.name,
        "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "description": rm.description or "",
        "tags": kv_list(dict(rm.tags)),
        "aliases": [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
    }
    if rm.latest_versions:
        out["latest_versions"] = [model_version_json(v) for v in rm.latest_versions]
    return out


def _name(msg: Message) -> str:
    return str(msg.string("name", required=True))


def _version(msg: Message) -> str:
    raw = msg._raw("version")
    if raw is None or raw == "":
        raise Message.missing("version")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise Message.invalid("version", raw, "a version number such as '1'")
    text = str(raw)
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameter(
            f"Parameter 'version' must be an integer, got '{text}'. Versions are numbered "
            "from 1; list them with search_model_versions."
        )
    return text


#: The clause MLflow's client adds to every registry search to leave prompts out
#: (``tag.`mlflow.prompt.is_prompt` != 'true'``). Prompts are not kept here, so it holds
#: for every model and is dropped before the filter is parsed.
_NOT_A_PROMPT = re.compile(
    r"(?:^|\s+AND\s+)tags?\.`?mlflow\.prompt\.is_prompt`?\s*!=\s*'true'\s*$", re.IGNORECASE
)
_LEADING_AND = re.compile(r"^\s*AND\s+", re.IGNORECASE)


def _filter(text: str | None) -> str | None:
    """The filter without MLflow's not-a-prompt clause (``None`` when nothing is left)."""
    if not text:
        return None
    text = _LEADING_AND.sub("", _NOT_A_PROMPT.sub("", text.strip()))
    return text or None


def _search_args(msg: Message, default: int, limit: int) -> dict[str, Any]:
    max_results = msg.integer("max_results", default=default)
    if max_results < 1 or max_results > limit:
        raise InvalidParameter(
            f"Invalid value for max_results. It must be at most {limit} and at least 1, "
            f"but got value {max_results}"
        )
    return {
        "filter_string": _filter(msg.string("filter")),
        # a page is at most MAX_RESULTS_PAGE; more come with the next page token
        "max_results": min(max_results, MAX_RESULTS_PAGE),
        "order_by": msg.strings("order_by") or None,
        "page_token": msg.string("page_token") or None,
    }


def _only(action: str, wanted: str) -> None:
    if action != wanted:  # POST .../delete-tag or DELETE .../set-tag
        raise tornado.web.HTTPError(405)


def _download_uri(uri: str, prefix: str) -> str:
    """``uri`` (a URI or a local path) as clients should download it: through the proxy."""
    if uri.startswith("/"):
        uri = Path(uri).as_uri()
    return proxied_uri(uri, prefix)


class Base(MlflowHandler):
    async def version_reply(self, fn: Callable[[TrackingCore], ModelVersion]) -> None:
        mv = await self.ctx.run(fn)
        self.reply({"model_version": model_version_json(mv)})

    async def model_reply(self, fn: Callable[[TrackingCore], RegisteredModel]) -> None:
        rm = await self.ctx.run(fn)
        self.reply({"registered_model": registered_model_json(rm)})

    async def done(self, fn: Callable[[TrackingCore], Any]) -> None:
        await self.ctx.run(fn)
        self.reply({})


# ------------------------------------------------------------------ registered models
class CreateRegisteredModel(Base):
    async def post(self) -> None:
        msg = self.message()
        name = _name(msg)
        tags = msg.key_values("tags")
        description = msg.string("description")
        await self.model_reply(
            lambda c: c.create_registered_model(name, tags=tags or None, description=description)
        )


class GetRegisteredModel(Base):
    async def get(self) -> None:
        name = _name(self.message())
        await self.model_reply(lambda c: c.get_registered_model(name))


class RenameRegisteredModel(Base):
    async def post(self) -> None:
        msg = self.message()
        name = _name(msg)
        new_name = msg.string("new_name", required=True)
        await self.model_reply(lambda c: c.rename_registered_model(name, new_name))


class UpdateRegisteredModel(Base):
    async def patch(self) -> None:
        msg = self.message()
        name = _name(msg)
        description = msg.string("description", default="")
        await self.model_reply(lambda c: c.update_registered_model(name, description))


class DeleteRegisteredModel(Base):
    async def delete(self) -> None:
        name = _name(self.message())
        await self.done(lambda c: c.delete_registered_model(name))


class SearchRegisteredModels(Base):
    async def get(self) -> None:
        args = _search_args(
            self.message(), SEARCH_REGISTERED_MODEL_DEFAULT, SEARCH_REGISTERED_MODEL_MAX
        )
        page = await self.ctx.run(lambda c: c.search_registered_models(**args))
        body: dict[str, Any] = {"registered_models": [registered_model_json(m) for m in page]}
        if page.token:
            body["next_page_token"] = page.token
        self.reply(body)

    post = get


class GetLatestVersions(Base):
    async def post(self) -> None:
        msg = self.message()
        name = _name(msg)
        msg.strings("stages")  # checked for its type; stages are not kept (see module doc)
        versions = await self.ctx.run(lambda c: c.get_latest_versions(name))
        self.reply({"model_versions": [model_version_json(v) for v in versions]})

    get = post


class RegisteredModelTag(Base):
    """``set-tag`` (POST) and ``delete-tag`` (DELETE)."""

    async def post(self, action: str) -> None:
        _only(action, "set")
        msg = self.message()
        name = _name(msg)
        key = msg.string("key", required=True)
        value = msg.string("value", default="")
        await self.done(lambda c: c.set_registered_model_tag(name, key, value))

    async def delete(self, action: str) -> None:
        _only(action, "delete")
        msg = self.message()
        name = _name(msg)
        key = msg.string("key", required=True)
        await self.done(lambda c: c.delete_registered_model_tag(name, key))


class RegisteredModelAlias(Base):
    """``/registered-models/alias``: set (POST), delete (DELETE), resolve (GET)."""

    async def post(self) -> None:
        msg = self.message()
        name = _name(msg)
        alias = msg.string("alias", required=True)
        version = _version(msg)
        await self.done(lambda c: c.set_registered_model_alias(name, alias, version))

    async def delete(self) -> None:
        msg = self.message()
        name = _name(msg)
        alias = msg.string("alias", required=True)
        await self.done(lambda c: c.delete_registered_model_alias(name, alias))

    async def get(self) -> None:
        msg = self.message()
        name = _name(msg)
        alias = msg.string("alias", required=True)
        await self.version_reply(lambda c: c.get_model_version_by_alias(name, alias))


# --------------------------------------------------------------------- model versions
class CreateModelVersion(Base):
    async def post(self) -> None:
        msg = self.message()
        name = _name(msg)
        source = msg.string("source", required=True)
        run_id = msg.string("run_id") or None
        model_id = msg.string("model_id") or None
        tags = msg.key_values("tags")
        description = msg.string("description")
        run_link = msg.string("run_link")

        has_run_id, has_model_id = msg.has("run_id"), msg.has("model_id")
        prefix = self.ctx.artifacts_prefix

        def create(c: TrackingCore) -> ModelVersion:
            checked, lineage_run, lineage_model = checked_version_source(
                c,
                prefix,
                source,
                run_id,
                model_id,
                has_run_id=has_run_id,
                has_model_id=has_model_id,
            )
            if lineage_model and not lineage_run:  # as MLflow: the logged model's run
                lineage_run = c.get_logged_model(lineage_model).source_run_id
            # user_id: none here; with --auth the guarded store writes the caller's name;
            # a version naming its logged model tags it with mlflow.modelVersions (the store)
            return c.create_model_version_as(
                name, checked, lineage_run, tags, description, lineage_model, "", run_link
            )

        await self.version_reply(create)


class GetModelVersion(Base):
    async def get(self) -> None:
        msg = self.message()
        name, version = _name(msg), _version(msg)
        await self.version_reply(lambda c: c.get_model_version(name, version))


class UpdateModelVersion(Base):
    async def patch(self) -> None:
        msg = self.message()
        name, version = _name(msg), _version(msg)
        description = msg.string("description", default="")
        await self.version_reply(lambda c: c.update_model_version(name, version, description))


class DeleteModelVersion(Base):
    async def delete(self) -> None:
        msg = self.message()
        name, version = _name(msg), _version(msg)
        await self.done(lambda c: c.delete_model_version(name, version))


class SearchModelVersions(Base):
    async def get(self) -> None:
        args = _search_args(self.message(), SEARCH_MODEL_VERSION_DEFAULT, SEARCH_MODEL_VERSION_MAX)
        page = await self.ctx.run(lambda c: c.search_model_versions(**args))
        body: dict[str, Any] = {"model_versions": [model_version_json(v) for v in page]}
        if page.token:
            body["next_page_token"] = page.token
        self.reply(body)

    post = get


class ModelVersionTag(Base):
    """``set-tag`` (POST) and ``delete-tag`` (DELETE)."""

    async def post(self, action: str) -> None:
        _only(action, "set")
        msg = self.message()
        name, version = _name(msg), _version(msg)
        key = msg.string("key", required=True)
        value = msg.string("value", default="")
        await self.done(lambda c: c.set_model_version_tag(name, version, key, value))

    async def delete(self, action: str) -> None:
        _only(action, "delete")
        msg = self.message()
        name, version = _name(msg), _version(msg)
        key = msg.string("key", required=True)
        await self.done(lambda c: c.delete_model_version_tag(name, version, key))


class ModelVersionDownloadUri(Base):
    async def get(self) -> None:
        msg = self.message()
        name, version = _name(msg), _version(msg)
        # MLflow answers a runs:/ source as it is (its store resolves only models:/ ones)
        uri = await self.ctx.run(
            lambda c: c.get_model_version_download_uri(name, version, follow_runs=False)
        )
        self.reply({"artifact_uri": _download_uri(str(uri), self.ctx.artifacts_prefix)})


REGISTRY_ROUTES: list[tuple[str, type[MlflowHandler]]] = [
    ("registered-models/create", CreateRegisteredModel),
    ("registered-models/get", GetRegisteredModel),
    ("registered-models/rename", RenameRegisteredModel),
    ("registered-models/update", UpdateRegisteredModel),
    ("registered-models/delete", DeleteRegisteredModel),
    ("registered-models/search", SearchRegisteredModels),
    ("registered-models/get-latest-versions", GetLatestVersions),
    ("registered-models/(set|delete)-tag", RegisteredModelTag),
    ("registered-models/alias", RegisteredModelAlias),
    ("model-versions/create", CreateModelVersion),
    ("model-versions/get", GetModelVersion),
    ("model-versions/update", UpdateModelVersion),
    ("model-versions/delete", DeleteModelVersion),
    ("model-versions/search", SearchModelVersions),
    ("model-versions/(set|delete)-tag", ModelVersionTag),
    ("model-versions/get-download-uri", ModelVersionDownloadUri),
]
