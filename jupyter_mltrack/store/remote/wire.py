"""The wire formats of the store service: entities as JSON dicts, tables as Arrow IPC.

Entities serialize like ``dataclasses.asdict``; floats that JSON cannot carry (NaN,
inf) travel as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and are decoded
only where a float is expected (metric values), so a tag whose value is the text
``"NaN"`` stays text. Decoding is strict: a missing or mistyped field raises
``InvalidParameter`` naming it, because the server decodes request bodies with the
same functions.

``/runs.arrow`` answers several tables in one body: each Arrow IPC stream is
prefixed by its length as 8 bytes little-endian (:func:`frame_tables`).

Example::

    body = dumps({"run": run_to_dict(run)})
    run2 = run_from_dict(loads(body)["run"])   # == run, NaN metrics included
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from ...entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModelInput,
    LoggedModelOutput,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from ...errors import InvalidParameter
from ..base import LinkedMetricRow, MetricRow, RunQuery

__all__ = [
    "ARROW_CONTENT_TYPE",
    "FRAMES_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "dataset_from_dict",
    "dataset_to_dict",
    "decode_float",
    "dumps",
    "encode_float",
    "experiment_from_dict",
    "experiment_to_dict",
    "file_info_from_dict",
    "file_info_to_dict",
    "frame_tables",
    "get_field",
    "ipc_to_table",
    "loads",
    "metric_rows_from_json",
    "metric_rows_to_json",
    "run_from_dict",
    "run_to_dict",
    "table_to_ipc",
    "unframe_tables",
]

JSON_CONTENT_TYPE = "application/json"
ARROW_CONTENT_TYPE = "application/vnd.apache.arrow.stream"
#: Several length-prefixed Arrow IPC streams (see :func:`frame_tables`).
FRAMES_CONTENT_TYPE = "application/x-mltrack-arrow-frames"

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_LENGTH = struct.Struct("<Q")


# ------------------------------------------------------------------------ scalars
def encode_float(value: float) -> float | str:
    """``value`` itself, or ``"NaN"``/``"Infinity"``/``"-Infinity"`` where JSON has none."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: Any, name: str = "value") -> float:
    """The inverse of :func:`encode_float`; raises ``InvalidParameter`` naming ``name``."""
    if isinstance(value, str):
        if value in _SPECIAL:
            return _SPECIAL[value]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidParameter(
        f"Field {name!r} must be a number or one of 'NaN', 'Infinity', '-Infinity', got {value!r}."
    )


