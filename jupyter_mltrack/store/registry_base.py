"""The ``RegistryStore`` protocol: logged models and the model registry, beside ``TrackingStore``.

A store receives validated input (:mod:`jupyter_mltrack.tracking.registry_core` checks
names, versions, tags and filters) and only does I/O. The built-in stores (DuckDB,
PostgreSQL, the service/team-server client) implement both protocols on one object; the
SQL they share is :mod:`.registry_sql`, the filter language :mod:`.registry_search`.

Searches return a :class:`ModelPage`: the items and the token of the next page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ..entities import LoggedModel, ModelVersion, RegisteredModel

__all__ = [
    "LoggedModelQuery",
    "ModelLink",
    "ModelPage",
    "RegistryQuery",
    "RegistryStore",
    "has_registry",
]

T = TypeVar("T")

#: A run's link to a logged model: ``(direction, model_id, step)``, direction ``"input"``
#: (MLflow's ``log_inputs(models=...)``, step 0) or ``"output"`` (``log_outputs``).
ModelLink = tuple[str, str, int]
MODEL_LINK_DIRECTIONS = ("input", "output")


@dataclass(frozen=True, slots=True)
class ModelPage(Generic[T]):
    """One page of a registry search plus the token of the next page (``None`` at the end)."""

    items: list[T]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class RegistryQuery:
    """A search of registered models or model versions (filter language: docs/registry.md).

    ``max_results`` is already bounded by the client; ``order_by`` items like ``"name ASC"``.
    """

    filter_string: str = ""
    max_results: int = 100
    order_by: tuple[str, ...] = ()
    page_token: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedModelQuery:
    """A search of logged models in some experiments (all experiments when empty).

    ``datasets``: ``(dataset_name, dataset_digest or None)`` pairs; when given, only models
    with a metric point logged on one of them match (``None`` matches any digest).
    """

    experiment_ids: tuple[str, ...] = ()
    filter_string: str = ""
    max_results: int = 100
    order_by: tuple[str, ...] = ()
    page_token: str | None = None
    datasets: tuple[tuple[str, str | None], ...] = ()


@runtime_checkable
class RegistryStore(Protocol):
    """What every registry backend implements; every method may raise ``MltrackError``.

    Missing models, versions and aliases raise ``NotFound``; a taken name ``AlreadyExists``.
    """

    # logged models
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        tags: dict[str, str],
        params: dict[str, str],
        model_type: str | None,
    ) -> LoggedModel: ...
    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel: ...
    def get_logged_model(self, model_id: str) -> LoggedModel: ...
    def search_logged_models(self, query: LoggedModelQuery) -> ModelPage[LoggedModel]: ...
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None: ...
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...
    def log_model_params(self, model_id: str, params: dict[str, str]) -> None: ...
    def delete_logged_model(self, model_id: str) -> None: ...
    def log_model_links(self, run_id: str, links: Sequence[ModelLink]) -> None:
        """Record logged models a run used or produced (:data:`ModelLink`); a missing run
        raises ``RunNotFound``, a missing model ``NotFound``."""
        ...

    # registered models
    def create_registered_model(
        self, name: str, tags: dict[str, str], description: str
    ) -> RegisteredModel: ...
    def get_registered_model(self, name: str) -> RegisteredModel: ...
    def search_registered_models(self, query: RegistryQuery) -> ModelPage[RegisteredModel]: ...
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...
    def update_registered_model(self, name: str, description: str) -> RegisteredModel: ...
    def delete_registered_model(self, name: str) -> None: ...
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    # versions
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
    ) -> ModelVersion: ...
    def get_model_version(self, name: str, version: int) -> ModelVersion: ...
    def search_model_versions(self, query: RegistryQuery) -> ModelPage[ModelVersion]: ...
    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion: ...
    def delete_model_version(self, name: str, version: int) -> None: ...
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None: ...
    def get_latest_versions(self, name: str) -> list[ModelVersion]: ...

    # aliases
    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None: ...
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...


def has_registry(store: Any) -> bool:
    """True when ``store`` implements :class:`RegistryStore` (a third-party store may not)."""
    return isinstance(store, RegistryStore)
