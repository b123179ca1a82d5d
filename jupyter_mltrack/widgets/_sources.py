"""Where a run widget's rows come from: the store (through the client) or a DataFrame.

Both kinds answer the same questions: the rows matching a filter in an order (a DataFrame
with one row per run and its ids), the rows of given ids, and the columns there are. A
store source filters and sorts in the store (``TrackingClient.search_runs_frame``, one
``RunQuery``); a DataFrame source runs the same search language over the frame
(:class:`~jupyter_mltrack.tracking.frame_search.FrameSearch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..entities import Experiment
from ..errors import InvalidParameter
from ..tracking.frame_search import FrameSearch, field_for_column, split_order_item

__all__ = ["FrameSource", "RunSource", "StoreSource", "resolve_source", "selection_filter"]


def selection_filter(ids: Sequence[str]) -> str:
    """A filter matching exactly the runs ``ids``: ``attributes.run_id IN ('a', 'b')``.

    No ids gives ``attributes.run_id IS NULL``, which matches no run (every run has an id).
    """
    if not ids:
        return "attributes.run_id IS NULL"
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    return f"attributes.run_id IN ({quoted})"


class RunSource:
    """The rows of a run widget; subclasses say where they come from."""

    #: the columns there are, in display order
    columns: list[str]
    #: True when the rows come from the store (filtered and sorted there)
    is_store: bool = False

    def view(self, filter_string: str, order_by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
        """The rows matching ``filter_string`` in ``order_by`` order, and their ids."""
        raise NotImplementedError

    def rows_for(self, ids: Sequence[str], order_by: Sequence[str] = ()) -> pd.DataFrame:
        """The rows of ``ids`` (those that exist), in ``order_by`` order."""
        raise NotImplementedError

    def check_columns(self, columns: Sequence[str], what: str) -> list[str]:
        """``columns`` if every one exists, else a clear ``InvalidParameter``."""
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidParameter(f"{what} must be a list of column names, got {columns!r}.")
        unknown = [c for c in columns if c not in self.columns]
        if unknown:
            raise InvalidParameter(
                f"{what}: no column named {', '.join(map(repr, unknown))}; "
                f"the columns are: {', '.join(self.columns)}."
            )
        return list(columns)

    def check_order_by(self, order_by: Sequence[str]) -> list[str]:
        if isinstance(order_by, str):
            order_by = [order_by]
        items = [split_order_item(item) for item in order_by]
        self.check_columns([c for c, _ in items], "order_by")
        return [f"{c} {d}" for c, d in items]


class FrameSource(RunSource):
    """Rows of a DataFrame; ids from ``id_column`` (or the index when there is none)."""

    is_store = False

    def __init__(self, frame: pd.DataFrame, id_column: str = "run_id") -> None:
        if not isinstance(id_column, str):
            raise TypeError(f"id_column must be a column name, got {id_column!r}.")
        ids = frame[id_column] if id_column in frame.columns else frame.index.to_series()
        ids = ids.astype(str)
        if not ids.is_unique:
            raise ValueError(
                f"The widget needs a unique id per row, but the {id_column!r} "
                f"{'column' if id_column in frame.columns else 'index'} has duplicates; "
                "pass id_column= naming a unique column."
            )
        self.frame = frame.reset_index(drop=True)
        self.frame.columns = [str(c) for c in frame.columns]
        self.ids = ids.to_numpy(dtype=object)
        self.columns = list(self.frame.columns)
        self._search: FrameSearch | None = None

    def _positions(self, filter_string: str, order_by: Sequence[str]) -> np.ndarray:
        if not filter_string.strip() and not order_by:
            return np.arange(len(self.frame))
        if self._search is None:  # built on the first filter or sort only
            self._search = FrameSearch(self.frame, list(self.ids))
        return self._search.positions(filter_string, order_by)

    def view(self, filter_string: str, order_by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
        positions = self._positions(filter_string, order_by)
        return self.frame.iloc[positions], list(self.ids[positions])

    def rows_for(self, ids: Sequence[str], order_by: Sequence[str] = ()) -> pd.DataFrame:
        wanted = set(ids)
        positions = self._positions("", order_by)
        keep = [p for p in positions if self.ids[p] in wanted]
        return self.frame.iloc[keep]


class StoreSource(RunSource):
    """Runs of experiments in the store, searched through the tracking client."""

    is_store = True

    def __init__(self, client: Any, experiment_ids: Sequence[str], view_type: str) -> None:
        self.client = client
        self.experiment_ids = list(experiment_ids)
        self.view_type = view_type
        self.columns = []
        self.refresh()

    def refresh(self) -> None:
        """Read the columns again (new params, metrics or tags may have been logged)."""
        frame = self._search("", [], None)
        self.columns = list(frame.columns)

    def _search(self, filter_string: str, order_by: Sequence[str], max_results: int | None) -> Any:
        order = []
        for item in order_by:
            column, direction = split_order_item(item)
            order.append(f"{field_for_column(column)} {direction}")
        return self.client.search_runs_frame(
            self.experiment_ids, filter_string, self.view_type, max_results, order
        )

    def view(self, filter_string: str, order_by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
        frame = self._search(filter_string, order_by, None)
        return frame, [str(i) for i in frame["run_id"]]

    def rows_for(self, ids: Sequence[str], order_by: Sequence[str] = ()) -> pd.DataFrame:
        frame: pd.DataFrame = self._search(selection_filter(ids), order_by, None)
        return frame


def _experiment_ids(client: Any, experiment_ids: Any, experiment_names: Any) -> list[str]:
    """Checked experiment ids: every name and id must exist (a clear error otherwise)."""
    ids: list[str] = []
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    for experiment_id in experiment_ids or []:
        ids.append(client.get_experiment(str(experiment_id)).experiment_id)
    for name in experiment_names or []:
        found = client.get_experiment_by_name(name)
        if found is None:
            known = [e.name for e in client.search_experiments()]
            raise InvalidParameter(
                f"No experiment is named {name!r}; the experiments are: "
                f"{', '.join(map(repr, known)) or 'none'}. Create it with mt.set_experiment."
            )
        ids.append(found.experiment_id)
    return ids


def resolve_source(
    source: Any,
    *,
    experiment_ids: Any = None,
    experiment_names: Any = None,
    id_column: str = "run_id",
    view_type: str = "ACTIVE_ONLY",
    widget: str = "The widget",
) -> RunSource:
    """A DataFrame, an experiment (name, :class:`Experiment`) or nothing (then
    ``experiment_ids``/``experiment_names``, else the active experiment) as a source."""
    if isinstance(source, pd.DataFrame):
        if experiment_ids or experiment_names:
            raise InvalidParameter(
                f"{widget} shows either a DataFrame or experiments, not both; "
                "drop experiment_ids/experiment_names or the DataFrame."
            )
        return FrameSource(source, id_column)
    from ..tracking import fluent, fluent_ops

    client = fluent.get_client()
    if isinstance(source, Experiment):
        experiment_ids = [source.experiment_id, *(experiment_ids or [])]
    elif isinstance(source, str):
        experiment_names = [
            source,
            *([experiment_names] if isinstance(experiment_names, str) else experiment_names or []),
        ]
    elif source is not None:
        raise TypeError(
            f"{widget} shows a pandas DataFrame (e.g. mt.search_runs()) or an experiment "
            f"(its name or Experiment), got {type(source).__name__}."
        )
    ids = _experiment_ids(client, experiment_ids, experiment_names)
    if not ids:
        ids = [fluent_ops._current_experiment_id()]
    return StoreSource(client, ids, view_type)
