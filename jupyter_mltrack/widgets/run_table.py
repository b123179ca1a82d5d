"""``RunTable``: runs as an HTML table whose row selection comes back to Python.

Example::

    table = RunTable(mt.search_runs())
    table              # display; click rows to select them
    table.selected     # DataFrame of the selected rows
"""

from __future__ import annotations

import json

import pandas as pd
import traitlets

from ._base import MltrackWidget

__all__ = ["MAX_ROWS", "RunTable"]

#: Rows sent to the browser; the table says how many more there are.
MAX_ROWS = 500


class RunTable(MltrackWidget, bundle="runTable"):
    """A table of runs (one row per DataFrame row); click rows to select them.

    Args:
        df: the runs, e.g. the result of ``search_runs``. Rows are identified by the
            ``id_column`` column (default ``run_id``), or by the index when it is absent.
        id_column: the column holding each row's unique id.
        max_rows: at most this many rows are shown.

    ``selected_ids`` (synced with the browser) lists the ids of the selected rows; set it
    from Python to change the selection. ``selected`` gives those rows as a DataFrame.
    """

    _columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _rows = traitlets.List(traitlets.List()).tag(sync=True)
    _row_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _total_rows = traitlets.Int(0).tag(sync=True)
    selected_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(
        self, df: pd.DataFrame, *, id_column: str = "run_id", max_rows: int = MAX_ROWS
    ) -> None:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"RunTable needs a pandas DataFrame, got {type(df).__name__}.")
        ids = df[id_column] if id_column in df.columns else df.index.to_series()
        ids = ids.astype(str)
        if not ids.is_unique:
            raise ValueError(
                f"RunTable needs a unique id per row, but {id_column!r} "
                f"{'column' if id_column in df.columns else 'index'} has duplicates; "
                "pass id_column= naming a unique column."
            )
        self._df = df
        self._ids = ids
        shown = df.head(max_rows)
        # pandas' JSON writer turns NaN into null, timestamps into ISO text, numpy
        # scalars into JSON numbers: exactly what the traitlets may carry.
        payload = json.loads(shown.to_json(orient="split", date_format="iso", index=False))
        super().__init__(
            _columns=[str(c) for c in shown.columns],
            _rows=payload["data"],
            _row_ids=ids.head(max_rows).tolist(),
            _total_rows=len(df),
        )

    @property
    def selected(self) -> pd.DataFrame:
        """The selected rows, in table order (an empty frame when nothing is selected)."""
        return self._df[self._ids.isin(self.selected_ids).to_numpy()]
