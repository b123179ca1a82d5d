"""The generic Python-function flavor (``jupyter_mltrack.pyfunc`` is its public face).

A ``python_model`` is a :class:`PythonModel` subclass instance (``load_context(context)``
once at load, ``predict(context, model_input, params=None)`` -- or MLflow 3's
``predict(model_input, params=None)`` without the context), or a plain callable
``f(model_input)``. It is stored with cloudpickle in ``python_model.pkl``; ``artifacts=``
(name -> local path) are copied under ``artifacts/`` and handed back as absolute paths in
``context.artifacts``; ``code_paths=`` are copied under ``code/`` and put on ``sys.path``
before unpickling. The ``python_function`` section has MLflow's keys (``python_model``,
``artifacts``, ``cloudpickle_version``), so models move both ways with
``mlflow.pyfunc.model``.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidParameter
from ._log import log_model_with
from ._save import save_model_dir
from .env import modules_of_object
from .model import PYFUNC_FLAVOR, Model, ModelInfo
from .signature import ModelSignature

__all__ = ["PythonModel", "PythonModelContext", "load_model", "log_model", "save_model"]

LOADER_MODULE = "jupyter_mltrack.pyfunc"
PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: ``artifacts`` (name -> absolute path)
    and ``model_config``."""

    def __init__(
        self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None
    ) -> None:
        self.artifacts = artifacts
        self.model_config = model_config or {}

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self.artifacts!r})"


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` if needed).

    Example::

        class AddN(mt.pyfunc.PythonModel):
            def __init__(self, n):
                self.n = n

            def predict(self, context, model_input, params=None):
                return model_input + self.n
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded (read ``context.artifacts`` here)."""

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError("PythonModel subclasses implement predict().")


class _FunctionModel(PythonModel):
    """A plain callable saved as ``python_model``."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        if params and _accepts(self.func, "params"):
            return self.func(model_input, params=params)
        return self.func(model_input)


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _takes_context(predict: Any) -> bool:
    """MLflow 3 allows ``predict(model_input, params=None)``; older code has a context first."""
    try:
        names = list(inspect.signature(predict).parameters)
    except (TypeError, ValueError):
        return True
    return bool(names) and names[0] == "context"


class _PythonModelPyfunc:
    """The loaded pyfunc implementation: ``predict(data, params=None)``."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        self._with_context = _takes_context(python_model.predict)
        self._with_params = _accepts(python_model.predict, "params")

    @property
    def raw_model(self) -> Any:
        return self.python_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        kwargs = {"params": params} if self._with_params else {}
        if self._with_context:
            return self.python_model.predict(self.context, data, **kwargs)
        return self.python_model.predict(data, **kwargs)


def _check_python_model(python_model: Any) -> Any:
    if python_model is None:
        raise InvalidParameter(
            "pyfunc.save_model needs python_model= (a PythonModel or a callable)."
        )
    if isinstance(python_model, (str, os.PathLike)):
        raise InvalidParameter(
            "python_model as a file path (models from code) is not supported; pass a "
            "PythonModel instance or a callable."
        )
    if inspect.isclass(python_model):
        raise InvalidParameter(
            f"python_model must be an instance, got the class {python_model.__name__}; "
            f"pass {python_model.__name__}()."
        )
    if not hasattr(python_model, "predict"):
        if callable(python_model):
            return _FunctionModel(python_model)
        raise InvalidParameter(
            "python_model must have a predict method or be callable, got "
            f"{type(python_model).__name__}."
        )
    return python_model


def _check_artifacts(artifacts: Any) -> dict[str, str]:
    if artifacts is None:
        return {}
    if not isinstance(artifacts, Mapping):
        raise InvalidParameter(
            f"artifacts must be a dict of name -> local path, got {artifacts!r}."
        )
    out: dict[str, str] = {}
    for key, value in artifacts.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise InvalidParameter(
                f"artifacts name {key!r} must be a non-empty string without '/'."
            )
        path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
        if path is None:
            raise InvalidParameter(f"artifacts[{key!r}] must be a local path, got {value!r}.")
        if path.startswith("file://"):
            path = path[len("file://") :]
        if "://" in path or path.startswith(("runs:", "models:")):
            raise InvalidParameter(
                f"artifacts[{key!r}] = {path!r}: only local files and directories are "
                "supported; download it first (mt.download_artifacts)."
            )
        if not os.path.exists(path):
            raise InvalidParameter(f"artifacts[{key!r}]: {path!r} does not exist.")
        out[key] = path
    return out


def save_model(
    path: str | os.PathLike[str],
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
) -> Model:
    """Save a Python-function model at ``path``.

    Either ``python_model`` (a :class:`PythonModel` or a callable, with optional
    ``artifacts``), or ``loader_module`` + ``data_path`` (a module whose
    ``_load_pyfunc(data_path)`` returns an object with ``predict``), as in MLflow.
    """
    import cloudpickle  # type: ignore[import-untyped]

    if loader_module is not None:
        if python_model is not None or artifacts:
            raise InvalidParameter("Pass python_model (and artifacts) or loader_module, not both.")
        if not isinstance(loader_module, str) or not loader_module:
            raise InvalidParameter(f"loader_module must be a module name, got {loader_module!r}.")
        if data_path is not None and not os.path.exists(data_path):
            raise InvalidParameter(f"data_path {data_path!r} does not exist.")

        def payload_custom(directory: str) -> dict[str, Any]:
            if data_path is None:
                return {}
            dst = os.path.join(directory, "data", os.path.basename(os.path.normpath(data_path)))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(data_path):
                shutil.copytree(data_path, dst)
            else:
                shutil.copy2(data_path, dst)
            return {"data": os.path.relpath(dst, directory)}

        return save_model_dir(
            path,
            flavor_name=PYFUNC_FLAVOR,
            flavor_conf={},
            loader_module=loader_module,
            write_payload=payload_custom,
            distributions=[],
            extra_modules=[loader_module],
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            code_paths=code_paths,
            metadata=metadata,
            mlflow_model=mlflow_model,
        )

    model_obj = _check_python_model(python_model)
    arts = _check_artifacts(artifacts)
    if model_config is not None and not isinstance(model_config, dict):
        raise InvalidParameter(f"model_config must be a dict, got {type(model_config).__name__}.")
    section: dict[str, Any] = {}

    def payload(directory: str) -> dict[str, Any]:
        with open(os.path.join(directory, PYTHON_MODEL_FILE), "wb") as fh:
            cloudpickle.dump(model_obj, fh)
        entries: dict[str, Any] = {}
        for name, src in arts.items():
            rel = os.path.join(ARTIFACTS_DIR, os.path.basename(os.path.normpath(src)))
            dst = os.path.join(directory, rel)
            if os.path.exists(dst):
                rel = os.path.join(ARTIFACTS_DIR, name, os.path.basename(os.path.normpath(src)))
                dst = os.path.join(directory, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
            entries[name] = {"path": rel.replace(os.sep, "/"), "uri": os.path.abspath(src)}
        section.update(
            python_model=PYTHON_MODEL_FILE,
            cloudpickle_version=cloudpickle.__version__,
            streamable=False,
        )
        if entries:
            section["artifacts"] = entries
        if model_config:
            section["model_config"] = model_config
        return dict(section)

    def predict_for_example(example: Any) -> Any:
        context = PythonModelContext({k: os.path.abspath(v) for k, v in arts.items()}, model_config)
        impl = _PythonModelPyfunc(model_obj, context)
        model_obj.load_context(context)
        return impl.predict(example)

    target = model_obj.func if isinstance(model_obj, _FunctionModel) else model_obj
    model = save_model_dir(
        path,
        flavor_name=PYFUNC_FLAVOR,
        flavor_conf=dict,
        loader_module=LOADER_MODULE,
        write_payload=payload,
        distributions=["cloudpickle"],
        extra_modules=sorted(modules_of_object(target)),
        predict_fn=predict_for_example,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )
    return model


def _context_for(
    model_dir: str, conf: dict[str, Any], model_config: Any = None
) -> PythonModelContext:
    arts = {
        name: os.path.join(model_dir, entry["path"] if isinstance(entry, Mapping) else str(entry))
        for name, entry in (conf.get("artifacts") or {}).items()
    }
    return PythonModelContext(arts, model_config or conf.get("model_config"))


def _load_pyfunc(path: str, model_config: Any = None) -> _PythonModelPyfunc:
    """The pyfunc loader (``loader_module``): ``path`` is the model directory."""
    import cloudpickle

    model_dir = path if os.path.isdir(path) else os.path.dirname(path)
    conf = Model.load(model_dir).flavors.get(PYFUNC_FLAVOR) or {}
    file = conf.get("python_model")
    if not file:
        raise InvalidParameter(
            f"The model at {model_dir!r} has no python_model in its python_function flavor "
            "(is it a models-from-code model? those are not supported)."
        )
    code = conf.get("code")
    if code:
        import sys

        code_dir = os.path.join(model_dir, code)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    with open(os.path.join(model_dir, file), "rb") as fh:
        python_model = cloudpickle.load(fh)
    context = _context_for(model_dir, conf, model_config)
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _PythonModelPyfunc(python_model, context)


def load_model(model_uri: Any, dst_path: str | None = None, suppress_warnings: bool = False) -> Any:
    """Same as :func:`jupyter_mltrack.models.load_model` (a :class:`PyFuncModel`)."""
    from .loading import load_model as _load

    return _load(model_uri, dst_path=dst_path, suppress_warnings=suppress_warnings)


def log_model(
    artifact_path: str | None = None,
    python_model: Any = None,
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    **kwargs: Any,
) -> ModelInfo:
    """Log a Python-function model (``kwargs`` go to :func:`save_model`)."""
    return log_model_with(
        lambda path, **kw: save_model(path, python_model=python_model, **kw),
        flavor_name=PYFUNC_FLAVOR,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        **kwargs,
    )
