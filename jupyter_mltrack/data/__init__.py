"""Dataset records for ``log_input`` (re-exported as ``mt.data``).

``from_pandas`` and ``from_numpy`` describe data by name, digest, source,
schema and profile without storing it; pandas and numpy are imported only
when called.
"""

from __future__ import annotations

from .dataset import DEFAULT_NAME, from_numpy, from_pandas

__all__ = ["DEFAULT_NAME", "from_numpy", "from_pandas"]
