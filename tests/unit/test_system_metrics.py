"""SystemMetricsMonitor on the real machine; psutil is patched only to inject failures."""

from __future__ import annotations

import importlib.util
import math
import threading
import time
import warnings

import psutil
import pytest

from jupyter_mltrack.errors import InvalidParameter, InvalidState
from jupyter_mltrack.tracking.system_metrics import SystemMetricsMonitor

CPU_KEYS = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


class Collector:
    """A thread-safe log_metrics callback that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, float], int]] = []
        self._lock = threading.Lock()

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        with self._lock:
            self.calls.append((dict(metrics), step))

    def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"only {len(self.calls)} of {count} points"
            time.sleep(0.01)


def wait_until_stopped(monitor: SystemMetricsMonitor, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while monitor.running:
        assert time.monotonic() < deadline, "monitor thread did not stop"
        time.sleep(0.01)


def test_logs_every_key_with_sane_values_and_stops_promptly() -> None:
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=0.05)
    monitor.start()
    collector.wait_for(3)

    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 1.0
    assert not monitor.running

    steps = [step for _, step in collector.calls]
    assert steps == list(range(len(steps)))
    total_mb = psutil.virtual_memory().total / 1e6
    for metrics, _ in collector.calls:
        assert set(metrics) >= CPU_KEYS
        assert all(math.isfinite(value) for value in metrics.values())
        for key, value in metrics.items():
            if key.endswith("_percentage"):
                assert 0.0 <= value <= 100.0, key
            else:
                assert value >= 0.0, key
        assert 0 < metrics["system/system_memory_usage_megabytes"] <= total_mb
        assert metrics["system/disk_available_megabytes"] > 0


def test_gpu_keys_absent_without_pynvml() -> None:
    if importlib.util.find_spec("pynvml") is not None:
        pytest.skip("pynvml is installed here; this checks the machine without it")
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=0.05)
    monitor.start()
    collector.wait_for(1)
    monitor.stop()

    assert not [key for key in collector.calls[0][0] if key.startswith("system/gpu_")]


def test_no_points_before_the_first_interval() -> None:
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=30.0)
    monitor.start()
    started = time.monotonic()
    monitor.stop()

    assert time.monotonic() - started < 1.0  # stop does not wait out the interval
    assert collector.calls == []


def test_samples_are_averaged_before_logging() -> None:
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=0.02, samples_before_logging=3)
    monitor.start()
    collector.wait_for(2)
    monitor.stop()

    assert [step for _, step in collector.calls] == list(range(len(collector.calls)))
    assert set(collector.calls[0][0]) >= CPU_KEYS


def test_failing_sampler_warns_once_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise PermissionError("no access to /proc/meminfo")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=0.02)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.start()
        wait_until_stopped(monitor)
        monitor.stop()

    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert caught[0].category is RuntimeWarning
    assert "no access to /proc/meminfo" in messages[0]
    assert collector.calls == []


def test_failing_log_callback_warns_once_and_stops() -> None:
    def log_metrics(metrics: dict[str, float], step: int) -> None:
        raise ConnectionError("store went away")

    monitor = SystemMetricsMonitor(log_metrics, interval_s=0.02)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.start()
        wait_until_stopped(monitor)

    assert [str(w.message) for w in caught if "store went away" in str(w.message)]
    assert len(caught) == 1


@pytest.mark.parametrize("interval_s", [0, -1.0, float("nan")])
def test_interval_must_be_positive(interval_s: float) -> None:
    with pytest.raises(InvalidParameter, match="interval_s"):
        SystemMetricsMonitor(Collector(), interval_s=interval_s)


def test_samples_before_logging_must_be_positive() -> None:
    with pytest.raises(InvalidParameter, match="samples_before_logging"):
        SystemMetricsMonitor(Collector(), samples_before_logging=0)


def test_start_twice_is_an_error_and_restart_after_stop_works() -> None:
    collector = Collector()
    monitor = SystemMetricsMonitor(collector, interval_s=0.02)
    monitor.start()
    with pytest.raises(InvalidState):
        monitor.start()
    monitor.stop()

    logged_first = len(collector.calls)
    monitor.start()
    collector.wait_for(logged_first + 1)
    monitor.stop()
    assert not monitor.running
    # Steps continue after a restart instead of repeating.
    assert [step for _, step in collector.calls] == list(range(len(collector.calls)))


def test_stop_without_start_is_harmless() -> None:
    SystemMetricsMonitor(Collector()).stop()
