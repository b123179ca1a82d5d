"""``RunTable``: a virtualized table of runs with sort, filter, column choice and selection.

Example::

    table = RunTable("my-experiment")           # or RunTable(mt.search_runs()), RunTable()
    table                                        # display; click rows to select them
    table.filter_string = "metrics.acc > 0.9"    # or type it in the box
    table.selected                               # DataFrame of the selected runs
    mt.search_runs(filter_string=table.selected_filter)   # the same runs

The browser asks for the rows it shows (a window: offset, limit, order, filter), so 10,000
runs are never all sent. For an experiment source the store filters and sorts (through the
tracking client); for a DataFrame the same search language runs over the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import traitlets

from ..errors import InvalidFilter, InvalidParameter
from ..store.search import parse_filter
from ._base import MltrackWidget, Reply, encode_columns, handles
from ._sources import RunSource, resolve_source, selection_filter

__all__ = ["MAX_WINDOW", "RunTable", "encode_table_columns"]

#: Most rows one window request may ask for.
MAX_WINDOW = 1000
#: Store columns shown by default (others are one click away in the column chooser).
_HIDDEN_BY_DEFAULT = ("experiment_id", "artifact_uri", "parent_run_id", "end_time")
#: ... and the tags the tracker sets itself
_SYSTEM_TAGS = ("tags.mlflow.", "tags.mltrack.")


def encode_table_columns(
    frame: pd.DataFrame, buffers: list[bytes | memoryview]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``encode_columns`` of display values plus each column's kind.

    Kinds: ``number`` (float64, NaN for missing), ``int``, ``bool`` (uint8), ``time``
    (float64 epoch ms, NaN for missing) and ``string`` (anything else, as text).
    """
    data: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            utc = values.dt.tz_convert("UTC") if values.dt.tz is not None else values
            ms = utc.to_numpy(dtype="datetime64[ms]").astype(np.int64).astype(np.float64)
            ms[values.isna().to_numpy()] = np.nan
            data[name], kinds[name] = ms, "time"
        elif pd.api.types.is_bool_dtype(values.dtype):
            data[name], kinds[name] = values.to_numpy(dtype=bool), "bool"
        elif pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
            data[name], kinds[name] = values.to_numpy(dtype=np.int64).astype(np.float64), "int"
        elif pd.api.types.is_numeric_dtype(values.dtype):
            data[name], kinds[name] = values.to_numpy(dtype=np.float64), "number"
        else:
            missing = values.isna().to_numpy()
            text = values.astype(str).to_numpy(dtype=object)
            text[missing] = None
            data[name], kinds[name] = text, "string"
    return encode_columns(data, buffers), kinds


