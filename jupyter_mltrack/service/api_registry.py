"""The store API's routes of logged models and the model registry (docs/service-design.md).

Like :mod:`.api_routes`, each verb parses its request, then runs a validating
:class:`~jupyter_mltrack.tracking.core.TrackingCore` method on the store executor; a
model name or alias is one path segment (names cannot hold ``/``), a tag key the rest of
the path. Answers are the JSON shapes of :mod:`jupyter_mltrack.store.remote.registry_wire`.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidParameter
from ..store.remote.registry_wire import (
    logged_model_query_from_params,
    logged_model_to_dict,
    model_version_to_dict,
    registered_model_to_dict,
    registry_query_from_params,
    str_map,
)
from ..store.remote.wire import get_field
from ..tracking.core import TrackingCore
from .api_base import ApiHandler

__all__ = ["REGISTRY_ROUTES"]


def _version(text: str) -> int:
    if not text.isdigit():
        raise InvalidParameter(f"A model version in the path must be a number, got {text!r}.")
    return int(text)


def _query_parts(h: ApiHandler) -> tuple[Any, Any, Any]:
    return h.query_list, (lambda name: h.query_number(name, int)), h.query


class LoggedModelsHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        experiment_id = get_field(body, "experiment_id", str)
        name = get_field(body, "name", str)
        run_id = get_field(body, "source_run_id", str, required=False)
        model_type = get_field(body, "model_type", str, required=False)
        tags, params = str_map(body, "tags"), str_map(body, "params")
        await self.answer(  # the source run was checked by the calling client's core
            lambda c: logged_model_to_dict(
                c.create_logged_model(
                    experiment_id, name, run_id, tags, params, model_type, check_source_run=False
                )
            )
        )

    async def get(self) -> None:
        query = logged_model_query_from_params(*_query_parts(self))

        def search(c: TrackingCore) -> dict[str, Any]:
            page = c.logged_models_page(query)
            return {
                "models": [logged_model_to_dict(m) for m in page.items],
                "next_page_token": page.next_page_token,
            }

        await self.answer(search)


class LoggedModelHandler(ApiHandler):
    async def get(self, model_id: str) -> None:
        await self.answer(lambda c: logged_model_to_dict(c.get_logged_model(model_id)))

    async def patch(self, model_id: str) -> None:
        status = get_field(self.json_body(), "status", str)
        await self.answer(lambda c: logged_model_to_dict(c.finalize_logged_model(model_id, status)))

    async def delete(self, model_id: str) -> None:
        await self.done(lambda c: c.delete_logged_model(model_id))


class LoggedModelTagsHandler(ApiHandler):
    async def post(self, model_id: str) -> None:
        tags = str_map(self.json_body(), "tags")
        await self.done(lambda c: c.set_logged_model_tags(model_id, tags))


class LoggedModelTagHandler(ApiHandler):
    async def delete(self, model_id: str, key: str) -> None:
        await self.done(lambda c: c.delete_logged_model_tag(model_id, key))


class LoggedModelParamsHandler(ApiHandler):
    async def post(self, model_id: str) -> None:
        params = str_map(self.json_body(), "params")
        await self.done(lambda c: c.log_model_params(model_id, params))


class RunModelLinksHandler(ApiHandler):
    """``POST /runs/<id>/model-links``: ``{"links": [[direction, model_id, step], ...]}``."""

    async def post(self, run_id: str) -> None:
        links = get_field(self.json_body(), "links", list)
        await self.done(lambda c: c.log_model_links(run_id, links))


class RegisteredModelsHandler(ApiHandler):
    async def post(self) -> None:
        body = self.json_body()
        name = get_field(body, "name", str)
        description = get_field(body, "description", str, required=False)
        tags = str_map(body, "tags")
        await self.answer(
            lambda c: registered_model_to_dict(c.create_registered_model(name, tags, description))
        )

    async def get(self) -> None:
        query = registry_query_from_params(*_query_parts(self))

        def search(c: TrackingCore) -> dict[str, Any]:
            page = c.registered_models_page(query)
            return {
                "registered_models": [registered_model_to_dict(m) for m in page.items],
                "next_page_token": page.next_page_token,
            }

        await self.answer(search)


class RegisteredModelHandler(ApiHandler):
    async def get(self, name: str) -> None:
        await self.answer(lambda c: registered_model_to_dict(c.get_registered_model(name)))

    async def patch(self, name: str) -> None:
        body = self.json_body()
        new_name = get_field(body, "new_name", str, required=False)
        description = get_field(body, "description", str, required=False)
        if new_name is None and description is None:
            raise InvalidParameter("PATCH a registered model with 'new_name' or 'description'.")

        def update(c: TrackingCore) -> dict[str, Any]:
            current = name
            if description is not None:
                c.update_registered_model(current, description)
            if new_name is not None:
                return registered_model_to_dict(c.rename_registered_model(current, new_name))
            return registered_model_to_dict(c.get_registered_model(current))

        await self.answer(update)

    async def delete(self, name: str) -> None:
        await self.done(lambda c: c.delete_registered_model(name))


class RegisteredModelTagHandler(ApiHandler):
    async def put(self, name: str, key: str) -> None:
        value = get_field(self.json_body(), "value", str)
        await self.done(lambda c: c.set_registered_model_tag(name, key, value))

    async def delete(self, name: str, key: str) -> None:
        await self.done(lambda c: c.delete_registered_model_tag(name, key))


class LatestVersionsHandler(ApiHandler):
    async def get(self, name: str) -> None:
        await self.answer(
            lambda c: {"versions": [model_version_to_dict(v) for v in c.get_latest_versions(name)]}
        )


class ModelVersionsHandler(ApiHandler):
    async def post(self, name: str) -> None:
        body = self.json_body()
        source = get_field(body, "source", str)
        run_id = get_field(body, "run_id", str, required=False)
        description = get_field(body, "description", str, required=False)
        model_id = get_field(body, "model_id", str, required=False)
        user_id = get_field(body, "user_id", str, required=False) or ""
        run_link = get_field(body, "run_link", str, required=False)
        tags = str_map(body, "tags")
        await self.answer(
            lambda c: model_version_to_dict(
                c.create_model_version_as(
                    name, source, run_id, tags, description, model_id, user_id, run_link
                )
            )
        )


class ModelVersionSearchHandler(ApiHandler):
    async def get(self) -> None:
        query = registry_query_from_params(*_query_parts(self))

        def search(c: TrackingCore) -> dict[str, Any]:
            page = c.model_versions_page(query)
            return {
                "model_versions": [model_version_to_dict(v) for v in page.items],
                "next_page_token": page.next_page_token,
            }

        await self.answer(search)


class ModelVersionHandler(ApiHandler):
    async def get(self, name: str, version: str) -> None:
        number = _version(version)
        await self.answer(lambda c: model_version_to_dict(c.get_model_version(name, number)))

    async def patch(self, name: str, version: str) -> None:
        number = _version(version)
        description = get_field(self.json_body(), "description", str)
        await self.answer(
            lambda c: model_version_to_dict(c.update_model_version(name, number, description))
        )

    async def delete(self, name: str, version: str) -> None:
        number = _version(version)
        await self.done(lambda c: c.delete_model_version(name, number))


class ModelVersionTagHandler(ApiHandler):
    async def put(self, name: str, version: str, key: str) -> None:
        number = _version(version)
        value = get_field(self.json_body(), "value", str)
        await self.done(lambda c: c.set_model_version_tag(name, number, key, value))

    async def delete(self, name: str, version: str, key: str) -> None:
        number = _version(version)
        await self.done(lambda c: c.delete_model_version_tag(name, number, key))


class AliasHandler(ApiHandler):
    async def get(self, name: str, alias: str) -> None:
        await self.answer(
            lambda c: model_version_to_dict(c.get_model_version_by_alias(name, alias))
        )

    async def put(self, name: str, alias: str) -> None:
        version = get_field(self.json_body(), "version", (int, str))
        await self.done(lambda c: c.set_registered_model_alias(name, alias, version))

    async def delete(self, name: str, alias: str) -> None:
        await self.done(lambda c: c.delete_registered_model_alias(name, alias))


_SEG = r"([^/]+)"
#: ``(path under the base, handler)``, most specific first; appended to ``api_routes.ROUTES``.
REGISTRY_ROUTES: list[tuple[str, type[ApiHandler]]] = [
    (r"/logged-models", LoggedModelsHandler),
    (rf"/logged-models/{_SEG}", LoggedModelHandler),
    (rf"/logged-models/{_SEG}/tags", LoggedModelTagsHandler),
    (rf"/logged-models/{_SEG}/tags/(.+)", LoggedModelTagHandler),
    (rf"/logged-models/{_SEG}/params", LoggedModelParamsHandler),
    (rf"/runs/{_SEG}/model-links", RunModelLinksHandler),
    (r"/registered-models", RegisteredModelsHandler),
    (r"/model-versions", ModelVersionSearchHandler),
    (rf"/registered-models/{_SEG}", RegisteredModelHandler),
    (rf"/registered-models/{_SEG}/tags/(.+)", RegisteredModelTagHandler),
    (rf"/registered-models/{_SEG}/latest", LatestVersionsHandler),
    (rf"/registered-models/{_SEG}/versions", ModelVersionsHandler),
    (rf"/registered-models/{_SEG}/versions/{_SEG}", ModelVersionHandler),
    (rf"/registered-models/{_SEG}/versions/{_SEG}/tags/(.+)", ModelVersionTagHandler),
    (rf"/registered-models/{_SEG}/aliases/{_SEG}", AliasHandler),
]
