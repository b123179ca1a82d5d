"""MltrackWidget's request channel, driven through the widget's comm as the frontend drives it.

The last test runs ``src/widgets/lib/request.ts`` in Node (bundled with the project's esbuild)
against a fake anywidget model whose ``send`` replays responses recorded from the Python
widget, buffers included, so the two halves of the channel are checked against each other
without a browser.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets._base import MltrackWidget, Reply, encode_columns, handles


class Probe(MltrackWidget, bundle="runTable"):  # any built bundle will do
    @handles("echo")
    def _echo(self, **params: Any) -> Any:
        return params

    @handles("series")
    def _series(self, *, n: int) -> Reply:
        buffers: list[bytes | memoryview] = []
        steps = np.arange(n, dtype=np.int64)
        columns = encode_columns({"step": steps, "value": steps * 0.5}, buffers)
        return Reply({"columns": columns}, buffers)

    @handles("invalid")
    def _invalid(self) -> None:
        raise InvalidParameter("Metric 'loss' was never logged; log it first.")

    @handles("nan")
    def _nan(self) -> Any:
        return {"mean": float("nan")}

    @handles("crash")
    def _crash(self) -> None:
        raise RuntimeError("disk on fire")


class ProbeChild(Probe):
    def _echo(self, **params: Any) -> Any:  # overrides by name: still the 'echo' handler
        return {"child": params}

    @handles("extra")
    def _extra(self) -> str:
        return "more"


class Wire:
    """The comm boundary of one widget: delivers frontend messages, records what it sends."""

    def __init__(self, widget: MltrackWidget, monkeypatch: pytest.MonkeyPatch) -> None:
        self.widget = widget
        self.sent: list[tuple[Any, list[Any]]] = []

        def publish_msg(msg_type: str, data: Any = None, buffers: Any = None, **_: Any) -> None:
            assert msg_type == "comm_msg"
            assert data["method"] == "custom"
            self.sent.append((data["content"], list(buffers or [])))

        monkeypatch.setattr(widget.comm, "publish_msg", publish_msg)

    def deliver(self, content: Any) -> None:
        self.widget.comm.handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )

    def ask(self, method: str, params: Any = None, id: int = 1) -> tuple[Any, list[Any]]:
        self.deliver({"type": "request", "id": id, "method": method, "params": params or {}})
        assert len(self.sent) == 1, self.sent
        return self.sent.pop()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire(Probe(), monkeypatch)


def test_result_comes_back_with_the_request_id(wire: Wire) -> None:
    content, buffers = wire.ask("echo", {"a": [1, 2], "b": None}, id=41)
    assert content == {"type": "response", "id": 41, "result": {"a": [1, 2], "b": None}}
    assert buffers == []


def test_columns_travel_as_little_endian_buffers(wire: Wire) -> None:
    content, buffers = wire.ask("series", {"n": 4})
    columns = content["result"]["columns"]
    assert columns["length"] == 4
    assert [(c["name"], c["dtype"], c["buffer"]) for c in columns["columns"]] == [
        ("step", "int64", 0),
        ("value", "float64", 1),
    ]
    assert np.frombuffer(buffers[0], "<i8").tolist() == [0, 1, 2, 3]
    assert np.frombuffer(buffers[1], "<f8").tolist() == [0.0, 0.5, 1.0, 1.5]


def test_mltrack_errors_keep_their_code_and_message(wire: Wire) -> None:
    content, buffers = wire.ask("invalid")
    assert content == {
        "type": "response",
        "id": 1,
        "error": {
            "code": "INVALID_PARAMETER_VALUE",
            "message": "Metric 'loss' was never logged; log it first.",
        },
    }
    assert buffers == []


def test_unexpected_errors_are_one_line_not_a_traceback(wire: Wire) -> None:
    content, _ = wire.ask("crash")
    error = content["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert "RuntimeError: disk on fire" in error["message"]
    assert "Traceback" not in error["message"] and "\n" not in error["message"]


def test_a_result_json_cannot_carry_is_an_error_not_a_mangled_answer(wire: Wire) -> None:
    error = wire.ask("nan")[0]["error"]
    assert "'nan' is not JSON" in error["message"]
    assert "encode_columns" in error["message"]


def test_unknown_method_names_the_known_ones(wire: Wire) -> None:
    error = wire.ask("nope")[0]["error"]
    assert error["code"] == "INVALID_PARAMETER_VALUE"
    assert "no request method 'nope'" in error["message"]
    assert "crash, echo, invalid, nan, series" in error["message"]


def test_wrong_params_are_a_readable_error(wire: Wire) -> None:
    content, _ = wire.ask("series", {"n": 2, "colour": "red"})
    error = content["error"]
    assert error["code"] == "INVALID_PARAMETER_VALUE"
    assert "colour" in error["message"]
    wire.deliver({"type": "request", "id": 2, "method": "echo", "params": [1]})
    assert "params object" in wire.sent.pop()[0]["error"]["message"]


def test_other_custom_messages_are_left_alone(wire: Wire) -> None:
    wire.deliver({"type": "hello"})
    wire.deliver("text")
    assert wire.sent == []


def test_subclasses_inherit_and_override_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = Wire(ProbeChild(), monkeypatch)
    assert wire.ask("echo", {"x": 1})[0]["result"] == {"child": {"x": 1}}
    assert wire.ask("extra")[0]["result"] == "more"
    assert wire.ask("series", {"n": 1})[0]["result"]["columns"]["length"] == 1
    assert set(Probe._request_handlers) == {"echo", "series", "invalid", "nan", "crash"}


def test_a_widget_without_bundle_name_is_refused() -> None:
    class Nameless(MltrackWidget):
        pass

    with pytest.raises(TypeError, match="names no bundle"):
        Nameless()


def test_encode_columns_from_arrow_with_nulls_and_strings() -> None:
    table = pa.table(
        {
            "run_id": ["a", None, "c"],
            "step": pa.array([1, None, 3], pa.int64()),  # nulls: float64 with NaN
            "ok": [True, False, True],
            "v": pa.array([1.5, 2.5, 3.5], pa.float32()),
        }
    )
    buffers: list[bytes | memoryview] = [b"earlier"]
    encoded = encode_columns(table, buffers)
    cols = {c["name"]: c for c in encoded["columns"]}
    assert encoded["length"] == 3
    assert cols["run_id"] == {"name": "run_id", "dtype": "string", "values": ["a", None, "c"]}
    assert (cols["step"]["dtype"], cols["step"]["buffer"]) == ("float64", 1)
    assert np.frombuffer(buffers[1], "<f8")[[0, 2]].tolist() == [1.0, 3.0]
    assert np.isnan(np.frombuffer(buffers[1], "<f8")[1])
    assert cols["ok"]["dtype"] == "uint8"
    assert bytes(buffers[cols["ok"]["buffer"]]) == b"\x01\x00\x01"
    assert np.frombuffer(buffers[cols["v"]["buffer"]], "<f4").tolist() == [1.5, 2.5, 3.5]


def test_encode_columns_from_pandas_and_big_endian_numpy() -> None:
    buffers: list[bytes | memoryview] = []
    frame = pd.DataFrame({"x": np.array([1, 2], dtype=">i4"), "name": ["p", "q"]})
    encoded = encode_columns(frame, buffers)
    assert encoded["columns"][0] == {"name": "x", "dtype": "int32", "buffer": 0}
    assert bytes(buffers[0]) == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert encoded["columns"][1]["values"] == ["p", "q"]
    assert encode_columns({}, []) == {"length": 0, "columns": []}


def test_encode_columns_refuses_what_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="int64 milliseconds"):
        encode_columns({"t": pd.to_datetime(["2026-01-01"]).to_numpy()}, [])
    with pytest.raises(ValueError, match="one length"):
        encode_columns({"a": [1, 2], "b": [1]}, [])


# ------------------------------------------------------------- request.ts in Node
ROOT = Path(__file__).resolve().parents[2]
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"

HARNESS = r"""
import { readFileSync } from 'node:fs';
import { decodeColumns, request, RequestError } from './request.mjs';

