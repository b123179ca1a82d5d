"""``LivePlot``: metrics of one or more runs, updated while they train.

Example::

    run = mt.start_run()
    plot = LivePlot(run, keys=["loss", "val_loss"], smoothing=0.6)
    plot                      # display; it grows while the run logs, from any process
    for step in range(1000):
        mt.log_metric("loss", 1 / (step + 1), step=step)

Each tick carries only the points logged since the last one, downsampled per pixel bucket
(first/min/max/last), so its cost does not grow with the history; zooming asks for the
visible range at full resolution. Ticks stop when every run has ended or the widget is
closed. How ticks reach the page while a cell is busy: :mod:`._live`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from ..entities import Run
from ._base import MltrackWidget, Reply, handles
from ._live import PUSHER, X_AXES, SeriesFeed, due, unique
from ._plotly import PlotlyAssets

if TYPE_CHECKING:
    from ..tracking.core import TrackingCore

__all__ = ["LivePlot", "RunsLike"]

#: What ``runs`` accepts: a run id, a ``Run``/``ActiveRun``, or a list of either.
RunsLike = str | Run | Sequence[str | Run]

#: Seconds between snapshot refreshes (the small series saved in the notebook).
SNAPSHOT_EVERY_S = 15.0
#: Width (pixels) assumed for pushed ticks until the view has said its own.
DEFAULT_WIDTH = 800


def resolve_runs(runs: Any, widget: str) -> tuple[list[str], TrackingCore]:
    """Run ids of ``runs`` and the client to read them through.

    An ``ActiveRun`` brings its own client; otherwise the shared client of the current
    tracking URI is used. The widget reads through a :class:`TrackingCore` on that client's
    store: the same validation, but its reads do not flush the client's buffer (the flusher
    thread commits it every 0.2 s). A flush per tick would cost the logging loop, and a
    flush from the pusher thread never ends while the loop keeps logging faster than the
    store commits (``MetricBuffer.flush`` drains until the buffer is empty).
    """
    from ..tracking.core import TrackingCore
    from ..tracking.fluent import ActiveRun, get_client

    items = [runs] if isinstance(runs, str | Run) else runs
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise TypeError(
            f"{widget} needs a run id, a Run (e.g. mt.start_run()) or a list of them, "
            f"got {type(runs).__name__}."
        )
    ids: list[str] = []
    client: TrackingCore | None = None
    for item in items:
        if isinstance(item, ActiveRun):
            client = client or item.client
            ids.append(item.info.run_id)
        elif isinstance(item, Run):
            ids.append(item.info.run_id)
        elif isinstance(item, str) and item.strip():
            ids.append(item.strip())
        else:
            raise TypeError(
                f"{widget} runs must be run ids or Run objects, got {item!r:.80} "
                f"({type(item).__name__})."
            )
    if not ids:
        raise ValueError(f"{widget} needs at least one run; pass a run id or mt.start_run().")
    return unique(ids), TrackingCore((client or get_client()).store)


def resolve_keys(keys: Any, widget: str) -> list[str] | None:
    """``keys`` as a list (a single key may be given as a string); None means every key."""
    if keys is None:
        return None
    items = [keys] if isinstance(keys, str) else keys
    if not isinstance(items, Sequence) or not all(isinstance(k, str) and k for k in items):
        raise TypeError(f"{widget} keys must be metric names (strings), got {keys!r:.100}.")
    if not items:
        raise ValueError(f"{widget} needs at least one key, or keys=None for every metric.")
    return unique(items)


class LivePlot(PlotlyAssets, MltrackWidget, bundle="livePlot"):
    """A live chart of metrics of one or more runs (plotly.js, loaded once per page).

    Args:
        runs: a run id, a ``Run`` / ``ActiveRun`` (``mt.start_run()``), or a list of either;
            runs logging from other kernels or scripts through the store service work too.
        keys: metric keys to show (a string or a list); None shows every metric the runs
            log, including keys logged later.
        x_axis: ``"step"``, ``"relative_time"`` (ms since the run's first point) or
            ``"wall_time"``.
        smoothing: EMA weight in [0, 0.99] (0 = off), as TensorBoard's slider.
        log_y: logarithmic y axis.
        small_multiples: one chart per key instead of all keys in one chart.
        interval_s: seconds between live ticks (at least 0.2).

    Raises:
        TypeError, ValueError: an argument of the wrong kind or out of range.
        RunNotFound: a run id that the store does not know.

    ``metric_keys`` lists the keys shown. The options are traitlets synced with the view
    (``plot.log_y = True`` redraws it), and the toolbar changes them back. ``close()`` stops
    the updates.
    """

    run_ids = traitlets.List(traitlets.Unicode(), read_only=True).tag(sync=True)
    #: the metric keys shown (``keys`` itself is ipywidgets' list of synced traits)
    metric_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    x_axis = traitlets.Enum(X_AXES, "step").tag(sync=True)
    smoothing = traitlets.Float(0.0, min=0.0, max=0.99).tag(sync=True)
    log_y = traitlets.Bool(False).tag(sync=True)
    small_multiples = traitlets.Bool(False).tag(sync=True)
    interval_s = traitlets.Float(1.0, min=0.2).tag(sync=True)
    #: what the legend names: "run_key" (LivePlot) or "run" (MetricCompare, one key)
    _legend = traitlets.Unicode("run_key").tag(sync=True)
    _title = traitlets.Unicode("").tag(sync=True)
    #: a small downsampled copy of the series, saved with the notebook (drawn as SVG when
    #: no kernel is there to ask); refreshed every SNAPSHOT_EVERY_S and when the runs end
    _snapshot = traitlets.Dict().tag(sync=True)
    _done = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        runs: RunsLike,
        keys: str | Sequence[str] | None = None,
        *,
        x_axis: str = "step",
        smoothing: float = 0.0,
        log_y: bool = False,
        small_multiples: bool = False,
        interval_s: float = 1.0,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        run_ids, client = resolve_runs(runs, name)
        if x_axis not in X_AXES:
            raise ValueError(f"x_axis must be one of {', '.join(X_AXES)}, got {x_axis!r}.")
        if not isinstance(smoothing, int | float) or not 0.0 <= smoothing <= 0.99:
            raise ValueError(f"smoothing must be a number in [0, 0.99], got {smoothing!r}.")
        if not isinstance(interval_s, int | float) or interval_s < 0.2:
            raise ValueError(f"interval_s must be at least 0.2 seconds, got {interval_s!r}.")
        self._feed = SeriesFeed(client, run_ids, resolve_keys(keys, name))
        self._feed.refresh_runs()  # unknown run ids fail here, with the store's message
        self._width = DEFAULT_WIDTH
        self._last_push = 0.0
        self._last_snapshot = time.monotonic()
        #: bytes (JSON + buffers) of the last tick sent, pushed or answered
        self.last_tick_bytes = 0
        super().__init__(
            metric_keys=self._feed.keys,
            x_axis=x_axis,
            smoothing=float(smoothing),
            log_y=bool(log_y),
            small_multiples=bool(small_multiples),
            interval_s=float(interval_s),
            _snapshot=self._feed.snapshot(x_axis),
            _done=self._feed.done,
            **kwargs,
        )
        self.set_trait("run_ids", run_ids)
        if not self._feed.done:
            PUSHER.add(self)

    # ----------------------------------------------------------------- requests
    @handles("tick")
    def _tick(
        self,
        *,
        since: dict[str, Any] | None = None,
        width: int = DEFAULT_WIDTH,
        x_axis: str | None = None,
    ) -> Reply:
        """New points after ``since[run_id][key]`` (all points where it is null)."""
        self._width = width
        payload, buffers = self._feed.read(width=width, x_axis=x_axis or self.x_axis, since=since)
        self._after_tick(payload, buffers)
        return Reply(payload, buffers)

    @handles("series")
    def _series(
        self,
        *,
        x_min: float | None = None,
        x_max: float | None = None,
        width: int = DEFAULT_WIDTH,
        x_axis: str | None = None,
    ) -> Reply:
        """The points in ``[x_min, x_max]`` (a zoom), at ``width`` buckets per trace."""
        for bound in (x_min, x_max):
            if bound is not None and not isinstance(bound, int | float):
                raise TypeError(f"x_min and x_max must be numbers or null, got {bound!r}.")
        payload, buffers = self._feed.read(
            width=width, x_axis=x_axis or self.x_axis, x_min=x_min, x_max=x_max
        )
        return Reply(payload, buffers)

    @traitlets.observe("metric_keys")
    def _keys_set(self, change: dict[str, Any]) -> None:
        # set from Python or the view: these keys from now on (the feed's own updates of
        # automatic keys arrive here equal to its list and change nothing)
        if list(change["new"]) != self._feed.keys:
            self._feed.fixed_keys = self._feed.keys = unique(change["new"])

    # ------------------------------------------------------------- live pushes
    def _push_tick(self) -> bool:
        """Called by the pusher thread while a cell executes; False when done or closed."""
        if self.comm is None:
            return False
        if not due(self._last_push, self.interval_s):
            return True
        self._last_push = time.monotonic()
        payload, buffers = self._feed.read(
            width=self._width, x_axis=self.x_axis, since=self._feed.pusher_since()
        )
        self.send({"type": "tick", **payload}, buffers)
        self._after_tick(payload, buffers)
        return not payload["done"]

    def _after_tick(self, payload: dict[str, Any], buffers: list[bytes | memoryview]) -> None:
        self.last_tick_bytes = len(json.dumps(payload)) + sum(len(b) for b in buffers)
        if self._feed.fixed_keys is None and self._feed.keys != self.metric_keys:
            self.metric_keys = list(self._feed.keys)
        done = bool(payload["done"])
        if (done and not self._done) or due(self._last_snapshot, SNAPSHOT_EVERY_S):
            self._last_snapshot = time.monotonic()
            self._snapshot = self._feed.snapshot(self.x_axis)
        if done:
            self._done = True
            PUSHER.discard(self)

    def close(self) -> None:
        """Stop the live updates and close the widget."""
        PUSHER.discard(self)
        super().close()
