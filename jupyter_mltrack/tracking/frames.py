"""Turn columnar search results into the flattened DataFrame ``search_runs`` returns.

Columns follow ``mlflow.search_runs``: ``run_id``, ``experiment_id``, ``status``,
``artifact_uri``, ``start_time``, ``end_time`` (UTC datetimes), then
``metrics.*``, ``params.*``, ``tags.*`` (sorted by key); plus ``run_name`` and
``parent_run_id``. The long-to-wide pivot uses integer codes, so 10,000 runs
with 15 keys pivot in a few milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["runs_to_frame"]


def _wide(long: Any, index: pd.Index, prefix: str, dtype: Any) -> pd.DataFrame:
    if long.num_rows == 0:
        return pd.DataFrame(index=range(len(index)))
    if "pos" in long.column_names:
        rows = long.column("pos").to_numpy()
    else:
        rows = index.get_indexer(long.column("run_id").to_pandas())
    codes, keys = pd.factorize(long.column("key").to_pandas(), sort=True)
    values = long.column("value").to_numpy(zero_copy_only=False)
    if dtype is float:
        grid = np.full((len(index), len(keys)), np.nan)
    else:
        grid = np.full((len(index), len(keys)), None, dtype=object)
    grid[rows, codes] = values
    return pd.DataFrame(grid, columns=[f"{prefix}.{k}" for k in keys])


def runs_to_frame(tables: dict[str, Any]) -> pd.DataFrame:
    """Build the flattened runs DataFrame from ``search_runs_arrow`` output."""
    runs = tables["runs"].to_pandas()
    index = pd.Index(runs["run_id"])
    base = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "experiment_id": runs["experiment_id"],
            "run_name": runs["run_name"],
            "status": runs["status"],
            "artifact_uri": runs["artifact_uri"],
            "start_time": pd.to_datetime(runs["start_time_ms"], unit="ms", utc=True),
            "end_time": pd.to_datetime(runs["end_time_ms"], unit="ms", utc=True),
            "parent_run_id": runs["parent_run_id"],
        }
    )
    parts = [
        base,
        _wide(tables["metrics"], index, "metrics", float),
        _wide(tables["params"], index, "params", object),
        _wide(tables["tags"], index, "tags", object),
    ]
    return pd.concat(parts, axis=1)
