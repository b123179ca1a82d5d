"""The registry part of the JupyterLab API: registered models, their versions and aliases,
and the models a run logged (issue 12's registry view).

Bodies of the routes that :mod:`.lab_api` serves under ``/mltrack/api/lab/models`` and
``/runs/{run_id}/models``; every call goes through the validating
:class:`~jupyter_mltrack.tracking.core.TrackingCore` (its ``RegistryMethods``), so a bad
name, version or alias answers the error tree's JSON shape like any other route. Replies
are the :mod:`.lab_types` dataclasses ``ModelsPage``, ``ModelDetail`` and ``RunModels``.
"""

from __future__ import annotations

from typing import Any

from ..entities import LoggedModel, ModelVersion, RegisteredModel, Run
from ..errors import InvalidParameter, RunNotFound
from ..store.remote.wire import encode_float
from ..tracking.core import TrackingCore
from .lab_types import AliasBody, ModelsQuery

__all__ = [
    "MAX_MODELS",
    "MAX_VERSIONS",
    "delete_alias",
    "loading_code",
    "logged_model_json",
    "model_detail",
    "models_page",
    "registered_model_json",
    "run_models",
    "set_alias",
    "version_json",
]

#: Largest page of ``GET /models``.
MAX_MODELS = 1000
#: Versions listed per model (newest first).
MAX_VERSIONS = 1000


def loading_code(name: str, alias: str | None = None, version: str | None = None) -> str:
    """The Python that loads a version: by alias when given, else by version number."""
    uri = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
    return f'model = mt.models.load_model("{uri}")'


def version_json(mv: ModelVersion) -> dict[str, Any]:
    """A ``ModelVersion`` as the generated ``IModelVersion``."""
    return {
        "name": mv.name,
        "version": mv.version,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "description": mv.description,
        "source": mv.source,
        "run_id": mv.run_id,
        "model_id": mv.model_id,
        "status": mv.status,
        "tags": dict(mv.tags),
        "aliases": list(mv.aliases),
        "user_id": mv.user_id,
        "run_link": mv.run_link,
    }


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    """A ``RegisteredModel`` as the generated ``IRegisteredModel``."""
    return {
        "name": rm.name,
        "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "description": rm.description,
        "tags": dict(rm.tags),
        "aliases": {k: str(v) for k, v in rm.aliases.items()},
        "latest_versions": [version_json(v) for v in rm.latest_versions],
    }


def logged_model_json(lm: LoggedModel) -> dict[str, Any]:
    """A ``LoggedModel`` as the generated ``ILoggedModel`` (metrics as objects)."""
    return {
        "model_id": lm.model_id,
        "experiment_id": lm.experiment_id,
        "name": lm.name,
        "artifact_location": lm.artifact_location,
        "creation_timestamp": lm.creation_timestamp,
        "last_updated_timestamp": lm.last_updated_timestamp,
        "status": lm.status,
        "source_run_id": lm.source_run_id,
        "model_type": lm.model_type,
        "tags": dict(lm.tags),
        "params": dict(lm.params),
        "metrics": [
            {
                "key": m.key,
                "value": encode_float(m.value),
                "timestamp_ms": m.timestamp_ms,
                "step": m.step,
                "model_id": m.model_id,
                "dataset_name": m.dataset_name,
                "dataset_digest": m.dataset_digest,
                "run_id": m.run_id,
            }
            for m in lm.metrics
        ],
    }


def models_page(core: TrackingCore, q: ModelsQuery) -> dict[str, Any]:
    """The body of ``GET /models`` (``ModelsPage``)."""
    if not 1 <= q.max_results <= MAX_MODELS:
        raise InvalidParameter(f"max_results must be in 1..{MAX_MODELS}, got {q.max_results}.")
    page = core.search_registered_models(
        q.filter or None, q.max_results, ["name ASC"], q.page_token or None
    )
    return {
        "models": [registered_model_json(m) for m in page],
        "next_page_token": page.token,
    }


def _run_row(core: TrackingCore, run_id: str | None, cache: dict[str, Run | None]) -> Any:
    if not run_id:
        return None
    if run_id not in cache:
        try:
            cache[run_id] = core.get_run(run_id)
        except RunNotFound:  # the run was removed for good (gc): the version stays
            cache[run_id] = None
    run = cache[run_id]
    if run is None:
        return None
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "experiment_id": run.info.experiment_id,
        "metrics": {k: encode_float(v) for k, v in sorted(run.data.metrics.items())},
    }


def model_detail(core: TrackingCore, name: str) -> dict[str, Any]:
    """The body of ``GET /models/{name}`` (``ModelDetail``): the model and its versions
    (newest first), each with its run (name, status, latest metrics) and loading code."""
    model = core.get_registered_model(name)
    versions = core.search_model_versions(
        f"name = '{_quoted(name)}'", MAX_VERSIONS, ["version_number DESC"]
    )
    runs: dict[str, Run | None] = {}
    return {
        "model": registered_model_json(model),
        "versions": [
            {
                "version": version_json(v),
                "run": _run_row(core, v.run_id, runs),
                "code": loading_code(v.name, v.aliases[0] if v.aliases else None, v.version),
            }
            for v in versions
        ],
    }


def set_alias(core: TrackingCore, name: str, alias: str, body: AliasBody) -> dict[str, Any]:
    """``PUT /models/{name}/aliases/{alias}``: point ``alias`` at ``body.version``."""
    if not isinstance(body.version, str) or not body.version.strip():
        raise InvalidParameter('Pass the version the alias points to: {"version": "3"}.')
    core.set_registered_model_alias(name, alias, body.version.strip())
    return model_detail(core, name)


def delete_alias(core: TrackingCore, name: str, alias: str) -> dict[str, Any]:
    """``DELETE /models/{name}/aliases/{alias}``."""
    core.delete_registered_model_alias(name, alias)
    return model_detail(core, name)


def run_models(core: TrackingCore, run_id: str) -> dict[str, Any]:
    """The body of ``GET /runs/{run_id}/models`` (``RunModels``): the models the run
    logged (MLflow 3 logged models, newest first) and the registered versions made from
    it."""
    run = core.get_run(run_id)
    rid = _quoted(run_id)
    logged = core.search_logged_models(
        [run.info.experiment_id], f"source_run_id = '{rid}'", max_results=MAX_VERSIONS
    )
    versions = core.search_model_versions(f"run_id = '{rid}'", MAX_VERSIONS)
    return {
        "logged_models": [logged_model_json(m) for m in logged],
        "versions": [version_json(v) for v in versions],
    }


def _quoted(text: str) -> str:
    if "\\" in text:
        raise InvalidParameter(f"{text!r} has a backslash: not a model name or run id.")
    return text.replace("'", "''")
