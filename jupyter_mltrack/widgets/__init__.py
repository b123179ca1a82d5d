"""Notebook widgets (anywidget) of jupyter-mltrack.

Widget classes are imported on first use, so that ``import jupyter_mltrack.widgets`` (as the
server extension does for :data:`STATIC_DIR`) does not load ipywidgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bundle import STATIC_DIR

if TYPE_CHECKING:
    from ._eval import EvalCompare
    from .comparison import compare
    from .live_plot import LivePlot
    from .metric_compare import MetricCompare
    from .parallel_coordinates import ParallelCoordinates
    from .run_diff import RunDiff
    from .run_table import RunTable

__all__ = [
    "STATIC_DIR",
    "EvalCompare",
    "LivePlot",
    "MetricCompare",
    "ParallelCoordinates",
    "RunDiff",
    "RunTable",
    "compare",
]


def __getattr__(name: str) -> Any:
    if name == "RunTable":
        from .run_table import RunTable

        return RunTable
    if name == "ParallelCoordinates":
        from .parallel_coordinates import ParallelCoordinates

        return ParallelCoordinates
    if name == "LivePlot":
        from .live_plot import LivePlot

        return LivePlot
    if name == "MetricCompare":
        from .metric_compare import MetricCompare

        return MetricCompare
    if name == "RunDiff":
        from .run_diff import RunDiff

        return RunDiff
    if name == "EvalCompare":
        from ._eval import EvalCompare

        return EvalCompare
    if name == "compare":
        from .comparison import compare

        return compare
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
