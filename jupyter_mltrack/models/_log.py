"""``log_model``: save a model to a temporary directory, then store it as MLflow 3 does.

With a client that has logged models (``create_logged_model``), the model becomes a logged
model of the current experiment, linked to the active run (``source_run_id``, the run's
outputs and its ``mlflow.log-model.history`` tag), with the given params plus the run's
params; its files go to the logged model's ``artifact_location`` and it is finalized READY
(FAILED if the upload fails). ``model_uri`` is then ``models:/<model_id>``.

Without logged-model support in the client, the model is logged into the active run's
artifacts under ``name`` and ``model_uri`` is ``runs:/<run_id>/<name>``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidParameter, MltrackError
from .model import Model, ModelInfo

__all__ = ["log_model_with", "resolve_name"]

logger = logging.getLogger(__name__)

HISTORY_TAG = "mlflow.log-model.history"
_HISTORY_LIMIT = 5000
_NAME = re.compile(r"^[^/\\:]+$")


def resolve_name(name: Any, artifact_path: Any) -> str:
    """MLflow 3's ``name=`` or MLflow 2's ``artifact_path`` (default ``"model"``)."""
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidParameter(
            f"log_model got name={name!r} and artifact_path={artifact_path!r}; pass only "
            "name= (artifact_path is MLflow 2's name for it)."
        )
    value = name if name is not None else artifact_path
    if value is None:
        return "model"
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"log_model name must be a non-empty string, got {value!r}.")
    value = value.strip().strip("/")
    if not value or ".." in value.split("/") or "\\" in value or ":" in value:
        raise InvalidParameter(f"log_model name {value!r} is not a valid model name.")
    return value


def _str_dict(values: Any, what: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidParameter(f"log_model {what} must be a dict, got {type(values).__name__}.")
    return {str(k): str(v) for k, v in values.items()}


def _append_history(client: Any, run_id: str, model: Model, name: str) -> None:
    entry = {
        "run_id": run_id,
        "artifact_path": name,
        "utc_time_created": model.utc_time_created,
        "model_uuid": model.model_uuid,
        "model_id": model.model_id,
        "flavors": {
            k: {"loader_module": v["loader_module"]} if "loader_module" in v else {}
            for k, v in model.flavors.items()
        },
    }
    try:
        current = client.get_run(run_id).data.tags.get(HISTORY_TAG)
        history = json.loads(current) if current else []
        if not isinstance(history, list):
            history = []
    except (MltrackError, ValueError):
        history = []
    history.append(entry)
    text = json.dumps(history)
    while len(text) > _HISTORY_LIMIT and len(history) > 1:
        history.pop(0)
        text = json.dumps(history)
    if len(text) <= _HISTORY_LIMIT:
        client.set_tag(run_id, HISTORY_TAG, text)


def _register(
    client: Any,
    model_uri: str,
    registered_model_name: str,
    run_id: str | None,
    model_id: str | None,
) -> str | None:
    """Register through the fluent ``register_model`` when the registry provides it."""
    if not isinstance(registered_model_name, str) or not registered_model_name.strip():
        raise InvalidParameter(
            f"registered_model_name must be a non-empty string, got {registered_model_name!r}."
        )
    try:
        from ..tracking.fluent_registry import register_model
    except ImportError:  # a build without the registry's fluent API
        pass
    else:
        return str(register_model(model_uri, registered_model_name).version)
    create_version = getattr(client, "create_model_version", None)
    if create_version is None:
        raise MltrackError(
            "registered_model_name= needs the model registry, which this client does not "
            "have; log the model without it and register it later."
        )
    from ..errors import AlreadyExists

    with contextlib.suppress(AlreadyExists):
        client.create_registered_model(registered_model_name)
    mv = create_version(registered_model_name, source=model_uri, run_id=run_id, model_id=model_id)
    return str(mv.version)


def _create_logged_model(
    client: Any,
    run_id: str | None,
    name: str,
    params: dict[str, str],
    tags: dict[str, str],
    model_type: str | None,
) -> Any:
    """A new PENDING logged model, or None when this store has no logged models."""
    from ..errors import InvalidState
    from ..tracking import fluent

    create = getattr(client, "create_logged_model", None)
    if create is None:
        return None
    run = client.get_run(run_id) if run_id else None
    experiment_id = run.info.experiment_id if run else fluent._resolve_experiment_id(client, None)
    run_params = {str(k): str(v) for k, v in run.data.params.items()} if run else {}
    try:
        return create(
            experiment_id,
            name=name,
            source_run_id=run_id,
            tags=tags or None,
            params={**params, **run_params} or None,
            model_type=model_type,
        )
    except InvalidState:  # a store without the registry tables: log into the run
        logger.debug("store has no logged models; logging into the run", exc_info=True)
        return None


def _log_into_run(
    client: Any,
    save: Callable[..., Model],
    local: str,
    run_id: str | None,
    model_name: str,
    model_params: dict[str, str],
    registered_model_name: str | None,
    save_kwargs: dict[str, Any],
) -> ModelInfo:
    """MLflow 2's way: the model directory in the run's artifacts under ``model_name``."""
    if run_id is None:
        raise MltrackError(
            "log_model needs an active run with this store (start one with mt.start_run()), "
            "or save the model locally with save_model."
        )
    model = save(local, mlflow_model=Model(artifact_path=model_name, run_id=run_id), **save_kwargs)
    client.log_artifacts(run_id, local, model_name)
    _append_history(client, run_id, model, model_name)
    model_uri = f"runs:/{run_id}/{model_name}"
    info = ModelInfo.from_model(model, model_uri, name=model_name, params=model_params)
    if registered_model_name is not None:
        info.registered_model_version = _register(
            client, model_uri, registered_model_name, run_id, None
        )
    return info


def log_model_with(
    save: Callable[..., Model],
    *,
    flavor_name: str,
    name: str | None,
    artifact_path: str | None,
    registered_model_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    run_id: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save with ``save(path, mlflow_model=..., **save_kwargs)`` and store the directory."""
    from ..tracking import fluent

    model_name = resolve_name(name, artifact_path)
    model_params = _str_dict(params, "params")
    model_tags = _str_dict(tags, "tags")
    if model_type is not None and not isinstance(model_type, str):
        raise InvalidParameter(f"model_type must be a string, got {model_type!r}.")
    active = fluent.active_run()
    if run_id is None and active is not None:
        run_id = active.info.run_id
    client = fluent.get_client_for_active()
    logged = _create_logged_model(client, run_id, model_name, model_params, model_tags, model_type)
    with tempfile.TemporaryDirectory(prefix="mltrack-log-model-") as tmp:
        local = os.path.join(tmp, model_name.replace("/", "_"))
        if logged is None:
            return _log_into_run(
                client,
                save,
                local,
                run_id,
                model_name,
                model_params,
                registered_model_name,
                save_kwargs,
            )
        try:
            model = save(
                local,
                mlflow_model=Model(
                    artifact_path=logged.artifact_location,
                    run_id=run_id,
                    model_id=logged.model_id,
                    model_uuid=logged.model_id,
                ),
                **save_kwargs,
            )
            set_tags = getattr(client, "set_logged_model_tags", None)
            if set_tags is not None:
                set_tags(logged.model_id, {"mltrack.model.flavor": flavor_name})
            client._repo_for(logged.artifact_location).log_artifacts(local, None)
            client.finalize_logged_model(logged.model_id, "READY")
        except BaseException:
            try:
                client.finalize_logged_model(logged.model_id, "FAILED")
            except Exception:  # report the first error, not the clean-up's
                logger.debug(
                    "could not mark logged model %s FAILED", logged.model_id, exc_info=True
                )
            raise
    if run_id is not None:
        log_outputs = getattr(client, "log_outputs", None)
        if log_outputs is not None:
            try:
                log_outputs(run_id, models=[{"model_id": logged.model_id, "step": step}])
            except (TypeError, MltrackError):
                logger.debug("log_outputs refused the model output", exc_info=True)
        _append_history(client, run_id, model, model_name)
    model_uri = f"models:/{logged.model_id}"
    final = (
        client.get_logged_model(logged.model_id) if hasattr(client, "get_logged_model") else logged
    )
    info = ModelInfo.from_model(
        model,
        model_uri,
        name=model_name,
        artifact_path=model_name,
        params=dict(getattr(final, "params", {}) or {}),
        metrics=list(getattr(final, "metrics", []) or []),
    )
    if registered_model_name is not None:
        info.registered_model_version = _register(
            client, model_uri, registered_model_name, run_id, logged.model_id
        )
    return info
