"""Datasets for ``log_input``: the data plus its record, as MLflow's ``mlflow.data`` builds them.

:func:`from_pandas` and :func:`from_numpy` return a :class:`PandasDataset` or
:class:`NumpyDataset`: the data itself (``.df``, or ``.features`` and
``.targets``) together with its :class:`~jupyter_mltrack.entities.Dataset`
record, which is all that ``log_input`` stores: a name, a short content digest
(:mod:`.digest`), where the data came from, its schema (:mod:`.schema`) and a
small profile, each as MLflow stores them, so runs read the same in MLflow.
Unlike MLflow's objects, ``.source``, ``.schema`` and ``.profile`` are the
stored JSON strings (``json.loads`` them), the same as on ``run.inputs``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ..entities import Dataset
from ..errors import InvalidParameter
from .digest import numpy_digest, pandas_digest
from .schema import pandas_schema, tensor_schema

__all__ = ["DEFAULT_NAME", "NumpyDataset", "PandasDataset", "from_numpy", "from_pandas"]

DEFAULT_NAME = "dataset"

Source = str | os.PathLike[str] | None


class _DataDataset(Dataset):
    """A :class:`Dataset` record that also holds its data; frozen like the record."""

    __slots__ = ()

    def __init__(self, record: Dataset) -> None:
        super().__init__(
            record.name,
            record.digest,
            record.source_type,
            record.source,
            record.schema,
            record.profile,
        )

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


class PandasDataset(_DataDataset):
    """A DataFrame with its record; ``targets``/``predictions`` name columns of ``df``."""

    __slots__ = ("_df", "_predictions", "_targets")
    _df: Any
    _targets: str | None
    _predictions: str | None

    def __init__(
        self, record: Dataset, df: Any, targets: str | None, predictions: str | None
    ) -> None:
        super().__init__(record)
        object.__setattr__(self, "_df", df)
        object.__setattr__(self, "_targets", targets)
        object.__setattr__(self, "_predictions", predictions)

    @property
    def df(self) -> Any:
        """The DataFrame (not a copy: changing it does not update the digest)."""
        return self._df

    @property
    def targets(self) -> str | None:
        return self._targets

    @property
    def predictions(self) -> str | None:
        return self._predictions


class NumpyDataset(_DataDataset):
    """A feature array (and optional target array) with its record."""

    __slots__ = ("_features", "_targets")
    _features: Any
    _targets: Any

    def __init__(self, record: Dataset, features: Any, targets: Any) -> None:
        super().__init__(record)
        object.__setattr__(self, "_features", features)
        object.__setattr__(self, "_targets", targets)

    @property
    def features(self) -> Any:
        return self._features

    @property
    def targets(self) -> Any:
        return self._targets


def from_pandas(
    df: Any,
    source: Source = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset of a pandas DataFrame (arguments in ``mlflow.data.from_pandas``'s order).

    Args:
        df: the DataFrame.
        source: where the data came from: a path, a ``file://``, ``http(s)://``
            or other URI; ``None`` records the calling code as the source.
        targets: the name of the label column, recorded in the profile.
        name: a display name, ``"dataset"`` if ``None``.
        digest: a digest to record instead of the computed one.
        predictions: the name of a column of model predictions, recorded in the profile.

    Returns:
        A ``PandasDataset`` (a ``Dataset`` record holding ``df``) whose schema is
        ``{"mlflow_colspec": [...]}`` and whose profile is
        ``{"num_rows": .., "num_elements": ..}`` (plus ``targets``/``predictions``).

    Raises:
        InvalidParameter: ``df`` is not a DataFrame, ``targets`` or ``predictions``
            is not one of its columns, or ``source``/``name``/``digest`` is malformed.

    Example::

        ds = from_pandas(train_df, source="data/train.parquet", targets="y", name="train")
        ds.digest  # e.g. '3f9a2c1b'
        mt.log_input(ds, context="training")
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter(
            f"from_pandas expects a pandas DataFrame; got {type(df).__name__}. "
            "Use from_numpy for arrays, or wrap the data with pandas.DataFrame(...)."
        )
    profile: dict[str, Any] = {"num_rows": len(df), "num_elements": int(df.size)}
    for label, column in (("targets", targets), ("predictions", predictions)):
        if column is None:
            continue
        if column not in df.columns:
            raise InvalidParameter(
                f"{label} {column!r} is not a column of the DataFrame; its columns are "
                f"{[str(c) for c in df.columns][:20]}."
            )
        profile[label] = column
    schema = json.dumps(pandas_schema(df))
    digest = _resolve_digest(digest) or pandas_digest(df, schema)
    return PandasDataset(_dataset(name, digest, source, schema, profile), df, targets, predictions)


def from_numpy(
    features: Any,
    source: Source = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset of a numpy feature array and optional target array (MLflow's order).

    Args:
        features: an array of at least one dimension; rows are the first axis.
        source: as for :func:`from_pandas`.
        targets: an array with as many rows as ``features``, or ``None``.
        name: a display name, ``"dataset"`` if ``None``.
        digest: a digest to record instead of the computed one.

    Returns:
        A ``NumpyDataset`` (a ``Dataset`` record holding ``features`` and ``targets``)
        whose schema is ``{"mlflow_tensorspec": {"features": .., "targets": ..}}``
        (dtype and shape with ``-1`` rows) and whose profile has ``num_rows``,
        ``num_elements`` (features plus targets) and, as in MLflow, each array's
        ``*_shape``, ``*_size`` and ``*_nbytes``.

    Raises:
        InvalidParameter: an argument is not an array, is 0-dimensional, the
            row counts differ, or ``source``/``name``/``digest`` is malformed.

    Example::

        ds = from_numpy(X_train, targets=y_train, name="train")
    """
    import numpy as np

    arrays = {"features": features}
    if targets is not None:
        arrays["targets"] = targets
    for label, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise InvalidParameter(
                f"from_numpy {label} must be a numpy array; got {type(array).__name__}. "
                "Convert it with numpy.asarray(...)."
            )
        if array.ndim == 0:
            raise InvalidParameter(
                f"from_numpy {label} is a 0-dimensional array; rows are the first axis, so "
                "pass at least one dimension, e.g. array.reshape(1)."
            )
    if targets is not None and targets.shape[0] != features.shape[0]:
        raise InvalidParameter(
            f"from_numpy features have {features.shape[0]} rows but targets have "
            f"{targets.shape[0]}; they must match row for row."
        )
    profile: dict[str, Any] = {
        "num_rows": int(features.shape[0]),
        "num_elements": sum(int(a.size) for a in arrays.values()),
    }
    for label, array in arrays.items():  # the keys of MLflow's NumpyDataset.profile
        profile[f"{label}_shape"] = list(array.shape)
        profile[f"{label}_size"] = int(array.size)
        profile[f"{label}_nbytes"] = int(array.nbytes)
    schema = json.dumps(tensor_schema(features, targets))
    digest = _resolve_digest(digest) or numpy_digest(features, targets, schema)
    return NumpyDataset(_dataset(name, digest, source, schema, profile), features, targets)


