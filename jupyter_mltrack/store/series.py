"""What every store's downsampled series read shares: request checks and the x range.

The stores differ in how they compute x (their SQL dialect) and how they run a query; the
range bounds are the same idea everywhere: predicates on the stored integer columns, which
the scan (DuckDB's row-group pruning, PostgreSQL's index) can use, and for relative time the
bound widened by the spread of the runs' start times, then exact on ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidParameter
from .base import SeriesRequest

__all__ = ["X_COLUMN", "check_series_request", "x_range_predicates"]

#: The stored column each x axis is computed from (``m`` is ``store.metrics``).
X_COLUMN = {"step": "m.step", "wall_time": "m.timestamp_ms", "relative_time": "m.timestamp_ms"}


def check_series_request(req: SeriesRequest, axes: Iterable[str]) -> None:
    """``InvalidParameter`` for an unknown x axis or a width outside 1..100000."""
    axes = list(axes)
    if req.x_axis not in axes:
        raise InvalidParameter(f"Unknown x axis {req.x_axis!r}; use one of {', '.join(axes)}.")
    if not isinstance(req.width, int) or not 1 <= req.width <= 100_000:
        raise InvalidParameter(f"width must be an integer in 1..100000, got {req.width!r}.")


def x_range_predicates(
    req: SeriesRequest,
    relative_x: str,
    start_bounds: Callable[[], tuple[Any, Any]],
) -> tuple[str, list[object]]:
    """``AND ...`` predicates (``?`` placeholders) for ``x_min``/``x_max``, and their params.

    ``relative_x`` is the dialect's expression of relative time; ``start_bounds()`` returns
    the earliest and latest start time (ms) of the requested runs, ``(None, None)`` when
    none exists (then nothing matches a range, and no predicate is needed).
    """
    lo_shift = hi_shift = 0
    exact = ""
    if req.x_axis == "relative_time" and (req.x_min is not None or req.x_max is not None):
        lo, hi = start_bounds()
        if lo is None:
            return "", []
        lo_shift, hi_shift = int(lo), int(hi)
        exact = relative_x
    column = X_COLUMN[req.x_axis]
    sql, params = "", list[object]()
    for op, bound, shift, rounded in (
        (">=", req.x_min, lo_shift, math.ceil),
        ("<=", req.x_max, hi_shift, math.floor),
    ):
        if bound is None:
            continue
        sql += f" AND {column} {op} ?"
        params.append(rounded(bound) + shift)
        if exact:
            sql += f" AND {exact} {op} ?"
            params.append(float(bound))
    return sql, params