const canned = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const listeners = new Set();
const sent = [];
const model = {
  on(name, cb) { if (name === 'msg:custom') listeners.add(cb); },
  off(name, cb) { listeners.delete(cb); },
  send(msg) {
    sent.push(msg);
    const reply = canned[msg.method];
    if (reply === undefined) return;  // a kernel that never answers
    setTimeout(() => {
      // another request's answer first: must be ignored
      for (const cb of [...listeners]) cb({ ...reply.content, id: msg.id + 1000 }, []);
      // buffers at an odd offset, as a view into a larger message can be
      const buffers = reply.buffers.map(b64 => {
        const bytes = Buffer.from(b64, 'base64');
        const big = new Uint8Array(bytes.length + 1);
        big.set(bytes, 1);
        return new DataView(big.buffer, 1, bytes.length);
      });
      for (const cb of [...listeners]) cb({ ...reply.content, id: msg.id }, buffers);
    }, 1);
  }
};
const failure = async promise => {
  try { await promise; return null; } catch (e) {
    return { isRequestError: e instanceof RequestError, code: e.code, method: e.method,
             message: e.message };
  }
};

const out = {};
const ok = await request(model, 'series', { n: 5 });
const cols = decodeColumns(ok.result.columns, ok.buffers);
out.series = { step: Array.from(cols.step, Number), stepType: cols.step.constructor.name,
               value: Array.from(cols.value) };
