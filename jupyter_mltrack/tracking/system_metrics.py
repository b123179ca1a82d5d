"""Sample CPU, memory, disk, network and GPU use on a daemon thread and log them as metrics.

Keys are MLflow's (``system/cpu_utilization_percentage``, ...), so MLflow UIs and our widgets
group them the same way. Sizes are in megabytes of 10**6 bytes, as in MLflow. Network figures
are cumulative since :meth:`SystemMetricsMonitor.start`. GPU keys
(``system/gpu_<i>_utilization_percentage``, ``system/gpu_<i>_memory_usage_megabytes``)
appear only when ``pynvml`` imports and finds a device.

A failure while sampling or logging never reaches the user's code: it is reported once (a
``RuntimeWarning`` and a log record) and the monitor stops.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import psutil

from ..errors import InvalidParameter, InvalidState

__all__ = ["SystemMetricsMonitor"]

logger = logging.getLogger(__name__)

_MB = 1e6
_JOIN_TIMEOUT_S = 5.0

LogMetrics = Callable[[dict[str, float], int], None]


class SystemMetricsMonitor:
    """Log system metrics every ``interval_s`` seconds until :meth:`stop`.

    Args:
        log_metrics: called as ``log_metrics(metrics, step)`` from the monitor thread.
        interval_s: seconds between samples; must be > 0.
        samples_before_logging: samples averaged into one logged point; must be >= 1.
            ``step`` counts logged points from 0 (MLflow's convention), so with the default
            of 1 it is the sample index.

    Raises:
        InvalidParameter: for a non-positive interval or sample count.

    Example::

        monitor = SystemMetricsMonitor(lambda m, step: mt.log_metrics(m, step=step))
        monitor.start()
        ...
        monitor.stop()
    """

    def __init__(
        self,
        log_metrics: LogMetrics,
        interval_s: float = 10.0,
        samples_before_logging: int = 1,
    ) -> None:
        if not interval_s > 0:  # also rejects NaN
            raise InvalidParameter(
                f"interval_s must be a positive number of seconds, got {interval_s!r}.",
            )
        if samples_before_logging < 1:
            raise InvalidParameter(
                f"samples_before_logging must be at least 1, got {samples_before_logging!r}.",
            )
        self._log_metrics = log_metrics
        self._interval_s = float(interval_s)
        self._samples_before_logging = samples_before_logging
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._net_start: tuple[float, float] | None = None
        self._gpu: _Gpu | None = None
        self._step = 0  # continues across stop()/start(), so steps never repeat

    @property
    def running(self) -> bool:
        """True while the monitor thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the daemon thread; the first point is logged after one interval.

        Raises:
            InvalidState: if the monitor is already running.
        """
        if self.running:
            raise InvalidState("This system metrics monitor is already running; stop() it first.")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="mltrack-system-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread (a partial window is logged first)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)
        self._thread = None

    def sample(self) -> dict[str, float]:
        """One sample of every metric, keyed as logged."""
        vm = psutil.virtual_memory()
        disk = psutil.disk_usage(os.path.abspath(os.sep))
        metrics = {
            "system/cpu_utilization_percentage": float(psutil.cpu_percent(interval=None)),
            "system/system_memory_usage_megabytes": vm.used / _MB,
            "system/system_memory_usage_percentage": float(vm.percent),
            "system/disk_usage_percentage": float(disk.percent),
            "system/disk_usage_megabytes": disk.used / _MB,
            "system/disk_available_megabytes": disk.free / _MB,
        }
        net = _net_bytes()
        if net is not None and self._net_start is not None:
            metrics["system/network_receive_megabytes"] = (net[0] - self._net_start[0]) / _MB
            metrics["system/network_transmit_megabytes"] = (net[1] - self._net_start[1]) / _MB
        if self._gpu is not None:
            metrics.update(self._gpu.sample())
        return metrics

    def _run(self) -> None:
        window: list[dict[str, float]] = []
        try:
            # cpu_percent(None) measures since the previous call from the same thread: prime
            # it here so the first sample covers the first interval instead of being 0.0.
            psutil.cpu_percent(interval=None)
            self._net_start = _net_bytes()
            self._gpu = _Gpu.open()
            while not self._stop.wait(self._interval_s):
                window.append(self.sample())
                if len(window) >= self._samples_before_logging:
                    self._log_point(window)
                    window = []
            if window:
                self._log_point(window)
        except Exception as exc:  # the user's process must never see this
            _report_failure(exc)
        finally:
            if self._gpu is not None:
                self._gpu.close()
                self._gpu = None

    def _log_point(self, window: list[dict[str, float]]) -> None:
        self._log_metrics(_mean(window), self._step)
        self._step += 1


def _mean(window: list[dict[str, float]]) -> dict[str, float]:
    keys = {key for sample in window for key in sample}
    out = {}
    for key in sorted(keys):
        values = [sample[key] for sample in window if key in sample]
        out[key] = sum(values) / len(values)
    return out


def _net_bytes() -> tuple[float, float] | None:
    # psutil returns None on a machine without network interfaces; its stubs do not say so.
    counters: Any = psutil.net_io_counters()
    if counters is None:
        return None
    return float(counters.bytes_recv), float(counters.bytes_sent)


def _report_failure(exc: Exception) -> None:
    message = (
        f"System metrics monitoring stopped after an error: {type(exc).__name__}: {exc}. "
        "The run continues without system metrics."
    )
    logger.debug("System metrics sampler failed", exc_info=exc)
    try:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    except Exception:  # warnings configured as errors: say it through logging instead
        logger.warning(message, exc_info=exc)


class _Gpu:
    """NVIDIA GPUs through pynvml; :meth:`open` returns None when there are none."""

    _reported_absent = False

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def open(cls) -> _Gpu | None:
        try:
            import pynvml  # type: ignore[import-not-found, unused-ignore]

            pynvml.nvmlInit()
            count = int(pynvml.nvmlDeviceGetCount())
            if count == 0:
                pynvml.nvmlShutdown()
                raise RuntimeError("no NVIDIA device found")
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:  # GPUs are optional: ImportError, NVMLError
            if not cls._reported_absent:
                cls._reported_absent = True
                logger.debug("No GPU metrics: %s", exc)
            return None
        return cls(pynvml, handles)

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            out[f"system/gpu_{i}_utilization_percentage"] = float(util.gpu)
            out[f"system/gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
        return out

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutting down an optional library must not fail the monitor
            logger.debug("nvmlShutdown failed", exc_info=True)