def get_field(body: Any, name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    """``body[name]`` checked against ``kind``; missing/``None`` gives ``None`` unless required.

    Raises ``InvalidParameter`` naming the field, so a client sees which one was wrong.
    """
    if not isinstance(body, dict):
        raise InvalidParameter(f"Expected a JSON object holding {name!r}, got {body!r:.80}.")
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidParameter(f"Missing required field {name!r}.")
        return None
    bad_bool = isinstance(value, bool) and bool not in _as_tuple(kind)
    if bad_bool or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise InvalidParameter(f"Field {name!r} must be {names}, got {value!r:.80}.")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _str_dict(body: Any, name: str) -> dict[str, str]:
    value = get_field(body, name, dict, required=False) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidParameter(f"Field {name!r} must map strings to strings, got {value!r:.80}.")
    return dict(value)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; refuses raw NaN/inf (encode them with :func:`encode_float`).

    NumPy scalars are written as the Python numbers they hold; anything else JSON cannot
    carry raises ``TypeError``.
    """
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_scalar).encode()


def _scalar(obj: Any) -> Any:
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    raise TypeError(f"{type(obj).__name__} {obj!r:.60} cannot be sent as JSON")


def loads(data: bytes | str) -> Any:
    """Parse a JSON body; raises ``InvalidParameter`` when it is not JSON."""
    try:
        return json.loads(data) if data else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"The request body is not valid JSON: {exc}.") from exc


# ----------------------------------------------------------------------- entities
def experiment_to_dict(exp: Experiment) -> dict[str, Any]:
    return asdict(exp)


def experiment_from_dict(d: Any) -> Experiment:
    return Experiment(
        experiment_id=get_field(d, "experiment_id", str),
        name=get_field(d, "name", str),
        artifact_location=get_field(d, "artifact_location", str),
        lifecycle_stage=get_field(d, "lifecycle_stage", str),
        tags=_str_dict(d, "tags"),
        creation_time_ms=get_field(d, "creation_time_ms", int, required=False),
        last_update_time_ms=get_field(d, "last_update_time_ms", int, required=False),
    )


def dataset_to_dict(ds: Dataset) -> dict[str, Any]:
    return asdict(ds)


def dataset_from_dict(d: Any) -> Dataset:
    return Dataset(
        name=get_field(d, "name", str),
        digest=get_field(d, "digest", str),
        source_type=get_field(d, "source_type", str),
        source=get_field(d, "source", str),
        schema=get_field(d, "schema", str, required=False),
        profile=get_field(d, "profile", str, required=False),
    )


def run_to_dict(run: Run) -> dict[str, Any]:
    d = asdict(run)
    d["data"]["metrics"] = {k: encode_float(v) for k, v in run.data.metrics.items()}
    return d


def run_from_dict(d: Any) -> Run:
    info, data = get_field(d, "info", dict), get_field(d, "data", dict)
    inputs = get_field(d, "inputs", dict, required=False) or {}
    outputs = get_field(d, "outputs", dict, required=False) or {}
    metrics = get_field(data, "metrics", dict, required=False) or {}
    return Run(
        RunInfo(
            run_id=get_field(info, "run_id", str),
            experiment_id=get_field(info, "experiment_id", str),
            run_name=get_field(info, "run_name", str),
            status=get_field(info, "status", str),
            start_time_ms=get_field(info, "start_time_ms", int),
            end_time_ms=get_field(info, "end_time_ms", int, required=False),
            user_id=get_field(info, "user_id", str),
            lifecycle_stage=get_field(info, "lifecycle_stage", str),
            artifact_uri=get_field(info, "artifact_uri", str),
            parent_run_id=get_field(info, "parent_run_id", str, required=False),
        ),
        RunData(
            metrics={k: decode_float(v, f"metrics.{k}") for k, v in metrics.items()},
            params=_str_dict(data, "params"),
            tags=_str_dict(data, "tags"),
        ),
        RunInputs(
            [
                DatasetInput(dataset_from_dict(get_field(i, "dataset", dict)), _str_dict(i, "tags"))
                for i in get_field(inputs, "dataset_inputs", list, required=False) or []
            ],
            [
                LoggedModelInput(get_field(m, "model_id", str))
                for m in get_field(inputs, "model_inputs", list, required=False) or []
            ],
        ),
        RunOutputs(
            [
                LoggedModelOutput(get_field(m, "model_id", str), get_field(m, "step", int))
                for m in get_field(outputs, "model_outputs", list, required=False) or []
            ]
        ),
    )


def file_info_to_dict(info: FileInfo) -> dict[str, Any]:
    return asdict(info)


def file_info_from_dict(d: Any) -> FileInfo:
    return FileInfo(
        path=get_field(d, "path", str),
        is_dir=get_field(d, "is_dir", bool),
        file_size=get_field(d, "file_size", int, required=False),
    )


def metric_rows_to_json(rows: Sequence[MetricRow | LinkedMetricRow]) -> list[list[Any]]:
    """``[[run_id, key, value, timestamp_ms, step], ...]`` with NaN/inf as strings; a point
    tied to a dataset or model has ``dataset_name, dataset_digest, model_id`` after ``step``."""
    return [[r[0], r[1], encode_float(r[2]), *r[3:]] for r in rows]


def metric_rows_from_json(rows: Any, name: str = "metrics") -> list[MetricRow | LinkedMetricRow]:
    """The inverse of :func:`metric_rows_to_json`; raises ``InvalidParameter`` naming the row."""
    if not isinstance(rows, list):
        raise InvalidParameter(f"Field {name!r} must be a list of rows, got {rows!r:.80}.")
    out: list[MetricRow | LinkedMetricRow] = []
    for i, row in enumerate(rows):
        ok = isinstance(row, list) and len(row) in (5, 8)
        if ok:
            run_id, key, value, ts, step = row[:5]
            ok = isinstance(run_id, str) and isinstance(key, str)
            ok = ok and all(isinstance(x, int) and not isinstance(x, bool) for x in (ts, step))
            ok = ok and all(x is None or isinstance(x, str) for x in row[5:])
        if not ok:
            raise InvalidParameter(
                f"{name}[{i}] must be [run_id, key, value, timestamp_ms, step], optionally "
                f"followed by [dataset_name, dataset_digest, model_id], got {row!r:.80}."
            )
        point = (run_id, key, decode_float(value, f"{name}[{i}].value"), ts, step)
        out.append((*point, row[5], row[6], row[7]) if len(row) == 8 else point)
    return out


# -------------------------------------------------------------------------- Arrow
def table_to_ipc(table: pa.Table) -> bytes:
    """One Arrow IPC stream holding ``table`` (schema and metadata included)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def ipc_to_table(data: bytes | memoryview) -> pa.Table:
    """Read one Arrow IPC stream; raises ``InvalidParameter`` when it is not one."""
    try:
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidParameter(f"The body is not an Arrow IPC stream: {exc}.") from exc


def frame_tables(tables: Sequence[pa.Table]) -> bytes:
    """Concatenate IPC streams, each prefixed by its byte length (8 bytes little-endian)."""
    parts: list[bytes] = []
    for table in tables:
        ipc = table_to_ipc(table)
        parts += [_LENGTH.pack(len(ipc)), ipc]
    return b"".join(parts)


def unframe_tables(data: bytes) -> list[pa.Table]:
    """The inverse of :func:`frame_tables`; raises ``InvalidParameter`` on a truncated body."""
    view, pos, out = memoryview(data), 0, []
    while pos < len(view):
        if pos + _LENGTH.size > len(view):
            raise InvalidParameter("Truncated Arrow frame header in the response body.")
        (n,) = _LENGTH.unpack_from(view, pos)
        pos += _LENGTH.size
        if pos + n > len(view):
            raise InvalidParameter(f"Truncated Arrow frame: expected {n} bytes.")
        out.append(ipc_to_table(view[pos : pos + n]))
        pos += n
    return out


# ------------------------------------------------------------------ run queries
def run_query_to_params(query: RunQuery) -> list[tuple[str, Any]]:
    """The query-string items of ``GET /runs`` and ``GET /runs.arrow`` for ``query``."""
    return [
        *(("experiment_ids", e) for e in query.experiment_ids),
        ("filter", query.filter_string or None),
        ("view_type", query.view_type),
        ("max_results", query.max_results),
        *(("order_by", o) for o in query.order_by),
        ("page_token", query.page_token),
        *(("columns", c) for c in query.columns or ()),
        ("narrow", "true" if query.columns is not None and not query.columns else None),
    ]


def run_query_from_params(
    values: Callable[[str], list[str]], number: Callable[[str], int | None]
) -> RunQuery:
    """The :class:`RunQuery` of a request: ``values(name)`` lists a query argument's values,
    ``number(name)`` parses one as an integer (``None`` when absent)."""

    def one(name: str, default: str) -> str:
        found = values(name)
        return found[-1] if found else default

    token = one("page_token", "")
    columns = tuple(values("columns"))
    return RunQuery(
        experiment_ids=tuple(values("experiment_ids")),
        filter_string=one("filter", ""),
        view_type=one("view_type", "ACTIVE_ONLY") or "ACTIVE_ONLY",
        max_results=number("max_results"),
        order_by=tuple(values("order_by")),
        page_token=token or None,
        columns=columns or (() if one("narrow", "") == "true" else None),
    )
