"""Logged models and the model registry on :class:`~.core.TrackingCore` (``RegistryMethods``).

The methods and signatures are MLflow's ``MlflowClient``'s (MLflow 3 for logged models);
each validates its input and calls the store's
:class:`~jupyter_mltrack.store.registry_base.RegistryStore` primitives. Model URIs of the registry::

    models:/<name>/<version>     models:/<name>@<alias>     models:/<name>/latest
    models:/<model_id>           (a logged model, ``m-<32 hex>``)

Example::

    client = TrackingClient()
    lm = client.create_logged_model(experiment_id="0", name="model", source_run_id=run_id)
    client.finalize_logged_model(lm.model_id, "READY")
    client.create_registered_model("churn")
    mv = client.create_model_version("churn", lm.artifact_location, run_id, model_id=lm.model_id)
    client.set_registered_model_alias("churn", "champion", mv.version)
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..entities import LoggedModel, LoggedModelStatus, ModelVersion, RegisteredModel
from ..errors import InvalidParameter, InvalidState, MltrackError, NotFound, RunNotFound
from ..settings import MAX_RESULTS_PAGE
from ..store.registry_base import (
    MODEL_LINK_DIRECTIONS,
    LoggedModelQuery,
    ModelLink,
    ModelPage,
    RegistryQuery,
    RegistryStore,
)
from .validation import validate_key, validate_param_value, validate_tag_value

if TYPE_CHECKING:
    from ..store.base import TrackingStore

__all__ = [
    "ModelList",
    "ModelUri",
    "RegistryMethods",
    "last_logged_model_id",
    "parse_model_uri",
]

T = TypeVar("T")

#: Registered-model search page size when ``max_results`` is not given (MLflow's default).
DEFAULT_MAX_RESULTS = 100
MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 65_000
_ALIAS_RE = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
#: The id of the logged model created last in this process (``mt.last_logged_model``).
_last_logged_model_id: str | None = None


def last_logged_model_id() -> str | None:
    """The id of the logged model this process created last (any client), or ``None``."""
    return _last_logged_model_id


class ModelList(list[T], Generic[T]):
    """A page of registry results; ``token`` fetches the next page (``None`` at the end)."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token

    @property
    def next_page_token(self) -> str | None:
        """MLflow's name for :attr:`token`."""
        return self.token


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed ``models:/`` URI: a logged model (``model_id``), or a registered model's
    ``version``, ``alias`` or latest version (all three ``None``)."""

    name: str | None
    version: int | None = None
    alias: str | None = None
    model_id: str | None = None


def parse_model_uri(uri: Any) -> ModelUri:
    """Parse ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest``
    or ``models:/<model_id>``; ``InvalidParameter`` naming the accepted forms otherwise."""
    forms = (
        "models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest or "
        "models:/<model_id>"
    )
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidParameter(f"{uri!r} is not a model registry URI; use one of {forms}.")
    rest = uri[len("models:/") :].strip("/")
    if "/" in rest:
        name, _, tail = rest.rpartition("/")
        if not name or "/" in name:
            raise InvalidParameter(f"Cannot parse the model URI {uri!r}; use one of {forms}.")
        if tail.lower() == "latest":
            return ModelUri(name)
        if not tail.isdigit() or int(tail) < 1:
            raise InvalidParameter(
                f"The model URI {uri!r} ends in {tail!r}, not a version number or 'latest'; "
                f"use one of {forms}."
            )
        return ModelUri(name, version=int(tail))
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not name or not alias:
            raise InvalidParameter(f"Cannot parse the model URI {uri!r}; use one of {forms}.")
        return ModelUri(name, alias=alias)
    if _MODEL_ID_RE.match(rest):
        return ModelUri(None, model_id=rest)
    raise InvalidParameter(
        f"The model URI {uri!r} names no version: use one of {forms} (a logged model id is "
        "m- and 32 hex digits)."
    )


class RegistryMethods:
    """Mixin of :class:`~.core.TrackingCore`: needs ``self.store``."""

    store: TrackingStore

    def check_writable(self, run_id: str) -> str:  # pragma: no cover - TrackingCore's
        raise NotImplementedError

    def _registry(self) -> RegistryStore:
        store: Any = self.store
        if self.__dict__.get("_registry_checked") is store:  # the check walks every method
            return cast(RegistryStore, store)
        if not isinstance(self.store, RegistryStore):
            raise InvalidState(
                f"The tracking store {getattr(self.store, 'uri', self.store)!r} has no model "
                "registry (its class does not implement RegistryStore); use a DuckDB file, a "
                "PostgreSQL database or an mltrack server."
            )
        self.__dict__["_registry_checked"] = self.store
        return self.store

    # ------------------------------------------------------------ logged models
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
        *,
        check_source_run: bool = True,
    ) -> LoggedModel:
        """Create a PENDING logged model in ``experiment_id`` (MLflow 3); finalize it with
        :meth:`finalize_logged_model` once its files are uploaded to ``artifact_location``.
        ``source_run_id`` must name a run unless ``check_source_run`` is false (MLflow's
        REST route keeps any id, as MLflow's server does)."""
        if name is None:
            from .names import generate_run_name

            name = generate_run_name()
        run_id = None if source_run_id is None else _text_id(source_run_id, "source_run_id")
        if run_id is not None and check_source_run:
            try:
                self.store.run_state(run_id)
            except RunNotFound:
                raise RunNotFound(
                    f"No run with id {run_id!r} (source_run_id of the logged model); find run "
                    "ids with mt.search_runs()."
                ) from None
        model = self._registry().create_logged_model(
            _text_id(experiment_id, "experiment_id"),
            _name(name, "logged model name"),
            run_id,
            _tag_map(tags),
            _param_map(params),
            _optional_text(model_type, "model_type"),
        )
        global _last_logged_model_id
        _last_logged_model_id = model.model_id
        return model

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Set the final status (``"READY"`` or ``"FAILED"``; MLflow's enum works too)."""
        text = str(getattr(status, "name", status)).upper()
        if text not in (LoggedModelStatus.READY, LoggedModelStatus.FAILED):
            raise InvalidParameter(
                f"finalize_logged_model takes status 'READY' or 'FAILED', got {status!r}."
            )
        return self._registry().finalize_logged_model(_model_id(model_id), text)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        getattr(self, "_before_read", lambda: None)()
        return self._registry().get_logged_model(_model_id(model_id))

    def search_logged_models(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[Any] | None = None,
        page_token: str | None = None,
    ) -> ModelList[LoggedModel]:
        """Logged models of ``experiment_ids`` (all experiments when ``None``), filtered with
        the registry filter language (docs/registry.md), newest first by default.

        ``datasets`` (MLflow's): ``[{"dataset_name": ..., "dataset_digest": ...}]`` keeps the
        models with a metric logged on one of them (any digest when it is left out).
        ``max_results=None`` returns every match; otherwise one page (``.token`` for the next).
        """
        getattr(self, "_before_read", lambda: None)()
        ids: tuple[str, ...] = ()
        if experiment_ids is not None:
            given: Any = experiment_ids
            ids = tuple(
                _text_id(e, "experiment id") for e in ([given] if isinstance(given, str) else given)
            )
        text, order, sets = _filter(filter_string), _order_by(order_by), _datasets(datasets)

        def fetch(size: int, token: str | None) -> ModelPage[LoggedModel]:
            return self._registry().search_logged_models(
                LoggedModelQuery(ids, text, size, order, token, sets)
            )

        return _paged(fetch, max_results, page_token)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        if not tags:
            raise InvalidParameter("set_logged_model_tags needs at least one tag.")
        self._registry().set_logged_model_tags(_model_id(model_id), _tag_map(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._registry().delete_logged_model_tag(_model_id(model_id), _key(key, "tag"))

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        """Add params to a logged model (immutable: another value raises ``ParamOverwrite``)."""
        self._registry().log_model_params(_model_id(model_id), _param_map(params))

    def delete_logged_model(self, model_id: str) -> None:
        self._registry().delete_logged_model(_model_id(model_id))

    def log_model_links(self, run_id: str, links: Iterable[Any]) -> None:
        """Record logged models as inputs or outputs of a run: ``(direction, model_id,
        step)`` items, direction ``"input"`` (step 0) or ``"output"`` (MLflow's
        ``log_inputs(models=...)`` and ``log_outputs``). The run must exist and not be
        deleted, each model must exist (``NotFound``)."""
        checked: list[ModelLink] = []
        for i, link in enumerate(links):
            if not (isinstance(link, (list, tuple)) and len(link) == 3):
                raise InvalidParameter(
                    f"Model link {i} must be (direction, model_id, step), got {link!r}."
                )
            direction, model_id, step = link
            if direction not in MODEL_LINK_DIRECTIONS:
                raise InvalidParameter(
                    f"Model link {i}: direction must be 'input' or 'output', got {direction!r}."
                )
            if isinstance(step, bool) or not isinstance(step, int):
                raise InvalidParameter(f"Model link {i}: step must be an integer, got {step!r}.")
            checked.append((direction, _model_id(model_id), 0 if direction == "input" else step))
        self.check_writable(run_id)
        if checked:
            self._registry().log_model_links(run_id, checked)

    # -------------------------------------------------------- registered models
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create an empty registered model; ``AlreadyExists`` when the name is taken."""
        return self._registry().create_registered_model(
            _model_name(name), _tag_map(tags), _description(description)
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._registry().get_registered_model(_model_name(name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> ModelList[RegisteredModel]:
        """Registered models matching ``filter_string`` (``name LIKE '%x%'``,
        ``tags.k = 'v'``), by name; one page of ``max_results`` (``.token`` for the next)."""
        text, order = _filter(filter_string), _order_by(order_by)

        def fetch(size: int, token: str | None) -> ModelPage[RegisteredModel]:
            return self._registry().search_registered_models(
                RegistryQuery(text, size, order, token)
            )

        return _paged(fetch, max_results, page_token)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; its versions and aliases move with it."""
        return self._registry().rename_registered_model(
            _model_name(name), _model_name(new_name, "new_name")
        )

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self._registry().update_registered_model(
            _model_name(name), _description(description)
        )

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with all its versions, tags and aliases."""
        self._registry().delete_registered_model(_model_name(name))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._registry().set_registered_model_tag(
            _model_name(name), validate_key(key, "tag"), validate_tag_value(key, value)
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._registry().delete_registered_model_tag(_model_name(name), _key(key, "tag"))

    # ----------------------------------------------------------------- versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """A new version of the registered model ``name`` (which must exist), pointing at
        ``source``; lineage: ``run_id`` and the logged model ``model_id``."""
        if not isinstance(source, str) or not source:
            raise InvalidParameter(
                f"source must be a non-empty URI or path of the model files, got {source!r}."
            )
        return self._registry().create_model_version(
            _model_name(name),
            source,
            None if run_id is None else _text_id(run_id, "run_id"),
            _tag_map(tags),
            _description(description),
            None if model_id is None else _model_id(model_id),
            _user(),
            _optional_text(run_link, "run_link") or "",
        )

    def create_model_version_as(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, Any] | None,
        description: str | None,
        model_id: str | None,
        user_id: str,
        run_link: str | None,
    ) -> ModelVersion:
        """Create a version with exactly these values, each validated (the store API's
        route: the calling client named the user)."""
        if not isinstance(user_id, str):
            raise InvalidParameter(f"user_id must be a string, got {user_id!r}.")
        if not isinstance(source, str) or not source:
            raise InvalidParameter(
                f"source must be a non-empty URI or path of the model files, got {source!r}."
            )
        return self._registry().create_model_version(
            _model_name(name),
            source,
            None if run_id is None else _text_id(run_id, "run_id"),
            _tag_map(tags),
            _description(description),
            None if model_id is None else _model_id(model_id),
            user_id,
            _optional_text(run_link, "run_link") or "",
        )

    # pages with every field checked (the store API's routes)
    def registered_models_page(self, query: RegistryQuery) -> ModelPage[RegisteredModel]:
        return self._registry().search_registered_models(_checked_query(query))

    def model_versions_page(self, query: RegistryQuery) -> ModelPage[ModelVersion]:
        return self._registry().search_model_versions(_checked_query(query))

    def logged_models_page(self, query: LoggedModelQuery) -> ModelPage[LoggedModel]:
        if not isinstance(query, LoggedModelQuery):
            raise InvalidParameter(f"Expected a LoggedModelQuery, got {type(query).__name__}.")
        ids = tuple(_text_id(e, "experiment id") for e in query.experiment_ids)
        return self._registry().search_logged_models(
            LoggedModelQuery(
                ids,
                _filter(query.filter_string),
                _max_results(query.max_results),
                _order_by(list(query.order_by)),
                _token(query.page_token),
                _datasets(list(query.datasets)),
            )
        )

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        return self._registry().get_model_version(_model_name(name), _version(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> ModelList[ModelVersion]:
        """Model versions matching ``filter_string`` (``name = 'x'``, ``run_id = '...'``,
        ``tags.k = 'v'``); ``max_results=None`` returns every match."""
        text, order = _filter(filter_string), _order_by(order_by)

        def fetch(size: int, token: str | None) -> ModelPage[ModelVersion]:
            return self._registry().search_model_versions(RegistryQuery(text, size, order, token))

        return _paged(fetch, max_results, page_token)

    def update_model_version(
        self, name: str, version: Any, description: str | None = None
    ) -> ModelVersion:
        return self._registry().update_model_version(
            _model_name(name), _version(version), _description(description)
        )

    def delete_model_version(self, name: str, version: Any) -> None:
        """Delete one version (and the aliases pointing at it); its number is not reused."""
        self._registry().delete_model_version(_model_name(name), _version(version))

    def set_model_version_tag(
        self,
        name: str,
        version: Any = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        if stage is not None:
            raise InvalidParameter("Model stages are not supported; pass the version number.")
        self._registry().set_model_version_tag(
            _model_name(name),
            _version(version),
            validate_key(key, "tag"),
            validate_tag_value(str(key), value),
        )

    def delete_model_version_tag(
        self, name: str, version: Any = None, key: str | None = None, stage: str | None = None
    ) -> None:
        if stage is not None:
            raise InvalidParameter("Model stages are not supported; pass the version number.")
        self._registry().delete_model_version_tag(
            _model_name(name), _version(version), _key(key, "tag")
        )

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """The highest version of ``name`` as a one-item list (``[]`` when it has none);
        MLflow's stages are not supported, so ``stages`` must be empty."""
        if stages:
            raise InvalidParameter(
                "Model stages are not supported; use aliases (get_model_version_by_alias)."
            )
        return self._registry().get_latest_versions(_model_name(name))

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        """Point ``alias`` of ``name`` at ``version`` (moving it if it pointed elsewhere)."""
        self._registry().set_registered_model_alias(
            _model_name(name), _alias(alias), _version(version)
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._registry().delete_registered_model_alias(_model_name(name), _alias(alias))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._registry().get_model_version_by_alias(_model_name(name), _alias(alias))

    # ------------------------------------------------------------------ URIs
    def get_model_version_by_uri(self, model_uri: str) -> ModelVersion:
        """The version a ``models:/<name>/<version>``, ``@<alias>`` or ``/latest`` URI names."""
        parsed = parse_model_uri(model_uri)
        if parsed.name is None:
            raise InvalidParameter(
                f"{model_uri!r} names a logged model, not a registered model version."
            )
        if parsed.version is not None:
            return self.get_model_version(parsed.name, parsed.version)
        if parsed.alias is not None:
            return self.get_model_version_by_alias(parsed.name, parsed.alias)
        latest = self.get_latest_versions(parsed.name)
        if not latest:
            raise NotFound(
                f"Registered model {parsed.name!r} has no versions yet, so "
                f"{model_uri!r} names nothing.",
                name=parsed.name,
            )
        return latest[0]

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy a version (``models:/<name>/<version>`` or ``@<alias>``) into ``dst_name`` as a
        new version, creating ``dst_name`` if needed; the copy's source is the original's
        ``models:/`` URI and it keeps the run, logged model, tags and description."""
        src = self.get_model_version_by_uri(src_model_uri)
        dst = _model_name(dst_name, "dst_name")
        try:
            self._registry().create_registered_model(dst, {}, "")
        except MltrackError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
        return self._registry().create_model_version(
            dst,
            f"models:/{src.name}/{src.version}",
            src.run_id,
            dict(src.tags),
            src.description,
            src.model_id,
            _user(),
            src.run_link,
        )

    def get_model_version_download_uri(
        self, name: str, version: Any, *, follow_runs: bool = True
    ) -> str:
        """Where the files of a version are: its source, with ``models:/`` (a copy, a logged
        model) and ``runs:/`` sources resolved to the artifact location they stand for
        (``follow_runs=False``: a ``runs:/`` URI is answered as it is, as MLflow's store does)."""
        source = self.get_model_version(name, version).source
        return self.resolve_model_source(source, follow_runs=follow_runs)

    def resolve_model_source(
        self, source: str, _depth: int = 0, *, follow_runs: bool = True
    ) -> str:
        """The artifact location of a version's ``source`` (``models:/`` and, unless
        ``follow_runs`` is false, ``runs:/`` followed; anything else returned as is)."""
        if _depth > 10:
            raise InvalidState(f"The model source {source!r} refers to itself in a loop.")
        if source.startswith("models:/"):
            parsed = parse_model_uri(source)
            if parsed.model_id is not None:
                return self.get_logged_model(parsed.model_id).artifact_location
            return self.resolve_model_source(
                self.get_model_version_by_uri(source).source, _depth + 1, follow_runs=follow_runs
            )
        if source.startswith("runs:/") and follow_runs:
            rest = source[len("runs:/") :].lstrip("/")
            run_id, _, path = rest.partition("/")
            get_run = cast(Any, self).get_run
            base = str(get_run(run_id).info.artifact_uri).rstrip("/")
            return f"{base}/{path}" if path else base
        return source


def _paged(fetch: Any, max_results: int | None, page_token: str | None) -> ModelList[Any]:
    """One page of ``max_results`` items, or every item when ``max_results`` is ``None``."""
    if max_results is not None:
        page = fetch(_max_results(max_results), _token(page_token))
        return ModelList(page.items, page.next_page_token)
    items: list[Any] = []
    token = _token(page_token)
    while True:
        page = fetch(MAX_RESULTS_PAGE, token)
        items.extend(page.items)
        token = page.next_page_token
        if token is None:
            return ModelList(items, None)


def _checked_query(query: Any) -> RegistryQuery:
    if not isinstance(query, RegistryQuery):
        raise InvalidParameter(f"Expected a RegistryQuery, got {type(query).__name__}.")
    return RegistryQuery(
        _filter(query.filter_string),
        _max_results(query.max_results),
        _order_by(list(query.order_by)),
        _token(query.page_token),
    )


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"The {what} must be a non-empty string, got {value!r}.")
    if len(value) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameter(
            f"The {what} is {len(value)} characters; the limit is {MAX_MODEL_NAME_LENGTH}."
        )
    return value


def _model_name(value: Any, what: str = "name") -> str:
    """A registered model name: non-empty, without '/' or ':' (they would break model URIs)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(
            f"The registered model {what} must be a non-empty string, got {value!r}."
        )
    if "/" in value or ":" in value:
        raise InvalidParameter(
            f"Invalid registered model name {value!r}: names cannot contain '/' or ':' "
            "(they separate the parts of models:/ URIs)."
        )
    return _name(value, f"registered model {what}")


def _version(value: Any) -> int:
    """A version number: a positive int or its string (``1``, ``"1"``)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 1:
        raise InvalidParameter(
            f"A model version must be a positive integer such as 1 or '1', got {value!r}."
        )
    return value


def _alias(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"An alias must be a non-empty string, got {value!r}.")
    if not _ALIAS_RE.match(value):
        raise InvalidParameter(
            f"Invalid alias {value!r}: aliases may only contain letters, digits, underscores "
            "and dashes."
        )
    if len(value) > MAX_ALIAS_LENGTH:
        raise InvalidParameter(f"The alias is {len(value)} characters; the limit is 255.")
    if value.lower() == "latest" or _VERSION_ALIAS_RE.match(value):
        raise InvalidParameter(
            f"The alias {value!r} is reserved ('latest' and v<number> name versions in model "
            "URIs); pick another, e.g. 'champion'."
        )
    return value


def _model_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameter(
            f"model_id must be a logged model id (m-<32 hex digits>), got {value!r}."
        )
    return value


def _text_id(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"{what} must be a non-empty string, got {value!r}.")
    return value


def _optional_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(f"{what} must be a string, got {value!r}.")
    return value


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"description must be a string, got {value!r}.")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameter(
            f"The description is {len(value)} characters; the limit is {MAX_DESCRIPTION_LENGTH}."
        )
    return value


def _key(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"The {kind} key must be a non-empty string, got {value!r}.")
    return value


def _tag_map(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if isinstance(tags, list):  # MLflow's [ModelVersionTag(key, value)] / [RunTag]
        tags = {getattr(t, "key", None): getattr(t, "value", None) for t in tags}
    if not isinstance(tags, dict):
        raise InvalidParameter(f"tags must be a dict of str to value, got {tags!r}.")
    return {validate_key(k, "tag"): validate_tag_value(k, v) for k, v in tags.items()}


def _param_map(params: Any) -> dict[str, str]:
    if params is None:
        return {}
    if isinstance(params, list):
        params = {getattr(p, "key", None): getattr(p, "value", None) for p in params}
    if not isinstance(params, dict):
        raise InvalidParameter(f"params must be a dict of str to value, got {params!r}.")
    return {validate_key(k, "param"): validate_param_value(k, v) for k, v in params.items()}


def _filter(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidParameter(f"filter_string must be a string, got {text!r}.")
    return text


def _order_by(items: Any) -> tuple[str, ...]:
    if items is None:
        return ()
    if isinstance(items, str):
        items = [items]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):  # MLflow 3's search_logged_models order_by dicts
            name = item.get("field_name")
            item = f"{name} {'ASC' if item.get('ascending', True) else 'DESC'}"
        if not isinstance(item, str):
            raise InvalidParameter(f"order_by items must be strings, got {item!r}.")
        out.append(item)
    return tuple(out)


def _datasets(items: Any) -> tuple[tuple[str, str | None], ...]:
    """MLflow's ``datasets`` of a logged-model search: dicts with a non-empty
    ``dataset_name`` and an optional ``dataset_digest`` (or ``(name, digest)`` pairs)."""
    if items is None:
        return ()
    if isinstance(items, (str, dict)) or not isinstance(items, (list, tuple)):
        raise InvalidParameter(
            'datasets must be a list of {"dataset_name": ..., "dataset_digest": ...} dicts, '
            f"got {items!r}."
        )
    out: list[tuple[str, str | None]] = []
    for item in items:
        if isinstance(item, dict):
            unknown = set(item) - {"dataset_name", "dataset_digest"}
            if unknown:
                raise InvalidParameter(
                    f"A datasets entry takes only dataset_name and dataset_digest, got "
                    f"{sorted(unknown)!r} in {item!r}."
                )
            name, digest = item.get("dataset_name"), item.get("dataset_digest")
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            name, digest = item
        else:
            raise InvalidParameter(
                'Each datasets entry must be a dict {"dataset_name": ..., "dataset_digest": '
                f"...}}, got {item!r}."
            )
        if not isinstance(name, str) or not name:
            raise InvalidParameter(
                f"Each datasets entry needs a non-empty string dataset_name, got {item!r}."
            )
        if digest is not None and not isinstance(digest, str):
            raise InvalidParameter(
                f"dataset_digest must be a string when given, got {digest!r} in {item!r}."
            )
        out.append((name, digest or None))
    return tuple(out)


def _max_results(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameter(f"max_results must be a positive integer, got {value!r}.")
    if value > MAX_RESULTS_PAGE:
        raise InvalidParameter(
            f"max_results is {value}; the limit is {MAX_RESULTS_PAGE} per page (use the page "
            "token for more)."
        )
    return value


def _token(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidParameter(f"page_token must be a string, got {value!r}.")
    return value


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"
