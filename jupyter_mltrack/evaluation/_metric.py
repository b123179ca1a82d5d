"""Metric objects: ``MetricValue``, ``EvaluationMetric``, ``make_metric`` and ``make_judge``.

A metric is a function of the predictions and targets (and, if it asks for them by name, the
inputs, the built-in metrics or any column of the evaluation data). It returns a number (the
aggregate), a list of per-row scores (aggregated as mean, variance and p90, as MLflow does) or a
:class:`MetricValue`. A judge is a metric whose function scores one row at a time and gives a
justification with each score; both land in the per-row ``eval_results_table``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

__all__ = [
    "EvaluationMetric",
    "MetricValue",
    "make_judge",
    "make_metric",
    "standard_aggregations",
]

#: the arguments a metric function may name; anything else must be a column of the data
KNOWN_ARGS = ("predictions", "targets", "metrics", "inputs")


@dataclass(frozen=True)
class MetricValue:
    """What a metric computed: per-row ``scores`` and ``justifications``, and aggregates."""

    scores: list[Any] | None = None
    justifications: list[str] | None = None
    aggregate_results: Mapping[str, float | None] | None = None  # None: not computed


def standard_aggregations(scores: Sequence[Any]) -> dict[str, float]:
    """``mean``, ``variance`` and ``p90`` of the finite numeric scores (MLflow's defaults)."""
    import numpy as np

    values = np.asarray([s for s in scores if _is_number(s)], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    return {
        "mean": float(values.mean()),
        "variance": float(values.var()),
        "p90": float(np.percentile(values, 90)),
    }


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_np_number(value)


def _is_np_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (np.integer, np.floating))


@dataclass(frozen=True)
class EvaluationMetric:
    """A named metric; ``mt.metrics.make_metric`` builds one."""

    eval_fn: Callable[..., Any]
    name: str
    greater_is_better: bool
    long_name: str | None = None
    version: str | None = None
    metric_details: str | None = None
    #: the argument names ``eval_fn`` takes (computed once)
    arg_names: tuple[str, ...] = field(default=(), compare=False)
    #: a judge: per-row scores with justifications
    is_judge: bool = False

    @property
    def key(self) -> str:
        """The logged name: ``name/version`` when the metric has a version (as MLflow)."""
        return f"{self.name}/{self.version}" if self.version else self.name

    def compute(self, columns: dict[str, Any]) -> MetricValue | None:
        """Call ``eval_fn`` with the arguments it names, taken from ``columns``.

        ``columns`` holds ``predictions``, ``targets``, ``inputs``, ``metrics`` and every
        column of the evaluation data. Raises ``InvalidParameter`` for an argument that is none
        of them, and for a result that is not a number, a list or a ``MetricValue``.
        """
        kwargs: dict[str, Any] = {}
        for arg in self.arg_names:
            if arg not in columns:
                raise InvalidParameter(
                    f"Metric {self.name!r} asks for {arg!r}, which is neither one of "
                    f"{', '.join(KNOWN_ARGS)} nor a column of the evaluation data "
                    f"({sorted(k for k in columns if k not in KNOWN_ARGS)[:20]})."
                )
            kwargs[arg] = columns[arg]
        result = self.eval_fn(**kwargs)
        return _to_metric_value(self, result)


def _to_metric_value(metric: EvaluationMetric, result: Any) -> MetricValue | None:
    if result is None:
        return None
    if isinstance(result, MetricValue):
        return result
    if _is_number(result):
        return MetricValue(aggregate_results={metric.name: float(result)})
    if hasattr(result, "tolist"):
        result = result.tolist()
    if isinstance(result, (list, tuple)):
        scores = list(result)
        return MetricValue(scores=scores, aggregate_results=standard_aggregations(scores))
    raise InvalidParameter(
        f"Metric {metric.name!r} returned {type(result).__name__}; return a number, a list of "
        "per-row scores or mt.metrics.MetricValue(scores=..., aggregate_results=...)."
    )


def _arg_names(fn: Callable[..., Any], what: str) -> tuple[str, ...]:
    if not callable(fn):
        raise InvalidParameter(f"{what} needs a function, got {type(fn).__name__}.")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: predictions, targets
        return ("predictions", "targets")
    names = tuple(
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.default is p.empty
    )
    return names


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise InvalidParameter(
            f"{what} needs a name without '/', e.g. name='weighted_error'; got {name!r}."
        )
    return name


def make_metric(
    eval_fn: Callable[..., Any],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
) -> EvaluationMetric:
    """A custom metric, usable in ``extra_metrics=`` and in thresholds (by its name).

    ``eval_fn`` takes any of ``predictions``, ``targets``, ``inputs``, ``metrics`` (the
    built-in metrics computed so far) and columns of the evaluation data, by name, and returns
    a number, per-row scores, or a :class:`MetricValue`.

    Example::

        def weighted_error(predictions, targets):
            return float(((predictions - targets) ** 2 * 2).mean())

        metric = mt.metrics.make_metric(weighted_error, greater_is_better=False)
        mt.evaluate(model, df, targets="y", model_type="regressor", extra_metrics=[metric])
    """
    if not isinstance(greater_is_better, bool):
        raise InvalidParameter(
            f"make_metric needs greater_is_better=True or False, got {greater_is_better!r}."
        )
    arg_names = _arg_names(eval_fn, "make_metric")
    name = _check_name(
        name if name is not None else getattr(eval_fn, "__name__", None), "make_metric"
    )
    if name == "<lambda>":
        raise InvalidParameter("make_metric needs name=... for a lambda.")
    return EvaluationMetric(
        eval_fn, name, greater_is_better, long_name, version, metric_details, arg_names
    )


def make_judge(
    fn: Callable[..., Any],
    name: str | None = None,
    rubric: str | None = None,
    greater_is_better: bool = True,
    version: str | None = None,
) -> EvaluationMetric:
    """A judge: ``fn(input, output, reference)`` scores one row at a time.

    ``fn`` returns ``(score, justification)``, a dict with ``score`` and ``justification``,
    or a bare score. Any callable works, so a user's own LLM client becomes a judge; the
    per-row scores and justifications land in the ``eval_results_table`` artifact as
    ``<name>/score`` and ``<name>/justification``, the aggregates as ``<name>/mean``,
    ``<name>/variance`` and ``<name>/p90``. ``rubric`` is passed as ``rubric=`` when ``fn``
    takes it.

    Example::

        def overlap(input, output, reference):
            shared = set(output.split()) & set(reference.split())
            return len(shared) / max(len(set(reference.split())), 1), f"{len(shared)} shared words"

        judge = mt.metrics.make_judge(overlap, name="overlap")
    """
    if not callable(fn):
        raise InvalidParameter(f"make_judge needs a function, got {type(fn).__name__}.")
    name = _check_name(name if name is not None else getattr(fn, "__name__", None), "make_judge")
    if name == "<lambda>":
        raise InvalidParameter("make_judge needs name=... for a lambda.")
    if rubric is not None and not isinstance(rubric, str):
        raise InvalidParameter(f"make_judge rubric must be text, got {type(rubric).__name__}.")
    try:
        takes_rubric = "rubric" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_rubric = False

    def judge_rows(inputs: Any, predictions: Any, targets: Any) -> MetricValue:
        rows_in = _as_list(inputs)
        rows_out = _as_list(predictions)
        rows_ref = _as_list(targets) if targets is not None else [None] * len(rows_out)
        scores: list[Any] = []
        notes: list[str] = []
        for i, (row_in, row_out, row_ref) in enumerate(
            zip(rows_in, rows_out, rows_ref, strict=True)
        ):
            extra = {"rubric": rubric} if takes_rubric else {}
            try:
                answer = fn(row_in, row_out, row_ref, **extra)
            except Exception as exc:
                raise InvalidParameter(
                    f"Judge {name!r} failed on row {i}: {type(exc).__name__}: {exc}"
                ) from exc
            score, note = _judge_answer(name, i, answer)
            scores.append(score)
            notes.append(note)
        return MetricValue(scores, notes, standard_aggregations(scores))

    return EvaluationMetric(
        judge_rows,
        name,
        greater_is_better,
        None,
        version,
        rubric,
        ("inputs", "predictions", "targets"),
        is_judge=True,
    )


def _judge_answer(name: str, row: int, answer: Any) -> tuple[Any, str]:
    if isinstance(answer, dict):
        if "score" not in answer:
            raise InvalidParameter(
                f"Judge {name!r} returned a dict without 'score' on row {row}: {answer!r}."
            )
        return _score(name, row, answer["score"]), str(answer.get("justification", ""))
    if isinstance(answer, tuple) and len(answer) == 2:
        return _score(name, row, answer[0]), str(answer[1])
    return _score(name, row, answer), ""


def _score(name: str, row: int, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not (_is_number(value)):
        raise InvalidParameter(
            f"Judge {name!r} gave score {value!r} on row {row}; scores must be numbers "
            "(return (score, justification))."
        )
    out = float(value)
    return out if math.isfinite(out) else None


def _as_list(values: Any) -> list[Any]:
    if values is None:
        return []
    if hasattr(values, "to_dict") and hasattr(values, "columns"):  # a DataFrame: row dicts
        records: list[Any] = values.to_dict("records")
        if len(values.columns) == 1:
            return [next(iter(r.values())) for r in records]
        return records
    if hasattr(values, "tolist"):
        out: list[Any] = values.tolist()
        return out
    return list(values)
