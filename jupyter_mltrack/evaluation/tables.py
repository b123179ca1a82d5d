"""``mt.load_table``: a table artifact (``log_table``'s JSON or Parquet) of one or more runs."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..errors import ArtifactNotFound, InvalidParameter
from ..tracking import fluent
from ..tracking.fluent_ops import search_runs

__all__ = ["load_table"]

EXTRA_COLUMNS = ("run_id",)


def _read(client: Any, run_id: str, artifact_file: str) -> Any:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, artifact_file, tmp)
        except (FileNotFoundError, ArtifactNotFound):
            return None
        if artifact_file.endswith(".parquet"):
            return pd.read_parquet(local)
        with open(local, encoding="utf-8") as fh:
            payload = json.load(fh)
    if not isinstance(payload, dict) or "columns" not in payload or "data" not in payload:
        raise InvalidParameter(
            f"{artifact_file!r} of run {run_id} is not a table logged with log_table "
            "(a JSON object with 'columns' and 'data')."
        )
    return pd.DataFrame(payload["data"], columns=payload["columns"])


def load_table(
    artifact_file: str,
    run_ids: Sequence[str] | None = None,
    extra_columns: Sequence[str] | None = None,
) -> Any:
    """The rows of table artifact ``artifact_file`` from ``run_ids`` (default: every run of the
    active experiment that has it), as one DataFrame; ``extra_columns=["run_id"]`` adds the run.

    Example::

        result = mt.evaluate(..., extra_metrics=[judge])
        mt.load_table("eval_results_table.json", run_ids=[result.run_id])

    Raises:
        InvalidParameter: a malformed argument, or no run has the table.
    """
    import pandas as pd

    if not isinstance(artifact_file, str) or not artifact_file.endswith((".json", ".parquet")):
        raise InvalidParameter(
            f"load_table needs a .json or .parquet artifact path, got {artifact_file!r}."
        )
    extras = list(extra_columns or [])
    unknown = [c for c in extras if c not in EXTRA_COLUMNS]
    if unknown:
        raise InvalidParameter(f"extra_columns {unknown} are unknown; use {list(EXTRA_COLUMNS)}.")
    if isinstance(run_ids, str):
        raise InvalidParameter("run_ids must be a list of run ids, not one string.")
    client = fluent.get_client()
    if run_ids is None:
        frame = search_runs()
        run_ids = [] if frame is None or len(frame) == 0 else frame["run_id"].tolist()
    frames = []
    for run_id in run_ids:
        table = _read(client, run_id, os.fspath(artifact_file))
        if table is None:
            continue
        if "run_id" in extras:
            table = table.assign(run_id=run_id)
        frames.append(table)
    if not frames:
        raise InvalidParameter(
            f"No run among {len(run_ids)} has the table {artifact_file!r}; check the name "
            "(e.g. 'eval_results_table.json') and the run ids."
        )
    return pd.concat(frames, ignore_index=True)