def _resolve_digest(digest: str | None) -> str | None:
    if digest is not None and (not isinstance(digest, str) or not digest.strip()):
        raise InvalidParameter(
            f"Dataset digest must be a non-empty str; got {digest!r}. Omit it to compute one."
        )
    return digest


def _dataset(
    name: str | None, digest: str, source: Source, schema: str, profile: dict[str, Any]
) -> Dataset:
    source_type, source_json = _resolve_source(source)
    return Dataset(
        name=_resolve_name(name),
        digest=digest,
        source_type=source_type,
        source=source_json,
        schema=schema,
        profile=json.dumps(profile),
    )


def _resolve_name(name: str | None) -> str:
    if name is None:
        return DEFAULT_NAME
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(
            f"Dataset name must be a non-empty str; got {name!r}. Omit it to use 'dataset'."
        )
    return name


def _resolve_source(source: Source) -> tuple[str, str]:
    """``(source_type, source JSON)`` as MLflow's dataset sources record them.

    ``None`` -> ``("code", "{}")``; a path or ``file://`` URI -> ``"local"``
    with ``{"uri": ..}``; ``http(s)://`` -> ``"http"`` with ``{"url": ..}``;
    any other ``scheme://`` -> the scheme with ``{"uri": ..}``.
    """
    if source is None:
        return "code", "{}"
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise InvalidParameter(
            f"Dataset source must be a non-empty path or URI string; got {source!r}. "
            "Omit it to record the calling code as the source."
        )
    text = os.fspath(source)
    scheme = urlsplit(text).scheme.lower()
    if len(scheme) <= 1 or scheme == "file":  # no scheme, or a Windows drive letter
        return "local", json.dumps({"uri": text})
    if scheme in ("http", "https"):
        return "http", json.dumps({"url": text})
    return scheme, json.dumps({"uri": text})
