"""JSON shapes of logged models, registered models and model versions on the store API.

Each entity travels as a flat object with its fields' own names (``tags`` and ``params``
as objects, metrics as ``[key, value, timestamp_ms, step, run_id, dataset_name,
dataset_digest]`` lists, NaN and infinities as strings via :func:`.wire.encode_float`).
The ``*_from_dict`` functions check every field and raise ``InvalidParameter`` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...entities import LoggedModel, Metric, ModelVersion, RegisteredModel
from ...errors import InvalidParameter
from ..registry_base import LoggedModelQuery, RegistryQuery
from .wire import decode_float, encode_float, get_field

__all__ = [
    "logged_model_from_dict",
    "logged_model_query_from_params",
    "logged_model_query_to_params",
    "logged_model_to_dict",
    "model_version_from_dict",
    "model_version_to_dict",
    "registered_model_from_dict",
    "registered_model_to_dict",
    "registry_query_from_params",
    "registry_query_to_params",
    "str_map",
]


def str_map(body: Any, name: str) -> dict[str, str]:
    value = get_field(body, name, dict, required=False) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidParameter(f"Field {name!r} must map strings to strings.")
    return dict(value)


def logged_model_to_dict(lm: LoggedModel) -> dict[str, Any]:
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
        "tags": lm.tags,
        "params": lm.params,
        "metrics": [
            [
                m.key,
                encode_float(m.value),
                m.timestamp_ms,
                m.step,
                m.run_id,
                m.dataset_name,
                m.dataset_digest,
            ]
            for m in lm.metrics
        ],
    }


def logged_model_from_dict(d: Any) -> LoggedModel:
    model_id = get_field(d, "model_id", str)
    metrics = []
    for i, row in enumerate(get_field(d, "metrics", list, required=False) or []):
        if not (isinstance(row, list) and len(row) == 7):
            raise InvalidParameter(f"metrics[{i}] of a logged model must have 7 items.")
        key, value, ts, step, run_id, ds_name, ds_digest = row
        metrics.append(
            Metric(
                key,
                decode_float(value),
                int(ts),
                int(step),
                model_id,
                ds_name,
                ds_digest,
                run_id,
            )
        )
    return LoggedModel(
        model_id,
        get_field(d, "experiment_id", str),
        get_field(d, "name", str),
        get_field(d, "artifact_location", str),
        get_field(d, "creation_timestamp", int),
        get_field(d, "last_updated_timestamp", int),
        get_field(d, "status", str),
        get_field(d, "source_run_id", str, required=False),
        get_field(d, "model_type", str, required=False),
        str_map(d, "tags"),
        str_map(d, "params"),
        metrics,
    )


def model_version_to_dict(mv: ModelVersion) -> dict[str, Any]:
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
        "tags": mv.tags,
        "aliases": mv.aliases,
        "user_id": mv.user_id,
        "run_link": mv.run_link,
    }


def model_version_from_dict(d: Any) -> ModelVersion:
    aliases = get_field(d, "aliases", list, required=False) or []
    if not all(isinstance(a, str) for a in aliases):
        raise InvalidParameter("Field 'aliases' must be a list of strings.")
    return ModelVersion(
        get_field(d, "name", str),
        get_field(d, "version", str),
        get_field(d, "creation_timestamp", int),
        get_field(d, "last_updated_timestamp", int),
        get_field(d, "description", str, required=False) or "",
        get_field(d, "source", str, required=False) or "",
        get_field(d, "run_id", str, required=False),
        get_field(d, "model_id", str, required=False),
        get_field(d, "status", str, required=False) or "READY",
        str_map(d, "tags"),
        list(aliases),
        get_field(d, "user_id", str, required=False) or "",
        get_field(d, "run_link", str, required=False) or "",
    )


def registered_model_to_dict(rm: RegisteredModel) -> dict[str, Any]:
    return {
        "name": rm.name,
        "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "description": rm.description,
        "tags": rm.tags,
        "aliases": rm.aliases,
        "latest_versions": [model_version_to_dict(v) for v in rm.latest_versions],
    }


def registered_model_from_dict(d: Any) -> RegisteredModel:
    latest = get_field(d, "latest_versions", list, required=False) or []
    return RegisteredModel(
        get_field(d, "name", str),
        get_field(d, "creation_timestamp", int),
        get_field(d, "last_updated_timestamp", int),
        get_field(d, "description", str, required=False) or "",
        str_map(d, "tags"),
        str_map(d, "aliases"),
        [model_version_from_dict(v) for v in latest],
    )


def registry_query_to_params(query: RegistryQuery) -> list[tuple[str, Any]]:
    return [
        ("filter", query.filter_string),
        ("max_results", query.max_results),
        *(("order_by", o) for o in query.order_by),
        ("page_token", query.page_token),
    ]


def registry_query_from_params(query_list: Any, number: Any, one: Any) -> RegistryQuery:
    """A search from a request's query: ``query_list(name) -> [str]``,
    ``number(name) -> int | None`` and ``one(name) -> str | None``."""
    size = number("max_results")
    return RegistryQuery(
        one("filter") or "",
        100 if size is None else size,
        tuple(query_list("order_by")),
        one("page_token") or None,
    )


def logged_model_query_to_params(query: LoggedModelQuery) -> list[tuple[str, Any]]:
    return [
        *(("experiment_ids", e) for e in query.experiment_ids),
        ("filter", query.filter_string),
        ("max_results", query.max_results),
        *(("order_by", o) for o in query.order_by),
        ("page_token", query.page_token),
        *(("dataset", json.dumps(list(d))) for d in query.datasets),
    ]


def _dataset_param(text: str) -> tuple[str, str | None]:
    """One ``dataset`` query parameter: a JSON ``[name, digest or null]``."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], (str, type(None)))
    ):
        raise InvalidParameter(
            f"Query parameter 'dataset' must be a JSON [name, digest or null], got {text!r}."
        )
    return value[0], value[1]


def logged_model_query_from_params(query_list: Any, number: Any, one: Any) -> LoggedModelQuery:
    size = number("max_results")
    ids: Sequence[str] = query_list("experiment_ids")
    return LoggedModelQuery(
        tuple(ids),
        one("filter") or "",
        100 if size is None else size,
        tuple(query_list("order_by")),
        one("page_token") or None,
        tuple(_dataset_param(t) for t in query_list("dataset")),
    )
