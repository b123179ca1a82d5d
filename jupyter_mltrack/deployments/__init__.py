"""Deployment targets as plugins: MLflow's ``mlflow.deployments`` interface.

::

    import jupyter_mltrack as mt

    client = mt.deployments.get_deploy_client("local")
    client.create_deployment("churn", "models:/churn@champion", config={"workers": 2})
    client.predict("churn", frame)            # {"predictions": [...]}
    client.list_deployments()
    client.delete_deployment("churn")

Targets are found by name (``"local"``, or ``"NAME:/SUFFIX"``) in the entry-point group
``jupyter_mltrack.deployments``; a name not found there is looked up in MLflow's group
``mlflow.deployments`` when MLflow is installed, so MLflow's own plugins (SageMaker, Azure ML,
Databricks) work here unchanged. Built in: ``local``, scoring servers run as managed processes
(:mod:`.local`). docs/deployments.md shows how a plugin package declares a target.
"""

from __future__ import annotations

import importlib
import inspect
import os
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from ..errors import InvalidParameter, NotFound
from .base import BaseDeploymentClient, DeploymentError, PredictionsResponse, parse_target_uri

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseDeploymentClient",
    "DeploymentError",
    "PredictionsResponse",
    "get_deploy_client",
    "get_deployments_target",
    "list_targets",
    "run_local",
    "set_deployments_target",
    "target_help",
]

#: the entry-point group third-party packages declare targets in
ENTRY_POINT_GROUP = "jupyter_mltrack.deployments"
_MLFLOW_GROUP = "mlflow.deployments"
#: targets that ship with this package (also declared as entry points in pyproject.toml)
_BUILTIN = {"local": "jupyter_mltrack.deployments.local"}
ENV_TARGET = "MLTRACK_DEPLOYMENTS_TARGET"

_target: str | None = None


def set_deployments_target(target: str) -> None:
    """The target :func:`get_deploy_client` uses when given none."""
    parse_target_uri(target)
    global _target
    _target = target


def get_deployments_target() -> str:
    """The target set by :func:`set_deployments_target`, else ``$MLTRACK_DEPLOYMENTS_TARGET``."""
    target = _target or os.environ.get(ENV_TARGET)
    if not target:
        raise InvalidParameter(
            "No deployment target: pass one (e.g. 'local'), call set_deployments_target() "
            f"or set {ENV_TARGET}."
        )
    return target


def list_targets() -> list[str]:
    """Every target name available here (built in, ours, MLflow's)."""
    names = set(_BUILTIN)
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    names |= {ep.name for ep in entry_points(group=_MLFLOW_GROUP)}
    return sorted(names)


def _plugin(target_uri: str) -> ModuleType:
    name = parse_target_uri(target_uri)
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found and name in _BUILTIN:
        return importlib.import_module(_BUILTIN[name])
    if not found:
        found = [ep for ep in entry_points(group=_MLFLOW_GROUP) if ep.name == name]
    if not found:
        raise NotFound(
            f"No deployment target {name!r}; installed: {', '.join(list_targets())}. A plugin "
            f"package declares one in the {ENTRY_POINT_GROUP!r} entry-point group "
            "(docs/deployments.md)."
        )
    try:
        module = found[0].load()
    except Exception as exc:
        raise DeploymentError(
            f"The deployment target {name!r} ({found[0].value}) failed to load: {exc}"
        ) from None
    if not isinstance(module, ModuleType):
        raise DeploymentError(
            f"The entry point of target {name!r} must name a module; it names {module!r}."
        )
    missing = [f for f in ("run_local", "target_help") if not callable(getattr(module, f, None))]
    if missing:
        raise DeploymentError(
            f"The deployment target {name!r} ({module.__name__}) lacks {', '.join(missing)}; "
            "a plugin module defines a client class, run_local and target_help."
        )
    return module


def _client_class(module: ModuleType) -> type[Any]:
    classes = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__ and not obj.__module__.startswith(module.__name__):
            continue
        bases = {b.__name__ for b in obj.__mro__[1:]}
        is_client = issubclass(obj, BaseDeploymentClient) or "BaseDeploymentClient" in bases
        if is_client and not inspect.isabstract(obj):
            classes.append(obj)
    if len(classes) != 1:
        raise DeploymentError(
            f"The deployment target module {module.__name__} must define exactly one "
            f"deployment client class; it defines {len(classes)}."
        )
    return classes[0]


def get_deploy_client(target_uri: str | None = None) -> Any:
    """A client for ``target_uri`` (e.g. ``"local"``) with MLflow's deployment methods."""
    uri = target_uri or get_deployments_target()
    return _client_class(_plugin(uri))(uri)


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> Any:
    """Run the model locally the way ``target`` would serve it (blocks)."""
    return _plugin(target).run_local(target, name, model_uri, flavor=flavor, config=config)


def target_help(target: str) -> str:
    """The target's own help text (its config keys, its URI forms)."""
    return str(_plugin(target).target_help())
