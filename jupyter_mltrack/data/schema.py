"""Schemas of datasets in MLflow's JSON shapes (``mlflow_colspec``, ``mlflow_tensorspec``).

The shapes match what MLflow's ``PandasDataset`` and ``NumpyDataset`` record,
so a dataset logged here reads the same in MLflow's UI and client. Type
names follow MLflow's column types (``long``, ``double``, ``string``, ...).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["pandas_schema", "tensor_schema"]

#: ``pandas.api.types.infer_dtype`` names of object columns -> MLflow column types.
_INFERRED_TYPES = {
    "string": "string",
    "empty": "string",
    "bytes": "binary",
    "boolean": "boolean",
    "integer": "long",
    "floating": "double",
    "mixed-integer-float": "double",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}


def pandas_schema(df: pd.DataFrame) -> dict[str, Any]:
    """``{"mlflow_colspec": [{"type", "name", "required"}, ...]}`` for a DataFrame.

    ``required`` is false for columns with missing values. Types without an
    MLflow equivalent keep their pandas dtype name (e.g. ``object`` for lists).
    """
    specs = []
    for position, name in enumerate(df.columns):
        column = df.iloc[:, position]
        specs.append(
            {
                "type": _column_type(column),
                "name": str(name),
                "required": not bool(column.isna().any()),
            }
        )
    return {"mlflow_colspec": specs}


def _column_type(column: pd.Series[Any]) -> str:
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    size = int(getattr(dtype, "itemsize", 8))
    if pd.api.types.is_signed_integer_dtype(dtype):
        return "integer" if size <= 4 else "long"
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        return "integer" if size <= 2 else "long"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if size <= 4 else "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        return _INFERRED_TYPES.get(inferred, "object")
    return str(dtype)


def tensor_schema(
    features: np.ndarray[Any, Any], targets: np.ndarray[Any, Any] | None
) -> dict[str, Any]:
    """``{"mlflow_tensorspec": {"features": <json>, "targets": <json> | null}}`` for arrays.

    Each side is a JSON string (as in MLflow) of one tensor spec: the dtype
    and the shape with the row dimension as ``-1``.
    """
    return {
        "mlflow_tensorspec": {
            "features": json.dumps([_tensor_spec(features)]),
            "targets": None if targets is None else json.dumps([_tensor_spec(targets)]),
        }
    }


def _tensor_spec(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    kind = array.dtype.kind
    dtype = {"U": "str", "S": "bytes", "O": "object"}.get(kind, array.dtype.name)
    return {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1, *array.shape[1:]]}}
