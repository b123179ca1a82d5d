"""Output helpers of the CLI: aligned tables, JSON, CSV and value formatting.

Non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` everywhere (tables, JSON, CSV), so JSON output is strict JSON
and ``float(value)`` turns them back into floats.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..entities import Experiment, FileInfo, Run

__all__ = [
    "duration_text",
    "experiment_record",
    "file_record",
    "format_table",
    "print_csv",
    "print_json",
    "print_table",
    "run_record",
    "size_text",
    "time_text",
    "to_jsonable",
]

#: Longest cell a table shows; longer text ends with an ellipsis (JSON and CSV are never cut).
MAX_CELL = 60


def float_text(value: float) -> str | float:
    """``value`` itself when finite, else ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def to_jsonable(value: Any) -> Any:
    """``value`` made safe for ``json.dumps(..., allow_nan=False)``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, Decimal):
        return float_text(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    if hasattr(value, "tolist"):  # numpy arrays
        return to_jsonable(value.tolist())
    return str(value)


def print_json(value: Any) -> None:
    """Write ``value`` as indented, strict JSON (one document) to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, allow_nan=False) + "\n")


def print_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a header and rows as CSV to stdout (``None`` as an empty field)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else cell_text(v, cut=False) for v in row])


def cell_text(value: Any, cut: bool = True) -> str:
    """One value as table text: ``-`` for missing, 6 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        shown = float_text(value)
        return shown if isinstance(shown, str) else f"{shown:.6g}"
    if isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(to_jsonable(value), allow_nan=False)
    else:
        text = str(value)
    text = text.replace("\n", " ")
    if cut and len(text) > MAX_CELL:
        return text[: MAX_CELL - 1] + "…"
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under a dashed header, columns two spaces apart; numeric columns align right.

    Example::

        >>> print(format_table(["name", "n"], [["a", 1], ["bb", 10]]))
        name   n
        ----  --
        a      1
        bb    10
    """
    texts = [[cell_text(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right = [
        all(_is_number(row[i]) or row[i] is None for row in rows)
        and any(_is_number(row[i]) for row in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in texts)
    return "\n".join(out)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    """Print a table, or the sentence ``empty`` when there are no rows."""
    print(format_table(headers, rows) if rows else empty)


def time_text(ms: int | None) -> str:
    """Local date and time of an epoch-ms value, ``-`` when absent."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def duration_text(start_ms: int | None, end_ms: int | None) -> str:
    """A short duration such as ``850ms``, ``12.3s``, ``4m 05s`` or ``2h 03m``."""
    if start_ms is None or end_ms is None:
        return "-"
    ms = max(0, end_ms - start_ms)
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    seconds = ms // 1000
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def size_text(size: int | None) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ``3.0 MiB``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def run_record(run: Run, inputs: bool = False) -> dict[str, Any]:
    """The stable JSON shape of a run (``inputs`` adds its datasets)."""
    info, data = run.info, run.data
    record: dict[str, Any] = {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": info.status,
        "start_time_ms": info.start_time_ms,
        "end_time_ms": info.end_time_ms,
        "user_id": info.user_id,
        "lifecycle_stage": info.lifecycle_stage,
        "artifact_uri": info.artifact_uri,
        "parent_run_id": info.parent_run_id,
        "params": dict(data.params),
        "metrics": dict(data.metrics),
        "tags": dict(data.tags),
    }
    if inputs:
        record["inputs"] = [
            {
                "name": di.dataset.name,
                "digest": di.dataset.digest,
                "source_type": di.dataset.source_type,
                "source": di.dataset.source,
                "context": di.context,
                "tags": dict(di.tags),
            }
            for di in run.inputs.dataset_inputs
        ]
    return record


def experiment_record(exp: Experiment) -> dict[str, Any]:
    """The stable JSON shape of an experiment."""
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "tags": dict(exp.tags),
        "creation_time_ms": exp.creation_time_ms,
        "last_update_time_ms": exp.last_update_time_ms,
    }


def file_record(info: FileInfo) -> dict[str, Any]:
    """The stable JSON shape of an artifact listing entry."""
    return {"path": info.path, "is_dir": info.is_dir, "file_size": info.file_size}
