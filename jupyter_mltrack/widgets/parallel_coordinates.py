"""``ParallelCoordinates``: params and metrics as axes; brushing on axes selects runs.

Example::

    pc = ParallelCoordinates("my-experiment", color="metrics.acc")
    pc                                   # display; drag along an axis to brush it
    pc.brushes                           # {"metrics.acc": [0.9, 1.0], "params.opt": ["adam"]}
    pc.brushes = {"metrics.loss": [0, 0.2]}   # set from Python: the view follows
    pc.selected                          # the runs inside every brush, as a DataFrame

Each axis has a type: ``numeric``, ``log``, ``categorical`` or ``time`` (inferred from the
column, or given with ``axis_types=``). A numeric, log or time brush is ``[lo, hi]`` (times
in epoch milliseconds); a categorical brush is the list of chosen categories. A run is
selected when it lies inside every brush; with no brush, nothing is selected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import traitlets

from ..errors import InvalidParameter
from ._base import MltrackWidget, Reply, encode_columns, handles
from ._sources import RunSource, resolve_source, selection_filter

__all__ = ["AXIS_TYPES", "MAX_AXES", "ParallelCoordinates"]

AXIS_TYPES = ("numeric", "log", "categorical", "time")
#: Axes chosen by default at most (params first, then metrics).
MAX_AXES = 10


def _axis_values(values: pd.Series, kind: str) -> np.ndarray:
    """The values an axis plots and brushes compare: float64 (time: epoch ms) or text."""
    if kind == "time":
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            utc = values.dt.tz_convert("UTC") if values.dt.tz is not None else values
            ms = utc.to_numpy(dtype="datetime64[ms]").astype(np.int64).astype(np.float64)
            ms[values.isna().to_numpy()] = np.nan
            return ms
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    if kind in ("numeric", "log"):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    missing = values.isna().to_numpy()
    text = values.astype(str).to_numpy(dtype=object)
    text[missing] = None
    return text


def infer_axis_type(values: pd.Series) -> str:
    """``time`` for datetimes, ``numeric`` for numbers (and params that all parse as
    numbers), else ``categorical``."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "time"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "numeric"
    present = values.dropna()
    if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
        return "numeric"
    return "categorical"


