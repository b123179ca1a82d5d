"""Wire formats of the store service: entities as JSON, NaN/inf as strings, Arrow framing."""

from __future__ import annotations

import json
import math
import struct

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_mltrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.store.remote.wire import (
    dataset_from_dict,
    dataset_to_dict,
    decode_float,
    dumps,
    encode_float,
    experiment_from_dict,
    experiment_to_dict,
    file_info_from_dict,
    file_info_to_dict,
    frame_tables,
    get_field,
    ipc_to_table,
    loads,
    metric_rows_from_json,
    metric_rows_to_json,
    run_from_dict,
    run_to_dict,
    table_to_ipc,
    unframe_tables,
)


def make_run(metrics: dict[str, float]) -> Run:
    ds = Dataset("train", "d1", "local", "/d", '{"x": "int"}', None)
    return Run(
        RunInfo("r1", "0", "name", "RUNNING", 5, None, "u", "active", "file:///a", "p0"),
        RunData(metrics, {"lr": "NaN"}, {"t": "Infinity"}),
        RunInputs([DatasetInput(ds, {"mlflow.data.context": "training"})]),
    )


def through_json(d: object) -> object:
    return json.loads(dumps(d))


def test_special_floats_are_strings_on_the_wire():
    assert [encode_float(v) for v in (math.nan, math.inf, -math.inf, 1.5)] == [
        "NaN",
        "Infinity",
        "-Infinity",
        1.5,
    ]
    assert math.isnan(decode_float("NaN"))
    assert decode_float("-Infinity") == -math.inf and decode_float(3) == 3.0
    for bad in ("nan", "1.0", True, None, [1]):
        with pytest.raises(InvalidParameter, match="'v'"):
            decode_float(bad, "v")


def test_run_round_trip_keeps_nan_metrics_and_text_that_looks_like_floats():
    run = make_run({"a": 1.0, "b": math.inf, "c": -math.inf})
    body = through_json(run_to_dict(run))
    assert body["data"]["metrics"] == {"a": 1.0, "b": "Infinity", "c": "-Infinity"}
    assert run_from_dict(body) == run
    nan_run = run_from_dict(through_json(run_to_dict(make_run({"n": math.nan}))))
    assert math.isnan(nan_run.data.metrics["n"])
    assert nan_run.data.params == {"lr": "NaN"} and nan_run.data.tags == {"t": "Infinity"}


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_survives_json(value):
    back = decode_float(json.loads(dumps(encode_float(value))))
    assert (math.isnan(value) and math.isnan(back)) or back == value


def test_dumps_refuses_raw_nan():
    with pytest.raises(ValueError, match="JSON"):
        dumps({"x": math.nan})


def test_experiment_dataset_and_file_info_round_trip():
    exp = Experiment("3", "e", "file:///x", "active", {"k": "v"}, 1, 2)
    assert experiment_from_dict(through_json(experiment_to_dict(exp))) == exp
    ds = Dataset("n", "d", "local", "/p")
    assert dataset_from_dict(through_json(dataset_to_dict(ds))) == ds
    for info in (FileInfo("a/b.txt", False, 12), FileInfo("a", True, None)):
        assert file_info_from_dict(through_json(file_info_to_dict(info))) == info


def test_decoding_names_the_missing_or_mistyped_field():
    with pytest.raises(InvalidParameter, match="'digest'"):
        dataset_from_dict({"name": "n", "source_type": "s", "source": "x"})
    with pytest.raises(InvalidParameter, match="'is_dir'"):
        file_info_from_dict({"path": "p", "is_dir": 1, "file_size": 3})
    with pytest.raises(InvalidParameter, match="'file_size'"):
        file_info_from_dict({"path": "p", "is_dir": False, "file_size": True})
    with pytest.raises(InvalidParameter, match="'tags'"):
        experiment_from_dict(
            {**experiment_to_dict(Experiment("1", "n", "l", "active")), "tags": {"a": 1}}
        )
    assert get_field({"a": None}, "a", str, required=False) is None
    with pytest.raises(InvalidParameter, match="JSON object"):
        get_field([1], "a", str)
    with pytest.raises(InvalidParameter, match="not valid JSON"):
        loads(b"{")
    assert loads(b"") == {}


def test_metric_rows_round_trip_and_errors():
    rows = [("r", "k", math.inf, 1, 0), ("r", "k", 0.5, 2, 1)]
    assert metric_rows_from_json(through_json(metric_rows_to_json(rows))) == rows
    with pytest.raises(InvalidParameter, match=r"metrics\[1\]"):
        metric_rows_from_json([["r", "k", 1.0, 1, 0], ["r", "k", 1.0, 1.5, 0]])
    with pytest.raises(InvalidParameter, match="list of rows"):
        metric_rows_from_json({"r": 1})


def test_ipc_round_trip_keeps_schema_and_metadata():
    table = pa.table({"a": [1, 2], "b": ["x", None]}).replace_schema_metadata({"seq": "3"})
    back = ipc_to_table(table_to_ipc(table))
    assert back.equals(table) and back.schema.metadata == {b"seq": b"3"}
    with pytest.raises(InvalidParameter, match="Arrow IPC"):
        ipc_to_table(b"definitely not arrow")


def test_frames_are_length_prefixed_streams():
    tables = [
        pa.table({"a": [1]}),
        pa.table({"b": pa.array([], pa.string())}),
        pa.table({"c": [2.5]}),
    ]
    data = frame_tables(tables)
    (first,) = struct.unpack_from("<Q", data)
    assert ipc_to_table(data[8 : 8 + first]).equals(tables[0])
    assert [t.equals(o) for t, o in zip(unframe_tables(data), tables, strict=True)] == [True] * 3
    assert unframe_tables(b"") == []
    with pytest.raises(InvalidParameter, match="Truncated"):
        unframe_tables(data[:-3])
    with pytest.raises(InvalidParameter, match="Truncated"):
        unframe_tables(data[:4])
