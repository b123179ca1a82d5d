"""An in-memory snapshot of the model registry, for stores that are its only writer.

A DuckDB file has one writer process (its owner holds the file lock), and every registry
write of that process goes through its store object, so that object can keep the whole
registry (models, versions, tags, aliases: a few MB for 10,000 versions) in memory and
answer reads from it. DuckDB pays a millisecond or more of fixed cost per statement; a
search that hydrates a page of models (tags, aliases, latest versions) took five of them,
and dict look-ups take microseconds (benchmarks/bench_registry.py).

Rules that keep it exact:

- every registry write bumps :attr:`RegistryCache.generation` when its transaction ends
  (committed or not), which drops the snapshot;
- a snapshot is built from five full-table reads and kept only if no write ended while it
  was being built (the generation did not move), so it never holds a half-seen write;
- searches evaluate the same parsed filter (:mod:`.registry_search`) and order as the SQL
  path, and page with the same tokens: the contract suite runs the same assertions
  against the cached DuckDB store and the uncached PostgreSQL one.

The logged-model tables are not cached: their metrics change with every metric batch.
"""

from __future__ import annotations

import functools
import operator
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .registry_search import Cond, SearchSpec, parse_order

__all__ = ["Getter", "RegistryCache", "Snapshot", "build_snapshot", "select", "sort_rows", "tester"]

Row = tuple[Any, ...]
VersionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole registry at one commit (rows in the ``registry_sql`` column orders)."""

    models: dict[str, Row]  # name -> (name, created, updated, description)
    tags: dict[str, dict[str, str]]
    aliases: dict[str, dict[str, str]]  # name -> {alias: version as str}
    versions: dict[str, list[Row]]  # name -> version rows, ascending version
    all_versions: list[Row]
    version_tags: dict[VersionKey, dict[str, str]]
    version_aliases: dict[VersionKey, list[str]]


class RegistryCache:
    """The current :class:`Snapshot` of one store, rebuilt after writes."""

    def __init__(self) -> None:
        self.generation = 0
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._snapshot = None

    def get(self, load: Callable[[], Snapshot]) -> Snapshot:
        """The snapshot, built with ``load()`` when there is none."""
        snapshot = self._snapshot
        if snapshot is not None:
            return snapshot
        before = self.generation
        snapshot = load()
        with self._lock:
            if self.generation == before:
                self._snapshot = snapshot
        return snapshot


def build_snapshot(
    models: Sequence[Row],
    model_tags: Sequence[Row],
    aliases: Sequence[Row],
    versions: Sequence[Row],
    version_tags: Sequence[Row],
) -> Snapshot:
    """A snapshot from full reads of the five registry tables."""
    tags: dict[str, dict[str, str]] = {r[0]: {} for r in models}
    for name, key, value in sorted(model_tags, key=lambda r: (r[0], r[1])):
        tags.setdefault(name, {})[key] = value
    alias_map: dict[str, dict[str, str]] = {r[0]: {} for r in models}
    version_aliases: dict[VersionKey, list[str]] = {}
    for name, alias, version in sorted(aliases, key=lambda r: (r[0], r[1])):
        alias_map.setdefault(name, {})[alias] = str(version)
        version_aliases.setdefault((name, int(version)), []).append(alias)
    by_model: dict[str, list[Row]] = {r[0]: [] for r in models}
    ordered = sorted(versions, key=lambda r: (r[0], int(r[1])))
    for row in ordered:
        by_model.setdefault(row[0], []).append(row)
    vtags: dict[VersionKey, dict[str, str]] = {}
    for name, version, key, value in sorted(version_tags, key=lambda r: (r[0], r[1], r[2])):
        vtags.setdefault((name, int(version)), {})[key] = value
    return Snapshot(
        {r[0]: r for r in models}, tags, alias_map, by_model, ordered, vtags, version_aliases
    )


@functools.lru_cache(maxsize=256)
def _like(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.compile("".join(parts), flags)


def tester(cond: Cond) -> Callable[[Any], bool]:
    """SQL's meaning of ``value <op> cond.value`` for a present (non-``None``) value, as one
    function built once per search (a pattern compiled once, not per row)."""
    op, want = cond.op, cond.value
    if op == "IN":
        members = frozenset(want)  # type: ignore[arg-type]
        return lambda value: value in members
    if op == "NOT IN":
        excluded = frozenset(want)  # type: ignore[arg-type]
        return lambda value: value not in excluded
    if op in ("LIKE", "ILIKE"):
        found = _like(str(want), op == "LIKE").fullmatch
        return lambda value: found(str(value)) is not None
    compare = _COMPARE[op]
    if isinstance(want, float):
        return lambda value: compare(float(value), want)
    return lambda value: compare(value, want)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


Getter = Callable[[Any], Any]


def select(rows: Sequence[Any], tests: Sequence[tuple[Getter, Callable[[Any], bool]]]) -> list[Any]:
    """The rows for which every ``(get, test)`` holds (``get(row)`` ``None``: no match)."""
    if not tests:
        return list(rows)
    out = []
    for row in rows:
        for get, test in tests:
            value = get(row)
            if value is None or not test(value):
                break
        else:
            out.append(row)
    return out


def sort_rows(
    rows: list[Any], order_by: Sequence[str], spec: SearchSpec, key_of: Callable[[Any, str], Any]
) -> list[Any]:
    """``rows`` in the order of ``order_by`` (the SQL path's, tie-break included):
    stable sorts from the last key to the first."""

    def by(name: str) -> Callable[[Any], Any]:
        return lambda row: key_of(row, name)

    for name, ascending in reversed(parse_order(order_by, spec)):
        rows.sort(key=by(name), reverse=not ascending)
    return rows
