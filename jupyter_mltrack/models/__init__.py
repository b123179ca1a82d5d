"""Models in MLflow's format: save, log, load, signatures.

``mt.models.load_model(uri)`` loads any model directory (ours or MLflow's) as a
:class:`PyFuncModel` with ``predict(data, params=None)``; the flavors
(:mod:`jupyter_mltrack.sklearn`, :mod:`jupyter_mltrack.pytorch`, :mod:`jupyter_mltrack.pyfunc`)
save and log them. See docs/models.md.

Loading a model runs the code it was saved with (pickles, custom classes): load models only
from sources you trust.
"""

from __future__ import annotations

from .loading import PyFuncModel, get_model_info, load_model, load_pyfunc_impl
from .model import Model, ModelInfo
from .scoring import duckdb_udf, spark_udf
from .signature import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)
from .uri import resolve_model_uri

#: What the scoring server and batch prediction call in worker processes: a local model
#: directory in, ``(Model, implementation with .predict)`` out; no store is opened.
pyfunc_loader = load_pyfunc_impl

__all__ = [
    "ColSpec",
    "DataType",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "PyFuncModel",
    "Schema",
    "TensorSpec",
    "duckdb_udf",
    "get_model_info",
    "infer_signature",
    "load_model",
    "pyfunc_loader",
    "resolve_model_uri",
    "spark_udf",
]
