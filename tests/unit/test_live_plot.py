"""LivePlot / MetricCompare's Python half on a real DuckDB store: input validation, the M4
points of a series read, and ticks through the widget's comm carrying only new points."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import RunNotFound
from jupyter_mltrack.widgets import LivePlot, MetricCompare
from jupyter_mltrack.widgets._live import m4_points


def test_m4_points_sorts_each_bucket_and_drops_repeats() -> None:
    table = pa.table(
        {
            "first_x": [0.0, 10.0],
            "first_value": [1.0, 5.0],
            "min_x": [3.0, 10.0],
            "min_value": [0.0, 5.0],
            "max_x": [1.0, 10.0],
            "max_value": [9.0, 5.0],
            "last_x": [4.0, 10.0],
            "last_value": [2.0, 5.0],
        }
    )
    xs, ys = m4_points(table)
    assert xs.tolist() == [0.0, 1.0, 3.0, 4.0, 10.0]  # a one-point bucket gives one point
    assert ys.tolist() == [1.0, 9.0, 0.0, 2.0, 5.0]


def _tick(plot: LivePlot, **params: Any) -> dict[str, Any]:
    sent: list[tuple[Any, list[Any]]] = []
    plot.send = lambda content, buffers=None: sent.append((content, buffers or []))  # type: ignore[method-assign]
    plot._answer_request({"id": 1, "method": "tick", "params": params})
    ((content, buffers),) = sent
    assert "error" not in content, content
    result: dict[str, Any] = content["result"]
    for trace in result["traces"]:
        cols = {c["name"]: c for c in trace["columns"]["columns"]}
        raw = bytes(buffers[cols["x"]["buffer"]])
        trace["x"] = list(struct.unpack(f"<{len(raw) // 8}d", raw))
    return result


def test_ticks_carry_only_the_new_points(tracking_store: str) -> None:
    with mt.start_run() as run:
        for step in range(1000):
            mt.log_metric("loss", float(np.sin(step)), step=step)
        mt.flush()
        plot = LivePlot(run, "loss")
        run_id = run.info.run_id
        first = _tick(plot, width=100)
        (trace,) = first["traces"]
        assert trace["since"] is None and trace["x"][0] == 0 and trace["x"][-1] == 999
        assert len(trace["x"]) <= 4 * 100  # downsampled per bucket, bounded by the width
        assert first["status"] == {run_id: "RUNNING"} and first["done"] is False

        for step in range(1000, 1005):
            mt.log_metric("loss", 0.5, step=step)
        mt.flush()
        tick = _tick(plot, width=100, since={run_id: {"loss": 999}})
        assert tick["traces"][0]["x"] == [1000, 1001, 1002, 1003, 1004]
        assert plot.last_tick_bytes < 1000
    done = _tick(plot, width=100, since={run_id: {"loss": 1004}})
    assert done["traces"][0]["x"] == [] and done["done"] is True and plot._done
    plot.close()


def test_keys_none_follows_the_keys_the_run_logs(tracking_store: str) -> None:
    with mt.start_run() as run:
        mt.log_metric("loss", 1.0, step=0)
        mt.flush()
        plot = LivePlot(run)
        assert plot.metric_keys == ["loss"]
        mt.log_metric("acc", 0.5, step=0)
        mt.flush()
        tick = _tick(plot, width=50)
        assert tick["keys"] == ["acc", "loss"] and plot.metric_keys == ["acc", "loss"]
        plot.close()


def test_inputs_are_validated(tracking_store: str) -> None:
    with mt.start_run() as run:
        with pytest.raises(TypeError, match="needs a run id"):
            LivePlot(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at least one run"):
            LivePlot([])
        with pytest.raises(RunNotFound):
            LivePlot("0123456789abcdef0123456789abcdef")
        with pytest.raises(TypeError, match="keys must be metric names"):
            LivePlot(run, keys=[1])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="x_axis"):
            LivePlot(run, x_axis="epoch")
        with pytest.raises(ValueError, match="smoothing"):
            LivePlot(run, smoothing=1.5)
        with pytest.raises(TypeError, match="one metric key"):
            MetricCompare([run], ["loss"])  # type: ignore[arg-type]
        plot = LivePlot(run, "loss")
        sent: list[Any] = []
        plot.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
        plot._answer_request({"id": 2, "method": "tick", "params": {"width": 0}})
        assert sent[0]["error"]["code"] == "INVALID_PARAMETER_VALUE"
        plot.close()


def test_metric_compare_overlays_one_key_across_runs(tracking_store: str) -> None:
    ids = []
    for r in range(3):
        with mt.start_run() as run:
            mt.log_metric("loss", float(r), step=0)
            mt.log_metric("acc", 1.0, step=0)
        ids.append(run.info.run_id)
    compare = MetricCompare(ids, "loss")
    assert compare.metric_keys == ["loss"] and compare._legend == "run"
    assert compare._done  # every run ended: nothing to poll
    tick = _tick(compare, width=50)
    assert [t["run_id"] for t in tick["traces"]] == ids
    assert {t["key"] for t in tick["traces"]} == {"loss"}
    compare.close()
