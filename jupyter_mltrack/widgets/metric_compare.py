"""``MetricCompare``: one metric overlaid across runs, with LivePlot's controls.

Example::

    runs = mt.search_runs(order_by=["metrics.val_loss ASC"], max_results=5)
    MetricCompare(runs["run_id"].tolist(), "val_loss", smoothing=0.5)
"""

from __future__ import annotations

from typing import Any

from .live_plot import LivePlot, RunsLike

__all__ = ["MetricCompare"]


class MetricCompare(LivePlot, bundle="metricCompare"):
    """One metric of several runs in one chart, the legend naming each run.

    Args:
        runs: run ids, ``Run`` / ``ActiveRun`` objects, or one of them; running runs update
            live, as in :class:`LivePlot`.
        key: the metric to compare.
        **options: LivePlot's ``x_axis``, ``smoothing``, ``log_y``, ``interval_s``.

    Raises:
        TypeError, ValueError: a missing or invalid key or run.
        RunNotFound: a run id that the store does not know.
    """

    def __init__(self, runs: RunsLike, key: str, **options: Any) -> None:
        if not isinstance(key, str) or not key.strip():
            raise TypeError(
                f"MetricCompare needs one metric key (a string), got {key!r:.80}; "
                "use LivePlot(runs, keys=[...]) for several metrics."
            )
        if "small_multiples" in options or "keys" in options:
            raise TypeError("MetricCompare shows one key in one chart; use LivePlot for more.")
        super().__init__(runs, [key.strip()], _legend="run", _title=key.strip(), **options)
