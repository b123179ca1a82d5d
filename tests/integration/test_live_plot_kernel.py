"""LivePlot in a real kernel: ticks reach the frontend while a cell runs a training loop.

ipykernel handles comm messages between cells only, so a plot's own requests wait while a
cell is busy; the pusher thread sends the ticks meanwhile (jupyter_mltrack/widgets/_live.py).
These tests talk to a real ipykernel over ZMQ as a frontend would, on a real DuckDB store.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

pytestmark = pytest.mark.slow

SETUP = """
import jupyter_mltrack as mt
from jupyter_mltrack.widgets import LivePlot
run = mt.start_run(run_name="live")
mt.log_metric("loss", 1.0, step=0)
plot = LivePlot(run, "loss", interval_s=0.2)
plot
"""

TRAIN = """
import time
for step in range(1, 31):
    mt.log_metric("loss", 1.0 / (step + 1), step=step)
    time.sleep(0.1)
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    env = {
        "MLTRACK_TRACKING_URI": f"duckdb:///{tmp_path / 'store.duckdb'}",
        "MLTRACK_STORE_MODE": "direct",
    }
    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, **env})
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _points(content: dict[str, Any], buffers: list[bytes]) -> list[float]:
    """The x values of the tick's only trace."""
    (trace,) = content["traces"]
    column = next(c for c in trace["columns"]["columns"] if c["name"] == "x")
    raw = buffers[column["buffer"]]
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


def _run_and_collect(
    kc: BlockingKernelClient, code: str, comm_id: str | None
) -> tuple[str, list[tuple[float, dict[str, Any], list[bytes]]], float]:
    """Execute ``code``; return the widget's comm id, its custom messages (arrival time,
    content, buffers) until the kernel is idle again, and when it went idle."""
    msg_id = kc.execute(code)
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        content = msg["content"]
        assert msg["msg_type"] != "error", content
        if msg["msg_type"] == "comm_open" and "_anywidget_id" in content["data"]["state"]:
            comm_id = content["comm_id"]
        if msg["msg_type"] == "comm_msg" and content["comm_id"] == comm_id:
            data = content["data"]
            if data.get("method") == "custom":
                messages.append(
                    (time.monotonic(), data["content"], [bytes(b) for b in msg["buffers"]])
                )
        if (
            msg["msg_type"] == "status"
            and content["execution_state"] == "idle"
            and msg["parent_header"].get("msg_id") == msg_id
        ):
            assert comm_id is not None
            return comm_id, messages, time.monotonic()


def _ask(
    kc: BlockingKernelClient, comm_id: str, request: dict[str, Any]
) -> tuple[Any, list[bytes]]:
    data = {"method": "custom", "content": {"type": "request", **request}}
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        content = msg["content"]
        if msg["msg_type"] == "comm_msg" and content["comm_id"] == comm_id:
            body = content["data"].get("content", {})
            if body.get("type") == "response" and body.get("id") == request["id"]:
                return body, [bytes(b) for b in msg["buffers"]]


def test_ticks_are_pushed_while_a_cell_trains(kernel) -> None:
    _, kc = kernel
    comm_id, _, _ = _run_and_collect(kc, SETUP, None)

    _, messages, idle_at = _run_and_collect(kc, TRAIN, comm_id)
    ticks = [(t, c, b) for t, c, b in messages if c.get("type") == "tick"]
    # pushed during the busy cell (the loop runs ~3 s at one tick per 0.2 s), not after it
    assert len(ticks) >= 3, messages
    assert all(t < idle_at for t, _, _ in ticks)
    xs = [x for _, content, buffers in ticks for x in _points(content, buffers)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs), "each point is pushed once"
    assert xs[0] == 0.0, "the first push carries the history"
    assert max(xs) >= 20, xs
    # increments: after the first, each push starts after what the previous one sent
    for (_, prev, prev_buf), (_, cur, cur_buf) in itertools.pairwise(ticks):
        sent = _points(prev, prev_buf)
        if sent and _points(cur, cur_buf):
            assert _points(cur, cur_buf)[0] > sent[-1]

    # idle again: the frontend's own requests are answered, with only what is new
    kc.execute_interactive("mt.log_metric('loss', 0.01, step=100); mt.end_run()", timeout=60)
    run_id = kc_eval(kc, "run.info.run_id")
    body, buffers = _ask(
        kc, comm_id, {"id": 1, "method": "tick", "params": {"since": {run_id: {"loss": 30}}}}
    )
    result = body["result"]
    assert _points(result, buffers) == [100.0]
    assert result["done"] is True and result["status"] == {run_id: "FINISHED"}

    # the run ended: the next busy cell pushes nothing more
    _, messages, _ = _run_and_collect(kc, "time.sleep(1)", comm_id)
    assert not [c for _, c, _ in messages if c.get("type") == "tick"]


def kc_eval(kc: BlockingKernelClient, expression: str) -> Any:
    """The value of ``expression`` in the kernel (a str, through user_expressions)."""
    reply = kc.execute_interactive("", user_expressions={"v": expression}, timeout=60)
    text = reply["content"]["user_expressions"]["v"]["data"]["text/plain"]
    return text.strip("'\"")


def test_closing_the_widget_stops_the_pushes(kernel) -> None:
    _, kc = kernel
    comm_id, _, _ = _run_and_collect(kc, SETUP, None)
    _, messages, _ = _run_and_collect(kc, "plot.close()\n" + TRAIN, comm_id)
    assert not [c for _, c, _ in messages if c.get("type") == "tick"]