out.firstRequest = sent[0];
out.invalid = await failure(request(model, 'invalid'));
out.timeout = await failure(request(model, 'silent', {}, { timeoutMs: 30 }));
const controller = new AbortController();
const pending = request(model, 'silent', {}, { timeoutMs: 0, signal: controller.signal });
controller.abort();
out.aborted = await failure(pending);
out.abortedBefore = await failure(request(model, 'silent', {}, { signal: controller.signal }));
out.listenersLeft = listeners.size;
out.ids = sent.map(m => m.id);
const aligned = new DataView(new Float64Array([1, 2]).buffer);
const decoded = decodeColumns(
  { length: 2, columns: [{ name: 'x', dtype: 'float64', buffer: 0 }] }, [aligned]);
out.alignedSharesMemory = decoded.x.buffer === aligned.buffer;
console.log(JSON.stringify(out));
"""


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    missing = None if found else "node is not on PATH"
    if not ESBUILD.is_file():
        missing = f"{ESBUILD} is missing (jlpm install)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"The request.ts test cannot run in CI: {missing}.")
        pytest.skip(missing)
    assert found is not None
    return found


def recorded_answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    wire = Wire(Probe(), monkeypatch)
    answers = {}
    for method, params in [("series", {"n": 5}), ("invalid", {})]:
        content, buffers = wire.ask(method, params)
        answers[method] = {
            "content": content,
            "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers],
        }
    return answers


def test_request_ts_round_trips_python_answers(
    node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(
        [ESBUILD, str(ROOT / "src/widgets/lib/request.ts"), "--bundle", "--format=esm",
         f"--outfile={tmp_path / 'request.mjs'}", "--log-level=warning"],
        check=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    (tmp_path / "harness.mjs").write_text(HARNESS)
    (tmp_path / "canned.json").write_text(json.dumps(recorded_answers(monkeypatch)))
    run = subprocess.run(
        [node, "harness.mjs", "canned.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    assert out["series"] == {
        "step": [0, 1, 2, 3, 4],
        "stepType": "BigInt64Array",
        "value": [0.0, 0.5, 1.0, 1.5, 2.0],
    }
    first = out["firstRequest"]
    assert first == {"type": "request", "id": first["id"], "method": "series", "params": {"n": 5}}
    assert out["invalid"] == {
        "isRequestError": True,
        "code": "INVALID_PARAMETER_VALUE",
        "method": "invalid",
        "message": "Metric 'loss' was never logged; log it first.",
    }
    assert out["timeout"]["code"] == "TIMEOUT"
    assert "did not answer 'silent' within 0.03 s" in out["timeout"]["message"]
    assert out["aborted"]["code"] == out["abortedBefore"]["code"] == "ABORTED"
    assert out["listenersLeft"] == 0  # every settled request removed its listener
    assert len(set(out["ids"])) == len(out["ids"]) == 4  # the pre-aborted one sends nothing
    assert out["alignedSharesMemory"] is True
