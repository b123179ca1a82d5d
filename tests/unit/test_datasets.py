"""Dataset records from pandas and numpy: digest, schema, profile, source."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack import data
from jupyter_mltrack.data import NumpyDataset, PandasDataset, from_numpy, from_pandas
from jupyter_mltrack.data.digest import SAMPLE_ROWS
from jupyter_mltrack.entities import Dataset
from jupyter_mltrack.errors import InvalidParameter


def _frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.arange(n, dtype=np.int64),
            "f": np.linspace(0, 1, n),
            "s": [f"row{k}" for k in range(n)],
            "b": [k % 2 == 0 for k in range(n)],
        }
    )


def test_all_names_exist() -> None:
    for name in data.__all__:
        assert hasattr(data, name), name


# pandas


def test_pandas_record_fields() -> None:
    ds = from_pandas(_frame(), name="train", targets="b")
    assert isinstance(ds, Dataset)
    assert ds.name == "train"
    assert len(ds.digest) == 8 and int(ds.digest, 16) >= 0
    assert (ds.source_type, ds.source) == ("code", "{}")
    assert ds.profile is not None and ds.schema is not None
    assert json.loads(ds.profile) == {"num_rows": 5, "num_elements": 20, "targets": "b"}
    assert json.loads(ds.schema) == {
        "mlflow_colspec": [
            {"type": "long", "name": "i", "required": True},
            {"type": "double", "name": "f", "required": True},
            {"type": "string", "name": "s", "required": True},
            {"type": "boolean", "name": "b", "required": True},
        ]
    }


def test_pandas_dataset_holds_its_frame_and_columns() -> None:
    frame = _frame()
    frame["pred"] = frame["b"]
    ds = from_pandas(frame, "data/train.csv", "b", "train", predictions="pred")
    assert isinstance(ds, PandasDataset) and isinstance(ds, Dataset)
    assert ds.df is frame  # held, not copied
    assert (ds.targets, ds.predictions, ds.name) == ("b", "pred", "train")
    assert json.loads(ds.source) == {"uri": "data/train.csv"}
    assert json.loads(ds.profile or "") == {
        "num_rows": 5,
        "num_elements": 25,
        "targets": "b",
        "predictions": "pred",
    }
    assert ds.digest == from_pandas(frame).digest  # metadata does not change the digest
    plain = from_pandas(_frame())
    assert (plain.targets, plain.predictions) == (None, None)


def test_positional_order_is_mlflows() -> None:
    # mlflow.data.from_pandas(df, source, targets, name, digest, predictions)
    ds = from_pandas(_frame(), "s3://b/k", "i", "n", "d1gest", "f")
    assert (ds.source_type, ds.targets, ds.name, ds.digest, ds.predictions) == (
        "s3",
        "i",
        "n",
        "d1gest",
        "f",
    )
    # mlflow.data.from_numpy(features, source, targets, name, digest)
    targets = np.arange(3)
    nds = from_numpy(np.zeros((3, 2)), "a.npy", targets, "n", "d2")
    assert (nds.source_type, nds.targets is targets, nds.name, nds.digest) == (
        "local",
        True,
        "n",
        "d2",
    )


def test_numpy_dataset_holds_its_arrays() -> None:
    features, targets = np.zeros((4, 2)), np.arange(4)
    ds = from_numpy(features, targets=targets)
    assert isinstance(ds, NumpyDataset) and isinstance(ds, Dataset)
    assert ds.features is features and ds.targets is targets
    assert from_numpy(features).targets is None


def test_datasets_are_frozen_and_reduce_to_the_stored_record() -> None:
    ds = from_pandas(_frame(), name="train")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.extra = 1  # type: ignore[attr-defined]
    record = ds._to_mlflow_entity()
    assert type(record) is Dataset
    assert dataclasses.astuple(record) == dataclasses.astuple(ds)
    assert record._to_mlflow_entity() is record
    assert not hasattr(record, "df")
    assert repr(ds).startswith("PandasDataset(name='train', digest=")


def test_given_digest_is_recorded_and_must_be_text() -> None:
    assert from_pandas(_frame(), digest="abc").digest == "abc"
    for bad in ("", " ", 3):
        with pytest.raises(InvalidParameter, match="Dataset digest must be a non-empty str"):
            from_numpy(np.zeros(2), digest=bad)


def test_default_name_is_dataset() -> None:
    assert from_pandas(_frame()).name == "dataset"
    assert from_numpy(np.zeros(3)).name == "dataset"


def test_pandas_column_types() -> None:
    frame = pd.DataFrame(
        {
            "i32": np.array([1, 2], dtype=np.int32),
            "u8": np.array([1, 2], dtype=np.uint8),
            "u64": np.array([1, 2], dtype=np.uint64),
            "f32": np.array([1, 2], dtype=np.float32),
            "nullable": pd.array([1, None], dtype="Int64"),
            "when": pd.to_datetime(pd.Series(["2024-01-01", None])),
            "obj_str": pd.Series(["a", None], dtype=object),
            "raw": [b"x", b"y"],
            "cat": pd.Categorical(["a", "b"]),
            "lists": [[1], [2, 3]],
            3: [0.5, 1.5],
        }
    )
    schema = json.loads(from_pandas(frame).schema or "")["mlflow_colspec"]
    assert [(c["name"], c["type"], c["required"]) for c in schema] == [
        ("i32", "integer", True),
        ("u8", "integer", True),
        ("u64", "long", True),
        ("f32", "float", True),
        ("nullable", "long", False),
        ("when", "datetime", False),
        ("obj_str", "string", False),
        ("raw", "binary", True),
        ("cat", "string", True),
        ("lists", "object", True),
        ("3", "double", True),
    ]


def test_pandas_digest_is_stable_and_content_sensitive() -> None:
    base = from_pandas(_frame()).digest
    assert from_pandas(_frame()).digest == base
    assert from_pandas(_frame().set_index("s")).digest != base  # a column became the index

    changed = _frame()
    changed.loc[2, "f"] = 0.123
    assert from_pandas(changed).digest != base
    assert from_pandas(_frame().rename(columns={"i": "j"})).digest != base
    assert from_pandas(_frame()[["f", "i", "s", "b"]]).digest != base
    assert from_pandas(_frame(6)).digest != base
    assert from_pandas(_frame().astype({"i": "int32"})).digest != base


def test_pandas_digest_ignores_the_index_and_metadata() -> None:
    shifted = _frame()
    shifted.index = shifted.index + 100
    assert from_pandas(shifted).digest == from_pandas(_frame()).digest
    assert from_pandas(_frame(), name="x", source="a.csv").digest == from_pandas(_frame()).digest


def test_pandas_digest_is_the_same_in_another_process() -> None:
    code = (
        "import numpy as np, pandas as pd\n"
        "from jupyter_mltrack.data import from_pandas\n"
        "n = 5\n"
        "print(from_pandas(pd.DataFrame({'i': np.arange(n, dtype=np.int64),"
        " 'f': np.linspace(0, 1, n), 's': [f'row{k}' for k in range(n)],"
        " 'b': [k % 2 == 0 for k in range(n)]})).digest)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == from_pandas(_frame()).digest


def test_large_frames_hash_head_and_tail() -> None:
    n = 2 * SAMPLE_ROWS + 500
    base = pd.DataFrame({"x": np.arange(n, dtype=np.float64)})
    digest = from_pandas(base).digest

    head, tail, middle = base.copy(), base.copy(), base.copy()
    head.loc[0, "x"] = -1.0
    tail.loc[n - 1, "x"] = -1.0
    middle.loc[SAMPLE_ROWS + 10, "x"] = -1.0
    assert from_pandas(head).digest != digest
    assert from_pandas(tail).digest != digest
    assert from_pandas(middle).digest == digest  # unsampled rows: the documented trade-off


def test_unhashable_cells_still_get_a_stable_digest() -> None:
    def frame(last: int) -> pd.DataFrame:
        return pd.DataFrame({"lists": [[1, 2], [3, last]], "maps": [{"a": 1}, {"b": 2}]})

    assert from_pandas(frame(4)).digest == from_pandas(frame(4)).digest
    assert from_pandas(frame(4)).digest != from_pandas(frame(5)).digest


def test_empty_frames() -> None:
    no_columns = from_pandas(pd.DataFrame())
    assert json.loads(no_columns.profile or "") == {"num_rows": 0, "num_elements": 0}
    assert json.loads(no_columns.schema or "") == {"mlflow_colspec": []}
    no_rows = from_pandas(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    assert no_rows.digest != no_columns.digest


def test_pandas_errors() -> None:
    with pytest.raises(InvalidParameter, match="from_pandas expects a pandas DataFrame; got dict"):
        from_pandas({"a": [1]})
    with pytest.raises(InvalidParameter, match=r"targets 'y' is not a column.*'i', 'f'"):
        from_pandas(_frame(), targets="y")
    with pytest.raises(InvalidParameter, match=r"predictions 'p' is not a column"):
        from_pandas(_frame(), predictions="p")
    with pytest.raises(InvalidParameter, match="Dataset name must be a non-empty str"):
        from_pandas(_frame(), name=" ")


# numpy


def test_numpy_record_fields() -> None:
    features = np.zeros((10, 4), dtype=np.float32)
    targets = np.arange(10)
    ds = from_numpy(features, targets=targets, name="iris", source="data/iris.npy")
    assert (ds.name, ds.source_type) == ("iris", "local")
    assert json.loads(ds.source) == {"uri": "data/iris.npy"}
    assert json.loads(ds.profile or "") == {
        "num_rows": 10,
        "num_elements": 50,
        "features_shape": [10, 4],
        "features_size": 40,
        "features_nbytes": 160,
        "targets_shape": [10],
        "targets_size": 10,
        "targets_nbytes": 80,
    }
    spec = json.loads(ds.schema or "")["mlflow_tensorspec"]
    assert json.loads(spec["features"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    assert json.loads(spec["targets"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]


def test_numpy_without_targets() -> None:
    ds = from_numpy(np.array(["a", "bb"]))
    spec = json.loads(ds.schema or "")["mlflow_tensorspec"]
    assert spec["targets"] is None
    assert json.loads(spec["features"])[0]["tensor-spec"] == {"dtype": "str", "shape": [-1]}
    assert json.loads(ds.profile or "") == {
        "num_rows": 2,
        "num_elements": 2,
        "features_shape": [2],
        "features_size": 2,
        "features_nbytes": 16,
    }


def test_numpy_digest_is_stable_and_content_sensitive() -> None:
    features = np.arange(12, dtype=np.float64).reshape(4, 3)
    base = from_numpy(features).digest
    assert from_numpy(features.copy()).digest == base
    assert from_numpy(np.asfortranarray(features)).digest == base  # memory layout is not content
    assert from_numpy(features.reshape(3, 4)).digest != base
    assert from_numpy(features.astype(np.float32)).digest != base
    assert from_numpy(features + 1).digest != base
    assert from_numpy(features, targets=np.zeros(4)).digest != base
    assert (
        from_numpy(features, targets=np.zeros(4)).digest
        != from_numpy(features, targets=np.ones(4)).digest
    )


def test_numpy_object_arrays_get_a_stable_digest() -> None:
    def array() -> np.ndarray[Any, Any]:
        return np.array([{"a": 1}, [1, 2], "x"], dtype=object)

    assert from_numpy(array()).digest == from_numpy(array()).digest


def test_numpy_errors() -> None:
    with pytest.raises(InvalidParameter, match="features must be a numpy array; got list"):
        from_numpy([[1, 2]])
    with pytest.raises(InvalidParameter, match="features is a 0-dimensional array"):
        from_numpy(np.array(1.0))
    with pytest.raises(InvalidParameter, match="targets must be a numpy array"):
        from_numpy(np.zeros(3), targets=[1, 2, 3])
    with pytest.raises(InvalidParameter, match="features have 3 rows but targets have 2"):
        from_numpy(np.zeros((3, 2)), targets=np.zeros(2))


# sources


@pytest.mark.parametrize(
    ("source", "source_type", "payload"),
    [
        ("data/train.csv", "local", {"uri": "data/train.csv"}),
        (Path("/abs/train.csv"), "local", {"uri": "/abs/train.csv"}),
        ("file:///abs/train.csv", "local", {"uri": "file:///abs/train.csv"}),
        ("C:\\data\\train.csv", "local", {"uri": "C:\\data\\train.csv"}),
        ("https://example.com/d.csv", "http", {"url": "https://example.com/d.csv"}),
        ("s3://bucket/key.parquet", "s3", {"uri": "s3://bucket/key.parquet"}),
    ],
)
def test_sources(source: Any, source_type: str, payload: dict[str, str]) -> None:
    ds = from_pandas(_frame(), source=source)
    assert ds.source_type == source_type
    assert json.loads(ds.source) == payload


@pytest.mark.parametrize("source", ["", 3, {"uri": "x"}])
def test_bad_sources(source: Any) -> None:
    with pytest.raises(InvalidParameter, match="Dataset source must be a non-empty path or URI"):
        from_numpy(np.zeros(2), source=source)
