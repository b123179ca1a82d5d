"""Rich notebook displays of runs, experiments and lists of runs (``_repr_mimebundle_``).

:class:`~jupyter_mltrack.entities.Run`, :class:`~jupyter_mltrack.entities.Experiment` and the
run lists of ``search_runs`` delegate their ``_repr_mimebundle_`` and ``__repr__`` here. Each
display has a ``text/html`` part (a status badge, the duration, params and latest metrics) and
a ``text/plain`` part that reads well in a terminal, a log or a notebook saved as text.

This module sits below ``entities`` in the layers (it is imported lazily by the entities'
display methods), so it reads the objects it renders by their attributes (the protocols
below) instead of importing their classes. All text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_ITEMS",
    "MAX_ROWS",
    "experiment_bundle",
    "experiment_repr",
    "experiment_text",
    "format_duration",
    "run_bundle",
    "run_repr",
    "run_text",
    "runs_bundle",
    "runs_text",
]

#: Params, metrics or tags shown per run before "... and N more".
MAX_ITEMS = 30
#: Runs shown in a run list before "... and N more runs".
MAX_ROWS = 50
#: Param and metric columns of a run list.
MAX_COLUMNS = 8

_BADGE_COLORS = {
    "RUNNING": "#1a73e8",
    "SCHEDULED": "#757575",
    "FINISHED": "#188038",
    "FAILED": "#d93025",
    "KILLED": "#e37400",
    "active": "#188038",
    "deleted": "#757575",
}
_MUTED = "color: var(--jp-ui-font-color2, #616161)"
_CELL = "padding: 1px 8px 1px 0; text-align: left; vertical-align: top"
_MONO = "font-family: var(--jp-code-font-family, monospace)"
_DOT = " \u00b7 "


# The displays read runs and experiments by attribute (``run.info.status``, ``run.data.params``,
# ``experiment.name``, as in entities.py); this module cannot import entities (which imports
# it), so these aliases document what each function expects.
RunLike = Any
RunInfoLike = Any
ExperimentLike = Any


# ------------------------------------------------------------------------ formatting
def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``, ``3 d 04 h``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def _duration(info: RunInfoLike, now_ms: int | None = None) -> str:
    """The run's duration; ``running for ...`` while it has not ended."""
    if info.end_time_ms is not None:
        return format_duration((info.end_time_ms - info.start_time_ms) / 1000)
    if info.status in ("RUNNING", "SCHEDULED"):
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return "running for " + format_duration((now - info.start_time_ms) / 1000)
    return "?"


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.6g}"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags the user set (the ``mlflow.*`` / ``mltrack.*`` system tags are left out)."""
    return {k: v for k, v in sorted(tags.items()) if not k.startswith(("mlflow.", "mltrack."))}


def _one_line(text: str) -> str:
    return re.sub(r"\n  (\w+):\s+", r"; \1: ", text)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(status: str) -> str:
    color = _BADGE_COLORS.get(status, "#757575")
    return (
        f'<span data-mltrack-status="{_esc(status)}" style="background: {color}; color: #fff; '
        "border-radius: 3px; padding: 0 6px; font-size: 0.85em; font-weight: 600; "
        f'letter-spacing: 0.02em">{_esc(status)}</span>'
    )


def _kv_table(title: str, items: Mapping[str, Any], numbers: bool = False) -> str:
    if not items:
        return ""
    keys = sorted(items)
    rows = []
    for key in keys[:MAX_ITEMS]:
        value = _number(items[key]) if numbers else _clip(str(items[key]))
        rows.append(
            f'<tr><td style="{_CELL}; {_MONO}">{_esc(key)}</td>'
            f'<td style="{_CELL}; {_MONO}">{_esc(value)}</td></tr>'
        )
    if len(keys) > MAX_ITEMS:
        rows.append(
            f'<tr><td colspan="2" style="{_CELL}; {_MUTED}">\u2026 and '
            f"{len(keys) - MAX_ITEMS} more</td></tr>"
        )
    return (
        f'<div style="margin-top: 4px"><div style="{_MUTED}; font-size: 0.85em">'
        f"{_esc(title)}</div>"
        f'<table style="border-collapse: collapse; margin: 0">{"".join(rows)}</table></div>'
    )


