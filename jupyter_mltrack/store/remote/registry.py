"""The registry half of :class:`~.store.RemoteStore`: the ``RegistryStore`` protocol over
the store API's registry routes (:mod:`jupyter_mltrack.service.api_registry`).

Every method is one request; errors come back as the server's ``err.to_dict()`` and are
rebuilt, so ``NotFound`` and ``AlreadyExists`` behave as with the local stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ...entities import LoggedModel, ModelVersion, RegisteredModel
from ..registry_base import LoggedModelQuery, ModelLink, ModelPage, RegistryQuery
from .registry_wire import (
    logged_model_from_dict,
    logged_model_query_to_params,
    model_version_from_dict,
    registered_model_from_dict,
    registry_query_to_params,
)
from .transport import Query

__all__ = ["RemoteRegistry"]


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _rm(name: str) -> str:
    return f"/registered-models/{_q(name)}"


def _mv(name: str, version: int) -> str:
    return f"/registered-models/{_q(name)}/versions/{int(version)}"


class RemoteRegistry:
    """Mixin of ``RemoteStore``: needs its ``_call`` and ``_json``."""

    def _call(
        self, method: str, path: str, body: Any = None, query: Query = (), **headers: str
    ) -> bytes:  # pragma: no cover - provided by RemoteStore
        raise NotImplementedError

    def _json(
        self, method: str, path: str, body: Any = None, query: Query = ()
    ) -> Any:  # pragma: no cover - provided by RemoteStore
        raise NotImplementedError

    # ------------------------------------------------------------ logged models
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        tags: dict[str, str],
        params: dict[str, str],
        model_type: str | None,
    ) -> LoggedModel:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "source_run_id": source_run_id,
            "tags": tags,
            "params": params,
            "model_type": model_type,
        }
        return logged_model_from_dict(self._json("POST", "/logged-models", body))

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        answer = self._json("PATCH", f"/logged-models/{_q(model_id)}", {"status": status})
        return logged_model_from_dict(answer)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return logged_model_from_dict(self._json("GET", f"/logged-models/{_q(model_id)}"))

    def search_logged_models(self, query: LoggedModelQuery) -> ModelPage[LoggedModel]:
        answer = self._json("GET", "/logged-models", query=logged_model_query_to_params(query))
        return ModelPage(
            [logged_model_from_dict(m) for m in answer["models"]], answer["next_page_token"]
        )

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self._call("POST", f"/logged-models/{_q(model_id)}/tags", {"tags": tags})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", f"/logged-models/{_q(model_id)}/tags/{_q(key)}")

    def log_model_params(self, model_id: str, params: dict[str, str]) -> None:
        self._call("POST", f"/logged-models/{_q(model_id)}/params", {"params": params})

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"/logged-models/{_q(model_id)}")

    def log_model_links(self, run_id: str, links: Sequence[ModelLink]) -> None:
        body = {"links": [list(link) for link in links]}
        self._call("POST", f"/runs/{_q(run_id)}/model-links", body)

    # -------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: dict[str, str], description: str
    ) -> RegisteredModel:
        body = {"name": name, "tags": tags, "description": description}
        return registered_model_from_dict(self._json("POST", "/registered-models", body))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return registered_model_from_dict(self._json("GET", _rm(name)))

    def search_registered_models(self, query: RegistryQuery) -> ModelPage[RegisteredModel]:
        answer = self._json("GET", "/registered-models", query=registry_query_to_params(query))
        return ModelPage(
            [registered_model_from_dict(m) for m in answer["registered_models"]],
            answer["next_page_token"],
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return registered_model_from_dict(self._json("PATCH", _rm(name), {"new_name": new_name}))

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        answer = self._json("PATCH", _rm(name), {"description": description})
        return registered_model_from_dict(answer)

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", _rm(name))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("PUT", f"{_rm(name)}/tags/{_q(key)}", {"value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{_rm(name)}/tags/{_q(key)}")

    # ----------------------------------------------------------------- versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str,
        model_id: str | None,
        user_id: str,
        run_link: str,
    ) -> ModelVersion:
        body = {
            "source": source,
            "run_id": run_id,
            "tags": tags,
            "description": description,
            "model_id": model_id,
            "user_id": user_id,
            "run_link": run_link,
        }
        return model_version_from_dict(self._json("POST", f"{_rm(name)}/versions", body))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return model_version_from_dict(self._json("GET", _mv(name, version)))

    def search_model_versions(self, query: RegistryQuery) -> ModelPage[ModelVersion]:
        answer = self._json("GET", "/model-versions", query=registry_query_to_params(query))
        return ModelPage(
            [model_version_from_dict(v) for v in answer["model_versions"]],
            answer["next_page_token"],
        )

    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion:
        answer = self._json("PATCH", _mv(name, version), {"description": description})
        return model_version_from_dict(answer)

    def delete_model_version(self, name: str, version: int) -> None:
        self._call("DELETE", _mv(name, version))

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._call("PUT", f"{_mv(name, version)}/tags/{_q(key)}", {"value": value})

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self._call("DELETE", f"{_mv(name, version)}/tags/{_q(key)}")

    def get_latest_versions(self, name: str) -> list[ModelVersion]:
        answer = self._json("GET", f"{_rm(name)}/latest")
        return [model_version_from_dict(v) for v in answer["versions"]]

    # ------------------------------------------------------------------ aliases
    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        self._call("PUT", f"{_rm(name)}/aliases/{_q(alias)}", {"version": int(version)})

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{_rm(name)}/aliases/{_q(alias)}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return model_version_from_dict(self._json("GET", f"{_rm(name)}/aliases/{_q(alias)}"))
