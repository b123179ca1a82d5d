"""Signatures: inferred from pandas, numpy, lists and dicts, stored as MLflow writes them, and
enforced at predict time with errors that name the column and the expected type."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.errors import InvalidParameter, SchemaMismatch
from jupyter_mltrack.models import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)
from jupyter_mltrack.models.signature import enforce_params, enforce_schema


def test_infer_from_dataframe_and_array_matches_mlflow_json() -> None:
    df = pd.DataFrame(
        {
            "f": [1.0, 2.0],
            "i": np.array([1, 2], dtype="int64"),
            "i32": np.array([1, 2], dtype="int32"),
            "s": ["a", "b"],
            "b": [True, False],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    sig = infer_signature(df, np.array([0.5, 0.7]), params={"k": 3, "names": ["x"]})
    d = sig.to_dict()
    assert json.loads(d["inputs"]) == [
        {"type": "double", "name": "f", "required": True},
        {"type": "long", "name": "i", "required": True},
        {"type": "integer", "name": "i32", "required": True},
        {"type": "string", "name": "s", "required": True},
        {"type": "boolean", "name": "b", "required": True},
        {"type": "datetime", "name": "t", "required": True},
    ]
    assert json.loads(d["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    ]
    assert json.loads(d["params"]) == [
        {"name": "k", "default": 3, "shape": None, "type": "long"},
        {"name": "names", "default": ["x"], "shape": [-1], "type": "string"},
    ]
    assert ModelSignature.from_dict(d) == sig


def test_infer_from_lists_dicts_and_tensors() -> None:
    assert infer_signature([1, 2, 3]).inputs == Schema([ColSpec("long")])
    assert infer_signature([{"a": 1, "b": "x"}]).inputs == Schema(
        [ColSpec("long", "a"), ColSpec("string", "b")]
    )
    assert infer_signature({"a": [1.5], "b": "x"}).inputs == Schema(
        [ColSpec("double", "a"), ColSpec("string", "b")]
    )
    named = infer_signature({"img": np.zeros((2, 3, 4), dtype="float32")}).inputs
    assert named == Schema([TensorSpec("float32", (-1, 3, 4), "img")])
    assert infer_signature("hello").inputs == Schema([ColSpec("string")])
    with pytest.raises(InvalidParameter, match="cannot read a schema"):
        infer_signature(object())
    with pytest.raises(InvalidParameter, match="params must be a dict"):
        infer_signature([1], params=[1])  # type: ignore[arg-type]


def test_missing_column_names_the_column_and_the_schema() -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("long", "b")])
    with pytest.raises(SchemaMismatch) as err:
        enforce_schema(pd.DataFrame({"a": [1.0]}), schema)
    assert "'b'" in err.value.message and "'b': long" in err.value.message
    assert isinstance(err.value, InvalidParameter)


def test_wrong_type_names_column_and_expected_type() -> None:
    schema = Schema([ColSpec("long", "b")])
    with pytest.raises(SchemaMismatch, match=r"Column 'b' expects long \(int64\), got string"):
        enforce_schema(pd.DataFrame({"b": ["x"]}), schema)
    with pytest.raises(SchemaMismatch, match="Column 'b' expects long"):
        enforce_schema(pd.DataFrame({"b": [1.5]}), schema)


def test_safe_conversions_are_applied() -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("datetime", "t")])
    out = enforce_schema(
        pd.DataFrame(
            {"a": [1, 2], "b": [1.0, 2.0], "t": ["2024-01-01", "2024-01-02"], "x": [0, 0]}
        ),
        schema,
    )
    assert list(out.columns) == ["a", "b", "t"]  # extra columns dropped, schema order
    assert out["a"].dtype == np.float64 and out["b"].dtype == np.int64
    assert str(out["t"].dtype).startswith("datetime64")
    # records and column dicts become frames
    assert list(enforce_schema([{"a": 1, "b": 2, "t": "2024-01-01"}], schema)["a"]) == [1.0]


def test_unnamed_columns_and_tensors() -> None:
    positional = Schema([ColSpec("double"), ColSpec("double")])
    assert enforce_schema(np.array([[1, 2]]), positional).shape == (1, 2)
    with pytest.raises(SchemaMismatch, match="takes 2 unnamed column"):
        enforce_schema(pd.DataFrame({"a": [1.0]}), positional)
    tensor = Schema([TensorSpec("float64", (-1, 3))])
    assert enforce_schema(np.ones((2, 3), dtype="int64"), tensor).dtype == np.float64
    with pytest.raises(SchemaMismatch, match=r"expects shape \[-1, 3\]"):
        enforce_schema(np.ones((2, 4)), tensor)
    with pytest.raises(SchemaMismatch, match="expects dtype int32"):
        enforce_schema(np.ones((2, 3)), Schema([TensorSpec("int32", (-1, 3))]))


def test_params_defaults_conversion_and_unknown() -> None:
    schema = ParamSchema([ParamSpec("k", "long", 3), ParamSpec("temp", "double", 0.5)])
    assert enforce_params(None, schema) == {"k": 3, "temp": 0.5}
    assert enforce_params({"temp": 1}, schema) == {"k": 3, "temp": 1.0}
    with pytest.raises(SchemaMismatch, match="Param 'k' expects long"):
        enforce_params({"k": "three"}, schema)
    with pytest.warns(UserWarning, match="does not declare"):
        assert enforce_params({"zzz": 1}, schema) == {"k": 3, "temp": 0.5}
    with pytest.raises(InvalidParameter, match="ColSpec type"):
        ColSpec("varchar", "x")


def test_string_arrays_are_str_tensors_as_mlflow_writes_them() -> None:
    """A classifier with string labels predicts a '<U..' array: MLflow's JSON says "str"."""
    from jupyter_mltrack.models.signature import ModelSignature

    sig = infer_signature(np.array(["a", "bb"]), np.array(["yes", "no"]))
    assert '"dtype": "str"' in sig.to_dict()["outputs"]
    again = ModelSignature.from_dict(sig.to_dict())
    assert again.inputs is not None
    out = enforce_schema(np.array(["ccc"]), again.inputs)
    assert list(out) == ["ccc"]
