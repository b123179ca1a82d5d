"""The ``MLmodel`` file (MLflow's model metadata) and :class:`ModelInfo`.

A model directory holds ``MLmodel`` (YAML: flavors, signature, input example info, size, time,
run and model ids), the environment files (``requirements.txt``, ``python_env.yaml``,
``conda.yaml``), an optional ``input_example.json`` and the flavor's payload. The layout and
the field names are MLflow's, so either project loads the other's models.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter, NotFound
from .signature import ModelSignature, ParamSchema, Schema

__all__ = ["MLMODEL_FILE_NAME", "PYFUNC_FLAVOR", "Model", "ModelInfo"]

MLMODEL_FILE_NAME = "MLmodel"
PYFUNC_FLAVOR = "python_function"
INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"

#: MLmodel keys this class reads into attributes; any other key is kept as is.
_KNOWN = (
    "artifact_path",
    "flavors",
    "model_id",
    "model_size_bytes",
    "model_uuid",
    "run_id",
    "saved_input_example_info",
    "signature",
    "utc_time_created",
    "metadata",
)


def _our_version() -> str:
    try:
        from .._version import __version__

        return str(__version__)
    except ImportError:  # a source tree that was never built
        return "0.0.0.dev0"


class Model:
    """The contents of one ``MLmodel`` file."""

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        model_id: str | None = None,
        model_size_bytes: int | None = None,
        metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or str(
            dt.datetime.now(dt.UTC).replace(tzinfo=None)
        )
        self.flavors: dict[str, dict[str, Any]] = dict(flavors or {})
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.model_id = model_id
        self.model_size_bytes = model_size_bytes
        self.metadata = metadata
        self.extra: dict[str, Any] = dict(extra)
        self.extra.setdefault("mltrack_version", _our_version())

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = dict(params)
        return self

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature is not None else None

    @property
    def saved_by(self) -> str:
        """``"mlflow <version>"`` or ``"jupyter-mltrack <version>"``: who wrote this MLmodel."""
        if "mltrack_version" in self.extra:
            return f"jupyter-mltrack {self.extra['mltrack_version']}"
        if "mlflow_version" in self.extra:
            return f"mlflow {self.extra['mlflow_version']}"
        return "unknown"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        out["model_id"] = self.model_id
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        out["utc_time_created"] = self.utc_time_created
        if self.metadata is not None:
            out["metadata"] = self.metadata
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``MLmodel`` to ``path`` (the file) atomically."""
        target = os.fspath(path)
        tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.to_yaml())
        os.replace(tmp, target)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        d = dict(data)
        sig = d.pop("signature", None)
        kwargs = {k: d.pop(k) for k in _KNOWN if k in d}
        kwargs["signature"] = ModelSignature.from_dict(sig) if sig else None
        model = cls(**kwargs, **d)
        if "mltrack_version" not in d:  # written by MLflow (or another tool): say so
            model.extra.pop("mltrack_version", None)
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read a model directory's ``MLmodel`` (``path`` is the directory or the file)."""
        import yaml

        p = os.fspath(path)
        if os.path.isdir(p):
            p = os.path.join(p, MLMODEL_FILE_NAME)
        if not os.path.isfile(p):
            raise NotFound(
                f"No MLmodel file at {p!r}: this is not a model directory (save one with "
                "mt.sklearn.save_model, mt.pytorch.save_model or mt.pyfunc.save_model)."
            )
        with open(p, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise InvalidParameter(f"{p!r} is not a valid MLmodel file (no flavors mapping).")
        return cls.from_dict(data)

    def load_input_example(self, model_dir: str | os.PathLike[str]) -> Any:
        """The saved input example (a DataFrame, numpy array, dict or list), or None."""
        info = self.saved_input_example_info
        if not info:
            return None
        with open(
            os.path.join(os.fspath(model_dir), info["artifact_path"]), encoding="utf-8"
        ) as fh:
            data = json.load(fh)
        if isinstance(data, dict) and "params" in data and "input" in data:
            data = data["input"]
        kind = info.get("type")
        if kind == "dataframe":
            import pandas as pd

            if info.get("pandas_orient", "split") == "split":
                return pd.DataFrame(data["data"], columns=data.get("columns"))
            return pd.DataFrame(data)
        if kind == "ndarray":
            import numpy as np

            if isinstance(data, dict):
                return {k: np.asarray(v) for k, v in data.items()}
            return np.asarray(data)
        return data

    def __repr__(self) -> str:
        return (
            f"Model(flavors={sorted(self.flavors)}, run_id={self.run_id!r}, "
            f"model_id={self.model_id!r})"
        )


@dataclass
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it says about itself."""

    model_uri: str
    artifact_path: str
    flavors: dict[str, dict[str, Any]]
    run_id: str | None = None
    model_id: str | None = None
    name: str | None = None
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    utc_time_created: str | None = None
    model_uuid: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Any] = field(default_factory=list)
    registered_model_version: str | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_model(cls, model: Model, model_uri: str, **extra: Any) -> ModelInfo:
        return cls(
            model_uri=model_uri,
            artifact_path=extra.pop("artifact_path", model.artifact_path or ""),
            flavors=model.flavors,
            run_id=model.run_id,
            model_id=model.model_id,
            signature=model.signature,
            saved_input_example_info=model.saved_input_example_info,
            utc_time_created=model.utc_time_created,
            model_uuid=model.model_uuid,
            metadata=model.metadata,
            **extra,
        )
