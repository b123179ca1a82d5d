"""Live series for the chart widgets: incremental downsampled reads and the busy-kernel pusher.

Shared by :class:`~.live_plot.LivePlot` and :class:`~.metric_compare.MetricCompare`.

**Reads.** :class:`SeriesFeed` reads one ``(run, key)`` trace at a time through the client's
downsampled series (``TrackingCore.series_table``: per pixel bucket the first, min, max and
last point, so spikes survive). A tick names, per trace, the last x the view holds
(``since``); the read asks for ``x >= since + 0.5`` (x is an integer step or ms on every axis),
so a tick carries only new points, and at most ``4 * width`` of them, whatever the history.

**Who drives the ticks.** The frontend asks (``request(model, 'tick', ...)``) once a second,
answered by the widget's ``@handles("tick")`` method. But ipykernel handles comm messages on
the shell channel, between cells only (measured: a request sent during a 4 s cell is answered
when the cell ends), so a plot under a cell that runs a training loop would stay blank. While
a cell executes (IPython's ``pre_run_cell``/``post_run_cell`` events), :data:`PUSHER`, one
daemon thread for all live widgets, sends the same ticks itself with ``Widget.send``, which
ipykernel allows from any thread, every ``interval_s``; it stops pushing a widget when its
runs are all terminal or it is closed, and sleeps whenever the kernel is idle.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..entities import RunStatus
from ..errors import MltrackError
from ..store.base import SeriesRequest
from ._base import encode_columns

if TYPE_CHECKING:
    from ..tracking.core import TrackingCore

__all__ = ["PUSHER", "X_AXES", "SeriesFeed", "m4_points"]

_log = logging.getLogger(__name__)

#: The x axes of a series read (``SeriesRequest.x_axis``).
X_AXES = ("step", "relative_time", "wall_time")
#: Buckets of the snapshot saved in the widget state (drawn as SVG without a kernel).
SNAPSHOT_WIDTH = 80
#: Widest read a view may ask for (pixels); the store accepts up to 100,000.
MAX_WIDTH = 8000


def m4_points(table: Any) -> tuple[np.ndarray, np.ndarray]:
    """The points of one run's M4 buckets (a ``series_table`` answer), sorted by x.

    Each bucket gives up to four points (first, min, max, last); identical neighbours (a
    bucket of one point gives it four times) are kept once.
    """
    if table.num_rows == 0:
        return np.empty(0), np.empty(0)
    col = {name: table.column(name).to_numpy() for name in table.column_names}
    xs = np.stack([col["first_x"], col["min_x"], col["max_x"], col["last_x"]], axis=1)
    ys = np.stack(
        [col["first_value"], col["min_value"], col["max_value"], col["last_value"]], axis=1
    ).astype(np.float64)
    order = np.argsort(xs, axis=1, kind="stable")
    xs = np.take_along_axis(xs, order, axis=1).astype(np.float64)
    ys = np.take_along_axis(ys, order, axis=1)
    keep = np.ones(xs.shape, dtype=bool)
    same_y = (ys[:, 1:] == ys[:, :-1]) | (np.isnan(ys[:, 1:]) & np.isnan(ys[:, :-1]))
    keep[:, 1:] = ~((xs[:, 1:] == xs[:, :-1]) & same_y)
    return xs[keep], ys[keep]


def _since_value(since: Mapping[str, Any], run_id: str, key: str) -> float | None:
    value = since.get(run_id, {}).get(key) if isinstance(since.get(run_id), Mapping) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(
            f"since[{run_id!r}][{key!r}] must be a finite number or null, got {value!r}."
        )
    return float(value)


class SeriesFeed:
    """The reads behind a chart widget: runs' statuses, metric keys and new points.

    Args:
        client: the tracking client (or core) to read through.
        run_ids: the runs shown.
        keys: the metric keys shown, or None for every key the runs have logged (found
            again at each tick, so keys logged later appear).
    """

    def __init__(
        self, client: TrackingCore, run_ids: Sequence[str], keys: Sequence[str] | None
    ) -> None:
        self.client = client
        self.run_ids = list(run_ids)
        self.fixed_keys = list(keys) if keys is not None else None
        self.keys: list[str] = list(keys or [])
        self.status: dict[str, str] = {}
        self.names: dict[str, str] = {}
        #: per (run_id, key): the largest x sent so far by any tick (the pusher's cursor)
        self.sent: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def refresh_runs(self) -> None:
        """Read each run's status, name and (when keys are automatic) metric keys."""
        found: set[str] = set()
        for run_id in self.run_ids:
            run = self.client.get_run(run_id)
            self.status[run_id] = run.info.status
            self.names[run_id] = run.info.run_name or run_id[:8]
            found.update(run.data.metrics)
        if self.fixed_keys is None:
            self.keys = sorted(found)

    @property
    def done(self) -> bool:
        """Whether every run has ended (the last tick read after that holds every point)."""
        return bool(self.status) and all(
            self.status.get(r) in RunStatus.TERMINAL for r in self.run_ids
        )

    def read(
        self,
        *,
        width: int,
        x_axis: str,
        since: Mapping[str, Any] | None = None,
        x_min: float | None = None,
        x_max: float | None = None,
    ) -> tuple[dict[str, Any], list[bytes | memoryview]]:
        """One tick's payload and buffers: per trace the points after ``since[run][key]``.

        With ``x_min``/``x_max`` (a zoom) the points in that range instead, at ``width``
        buckets' resolution. Raises ``ValueError``/``TypeError`` on invalid params.
        """
        if x_axis not in X_AXES:
            raise ValueError(f"x_axis must be one of {', '.join(X_AXES)}, got {x_axis!r}.")
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
            raise ValueError(f"width must be an integer pixel count in 1..{MAX_WIDTH}.")
        since = since or {}
        if not isinstance(since, Mapping):
            raise TypeError(f"since must map run ids to {{key: x}}, got {since!r:.100}.")
        self.refresh_runs()  # statuses first: a run seen ended has flushed its points
        buffers: list[bytes | memoryview] = []
        traces = []
        for run_id in self.run_ids:
            for key in self.keys:
                after = None if x_min is not None else _since_value(since, run_id, key)
                low = after + 0.5 if after is not None else x_min
                xs, ys = self._points(run_id, key, width, x_axis, low, x_max)
                if len(xs) and x_min is None:
                    with self._lock:
                        last = float(xs[-1])
                        self.sent[run_id, key] = max(self.sent.get((run_id, key), last), last)
                traces.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "since": after,
                        "columns": encode_columns({"x": xs, "y": ys}, buffers),
                    }
                )
        payload = {
            "x_axis": x_axis,
            "keys": self.keys,
            "status": dict(self.status),
            "names": dict(self.names),
            "done": self.done,
            "zoom": [x_min, x_max] if x_min is not None or x_max is not None else None,
            "traces": traces,
        }
        return payload, buffers

    def pusher_since(self) -> dict[str, dict[str, float]]:
        """The ``since`` of the pusher's next tick: what ticks have sent so far."""
        with self._lock:
            out: dict[str, dict[str, float]] = {}
            for (run_id, key), x in self.sent.items():
                out.setdefault(run_id, {})[key] = x
            return out

    def snapshot(self, x_axis: str) -> dict[str, Any]:
        """A small JSON series of every trace (``SNAPSHOT_WIDTH`` buckets), for the state."""
        traces = []
        for run_id in self.run_ids:
            for key in self.keys:
                xs, ys = self._points(run_id, key, SNAPSHOT_WIDTH, x_axis, None, None)
                finite = np.isfinite(ys)
                traces.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "x": xs[finite].tolist(),
                        "y": [float(f"{v:.6g}") for v in ys[finite]],
                    }
                )
        return {"x_axis": x_axis, "names": dict(self.names), "traces": traces}

    def _points(
        self,
        run_id: str,
        key: str,
        width: int,
        x_axis: str,
        x_min: float | None,
        x_max: float | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        request = SeriesRequest((run_id,), key, width, x_axis, x_min, x_max)
        return m4_points(self.client.series_table(request))


class _Pushable(Protocol):
    def _push_tick(self) -> bool:
        """Send a tick if one is due; False once the widget needs no more pushes."""
        ...


class _Pusher:
    """One daemon thread that pushes ticks of live widgets while a cell executes."""

    #: how often the thread looks at its widgets (each has its own ``interval_s``)
    poll_s = 0.1

    def __init__(self) -> None:
        self._widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self._shell: Any = None

    @property
    def busy(self) -> bool:
        """Whether a cell is executing (as far as IPython's events tell)."""
        return self._busy.is_set()

    def add(self, widget: _Pushable) -> bool:
        """Push ``widget``'s ticks whenever a cell executes; False outside an IPython kernel.

        Called from the widget's constructor, which runs inside a cell: the kernel is busy.
        """
        if not self._hook():
            return False
        with self._lock:
            self._widgets.add(widget)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mltrack-live", daemon=True)
                self._thread.start()
        return True

    def discard(self, widget: object) -> None:
        with self._lock:
            self._widgets.discard(widget)

    def __contains__(self, widget: object) -> bool:
        return widget in self._widgets

    def _hook(self) -> bool:
        try:
            from IPython.core.getipython import get_ipython
        except ImportError:  # pragma: no cover - ipywidgets depends on IPython
            return False
        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return False
        if shell is not self._shell:
            shell.events.register("pre_run_cell", self._cell_started)
            shell.events.register("post_run_cell", self._cell_ended)
            self._shell = shell
            if threading.current_thread() is threading.main_thread():
                self._busy.set()  # hooked from inside the cell that is running now
        return True

    def _cell_started(self, *_: Any) -> None:
        self._busy.set()

    def _cell_ended(self, *_: Any) -> None:
        self._busy.clear()

    def _loop(self) -> None:
        while True:
            self._busy.wait()
            with self._lock:
                widgets = list(self._widgets)
            if not widgets:
                with self._lock:
                    if not self._widgets:
                        self._thread = None
                        return
                continue
            for widget in widgets:
                if not self._busy.is_set():
                    break
                try:
                    keep = widget._push_tick()
                except MltrackError as exc:  # e.g. the store went away: retried next tick
                    _log.warning("jupyter-mltrack live update failed: %s", exc.message)
                    keep = True
                except Exception:
                    _log.exception("jupyter-mltrack live update failed; pushes stop")
                    keep = False
                if not keep:
                    self.discard(widget)
            time.sleep(self.poll_s)


#: The process's pusher; live widgets add themselves in their constructor.
PUSHER = _Pusher()


def due(last: float, interval_s: float, now: float | None = None) -> bool:
    """Whether ``interval_s`` has passed since ``last`` (monotonic seconds)."""
    return (time.monotonic() if now is None else now) - last >= interval_s


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in first-seen order."""
    return list(dict.fromkeys(items))