def _inline(items: Mapping[str, Any], numbers: bool = False, limit: int = MAX_ITEMS) -> str:
    keys = sorted(items)
    parts = [f"{k}={_number(items[k]) if numbers else _clip(str(items[k]), 40)}" for k in keys]
    if len(parts) > limit:
        parts = [*parts[:limit], f"... and {len(keys) - limit} more"]
    return ", ".join(parts)


# ------------------------------------------------------------------------------ runs
def run_text(run: RunLike) -> str:
    """A few readable lines: name, id, status, duration, experiment, params, metrics."""
    info, data = run.info, run.data
    lines = [
        f"Run {info.run_name!r} ({info.run_id}) {info.status}, {_duration(info)}, "
        f"experiment {info.experiment_id}"
        + (f", child of {info.parent_run_id}" if info.parent_run_id else "")
        + (" [deleted]" if info.lifecycle_stage == "deleted" else "")
    ]
    if data.params:
        lines.append("  params:  " + _inline(data.params))
    if data.metrics:
        lines.append("  metrics: " + _inline(data.metrics, numbers=True))
    tags = _user_tags(data.tags)
    if tags:
        lines.append("  tags:    " + _inline(tags))
    return "\n".join(lines)


def run_html(run: RunLike) -> str:
    info, data = run.info, run.data
    source = data.tags.get("mltrack.notebook.path") or data.tags.get("mlflow.source.name")
    facts = [
        f"<span style='{_MONO}'>{_esc(info.run_id)}</span>",
        f"experiment {_esc(info.experiment_id)}",
        f"started {_esc(_time(info.start_time_ms))}",
        _esc(_duration(info)),
    ]
    if info.parent_run_id:
        facts.append(f"child of <span style='{_MONO}'>{_esc(info.parent_run_id)}</span>")
    if source:
        cell = data.tags.get("mltrack.cell.execution_count")
        facts.append(_esc(_clip(source, 60) + (f" [{cell}]" if cell else "")))
    if info.lifecycle_stage == "deleted":
        facts.append("deleted")
    return (
        f'<div class="jp-mltrack-run" data-mltrack-run-id="{_esc(info.run_id)}" '
        'style="font-size: var(--jp-ui-font-size1, 13px); line-height: 1.5">'
        f"<div><b>{_esc(info.run_name)}</b> {_badge(info.status)}</div>"
        f'<div style="{_MUTED}">{_DOT.join(facts)}</div>'
        + _kv_table("Params", data.params)
        + _kv_table("Latest metrics", data.metrics, numbers=True)
        + _kv_table("Tags", _user_tags(data.tags))
        + "</div>"
    )


def run_repr(run: RunLike) -> str:
    """:func:`run_text` on one line, in angle brackets (``repr(run)``)."""
    return "<" + _one_line(run_text(run)) + ">"


def run_bundle(run: RunLike) -> dict[str, str]:
    """``{"text/plain": ..., "text/html": ...}`` for one run."""
    return {"text/plain": run_text(run), "text/html": run_html(run)}


# ------------------------------------------------------------------------- run lists
def _columns(runs: Sequence[RunLike]) -> tuple[list[str], list[str]]:
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for run in runs:
        params.update(dict.fromkeys(run.data.params))
        metrics.update(dict.fromkeys(run.data.metrics))
    return sorted(params)[:MAX_COLUMNS], sorted(metrics)[:MAX_COLUMNS]


