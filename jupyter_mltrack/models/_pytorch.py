"""The PyTorch flavor (``jupyter_mltrack.pytorch`` is its public face); CPU wheels suffice.

Formats (MLflow's files under ``data/``):

- ``pt2`` (the default when an ``input_example`` array or tensor is given): the graph traced by
  ``torch.export`` in ``data/model.pt2``, with every ``-1`` dimension of the signature dynamic.
  Loading it rebuilds the graph; no pickled Python classes are imported.
- ``pickle``: the whole module saved with ``torch.save`` and cloudpickle in
  ``data/model.pth`` (``data/pickle_module_info.txt`` names the pickle module). Loading runs
  code from the file. Used when there is no array example, or export fails (the reason is
  kept as ``serialization_note``).
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

from ..errors import InvalidParameter
from ._log import log_model_with
from ._save import save_model_dir
from .model import PYFUNC_FLAVOR, Model, ModelInfo
from .signature import ModelSignature, infer_signature

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "pytorch"
LOADER_MODULE = "jupyter_mltrack.pytorch"
DATA_DIR = "data"
PTH_FILE = "model.pth"
PT2_FILE = "model.pt2"
PICKLE_INFO_FILE = "pickle_module_info.txt"
FORMATS = ("pt2", "pickle")
#: Pickle modules that write with cloudpickle; ours reads them (MLflow's needs mlflow).
_PICKLE_ALIASES = {
    "mlflow.pytorch.pickle_module": "jupyter_mltrack.models.torch_pickle",
    "cloudpickle": "jupyter_mltrack.models.torch_pickle",
}


def _export(model: Any, example: Any, signature: ModelSignature | None, path: str) -> None:
    import numpy as np
    import torch
    from torch.export import Dim

    tensor = torch.from_numpy(example) if isinstance(example, np.ndarray) else example
    shape = None
    if signature is not None and signature.inputs is not None and signature.inputs.is_tensor_spec():
        shape = signature.inputs.inputs[0].shape  # type: ignore[union-attr]
    dynamic = {i: Dim.AUTO for i, d in enumerate(shape or [-1]) if d == -1}
    program = torch.export.export(model, (tensor,), dynamic_shapes=[dynamic or None])
    torch.export.save(program, path)


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> Model:
    """Save a ``torch.nn.Module`` as a model directory at ``path``.

    ``serialization_format`` is ``"pt2"`` (needs an array or tensor ``input_example``) or
    ``"pickle"``; by default pt2 when such an example is given, else pickle.
    """
    import numpy as np
    import torch

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameter(
            f"pytorch.save_model needs a torch.nn.Module, got {type(pytorch_model).__name__}."
        )
    if serialization_format is not None and serialization_format not in FORMATS:
        raise InvalidParameter(
            f"serialization_format {serialization_format!r} is not one of {', '.join(FORMATS)}."
        )
    if conda_env is not None:
        warnings.warn("conda_env is ignored; use pip_requirements.", UserWarning, stacklevel=2)
    example = input_example
    if isinstance(example, torch.Tensor):
        example = example.detach().cpu().numpy()
    array_example = isinstance(example, np.ndarray)
    if serialization_format == "pt2" and not array_example:
        raise InvalidParameter(
            "serialization_format='pt2' traces the model with an example: pass input_example= "
            "as a numpy array or tensor, or use serialization_format='pickle'."
        )
    fmt = serialization_format or ("pt2" if array_example else "pickle")
    if signature is None and array_example:
        pytorch_model.eval()
        with torch.no_grad():
            out = pytorch_model(torch.from_numpy(example))
        signature = infer_signature(example, out.detach().cpu().numpy())
    written: dict[str, Any] = {"note": None}

    def payload(directory: str) -> dict[str, Any]:
        data = os.path.join(directory, DATA_DIR)
        os.makedirs(data)
        chosen = fmt
        if chosen == "pt2":
            try:
                _export(pytorch_model, example, signature, os.path.join(data, PT2_FILE))
            except Exception as exc:  # data-dependent control flow and other export limits
                if serialization_format == "pt2":
                    raise InvalidParameter(
                        f"torch.export could not trace the model ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); use "
                        "serialization_format='pickle'."
                    ) from exc
                written["note"] = (
                    f"torch.export failed ({type(exc).__name__}); saved with pickle instead"
                )
                chosen = "pickle"
        if chosen == "pickle":
            module = pickle_module
            if module is None:
                from . import torch_pickle as module
            with open(os.path.join(data, PICKLE_INFO_FILE), "w", encoding="utf-8") as fh:
                fh.write(module.__name__)
            torch.save(pytorch_model, os.path.join(data, PTH_FILE), pickle_module=module, **kwargs)
            written["pickle_module"] = module.__name__
        written["fmt"] = chosen
        keys: dict[str, Any] = {"data": DATA_DIR}
        if chosen == "pickle":
            keys["pickle_module_name"] = written["pickle_module"]
        return keys

    model = save_model_dir(
        path,
        flavor_name=FLAVOR_NAME,
        flavor_conf=lambda: {
            "model_data": DATA_DIR,
            "pytorch_version": str(torch.__version__),
            "serialization_format": written["fmt"],
            "code": None,
            **({"serialization_note": written["note"]} if written["note"] else {}),
        },
        loader_module=LOADER_MODULE,
        write_payload=payload,
        distributions=lambda: ["torch", "cloudpickle" if written["fmt"] == "pickle" else ""],
        extra_modules=[type(pytorch_model).__module__],
        signature=signature,
        input_example=example if example is not None else None,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )
    if written["note"]:
        warnings.warn(f"pytorch save_model: {written['note']}.", UserWarning, stacklevel=2)
    return model


def _load_data_dir(data: str) -> Any:
    import torch

    pt2 = os.path.join(data, PT2_FILE)
    if os.path.isfile(pt2):
        return torch.export.load(pt2).module()
    pth = os.path.join(data, PTH_FILE) if os.path.isdir(data) else data
    if not os.path.isfile(pth):
        raise InvalidParameter(f"No PyTorch model ({PT2_FILE} or {PTH_FILE}) under {data!r}.")
    module_name = "jupyter_mltrack.models.torch_pickle"
    info = os.path.join(os.path.dirname(pth), PICKLE_INFO_FILE)
    if os.path.isfile(info):
        with open(info, encoding="utf-8") as fh:
            module_name = fh.read().strip() or module_name
    module = importlib.import_module(_PICKLE_ALIASES.get(module_name, module_name))
    model = torch.load(pth, pickle_module=module, weights_only=False, map_location="cpu")
    model.eval()
    return model


class _TorchPyfunc:
    """``predict(data, params=None)``: DataFrame -> float32 tensor -> DataFrame, array -> array."""

    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        if isinstance(data, pd.DataFrame):
            values = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            values = data
        elif isinstance(data, torch.Tensor):
            values = data.detach().cpu().numpy()
        else:
            raise InvalidParameter(
                f"The PyTorch flavor predicts on a DataFrame or numpy array, got "
                f"{type(data).__name__}."
            )
        with torch.no_grad():
            out = self.raw_model(torch.from_numpy(np.ascontiguousarray(values)), **(params or {}))
        if not isinstance(out, torch.Tensor):
            raise InvalidParameter(
                f"The model returned {type(out).__name__}; the pyfunc wrapper needs one tensor."
            )
        result = out.detach().cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(result, index=data.index)
        return result


def _load_pyfunc(path: str, model_config: Any = None) -> _TorchPyfunc:
    """The pyfunc loader (``loader_module``): ``path`` is the model's ``data`` directory."""
    return _TorchPyfunc(_load_data_dir(path))


def load_model(model_uri: Any, dst_path: str | None = None) -> Any:
    """The ``torch.nn.Module`` at ``model_uri`` (in eval mode, on the CPU). A pickle-format
    model runs code from the file while loading: load trusted models only."""
    from .uri import resolve_model_uri

    local = resolve_model_uri(model_uri, dst_path)
    meta = Model.load(local)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidParameter(
            f"The model at {local!r} has no pytorch flavor (it has "
            f"{', '.join(sorted(meta.flavors))}); load it with mt.models.load_model."
        )
    data = conf.get("model_data") or meta.flavors.get(PYFUNC_FLAVOR, {}).get("data") or DATA_DIR
    return _load_data_dir(os.path.join(local, data))


def log_model(
    pytorch_model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    **kwargs: Any,
) -> ModelInfo:
    """Log a torch module as a logged model of the active run; ``kwargs`` go to
    :func:`save_model`."""
    return log_model_with(
        lambda path, **kw: save_model(pytorch_model, path, **kw),
        flavor_name=FLAVOR_NAME,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        **kwargs,
    )
