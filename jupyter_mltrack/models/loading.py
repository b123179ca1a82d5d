"""``load_model``: any model directory (ours or MLflow's) as a :class:`PyFuncModel`.

The ``python_function`` flavor of ``MLmodel`` names a ``loader_module`` whose
``_load_pyfunc(path)`` builds the object that predicts. MLflow's loader modules of the flavors
this project implements (``mlflow.sklearn``, ``mlflow.pytorch``, ``mlflow.pyfunc.model``) are
served by ours, so MLflow's models load without MLflow installed (a pyfunc ``PythonModel``
pickled by MLflow still needs ``mlflow`` to unpickle its class). Any other loader module is
imported as named.

This module needs nothing but the model directory when given a local path, so the scoring
server and batch prediction can call :func:`load_model` in worker processes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from ..errors import InvalidParameter, MltrackError
from .env import check_environment
from .model import MLMODEL_FILE_NAME, PYFUNC_FLAVOR, Model
from .signature import enforce_params, enforce_schema
from .uri import resolve_model_uri

__all__ = ["PyFuncModel", "get_model_info", "load_model", "load_pyfunc_impl"]

#: MLflow's loader modules -> ours (same on-disk formats).
LOADER_ALIASES = {
    "mlflow.sklearn": "jupyter_mltrack.sklearn",
    "mlflow.pytorch": "jupyter_mltrack.pytorch",
    "mlflow.pyfunc.model": "jupyter_mltrack.pyfunc",
}


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` with the signature enforced."""

    def __init__(self, model_meta: Model, model_impl: Any, model_uri: str, local_path: str) -> None:
        self.metadata = model_meta
        self._impl = model_impl
        self.model_uri = model_uri
        self.local_path = local_path
        self._predict_params = _accepts_params(model_impl.predict)

    @property
    def loader_module(self) -> str:
        return str(self.metadata.flavors[PYFUNC_FLAVOR].get("loader_module"))

    @property
    def model_id(self) -> str | None:
        return self.metadata.model_id

    def get_input_schema(self) -> Any:
        return self.metadata.get_input_schema()

    def get_output_schema(self) -> Any:
        return self.metadata.get_output_schema()

    def get_params_schema(self) -> Any:
        return self.metadata.get_params_schema()

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for ``data`` (checked against the input schema; MLflow's safe
        conversions such as int -> float applied). ``params`` are checked against the
        signature's params and completed with their defaults.

        Raises:
            SchemaMismatch: a column is missing or has a type that cannot be converted.
        """
        data = enforce_schema(data, self.metadata.get_input_schema())
        resolved = enforce_params(params, self.metadata.get_params_schema())
        if self._predict_params:
            return self._impl.predict(data, params=resolved)
        return self._impl.predict(data)

    def unwrap_python_model(self) -> Any:
        """The user's ``PythonModel`` (pyfunc models only)."""
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise InvalidParameter(
                f"unwrap_python_model works on pyfunc models; this one is loaded by "
                f"{self.loader_module}. Use the flavor's load_model for the native object."
            )
        return python_model

    def get_raw_model(self) -> Any:
        """The native object the flavor loaded (an estimator, a torch module, ...)."""
        return getattr(self._impl, "raw_model", self._impl)

    def __repr__(self) -> str:
        return f"PyFuncModel(uri={self.model_uri!r}, loader_module={self.loader_module!r})"


def _accepts_params(fn: Any) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return "params" in sig.parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
    )


def _add_code_paths(local_path: str, conf: dict[str, Any]) -> None:
    code = conf.get("code")
    if not code:
        return
    code_dir = os.path.join(local_path, code)
    if not os.path.isdir(code_dir):
        return
    # each copied entry's parent is the import root (a file or a package directory)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)


def load_pyfunc_impl(local_path: str, model_meta: Model | None = None) -> tuple[Model, Any]:
    """The ``MLmodel`` of a local model directory and its loaded pyfunc implementation."""
    meta = model_meta or Model.load(local_path)
    conf = meta.flavors.get(PYFUNC_FLAVOR)
    if conf is None:
        raise InvalidParameter(
            f"The model at {local_path!r} has no python_function flavor (it has "
            f"{', '.join(sorted(meta.flavors)) or 'none'}); load it with its flavor's load_model."
        )
    loader = str(conf.get("loader_module") or "")
    if not loader:
        raise InvalidParameter(f"The MLmodel at {local_path!r} names no loader_module.")
    _add_code_paths(local_path, conf)
    module_name = LOADER_ALIASES.get(loader, loader)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MltrackError(
            f"The model's loader module {loader!r} cannot be imported ({exc}); install the "
            "package it comes from (see the model's requirements.txt)."
        ) from exc
    data = conf.get("data")
    data_path = os.path.join(local_path, data) if data else local_path
    return meta, module._load_pyfunc(data_path)


def load_model(
    model_uri: Any,
    dst_path: str | os.PathLike[str] | None = None,
    suppress_warnings: bool = False,
) -> PyFuncModel:
    """Load the model at ``model_uri`` as a :class:`PyFuncModel`.

    Args:
        model_uri: a local directory, ``file://``, ``runs:/<run_id>/<path>``,
            ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
            ``models:/<name>/latest`` or ``models:/<model_id>``.
        dst_path: where to download a remote model (a temp dir by default).
        suppress_warnings: do not warn when this environment differs from the saved one.

    Security: loading runs the code the model was saved with (pickles, ``PythonModel``
    classes, ``code_paths``). Load only models from sources you trust; see docs/models.md.
    """
    local = resolve_model_uri(model_uri, dst_path)
    meta = Model.load(local)
    conf = meta.flavors.get(PYFUNC_FLAVOR) or {}
    if not suppress_warnings:
        check_environment(local, conf.get("python_version"))
    meta, impl = load_pyfunc_impl(local, meta)
    return PyFuncModel(meta, impl, str(model_uri), local)


def get_model_info(model_uri: Any) -> Any:
    """The :class:`ModelInfo` of a model (its ``MLmodel``), without loading its payload."""
    from .model import ModelInfo

    local = resolve_model_uri(model_uri)
    meta = Model.load(os.path.join(local, MLMODEL_FILE_NAME))
    return ModelInfo.from_model(meta, str(model_uri))
