"""Run columns of ``runs list`` and ``runs search``: names, values and default choices.

A column is a run attribute (``run_id``, ``run_name``, ``status``, ``start_time_ms``, ...)
or ``metrics.KEY``, ``params.KEY``, ``tags.KEY``. Times are epoch ms; tables show them as
local times and durations, JSON keeps the numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from ..entities import Run
from ..errors import InvalidParameter
from ._output import duration_text, time_text

__all__ = [
    "BASE_COLUMNS",
    "column_value",
    "default_columns",
    "header",
    "mentioned_columns",
    "parse_columns",
    "table_cell",
]

ATTRIBUTES = (
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "start_time_ms",
    "end_time_ms",
    "duration_ms",
    "user_id",
    "lifecycle_stage",
    "artifact_uri",
    "parent_run_id",
)
_ALIASES = {
    "id": "run_id",
    "name": "run_name",
    "start": "start_time_ms",
    "start_time": "start_time_ms",
    "end": "end_time_ms",
    "end_time": "end_time_ms",
    "duration": "duration_ms",
    "user": "user_id",
}
_PREFIXES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
}
BASE_COLUMNS = ("run_id", "run_name", "status", "start_time_ms", "duration_ms")
#: How many metric columns a table gets when the user does not choose them.
TOP_METRICS = 3

# A metrics./params./tags. reference in a filter or order-by: bare, `backticked` or "quoted".
_MENTION = re.compile(
    r"(?<![\w.`\"'])(metrics?|params?|parameters?|tags?)\."
    r"(?:`([^`]+)`|\"([^\"]+)\"|([\w\-/:]+(?:\.[\w\-/:]+)*))",
    re.IGNORECASE,
)


def canonical(name: str) -> str:
    """The canonical name of a column, raising ``InvalidParameter`` for an unknown one."""
    name = name.strip()
    lowered = name.lower()
    if lowered in ATTRIBUTES:
        return lowered
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    prefix, dot, key = name.partition(".")
    if dot and key and prefix.lower() in _PREFIXES:
        return f"{_PREFIXES[prefix.lower()]}.{key}"
    if dot and prefix.lower() == "attributes":
        return canonical(key)
    raise InvalidParameter(
        f"Unknown column {name!r}; use one of {', '.join(ATTRIBUTES)} or metrics.KEY, "
        "params.KEY, tags.KEY."
    )


def parse_columns(text: str) -> list[str]:
    """Canonical columns of a comma-separated list such as ``run_id,metrics.acc``."""
    names = [canonical(part) for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidParameter("--columns needs at least one column name, e.g. run_id,metrics.acc.")
    return names


def column_value(run: Run, column: str) -> Any:
    """The raw value of ``column`` for ``run`` (``None`` when the run lacks it)."""
    info, data = run.info, run.data
    if column == "duration_ms":
        if info.end_time_ms is None:
            return None
        return max(0, info.end_time_ms - info.start_time_ms)
    if column in ATTRIBUTES:
        return getattr(info, column)
    prefix, _, key = column.partition(".")
    source: dict[str, Any] = getattr(data, prefix)
    return source.get(key)


def table_cell(run: Run, column: str) -> Any:
    """The table value of ``column``: short run ids, readable times and durations."""
    if column == "run_id":
        return run.info.run_id[:8]
    if column in ("start_time_ms", "end_time_ms"):
        return time_text(column_value(run, column))
    if column == "duration_ms":
        return duration_text(run.info.start_time_ms, run.info.end_time_ms)
    return column_value(run, column)


def header(column: str) -> str:
    """The table header of a column (``start_time`` rather than ``start_time_ms``)."""
    if column == "duration_ms":
        return "duration"
    return column.removesuffix("_ms") if column in ATTRIBUTES else column


def mentioned_columns(texts: Iterable[str]) -> list[str]:
    """The ``metrics.*``, ``params.*`` and ``tags.*`` columns a filter or order-by names."""
    found: list[str] = []
    for text in texts:
        for match in _MENTION.finditer(text):
            key = match.group(2) or match.group(3) or match.group(4)
            column = f"{_PREFIXES[match.group(1).lower()]}.{key}"
            if column not in found:
                found.append(column)
    return found


def top_metric_keys(runs: Sequence[Run], count: int) -> list[str]:
    """The ``count`` metric keys most runs have (ties by name)."""
    counter: Counter[str] = Counter()
    for run in runs:
        counter.update(run.data.metrics.keys())
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [key for key, _ in ranked[:count]]


def default_columns(runs: Sequence[Run], mentioned: Sequence[str] = ()) -> list[str]:
    """Base columns, the mentioned ones, then the most common metrics up to ``TOP_METRICS``."""
    columns = [*BASE_COLUMNS, *mentioned]
    have = sum(1 for c in mentioned if c.startswith("metrics."))
    for key in top_metric_keys(runs, TOP_METRICS + len(mentioned)):
        if have >= TOP_METRICS:
            break
        if f"metrics.{key}" not in columns:
            columns.append(f"metrics.{key}")
            have += 1
    return columns