class ParallelCoordinates(MltrackWidget, bundle="parallelCoordinates"):
    """Runs as lines across one axis per param or metric; drag on an axis to brush it.

    Args:
        source: an experiment name or :class:`~jupyter_mltrack.entities.Experiment`, or a
            DataFrame with one row per run (e.g. ``mt.search_runs()``); ``None`` shows
            ``experiment_ids``/``experiment_names``, else the active experiment.
        axes: the columns to draw as axes, in order (default: up to :data:`MAX_AXES`
            ``params.*`` then ``metrics.*`` columns; for a DataFrame without those, its
            other columns).
        axis_types: column -> ``numeric`` | ``log`` | ``categorical`` | ``time``, for the
            axes whose inferred type is not wanted.
        color: the column whose values colour the lines (a numeric one, e.g. a metric).
        brushes: initial brushes (see :attr:`brushes`).
        filter_string: only the runs matching this filter (docs/search.md).
        experiment_ids, experiment_names, id_column, run_view_type: as for ``RunTable``.

    Raises:
        InvalidParameter: an unknown experiment or column, an unknown axis type, a log axis
            with values <= 0, a time axis over values that are not times, a colour column
            that is not numeric, a malformed brush.

    Synced traitlets: ``brushes`` (set it to brush from Python), ``selected_ids`` (the runs
    inside every brush; read it or ``observe`` it), ``axes``, ``axis_types``, ``color``.
    """

    axes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    axis_types = traitlets.Dict(value_trait=traitlets.Unicode()).tag(sync=True)
    color = traitlets.Unicode("").tag(sync=True)
    brushes = traitlets.Dict().tag(sync=True)
    selected_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: bumped when the data changes (refresh, axes, types): the view asks for it again
    _generation = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        source: Any = None,
        *,
        axes: Sequence[str] | None = None,
        axis_types: Mapping[str, str] | None = None,
        color: str | None = None,
        brushes: Mapping[str, Any] | None = None,
        filter_string: str = "",
        experiment_ids: Sequence[str] | str | None = None,
        experiment_names: Sequence[str] | str | None = None,
        id_column: str = "run_id",
        run_view_type: str = "ACTIVE_ONLY",
    ) -> None:
        self._source: RunSource = resolve_source(
            source,
            experiment_ids=experiment_ids,
            experiment_names=experiment_names,
            id_column=id_column,
            view_type=run_view_type,
            widget="ParallelCoordinates",
        )
        if not isinstance(filter_string, str):
            raise InvalidParameter(f"filter_string must be a string, got {filter_string!r}.")
        self._filter = filter_string
        self._frame, self._ids = self._source.view(filter_string, [])
        chosen = self._default_axes() if axes is None else list(axes)
        self._source.check_columns(chosen, "axes")
        if not chosen:
            raise InvalidParameter(
                "ParallelCoordinates needs at least one axis; pass axes=[...] naming columns "
                f"of: {', '.join(self._source.columns)}."
            )
        types = self._check_types(chosen, dict(axis_types or {}))
        colour = self._check_color(color or self._default_color(chosen))
        super().__init__(axes=chosen, axis_types=types, color=colour)
        if brushes:
            self.brushes = dict(brushes)

    # ------------------------------------------------------------------ defaults
    def _default_axes(self) -> list[str]:
        columns = self._source.columns
        params = [c for c in columns if c.startswith("params.")]
        metrics = [c for c in columns if c.startswith("metrics.")]
        chosen = params + metrics
        if not chosen:  # a plain DataFrame: its columns but the id
            chosen = [c for c in columns if c not in ("run_id", "run_name")]
        return chosen[:MAX_AXES]

    def _default_color(self, axes: Sequence[str]) -> str:
        metrics = [a for a in axes if a.startswith("metrics.")]
        for column in [*metrics, *axes]:
            if column in self._frame.columns and infer_axis_type(self._frame[column]) == "numeric":
                return column
        return ""

    # ------------------------------------------------------------------ validation
    def _check_types(self, axes: Sequence[str], given: dict[str, str]) -> dict[str, str]:
        unknown = [c for c in given if c not in axes]
        if unknown:
            raise InvalidParameter(
                f"axis_types names {', '.join(map(repr, unknown))}, which are not axes; "
                f"the axes are: {', '.join(axes)}."
            )
        types: dict[str, str] = {}
        for axis in axes:
            values = self._frame[axis]
            kind = given.get(axis) or infer_axis_type(values)
            if kind not in AXIS_TYPES:
                raise InvalidParameter(
                    f"Axis {axis!r} has unknown type {kind!r}; use one of {', '.join(AXIS_TYPES)}."
                )
            data = _axis_values(values, kind)
            if kind == "log":
                present = data[~np.isnan(data)]
                if (present <= 0).any():
                    raise InvalidParameter(
                        f"Axis {axis!r} cannot be log: it has values <= 0 "
                        f"(smallest {present.min():g}); use 'numeric'."
                    )
            if kind in ("numeric", "time"):
                converted = np.isnan(data) & values.notna().to_numpy()
                if converted.any():
                    raise InvalidParameter(
                        f"Axis {axis!r} cannot be {kind}: {values[converted].iloc[0]!r} is not "
                        f"a {'number' if kind == 'numeric' else 'time'}; use 'categorical'."
                    )
            types[axis] = kind
        return types

    def _check_color(self, color: str) -> str:
        if not color:
            return ""
        self._source.check_columns([color], "color")
        if infer_axis_type(self._frame[color]) not in ("numeric", "time"):
            raise InvalidParameter(
                f"Lines are coloured by a numeric column; {color!r} is not numeric."
            )
        return color

    @traitlets.validate("axes")
    def _valid_axes(self, proposal: Any) -> list[str]:
        axes = self._source.check_columns(proposal["value"], "axes")
        if not axes:
            raise InvalidParameter("ParallelCoordinates needs at least one axis.")
        return axes

    @traitlets.validate("axis_types")
    def _valid_types(self, proposal: Any) -> dict[str, str]:
        return self._check_types(self.axes, dict(proposal["value"]))

    @traitlets.validate("color")
    def _valid_color(self, proposal: Any) -> str:
        return self._check_color(proposal["value"])

    @traitlets.validate("brushes")
    def _valid_brushes(self, proposal: Any) -> dict[str, Any]:
        brushes = proposal["value"]
        if not isinstance(brushes, Mapping):
            raise InvalidParameter(f"brushes must be a dict axis -> range, got {brushes!r}.")
        checked: dict[str, Any] = {}
        for axis, brush in brushes.items():
            if axis not in self.axes:
                raise InvalidParameter(
                    f"Cannot brush {axis!r}: it is not an axis; the axes are: "
                    f"{', '.join(self.axes)}."
                )
            if self.axis_types[axis] == "categorical":
                if isinstance(brush, str) or not isinstance(brush, Sequence):
                    raise InvalidParameter(
                        f"The brush of categorical axis {axis!r} is a list of categories, "
                        f"got {brush!r}."
                    )
                checked[axis] = [str(v) for v in brush]
                continue
            if (
                isinstance(brush, str)
                or not isinstance(brush, Sequence)
                or len(brush) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in brush)
                or any(math.isnan(v) for v in brush)
            ):
                raise InvalidParameter(
                    f"The brush of axis {axis!r} is [lo, hi] (two numbers"
                    f"{', epoch ms' if self.axis_types[axis] == 'time' else ''}), got {brush!r}."
                )
            lo, hi = sorted(float(v) for v in brush)
            checked[axis] = [lo, hi]
        return checked

    # ------------------------------------------------------------------ selection
    def _inside(self, brushes: Mapping[str, Any]) -> np.ndarray:
        """Mask of the runs inside every brush (none when there is no brush)."""
        if not brushes:
            return np.zeros(len(self._ids), dtype=bool)
        mask = np.ones(len(self._ids), dtype=bool)
        for axis, brush in brushes.items():
            kind = self.axis_types[axis]
            values = _axis_values(self._frame[axis], kind)
            if kind == "categorical":
                mask &= np.isin(values.astype(object), list(brush))
            else:
                with np.errstate(invalid="ignore"):
                    mask &= (values >= brush[0]) & (values <= brush[1])
        return mask

    @traitlets.observe("brushes")
    def _brushed(self, change: Any) -> None:
        mask = self._inside(change["new"])
        self.selected_ids = [i for i, keep in zip(self._ids, mask, strict=True) if keep]

    @property
    def selected(self) -> pd.DataFrame:
        """The runs inside every brush, as a DataFrame (empty with no brush)."""
        return self._frame[self._inside(self.brushes)]

    @property
    def selected_filter(self) -> str:
        """A filter string that finds exactly the selected runs (see ``RunTable``)."""
        return selection_filter(self.selected_ids)

    def refresh(self) -> None:
        """Read the runs again; brushes are kept and the selection recomputed."""
        refresh = getattr(self._source, "refresh", None)
        if refresh is not None:
            refresh()
        self._frame, self._ids = self._source.view(self._filter, [])
        self.selected_ids = [
            i for i, k in zip(self._ids, self._inside(self.brushes), strict=True) if k
        ]
        self._generation += 1

    # ------------------------------------------------------------------ data on request
    @handles("data")
    def _data(self) -> Reply:
        """Every run's value on every axis (and the colour column), as columns."""
        buffers: list[bytes | memoryview] = []
        columns: dict[str, Any] = {}
        categories: dict[str, list[str]] = {}
        for axis in self.axes:
            kind = self.axis_types[axis]
            values = _axis_values(self._frame[axis], kind)
            if kind == "categorical":
                present = sorted({v for v in values if v is not None})
                categories[axis] = present
            columns[axis] = values
        colour = None
        if self.color:
            colour = _axis_values(self._frame[self.color], "numeric")
            columns["\0color"] = colour
        encoded = encode_columns(columns, buffers)
        return Reply(
            {
                "ids": list(self._ids),
                "columns": encoded,
                "categories": categories,
                "color_column": "\0color" if colour is not None else None,
            },
            buffers,
        )
