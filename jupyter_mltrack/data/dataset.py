"""Build :class:`~jupyter_mltrack.entities.Dataset` records for ``log_input``.

A record describes data, it does not hold it: a name, a short content digest
(:mod:`.digest`), where the data came from, its schema (:mod:`.schema`) and a
small profile, each as MLflow stores them, so runs read the same in MLflow.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

from ..entities import Dataset
from ..errors import InvalidParameter
from .digest import numpy_digest, pandas_digest
from .schema import pandas_schema, tensor_schema

__all__ = ["DEFAULT_NAME", "from_numpy", "from_pandas"]

DEFAULT_NAME = "dataset"

Source = str | os.PathLike[str] | None


def from_pandas(
    df: Any, source: Source = None, name: str | None = None, targets: str | None = None
) -> Dataset:
    """A dataset record for a pandas DataFrame.

    Args:
        df: the DataFrame.
        source: where the data came from: a path, a ``file://``, ``http(s)://``
            or other URI; ``None`` records the calling code as the source.
        name: a display name, ``"dataset"`` if ``None``.
        targets: the name of the label column, recorded in the profile.

    Returns:
        A ``Dataset`` whose schema is ``{"mlflow_colspec": [...]}`` and whose
        profile is ``{"num_rows": .., "num_elements": ..}`` (plus ``targets``).

    Raises:
        InvalidParameter: ``df`` is not a DataFrame, ``targets`` is not one of
            its columns, or ``source``/``name`` is malformed.

    Example::

        ds = from_pandas(train_df, source="data/train.parquet", name="train", targets="y")
        ds.digest  # e.g. '3f9a2c1b'
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter(
            f"from_pandas expects a pandas DataFrame; got {type(df).__name__}. "
            "Use from_numpy for arrays, or wrap the data with pandas.DataFrame(...)."
        )
    profile: dict[str, Any] = {"num_rows": len(df), "num_elements": int(df.size)}
    if targets is not None:
        if targets not in df.columns:
            raise InvalidParameter(
                f"targets {targets!r} is not a column of the DataFrame; its columns are "
                f"{[str(c) for c in df.columns][:20]}."
            )
        profile["targets"] = targets
    schema = json.dumps(pandas_schema(df))
    return _dataset(name, pandas_digest(df, schema), source, schema, profile)


def from_numpy(
    features: Any, source: Source = None, name: str | None = None, targets: Any = None
) -> Dataset:
    """A dataset record for a numpy feature array and optional target array.

    Args:
        features: an array of at least one dimension; rows are the first axis.
        source: as for :func:`from_pandas`.
        name: a display name, ``"dataset"`` if ``None``.
        targets: an array with as many rows as ``features``, or ``None``.

    Returns:
        A ``Dataset`` whose schema is ``{"mlflow_tensorspec": {"features": ..,
        "targets": ..}}`` (dtype and shape with ``-1`` rows) and whose profile
        has ``num_rows``, ``num_elements`` (features plus targets) and the shapes.

    Raises:
        InvalidParameter: an argument is not an array, is 0-dimensional, or the
            row counts differ.

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
    profile.update({f"{label}_shape": list(a.shape) for label, a in arrays.items()})
    schema = json.dumps(tensor_schema(features, targets))
    return _dataset(name, numpy_digest(features, targets, schema), source, schema, profile)


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
