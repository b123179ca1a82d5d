"""The OpenAPI 3.1 document of the JupyterLab API, generated from :data:`.lab_api.LAB_ROUTES`.

Schemas come from the dataclasses of :mod:`.lab_types` and :mod:`jupyter_mltrack.entities`
(by their type hints), operations from the route table, so the document cannot drift from
what the handlers parse and answer. The server serves it at
``GET /mltrack/api/lab/openapi.json``; ``python -m jupyter_mltrack._schema_ts`` writes it to
``docs/lab-api.openapi.json`` and the TypeScript types from it.

Example::

    from jupyter_mltrack.service.openapi import openapi_document
    doc = openapi_document()
    doc["paths"]["/runs"]["get"]["parameters"][0]["name"]   # 'experiment_ids'
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

from .. import entities
from . import lab_types
from .lab_api import LAB_API_PATH, LAB_ROUTES, LabRoute

__all__ = ["API_VERSION", "ENTITY_SCHEMAS", "openapi_document", "schema_name"]

#: The API's own version (not the package's): bump it on an incompatible change.
API_VERSION = "1.0"

#: Schemas that are entities of jupyter_mltrack.entities (TypeScript: types.generated.ts).
ENTITY_SCHEMAS = frozenset(
    n for n in entities.__all__ if dataclasses.is_dataclass(getattr(entities, n))
)
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    float: {"$ref": "#/components/schemas/WireFloat"},
    lab_types.WireFloat: {"$ref": "#/components/schemas/WireFloat"},
    lab_types.JsonNumber: {"type": "number"},
    type(None): {"type": "null"},
    Any: {},
}
_WIRE_FLOAT = {
    "description": "A float: a JSON number, or the strings NaN, Infinity, -Infinity.",
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
}


def schema_name(cls: type) -> str:
    return cls.__name__


def openapi_document() -> dict[str, Any]:
    """The whole document (a JSON-able dict)."""
    schemas: dict[str, Any] = {"WireFloat": _WIRE_FLOAT}
    pending: list[type] = [lab_types.ErrorReply]
    paths: dict[str, dict[str, Any]] = {}
    for route in LAB_ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route, pending)
    requests = {r.query for r in LAB_ROUTES} | {r.body for r in LAB_ROUTES}
    pending.extend(r.query for r in LAB_ROUTES if r.query is not None)
    while pending:
        cls = pending.pop(0)
        if schema_name(cls) not in schemas:
            optional = cls in requests or cls is lab_types.ErrorReply
            schemas[schema_name(cls)] = _object_schema(cls, pending, optional)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jupyter-mltrack JupyterLab API",
            "version": API_VERSION,
            "description": (
                "What the JupyterLab sidebar and views read and change. Every route needs "
                "Jupyter's authentication (token or login cookie) and lives under the "
                "server's base URL. Errors answer ErrorReply (docs/jupyterlab.md)."
            ),
        },
        "servers": [{"url": LAB_API_PATH}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _operation(route: LabRoute, pending: list[type]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        hints = typing.get_type_hints(route.query)
        for f in dataclasses.fields(route.query):
            is_list = typing.get_origin(hints[f.name]) is list
            param: dict[str, Any] = {
                "name": f.name,
                "in": "query",
                "required": f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING,
                "schema": _schema(hints[f.name], pending),
            }
            if is_list:
                param.update(style="form", explode=True)
            if f.metadata.get("doc"):
                param["description"] = f.metadata["doc"]
            params.append(param)
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "parameters": params,
        "responses": {
            "200": _reply(route, pending),
            "default": {
                "description": "An error (403 without Jupyter's auth).",
                "content": {"application/json": {"schema": _ref(lab_types.ErrorReply)}},
            },
        },
    }
    if route.body is not None:
        pending.append(route.body)
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    return op


def _reply(route: LabRoute, pending: list[type]) -> dict[str, Any]:
    if route.reply is None:
        schema: dict[str, Any] = (
            {"type": "object"}
            if route.content_type == "application/json"
            else {"type": "string", "format": "binary"}
        )
    else:
        pending.append(route.reply)
        schema = _ref(route.reply)
    return {"description": route.summary, "content": {route.content_type: {"schema": schema}}}


def _operation_id(route: LabRoute) -> str:
    words = re.findall(r"[a-z]+", route.path.replace("{run_id}", "").replace(".json", ""))
    return route.method + "".join(w.capitalize() for w in words)


def _ref(cls: type) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(cls)}"}


def _object_schema(cls: type, pending: list[type], defaults_optional: bool) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        prop = _schema(hints[f.name], pending)
        if f.metadata.get("doc"):
            prop = {**prop, "description": f.metadata["doc"]}
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props}
    # every field of a reply is always present on the wire (null when empty); a request
    # (query or body) may leave out what has a default
    out["required"] = [
        f.name
        for f in dataclasses.fields(cls)
        if not defaults_optional
        or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    ]
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc and not doc.startswith(f"{cls.__name__}("):
        out["description"] = " ".join(doc.replace("``", "`").split())
    out["additionalProperties"] = False
    return out


def _schema(tp: Any, pending: list[type]) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, pending) for a in args]}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        pending.append(tp)
        return _ref(tp)
    if origin is dict and args and args[0] is str:
        return {"type": "object", "additionalProperties": _schema(args[1], pending)}
    if origin is list and args:
        return {"type": "array", "items": _schema(args[0], pending)}
    raise TypeError(
        f"No OpenAPI schema for {tp!r}; extend jupyter_mltrack.service.openapi._schema."
    )