def runs_text(runs: Sequence[RunLike], next_page_token: str | None = None) -> str:
    """An aligned table of name, status, duration and the first param and metric columns."""
    if not runs:
        return "No runs." + _more_pages_text(next_page_token)
    shown = runs[:MAX_ROWS]
    params, metrics = _columns(shown)
    header = [
        "run_id",
        "name",
        "status",
        "duration",
        *[f"params.{k}" for k in params],
        *[f"metrics.{k}" for k in metrics],
    ]
    rows = [
        [
            r.info.run_id,
            _clip(r.info.run_name, 30),
            r.info.status,
            _duration(r.info),
            *[_clip(r.data.params.get(k, ""), 20) for k in params],
            *[_number(r.data.metrics[k]) if k in r.data.metrics else "" for k in metrics],
        ]
        for r in shown
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    summary = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if len(runs) > MAX_ROWS:
        summary += f" (first {MAX_ROWS} shown)"
    return "\n".join([summary, *lines]) + _more_pages_text(next_page_token)


def _more_pages_text(token: str | None) -> str:
    return "" if token is None else "\nMore runs on the next page (page token in .token)."


def runs_html(runs: Sequence[RunLike], next_page_token: str | None = None) -> str:
    if not runs:
        return f'<div class="jp-mltrack-runs" style="{_MUTED}">No runs.</div>'
    shown = runs[:MAX_ROWS]
    params, metrics = _columns(shown)
    head = "".join(
        f'<th style="{_CELL}">{_esc(h)}</th>' for h in ("name", "status", "duration", "started")
    )
    head += "".join(f'<th style="{_CELL}; {_MUTED}">params.{_esc(k)}</th>' for k in params)
    head += "".join(f'<th style="{_CELL}; {_MUTED}">metrics.{_esc(k)}</th>' for k in metrics)
    body = []
    for run in shown:
        info, data = run.info, run.data
        cells = [
            f'<td style="{_CELL}" title="{_esc(info.run_id)}">'
            f"{_esc(_clip(info.run_name, 40))}</td>",
            f'<td style="{_CELL}">{_badge(info.status)}</td>',
            f'<td style="{_CELL}">{_esc(_duration(info))}</td>',
            f'<td style="{_CELL}">{_esc(_time(info.start_time_ms))}</td>',
        ]
        cells += [
            f'<td style="{_CELL}; {_MONO}">{_esc(_clip(data.params.get(k, ""), 40))}</td>'
            for k in params
        ]
        cells += [
            f'<td style="{_CELL}; {_MONO}">'
            f"{_esc(_number(data.metrics[k])) if k in data.metrics else ''}</td>"
            for k in metrics
        ]
        body.append(f'<tr data-mltrack-run-id="{_esc(info.run_id)}">{"".join(cells)}</tr>')
    notes = [f"{len(runs)} run{'s' if len(runs) != 1 else ''}"]
    if len(runs) > MAX_ROWS:
        notes.append(f"\u2026 and {len(runs) - MAX_ROWS} more runs not shown")
    if next_page_token is not None:
        notes.append("more on the next page")
    return (
        '<div class="jp-mltrack-runs" style="font-size: var(--jp-ui-font-size1, 13px)">'
        f'<table style="border-collapse: collapse"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f'<div style="{_MUTED}; font-size: 0.85em">{_esc(_DOT.join(notes))}</div></div>'
    )


def runs_bundle(runs: Iterable[RunLike], next_page_token: str | None = None) -> dict[str, str]:
    """``{"text/plain": ..., "text/html": ...}`` for a list of runs (a search result)."""
    items = list(runs)
    return {
        "text/plain": runs_text(items, next_page_token),
        "text/html": runs_html(items, next_page_token),
    }


# ------------------------------------------------------------------------ experiments
def experiment_text(experiment: ExperimentLike) -> str:
    """``Experiment 'name' (id 3) active, created ..., artifacts at ...`` plus user tags."""
    e = experiment
    text = f"Experiment {e.name!r} (id {e.experiment_id}) {e.lifecycle_stage}"
    if e.creation_time_ms is not None:
        text += f", created {_time(e.creation_time_ms)}"
    text += f", artifacts at {e.artifact_location}"
    tags = _user_tags(e.tags)
    if tags:
        text += "\n  tags: " + _inline(tags)
    return text


def experiment_html(experiment: ExperimentLike) -> str:
    e = experiment
    facts = [f"id {_esc(e.experiment_id)}"]
    if e.creation_time_ms is not None:
        facts.append(f"created {_esc(_time(e.creation_time_ms))}")
    facts.append(f"artifacts at <span style='{_MONO}'>{_esc(e.artifact_location)}</span>")
    return (
        f'<div class="jp-mltrack-experiment" data-mltrack-experiment-id="{_esc(e.experiment_id)}"'
        ' style="font-size: var(--jp-ui-font-size1, 13px); line-height: 1.5">'
        f"<div><b>{_esc(e.name)}</b> {_badge(e.lifecycle_stage)}</div>"
        f'<div style="{_MUTED}">{_DOT.join(facts)}</div>'
        + _kv_table("Tags", _user_tags(e.tags))
        + "</div>"
    )


def experiment_repr(experiment: ExperimentLike) -> str:
    """:func:`experiment_text` on one line, in angle brackets (``repr(experiment)``)."""
    return "<" + _one_line(experiment_text(experiment)) + ">"


def experiment_bundle(experiment: ExperimentLike) -> dict[str, str]:
    """``{"text/plain": ..., "text/html": ...}`` for one experiment."""
    return {"text/plain": experiment_text(experiment), "text/html": experiment_html(experiment)}
