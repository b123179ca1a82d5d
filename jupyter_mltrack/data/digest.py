"""Short, stable content digests of datasets.

A digest is the first 8 hex digits of an MD5 (not used for security) over the
schema, the row count and the first and last 10,000 rows, so it is fast on any
size of data and the same across processes and machines for the same data
(pandas' ``hash_pandas_object`` uses a fixed key). Data that differs only in
the unsampled middle rows of a large table keeps its digest; that is the price
of speed, as in MLflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SAMPLE_ROWS", "numpy_digest", "pandas_digest"]

#: Rows hashed from each end of a dataset.
SAMPLE_ROWS = 10_000


def pandas_digest(df: pd.DataFrame, schema_json: str) -> str:
    """The digest of a DataFrame's content (the index is ignored) and its schema."""
    samples = _samples(len(df)) if df.shape[1] else iter(())
    return _digest(schema_json, len(df), (_hash_frame(df.iloc[rows]) for rows in samples))


def numpy_digest(
    features: np.ndarray[Any, Any], targets: np.ndarray[Any, Any] | None, schema_json: str
) -> str:
    """The digest of feature (and target) arrays; shapes and dtypes count via the schema."""
    arrays = [a for a in (features, targets) if a is not None]
    chunks = (_array_bytes(a[rows]) for a in arrays for rows in _samples(a.shape[0]))
    return _digest(schema_json, features.shape[0], chunks)


def _digest(schema_json: str, num_rows: int, chunks: Iterable[bytes]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    md5.update(f"{schema_json}|{num_rows}|".encode())
    for chunk in chunks:
        md5.update(chunk)
    return md5.hexdigest()[:8]


def _samples(num_rows: int) -> Iterator[slice]:
    """The row slices to hash: everything if small, else the head and the tail."""
    if num_rows <= 2 * SAMPLE_ROWS:
        yield slice(0, num_rows)
    else:
        yield slice(0, SAMPLE_ROWS)
        yield slice(num_rows - SAMPLE_ROWS, num_rows)


def _hash_frame(frame: pd.DataFrame) -> bytes:
    import pandas as pd

    try:
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:
        # Unhashable cells (lists, dicts) in object columns: hash their repr instead.
        columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
        columns = [c.map(repr) if pd.api.types.is_object_dtype(c) else c for c in columns]
        hashed = pd.util.hash_pandas_object(pd.concat(columns, axis=1), index=False)
    return hashed.to_numpy().tobytes()


def _array_bytes(array: np.ndarray[Any, Any]) -> bytes:
    import numpy as np

    if array.dtype.kind == "O":  # object arrays hold pointers; hash the values' repr
        return repr(array.tolist()).encode("utf-8")
    return np.ascontiguousarray(array).tobytes()
