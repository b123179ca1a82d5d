"""What :class:`~.run_diff.RunDiff` shows, computed from runs read through the client.

Pure computations over run data, kept apart from the widget so that they are testable
without a frontend: which params, tags and packages differ, unified diffs of captured code,
and metric values at the steps every run logged, with their deltas against the first run.
"""

from __future__ import annotations

import difflib
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..entities import MetricHistory, Run
from ..errors import ArtifactNotFound
from ..tracking.capture import ARTIFACT_GIT_DIFF
from ..tracking.core import TrackingCore

__all__ = [
    "CODE_ARTIFACTS",
    "MetricRows",
    "code_diffs",
    "differing",
    "json_number",
    "matched_steps",
    "parse_requirements",
    "read_text_artifact",
    "sample_steps",
]

#: Text artifacts compared as code, in this order: the cell a ``%%track`` run executed, the
#: cells run before it in that kernel, and the uncommitted changes of the git work tree
#: (``start_run`` logs the latter when the tree is dirty; see docs/capture.md and
#: docs/notebooks.md).
CODE_ARTIFACTS: tuple[str, ...] = ("code/cell.py", "code/history.py", ARTIFACT_GIT_DIFF)

#: Lines of context around each change in a unified diff.
DIFF_CONTEXT_LINES = 3
#: A diff longer than this many lines is cut, with a last line saying so.
MAX_DIFF_LINES = 400


def read_text_artifact(client: TrackingCore, run_id: str, path: str) -> str | None:
    """The text of the run's artifact ``path``, or ``None`` when the run has no such file."""
    with tempfile.TemporaryDirectory(prefix="mltrack-diff-") as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except (ArtifactNotFound, FileNotFoundError, NotADirectoryError):
            return None
        file = Path(local)
        if not file.is_file():
            return None
        return file.read_text(encoding="utf-8", errors="replace")


def parse_requirements(text: str) -> dict[str, str]:
    """``name==version`` lines (as ``start_run`` records them) -> ``{name: version}``.

    Names compare case-insensitively with ``-``, ``_`` and ``.`` alike (as pip does), so the
    keys are normalised that way; lines of another form keep the whole line as the name.
    """
    packages: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        key = name.strip().lower().replace("_", "-").replace(".", "-")
        packages[key] = version.strip() if sep else ""
    return packages


def differing(
    values: Sequence[Mapping[str, str]], *, show_all: bool = False
) -> tuple[list[str], int]:
    """The keys whose value is not the same in every mapping (a missing key differs).

    Returns the keys to show, sorted, and how many keys were the same everywhere (hidden
    unless ``show_all``).
    """
    keys = sorted(set().union(*values)) if values else []
    shown, same = [], 0
    for key in keys:
        column = [m.get(key) for m in values]
        if all(v == column[0] for v in column) and column[0] is not None:
            same += 1
            if not show_all:
                continue
        shown.append(key)
    return shown, same


def code_diffs(
    base_name: str, texts: Sequence[str | None], names: Sequence[str]
) -> list[dict[str, Any]]:
    """One entry per run after the first: how its text compares with the first run's.

    ``status`` is ``same``, ``changed``, ``added`` (the first run has no such file),
    ``missing`` (this run has none) or ``absent`` (neither has it); ``diff`` is the unified
    diff from the first run's text to this run's (empty unless ``changed``/``added``).
    """
    base = texts[0]
    entries = []
    for text, name in zip(texts[1:], names[1:], strict=True):
        if text is None:
            entries.append({"status": "absent" if base is None else "missing", "diff": ""})
        elif text == base:
            entries.append({"status": "same", "diff": ""})
        else:
            status = "added" if base is None else "changed"
            entries.append({"status": status, "diff": _unified(base or "", text, base_name, name)})
    return entries


def _unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            fromfile=old_name,
            tofile=new_name,
            n=DIFF_CONTEXT_LINES,
            lineterm="",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        cut = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... ({cut} more diff lines not shown)"]
    return "\n".join(lines)


def _last_per_step(history: MetricHistory) -> tuple[np.ndarray, np.ndarray]:
    """Steps (sorted, unique) and, per step, the value logged last at that step."""
    steps = np.asarray(history.steps, dtype=np.int64)
    values = np.asarray(history.values, dtype=np.float64)
    if steps.size == 0:
        return steps, values
    order = np.lexsort((np.asarray(history.timestamps_ms), steps))
    steps, values = steps[order], values[order]
    last = np.append(steps[1:] != steps[:-1], True)
    return steps[last], values[last]


def sample_steps(steps: np.ndarray, max_steps: int) -> np.ndarray:
    """At most ``max_steps`` of the sorted ``steps``, evenly spread, always with the last."""
    if steps.size <= max_steps:
        return steps
    if max_steps == 1:
        return steps[-1:]
    picks = np.unique(np.linspace(0, steps.size - 1, max_steps).round().astype(np.int64))
    return steps[picks]


#: ``(key, step, values per run)`` rows of :func:`matched_steps`.
MetricRows = list[tuple[str, int, list[float]]]


def matched_steps(
    runs: Sequence[Run],
    history: Callable[[str, str], MetricHistory],
    max_steps: int,
) -> tuple[MetricRows, list[str], list[str]]:
    """Metric values at the steps that every run logged, per metric common to all runs.

    Args:
        runs: the runs, the first being the base of the deltas.
        history: ``(run_id, key) -> MetricHistory`` (the client's ``get_metric_history``).
        max_steps: at most this many steps per metric, evenly spread over the common steps
            and always including the last common step.

    Returns:
        The rows, the metric keys that only some runs logged, and the keys that all runs
        logged but at no common step.
    """
    key_sets = [set(run.data.metrics) for run in runs]
    common = set.intersection(*key_sets) if key_sets else set()
    not_shared = sorted(set().union(*key_sets) - common)
    rows: MetricRows = []
    no_common_step = []
    for key in sorted(common):
        series = [_last_per_step(history(run.info.run_id, key)) for run in runs]
        steps = series[0][0]
        for other, _ in series[1:]:
            steps = np.intersect1d(steps, other, assume_unique=True)
        if steps.size == 0:
            no_common_step.append(key)
            continue
        for step in sample_steps(steps, max_steps).tolist():
            values = [float(v[np.searchsorted(s, step)]) for s, v in series]
            rows.append((key, int(step), values))
    return rows, not_shared, no_common_step


def json_number(value: float) -> float | str:
    """A float for strict JSON: non-finite values as the text ``NaN``/``Infinity``/``-Infinity``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
