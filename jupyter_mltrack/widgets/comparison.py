"""``mt.compare(runs)``: a run table, parallel coordinates, overlaid curves and a run diff,
linked so that a selection drives the curves and the diff.

Example::

    view = mt.compare(mt.search_runs(experiment_names=["sweep"]), key="val_loss")
    view                    # click rows or brush axes: the curves and the diff follow
    view.selected           # the selected runs (DataFrame)
    view.table.selected_ids = [a, b]   # select from Python: the same

Links (``observe`` on the synced ``selected_ids`` of the table and the parallel
coordinates): a brush in the parallel coordinates selects its runs in the table; the
table's selection (clicked, brushed or set from Python) becomes ``view.selected_ids``, the
runs of the diff, and the runs of the curves. With nothing selected, the curves show the
first runs and the diff asks for a selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets  # type: ignore[import-untyped]  # (no type information)
import pandas as pd
import traitlets

from ..entities import Experiment
from ..errors import InvalidParameter
from .metric_compare import MetricCompare
from .parallel_coordinates import ParallelCoordinates
from .run_diff import RunDiff, run_ids_of
from .run_table import RunTable

__all__ = ["MAX_RUNS", "Compare", "compare"]

#: Runs drawn as curves and compared in the diff at most (the first of the selection).
MAX_RUNS = 10


class Compare(ipywidgets.VBox):
    """The linked view built by :func:`compare`; its parts are attributes.

    Attributes:
        table: the :class:`RunTable` of the runs.
        parcoords: the :class:`ParallelCoordinates` of the runs.
        curves: the :class:`MetricCompare` of the selected runs (``None`` when the runs
            logged no metric); rebuilt when the selection changes.
        diff: the :class:`RunDiff` of the selected runs.
        selected_ids: the current selection (a traitlet: ``observe`` it).
    """

    selected_ids = traitlets.List(traitlets.Unicode())

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        key: str | None,
        axes: Sequence[str] | None,
        color: str | None,
        max_runs: int,
    ) -> None:
        self._frame = frame
        self._ids = [str(i) for i in frame["run_id"]]
        self._key = key
        self._max_runs = max_runs
        columns = [
            c
            for c in frame.columns
            if c in ("run_name", "status") or c.startswith(("params.", "metrics."))
        ]
        self.table = RunTable(frame, columns=columns or None)
        self.parcoords = ParallelCoordinates(frame, axes=axes, color=color)
        self.diff = RunDiff(self._ids[:2])
        self.diff.run_ids = []  # nothing selected yet: the view asks for a selection
        self.curves: MetricCompare | None = None
        self._curves_box = ipywidgets.Box()
        self._show_curves(self._ids[:max_runs])
        super().__init__(children=[self.table, self.parcoords, self._curves_box, self.diff])
        self.parcoords.observe(self._brushed, names="selected_ids")
        self.table.observe(self._selected, names="selected_ids")

    def _brushed(self, change: dict[str, Any]) -> None:
        self.table.selected_ids = list(change["new"])  # -> _selected

    def _selected(self, change: dict[str, Any]) -> None:
        ids = [i for i in change["new"] if i in self._ids]
        self.selected_ids = ids
        self.diff.run_ids = ids[: self._max_runs]
        self._show_curves(ids[: self._max_runs] or self._ids[: self._max_runs])

    def _show_curves(self, ids: list[str]) -> None:
        if self._key is None:
            self._curves_box.children = [ipywidgets.HTML("<i>These runs logged no metric.</i>")]
            return
        if self.curves is not None:
            if list(self.curves.run_ids) == ids:
                return
            self.curves.close()  # stops its updates
        self.curves = MetricCompare(ids, self._key)
        self._curves_box.children = [self.curves]

    @property
    def selected(self) -> pd.DataFrame:
        """The selected runs' rows, in the order of the runs given."""
        return self._frame[self._frame["run_id"].astype(str).isin(self.selected_ids)]

    def close(self) -> None:
        """Close every part (the curves stop updating)."""
        for part in (self.table, self.parcoords, self.curves, self.diff):
            if part is not None:
                part.close()
        super().close()


def compare(
    runs: Any = None,
    *,
    key: str | None = None,
    axes: Sequence[str] | None = None,
    color: str | None = None,
    experiment_names: Sequence[str] | str | None = None,
    max_runs: int = MAX_RUNS,
) -> Compare:
    """Compare runs in one linked view: table, parallel coordinates, curves and diff.

    Args:
        runs: a DataFrame of runs (``mt.search_runs()``), an experiment name or
            :class:`Experiment`, or run ids / Runs; ``None`` takes ``experiment_names``, else
            the active experiment.
        key: the metric the curves show (default: the first metric of the runs).
        axes, color: the parallel coordinates' axes and colour column (default: params and
            metrics; the first metric).
        experiment_names: experiments whose runs to compare when ``runs`` is ``None``.
        max_runs: curves and the diff show at most this many of the selected runs.

    Returns:
        A :class:`Compare` (an ``ipywidgets.VBox``); display it.

    Raises:
        InvalidParameter: fewer than two runs, an unknown experiment, run or metric key.
    """
    if not isinstance(max_runs, int) or isinstance(max_runs, bool) or max_runs < 2:
        raise InvalidParameter(f"max_runs must be an int >= 2, got {max_runs!r}.")
    frame = _runs_frame(runs, experiment_names)
    if len(frame) < 2:
        raise InvalidParameter(
            f"mt.compare needs two or more runs, got {len(frame)}; log more runs or pass "
            "another experiment or search result."
        )
    metrics = sorted(c.removeprefix("metrics.") for c in frame.columns if c.startswith("metrics."))
    if key is None:
        key = metrics[0] if metrics else None
    elif key not in metrics:
        raise InvalidParameter(
            f"No run logged the metric {key!r}; the runs have: {', '.join(metrics) or 'none'}."
        )
    return Compare(frame, key=key, axes=axes, color=color, max_runs=max_runs)


def _runs_frame(runs: Any, experiment_names: Sequence[str] | str | None) -> pd.DataFrame:
    """The runs to compare as the DataFrame of ``search_runs``."""
    from ..tracking import fluent, fluent_ops

    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise InvalidParameter(
                "The DataFrame of runs has no run_id column; pass mt.search_runs() output."
            )
        return runs.reset_index(drop=True)
    if runs is None:
        names = [experiment_names] if isinstance(experiment_names, str) else experiment_names
        found: pd.DataFrame = fluent_ops.search_runs(
            experiment_names=list(names) if names else None
        )
        return found
    if experiment_names is not None:
        raise InvalidParameter("Pass either runs or experiment_names to mt.compare, not both.")
    if isinstance(runs, Experiment):
        of_experiment: pd.DataFrame = fluent_ops.search_runs(experiment_ids=[runs.experiment_id])
        return of_experiment
    if isinstance(runs, str) and fluent.get_experiment_by_name(runs) is not None:
        named: pd.DataFrame = fluent_ops.search_runs(experiment_names=[runs])
        return named
    ids = run_ids_of(runs)
    given = [fluent_ops.get_run(i) for i in ids]  # unknown ids fail here, by name
    experiments = sorted({r.info.experiment_id for r in given})
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    frame: pd.DataFrame = fluent_ops.search_runs(
        experiment_ids=experiments, filter_string=f"attributes.run_id IN ({quoted})"
    )
    order = {run_id: n for n, run_id in enumerate(ids)}
    frame = frame.sort_values("run_id", key=lambda s: s.map(order))
    return frame.reset_index(drop=True)
