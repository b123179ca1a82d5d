"""Dataset records for ``log_input`` (re-exported as ``mt.data``).

``from_pandas`` and ``from_numpy`` return the data together with its record
(name, digest, source, schema, profile); ``log_input`` stores the record, not
the data. pandas and numpy are imported only when called.
"""

from __future__ import annotations

from .dataset import DEFAULT_NAME, NumpyDataset, PandasDataset, from_numpy, from_pandas

__all__ = ["DEFAULT_NAME", "NumpyDataset", "PandasDataset", "from_numpy", "from_pandas"]