class RunTable(MltrackWidget, bundle="runTable"):
    """A table of runs: sort by any column, filter with the search language, choose
    columns, select rows; only the visible rows travel to the browser.

    Args:
        source: an experiment name or :class:`~jupyter_mltrack.entities.Experiment`, or a
            pandas DataFrame with one row per run (e.g. ``mt.search_runs()``); ``None``
            (default) shows ``experiment_ids``/``experiment_names``, else the active
            experiment.
        experiment_ids, experiment_names: experiments to show (every one must exist).
        filter_string: the initial filter (docs/search.md), e.g. ``"metrics.acc > 0.9"``.
        order_by: initial order, items ``"<column> [ASC|DESC]"`` (``"metrics.acc DESC"``).
        columns: the columns to show (default: all of a DataFrame; for the store, all but
            experiment_id, artifact_uri, parent_run_id, end_time and the mlflow.*/mltrack.*
            system tags).
        id_column: for a DataFrame, the column with each row's unique id (default
            ``run_id``; the index when the column is absent).
        run_view_type: ``ACTIVE_ONLY`` (default), ``DELETED_ONLY`` or ``ALL`` (store only).

    Raises:
        InvalidParameter: an unknown experiment, column or order-by column, or a filter
            that does not parse (``InvalidFilter``, with the position).
        TypeError / ValueError: a source of another type; duplicate ids in a DataFrame.

    Synced traitlets: ``selected_ids`` (ids of the selected runs; set it to change the
    selection; ``observe`` it to follow the user's clicks), ``filter_string``,
    ``order_by`` and ``columns``. Python-side: :attr:`selected` (DataFrame),
    :attr:`selected_filter` (a filter string that finds exactly the selection).
    """

    selected_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    filter_string = traitlets.Unicode("").tag(sync=True)
    order_by = traitlets.List(traitlets.Unicode()).tag(sync=True)
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: every column there is, for the column chooser (set by the kernel)
    _all_columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: bumped by refresh(): the view drops its cached rows and asks again
    _generation = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        source: Any = None,
        *,
        experiment_ids: Sequence[str] | str | None = None,
        experiment_names: Sequence[str] | str | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | str | None = None,
        columns: Sequence[str] | None = None,
        id_column: str = "run_id",
        run_view_type: str = "ACTIVE_ONLY",
    ) -> None:
        self._source: RunSource = resolve_source(
            source,
            experiment_ids=experiment_ids,
            experiment_names=experiment_names,
            id_column=id_column,
            view_type=run_view_type,
            widget="RunTable",
        )
        self._view_key: tuple[str, tuple[str, ...]] | None = None
        self._view: tuple[pd.DataFrame, list[str]] | None = None
        order = self._source.check_order_by(order_by or [])
        shown = self._default_columns() if columns is None else columns
        shown = self._source.check_columns(shown, "columns")
        self._check_filter(filter_string)
        super().__init__(
            filter_string=filter_string,
            order_by=order,
            columns=shown,
            _all_columns=self._source.columns,
        )

    def _default_columns(self) -> list[str]:
        if not self._source.is_store:
            return list(self._source.columns)
        return [
            c
            for c in self._source.columns
            if c not in _HIDDEN_BY_DEFAULT and not c.startswith(_SYSTEM_TAGS)
        ]

    @staticmethod
    def _check_filter(text: Any) -> str:
        if not isinstance(text, str):
            raise InvalidParameter(f"filter_string must be a string, got {text!r}.")
        parse_filter(text)  # InvalidFilter with the position
        return text

    # ------------------------------------------------------------------ validation
    @traitlets.validate("filter_string")
    def _valid_filter(self, proposal: Any) -> str:
        return self._check_filter(proposal["value"])

    @traitlets.validate("order_by")
    def _valid_order(self, proposal: Any) -> list[str]:
        return self._source.check_order_by(proposal["value"])

    @traitlets.validate("columns")
    def _valid_columns(self, proposal: Any) -> list[str]:
        return self._source.check_columns(proposal["value"], "columns")

    # ------------------------------------------------------------------ rows
    def _current_view(
        self, filter_string: str, order_by: Sequence[str]
    ) -> tuple[pd.DataFrame, list[str]]:
        """The rows of one filter/order, cached until another is asked for (or refresh)."""
        key = (filter_string, tuple(order_by))
        if self._view is None or self._view_key != key:
            self._view = self._source.view(filter_string, list(order_by))
            self._view_key = key
        return self._view

    @handles("rows")
    def _rows(
        self,
        *,
        offset: int,
        limit: int,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        columns: Sequence[str] | None = None,
    ) -> Reply | dict[str, Any]:
        """One window of rows of the view ``filter_string``/``order_by``.

        A filter that does not parse is an answer, not a failure:
        ``{"filter_error": {"message", "position"}}`` (the box shows it inline).
        """
        if not (isinstance(offset, int) and isinstance(limit, int)) or offset < 0:
            raise InvalidParameter(
                f"offset and limit must be integers >= 0, got {offset!r}, {limit!r}."
            )
        limit = max(0, min(limit, MAX_WINDOW))
        order = self._source.check_order_by(list(order_by))
        shown = self._source.check_columns(
            list(columns if columns is not None else self.columns), "columns"
        )
        try:
            frame, ids = self._current_view(filter_string, order)
        except InvalidFilter as exc:
            return {
                "filter_error": {
                    "message": exc.message,
                    "position": exc.details.get("position"),
                }
            }
        window = frame.iloc[offset : offset + limit]
        buffers: list[bytes | memoryview] = []
        encoded, kinds = encode_table_columns(window[shown], buffers)
        result = {
            "total": len(ids),
            "offset": offset,
            "ids": ids[offset : offset + limit],
            "columns": encoded,
            "kinds": kinds,
        }
        return Reply(result, buffers)

    @handles("select_range")
    def _select_range(
        self, *, start: int, stop: int, filter_string: str = "", order_by: Sequence[str] = ()
    ) -> int:
        """Add rows ``start..stop`` (inclusive, any order) of a view to the selection."""
        _, ids = self._current_view(filter_string, self._source.check_order_by(list(order_by)))
        lo, hi = sorted((int(start), int(stop)))
        chosen = set(self.selected_ids)
        added = [i for i in ids[lo : hi + 1] if i not in chosen]
        self.selected_ids = [*self.selected_ids, *added]
        return len(self.selected_ids)

    @handles("select_all")
    def _select_all(self, *, filter_string: str = "", order_by: Sequence[str] = ()) -> int:
        """Select every row of a view (the filter's matches, not just the loaded rows)."""
        _, ids = self._current_view(filter_string, self._source.check_order_by(list(order_by)))
        if not ids:
            return len(self.selected_ids)
        return self._select_range(
            start=0, stop=len(ids) - 1, filter_string=filter_string, order_by=order_by
        )

    # ------------------------------------------------------------------ Python API
    def refresh(self) -> None:
        """Read the runs again (new runs, metrics, columns); the view reloads its rows."""
        self._view = None
        refresh = getattr(self._source, "refresh", None)
        if refresh is not None:
            refresh()
        self._all_columns = self._source.columns
        self._generation += 1

    @property
    def selected(self) -> pd.DataFrame:
        """The selected runs as a DataFrame, in the table's current order (empty when
        nothing is selected)."""
        return self._source.rows_for(self.selected_ids, self.order_by)

    @property
    def selected_filter(self) -> str:
        """A filter string that finds exactly the selected runs, e.g.
        ``attributes.run_id IN ('3f2a...', '9bc1...')``; pass it to ``mt.search_runs``."""
        return selection_filter(self.selected_ids)
