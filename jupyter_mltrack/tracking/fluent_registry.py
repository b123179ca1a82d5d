"""The fluent registry functions: ``mt.register_model``, ``mt.get_logged_model``,
``mt.search_logged_models``, ``mt.last_logged_model`` (MLflow's names and arguments).

Example::

    info = mt.sklearn.log_model(model, name="model")          # a logged model
    mv = mt.register_model(info.model_uri, "churn")           # version 1 of "churn"
    mt.MlflowClient().set_registered_model_alias("churn", "champion", mv.version)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

from ..entities import LoggedModel, ModelVersion
from ..errors import AlreadyExists, InvalidParameter
from .fluent import _resolve_experiment_id, get_client
from .registry_core import ModelList, last_logged_model_id, parse_model_uri

__all__ = [
    "get_logged_model",
    "last_logged_model",
    "register_model",
    "register_model_with",
    "search_logged_models",
]


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as a new version of ``name`` (created if missing).

    ``model_uri`` is a logged model (``models:/<model_id>``, what ``log_model`` returns), a
    run's model (``runs:/<run_id>/<name>``: the logged model of that run and name, else the
    run's artifacts at that path), another version (``models:/<name>/<version>``,
    ``@<alias>``) or any path or URI of a model directory. The version records the run and
    the logged model it came from.
    """
    return register_model_with(get_client(), model_uri, name, tags)


def register_model_with(
    client: Any, model_uri: str, name: str, tags: dict[str, Any] | None = None
) -> ModelVersion:
    """:func:`register_model` through ``client`` (a ``TrackingClient``; the CLI's)."""
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(
            f"model_uri must be a model URI or path, got {model_uri!r}; e.g. "
            "'models:/<model_id>' (from log_model) or 'runs:/<run_id>/model'."
        )
    source, run_id, model_id = _lineage(client, model_uri)
    with contextlib.suppress(AlreadyExists):
        client.create_registered_model(name)
    version: ModelVersion = client.create_model_version(
        name, source, run_id=run_id, tags=tags, model_id=model_id
    )
    return version


def _lineage(client: Any, model_uri: str) -> tuple[str, str | None, str | None]:
    """``(source, run_id, model_id)`` of a model URI being registered."""
    if model_uri.startswith("models:/"):
        parsed = parse_model_uri(model_uri)
        if parsed.model_id is not None:
            logged: LoggedModel = client.get_logged_model(parsed.model_id)
            return model_uri, logged.source_run_id, logged.model_id
        version: ModelVersion = client.get_model_version_by_uri(model_uri)
        return f"models:/{version.name}/{version.version}", version.run_id, version.model_id
    if model_uri.startswith("runs:/"):
        run_id, _, path = model_uri[len("runs:/") :].lstrip("/").partition("/")
        path = path.strip("/")
        run = client.get_run(run_id)
        if path:
            found = client.search_logged_models(
                [run.info.experiment_id],
                f"source_run_id = '{run_id}' AND name = '{path}'"
                if "'" not in path
                else f"source_run_id = '{run_id}'",
                max_results=50,
            )
            found = [m for m in found if m.name == path]
            if found:
                return f"models:/{found[0].model_id}", run_id, found[0].model_id
        base = str(run.info.artifact_uri).rstrip("/")
        return (f"{base}/{path}" if path else base), run_id, None
    if "://" not in model_uri and not model_uri.startswith("file:"):
        return os.path.abspath(os.path.expanduser(model_uri)), None, None
    return model_uri, None, None


def get_logged_model(model_id: str) -> LoggedModel:
    """The logged model ``model_id`` (``m-...``) with its params, tags and metrics."""
    return get_client().get_logged_model(model_id)


def search_logged_models(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    datasets: list[dict[str, Any]] | None = None,
    max_results: int | None = None,
    order_by: list[Any] | None = None,
    output_format: str = "pandas",
) -> Any:
    """Logged models of ``experiment_ids`` (default: the current experiment) matching
    ``filter_string`` (``name = 'model' AND metrics.acc > 0.9``; docs/registry.md).

    ``datasets=[{"dataset_name": "eval", "dataset_digest": "123"}]`` keeps the models with
    a metric logged on one of those datasets (the digest is optional).

    ``output_format="pandas"`` (MLflow's default) gives a DataFrame, one row per model;
    ``"list"`` the :class:`LoggedModel` entities.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameter(f"Unknown output_format {output_format!r}; use 'pandas' or 'list'.")
    client = get_client()
    ids = (
        [_resolve_experiment_id(client, None)]
        if experiment_ids is None
        else [experiment_ids]
        if isinstance(experiment_ids, str)
        else list(experiment_ids)
    )
    models: ModelList[LoggedModel] = client.search_logged_models(
        ids, filter_string, datasets, max_results, order_by
    )
    if output_format == "list":
        return models
    import pandas as pd

    rows = [m.to_dictionary() for m in models]
    columns = [
        "model_id",
        "experiment_id",
        "name",
        "artifact_location",
        "creation_timestamp",
        "last_updated_timestamp",
        "status",
        "source_run_id",
        "model_type",
        "tags",
        "params",
        "metrics",
        "model_uri",
    ]
    return pd.DataFrame(rows, columns=columns)


def last_logged_model() -> LoggedModel | None:
    """The logged model this process created last (``log_model``), or ``None``."""
    model_id = last_logged_model_id()
    return None if model_id is None else get_client().get_logged_model(model_id)
