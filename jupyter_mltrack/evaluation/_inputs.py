"""What ``mt.evaluate`` is given, made uniform: the data (features, targets, static predictions,
the dataset record) and the model (a predict function, class probabilities, its logged-model id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import NumpyDataset, PandasDataset, from_numpy, from_pandas
from ..entities import Dataset
from ..errors import InvalidParameter

__all__ = ["EvalData", "ModelHandle", "resolve_data", "resolve_model"]


@dataclass
class EvalData:
    """The evaluation data: features (a DataFrame or 2-D array), targets, static predictions."""

    features: Any
    y_true: np.ndarray | None
    y_pred: np.ndarray | None
    dataset: Dataset
    targets_name: str
    predictions_name: str

    @property
    def n(self) -> int:
        return (
            int(self.features.shape[0]) if hasattr(self.features, "shape") else len(self.features)
        )

    def features_frame(self) -> Any:
        """The features as a DataFrame (for tables and ``inputs=`` of metrics)."""
        import pandas as pd

        if isinstance(self.features, pd.DataFrame):
            return self.features
        arr = np.asarray(self.features)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        return pd.DataFrame(arr, columns=[f"feature_{i + 1}" for i in range(arr.shape[1])])


def _column(df: Any, name: Any, what: str) -> np.ndarray:
    if not isinstance(name, str):
        raise InvalidParameter(
            f"{what}= names a column of the DataFrame; got {type(name).__name__}. Pass the column "
            "name (e.g. targets='label'), or arrays with numpy data."
        )
    if name not in df.columns:
        raise InvalidParameter(
            f"{what}={name!r} is not a column of the data; its columns are "
            f"{[str(c) for c in df.columns][:20]}."
        )
    return np.asarray(df[name].to_numpy())


def _is_relation(data: Any) -> bool:
    return type(data).__name__ == "DuckDBPyRelation"


def resolve_data(
    data: Any,
    targets: Any,
    predictions: Any,
    feature_names: list[str] | None,
    static: bool,
) -> EvalData:
    """Features, targets and (when ``static``, no model) the predictions column of ``data``.

    ``data`` is a DataFrame, a DuckDB relation, NumPy arrays (or a list of rows), or a dataset
    from ``mt.data.from_pandas`` / ``from_numpy`` (its ``targets`` and ``predictions`` are used
    when the call names none).
    """
    import pandas as pd

    record: Dataset | None = None
    if isinstance(data, PandasDataset):
        record, targets = data, targets if targets is not None else data.targets
        predictions = predictions if predictions is not None else data.predictions
        data = data.df
    elif isinstance(data, NumpyDataset):
        record, targets = data, targets if targets is not None else data.targets
        data = data.features
    elif _is_relation(data):
        data = data.df()
    elif isinstance(data, list):
        data = np.asarray(data)
        if data.ndim == 1:
            data = data.reshape(-1, 1)
    if isinstance(data, pd.DataFrame):
        return _from_frame(data, targets, predictions, feature_names, static, record)
    if isinstance(data, np.ndarray):
        return _from_array(data, targets, predictions, feature_names, static, record)
    raise InvalidParameter(
        f"evaluate() data must be a pandas DataFrame, NumPy arrays, a DuckDB relation or a "
        f"dataset from mt.data.from_pandas/from_numpy; got {type(data).__name__}."
    )


def _from_frame(
    df: Any,
    targets: Any,
    predictions: Any,
    feature_names: list[str] | None,
    static: bool,
    record: Dataset | None,
) -> EvalData:
    y_true = _column(df, targets, "targets") if targets is not None else None
    y_pred = None
    if static:
        if predictions is None:
            raise InvalidParameter(
                "evaluate() needs a model, or model=None with predictions='<column>' naming the "
                "column of the data that holds the predictions."
            )
        y_pred = _column(df, predictions, "predictions")
    drop = [c for c in (targets, predictions if static else None) if c is not None]
    features = df.drop(columns=drop) if drop else df
    if feature_names is not None:
        missing = [c for c in feature_names if c not in features.columns]
        if missing:
            raise InvalidParameter(
                f"feature_names {missing} are not columns of the data; its columns are "
                f"{[str(c) for c in df.columns][:20]}."
            )
        features = features[list(feature_names)]
    if record is None:
        record = from_pandas(
            df,
            targets=targets if isinstance(targets, str) else None,
            predictions=predictions if static and isinstance(predictions, str) else None,
        )
    return EvalData(
        features, y_true, y_pred, record, str(targets or "target"), str(predictions or "outputs")
    )


def _from_array(
    arr: np.ndarray,
    targets: Any,
    predictions: Any,
    feature_names: list[str] | None,
    static: bool,
    record: Dataset | None,
) -> EvalData:
    import pandas as pd

    y_true = None
    if targets is not None:
        if isinstance(targets, str):
            raise InvalidParameter(
                "With NumPy data, targets= is the array of labels, not a column name."
            )
        y_true = np.asarray(targets)
        if y_true.shape[0] != arr.shape[0]:
            raise InvalidParameter(
                f"targets has {y_true.shape[0]} rows and the data {arr.shape[0]}."
            )
    y_pred = None
    if static:
        if predictions is None or isinstance(predictions, str):
            raise InvalidParameter(
                "With NumPy data and model=None, pass predictions= as the array of predictions."
            )
        y_pred = np.asarray(predictions)
    features: Any = arr if arr.ndim == 2 else arr.reshape(-1, 1)
    if feature_names is not None:
        if len(feature_names) != features.shape[1]:
            raise InvalidParameter(
                f"feature_names has {len(feature_names)} names for {features.shape[1]} columns."
            )
        features = pd.DataFrame(features, columns=list(feature_names))
    if record is None:
        record = from_numpy(arr, targets=y_true)
    return EvalData(features, y_true, y_pred, record, "target", "outputs")


@dataclass
class ModelHandle:
    """A model reduced to what evaluation calls: ``predict``, maybe ``predict_proba``."""

    predict: Callable[[Any], Any] | None
    predict_proba: Callable[[Any], Any] | None
    model_id: str | None
    classes: np.ndarray | None
    #: the sklearn estimator, for its ``score`` metric (MLflow logs it for sklearn models)
    estimator: Any = None


def resolve_model(model: Any) -> ModelHandle:
    """A model URI, a loaded model (anything with ``predict``), a function, or None."""
    if model is None:
        return ModelHandle(None, None, None, None)
    if isinstance(model, str):
        return _from_uri(model)
    if hasattr(model, "predict") and callable(model.predict):
        return _from_object(model)
    if callable(model):
        return ModelHandle(model, None, None, None)
    raise InvalidParameter(
        f"evaluate() model must be a model URI, a loaded model (with .predict), a function or "
        f"None with predictions=; got {type(model).__name__}."
    )


def _from_object(model: Any) -> ModelHandle:
    raw = _raw_model(model)
    target = raw if raw is not None else model
    proba = getattr(target, "predict_proba", None)
    classes = getattr(target, "classes_", None)
    metadata = getattr(model, "metadata", None)
    model_id = getattr(model, "model_id", None) or getattr(metadata, "model_id", None)
    estimator = target if _is_sklearn(target) else None
    return ModelHandle(
        target.predict,
        proba if callable(proba) else None,
        model_id if isinstance(model_id, str) else None,
        np.asarray(classes) if classes is not None else None,
        estimator,
    )


def _raw_model(model: Any) -> Any:
    """The native model inside a loaded pyfunc model, when it exposes one."""
    for attr in ("_model_impl", "model_impl"):
        inner = getattr(model, attr, None)
        if inner is not None and hasattr(inner, "predict"):
            nested = getattr(inner, "sklearn_model", None)
            return nested if nested is not None else inner
    unwrap = getattr(model, "get_raw_model", None)
    if callable(unwrap):
        try:
            return unwrap()
        except Exception:  # not every flavour has one
            return None
    return None


def _is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.startswith("sklearn.") or any(
        c.__module__.startswith("sklearn.base") for c in type(obj).__mro__
    )


def _from_uri(uri: str) -> ModelHandle:
    try:
        from .. import models
    except ImportError as exc:
        raise InvalidParameter(
            f"evaluate() got the model URI {uri!r}, but this installation cannot load models "
            "(jupyter_mltrack.models is missing); pass the loaded model or a function."
        ) from exc
    loaded = models.load_model(uri)
    handle = _from_object(loaded)
    if handle.model_id is None and uri.startswith("models:/m-"):
        handle.model_id = uri[len("models:/") :].split("/")[0]
    return handle
