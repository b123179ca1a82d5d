"""Writing a model directory: the part every flavor shares.

A flavor gives :func:`save_model_dir` its payload writer and its flavor section; this module
validates the target, copies ``code_paths``, writes the input example, the signature, the
environment files and finally ``MLmodel`` with the directory's size.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import AlreadyExists, InvalidParameter
from .env import infer_requirements, modules_of_paths, resolve_requirements, write_environment
from .model import INPUT_EXAMPLE_FILE, MLMODEL_FILE_NAME, PYFUNC_FLAVOR, SERVING_INPUT_FILE, Model
from .signature import ModelSignature, infer_signature

__all__ = ["CODE_DIR", "save_model_dir"]

CODE_DIR = "code"


def _check_target(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InvalidParameter(f"save_model needs a directory path, got {path!r}.")
    target = os.path.abspath(os.fspath(path))
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise AlreadyExists(
            f"Path {target!r} already exists and is not empty; save to a new directory "
            "(a model directory is written once)."
        )
    return target


def _json_default(value: Any) -> Any:
    import datetime as dt

    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _example_payload(example: Any) -> tuple[Any, dict[str, Any], Any]:
    """(input_example.json content, saved_input_example_info, serving payload)."""
    import numpy as np
    import pandas as pd

    info: dict[str, Any] = {"artifact_path": INPUT_EXAMPLE_FILE}
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        split.pop("index", None)
        info.update(type="dataframe", pandas_orient="split")
        return split, info, {"dataframe_split": split}
    if isinstance(example, np.ndarray):
        info["type"] = "ndarray"
        return example.tolist(), info, {"inputs": example.tolist()}
    if (
        isinstance(example, dict)
        and example
        and all(isinstance(v, np.ndarray) for v in example.values())
    ):
        data = {k: v.tolist() for k, v in example.items()}
        info["type"] = "ndarray"
        return data, info, {"inputs": data}
    if isinstance(example, (dict, list, str, int, float, bool)):
        info["type"] = "json_object"
        return example, info, {"inputs": example}
    raise InvalidParameter(
        f"input_example must be a DataFrame, numpy array, dict, list or scalar, got "
        f"{type(example).__name__}."
    )


def _dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def save_model_dir(
    path: Any,
    *,
    flavor_name: str,
    flavor_conf: dict[str, Any] | Callable[[], dict[str, Any]],
    loader_module: str,
    write_payload: Callable[[str], dict[str, Any]],
    distributions: Sequence[str] | Callable[[], Sequence[str]],
    extra_modules: Sequence[str] = (),
    predict_fn: Callable[[Any], Any] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    code_paths: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
    pyfunc_extra: dict[str, Any] | None = None,
    with_pyfunc: bool = True,
) -> Model:
    """Write a whole model directory at ``path`` and return its :class:`Model`.

    ``write_payload(dir)`` writes the flavor's files and returns the keys for the
    ``python_function`` section that point at them (``model_path`` or ``data``).
    ``flavor_conf`` and ``distributions`` may be callables, read after the payload is written
    (a flavor may only know its format then). ``predict_fn``, when given with an input
    example and no signature, is used to infer the output schema. ``with_pyfunc=False``
    leaves out the ``python_function`` flavor (a model that cannot predict, as MLflow does).
    """
    target = _check_target(path)
    if signature is not None and not isinstance(signature, ModelSignature):
        raise InvalidParameter(
            f"signature must be a ModelSignature (see mt.models.infer_signature), got "
            f"{type(signature).__name__}."
        )
    if code_paths is not None and (
        isinstance(code_paths, str) or not all(isinstance(p, str) for p in code_paths)
    ):
        raise InvalidParameter(
            f"code_paths must be a list of file or directory paths, got {code_paths!r}."
        )
    for p in code_paths or []:
        if not os.path.exists(p):
            raise InvalidParameter(f"code_paths entry {p!r} does not exist.")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidParameter(f"metadata must be a dict, got {type(metadata).__name__}.")
    os.makedirs(target, exist_ok=True)
    try:
        model = mlflow_model or Model()
        model.metadata = metadata if metadata is not None else model.metadata
        pyfunc_keys = write_payload(target)
        code_rel: str | None = None
        if code_paths:
            code_dir = os.path.join(target, CODE_DIR)
            os.makedirs(code_dir, exist_ok=True)
            for p in code_paths:
                dst = os.path.join(code_dir, os.path.basename(os.path.normpath(p)))
                if os.path.isdir(p):
                    shutil.copytree(p, dst, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(p, dst)
            code_rel = CODE_DIR
        if input_example is not None:
            content, info, serving = _example_payload(input_example)
            with open(os.path.join(target, INPUT_EXAMPLE_FILE), "w", encoding="utf-8") as fh:
                json.dump(content, fh, default=_json_default)
            with open(os.path.join(target, SERVING_INPUT_FILE), "w", encoding="utf-8") as fh:
                json.dump(serving, fh, default=_json_default, indent=2)
            info["serving_input_path"] = SERVING_INPUT_FILE
            model.saved_input_example_info = info
            if signature is None:
                output = None
                if predict_fn is not None:
                    try:
                        output = predict_fn(input_example)
                    except Exception:  # the example may not suit predict; inputs still help
                        output = None
                try:
                    signature = infer_signature(input_example, output)
                except InvalidParameter:
                    signature = None
        model.signature = signature
        modules = set(extra_modules) | (modules_of_paths(list(code_paths)) if code_paths else set())
        requirements = resolve_requirements(
            infer_requirements(
                [d for d in (distributions() if callable(distributions) else distributions) if d],
                sorted(modules),
            ),
            pip_requirements,
            extra_pip_requirements,
        )
        write_environment(target, requirements)
        pyfunc_conf: dict[str, Any] = {
            "loader_module": loader_module,
            "python_version": platform.python_version(),
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            **pyfunc_keys,
            **(pyfunc_extra or {}),
        }
        if code_rel is not None:
            pyfunc_conf["code"] = code_rel
        if with_pyfunc:
            model.add_flavor(PYFUNC_FLAVOR, **pyfunc_conf)
        if flavor_name != PYFUNC_FLAVOR:
            conf = flavor_conf() if callable(flavor_conf) else flavor_conf
            model.add_flavor(flavor_name, **{**conf, **({"code": code_rel} if code_rel else {})})
        model.model_size_bytes = _dir_size(target)
        model.save(os.path.join(target, MLMODEL_FILE_NAME))
        return model
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
