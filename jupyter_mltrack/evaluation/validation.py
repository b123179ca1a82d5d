"""Gating a candidate against thresholds and a baseline: ``mt.Threshold`` and ``mt.validate``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter, InvalidState
from .result import EvaluationResult

__all__ = ["MetricThreshold", "ModelValidationFailed", "Threshold", "validate"]


class ModelValidationFailed(InvalidState):
    """One or more thresholds failed; ``failures`` lists each with its values."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message, failures=failures)
        self.failures = failures


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameter(f"Threshold {what} must be a finite number, got {value!r}.")
    return float(value)


@dataclass(frozen=True, init=False)
class MetricThreshold:
    """What a metric must reach: an absolute bound, and a gain over the baseline.

    ``threshold`` (or ``min=`` / ``max=``) bounds the candidate's value: at least ``threshold``
    when greater is better, at most when smaller is better. ``min_absolute_change`` and
    ``min_relative_change`` ask for that much improvement over the baseline (relative to the
    baseline's absolute value). ``greater_is_better`` defaults to the metric's own direction
    (known for the built-in metrics and custom ones), and must be given for others.

    Example::

        mt.Threshold(min=0.8, min_relative_change=0.01, greater_is_better=True)
    """

    threshold: float | None
    min_absolute_change: float | None
    min_relative_change: float | None
    greater_is_better: bool | None

    def __init__(
        self,
        threshold: float | None = None,
        min_absolute_change: float | None = None,
        min_relative_change: float | None = None,
        greater_is_better: bool | None = None,
        *,
        min: float | None = None,
        max: float | None = None,
    ) -> None:
        bounds = [b for b in (threshold, min, max) if b is not None]
        if len(bounds) > 1:
            raise InvalidParameter("Give one of threshold=, min= or max=, not several.")
        if greater_is_better is not None and not isinstance(greater_is_better, bool):
            raise InvalidParameter(
                f"greater_is_better must be True or False, got {greater_is_better!r}."
            )
        if min is not None:
            if greater_is_better is False:
                raise InvalidParameter("min= is a lower bound; it needs greater_is_better=True.")
            greater_is_better = True
        if max is not None:
            if greater_is_better is True:
                raise InvalidParameter("max= is an upper bound; it needs greater_is_better=False.")
            greater_is_better = False
        for name, value in (
            ("min_absolute_change", min_absolute_change),
            ("min_relative_change", min_relative_change),
        ):
            if value is not None and _number(value, name) is not None and value < 0:
                raise InvalidParameter(f"{name} must be >= 0, got {value!r}.")
        if (
            threshold is None
            and min is None
            and max is None
            and min_absolute_change is None
            and min_relative_change is None
        ):
            raise InvalidParameter(
                "A Threshold needs a bound (threshold=, min=, max=) or a change over the baseline "
                "(min_absolute_change=, min_relative_change=)."
            )
        object.__setattr__(self, "threshold", _number(bounds[0] if bounds else None, "bound"))
        object.__setattr__(
            self, "min_absolute_change", _number(min_absolute_change, "min_absolute_change")
        )
        object.__setattr__(
            self, "min_relative_change", _number(min_relative_change, "min_relative_change")
        )
        object.__setattr__(self, "greater_is_better", greater_is_better)


Threshold = MetricThreshold


def _metrics_of(result: Any, what: str) -> tuple[dict[str, float], dict[str, bool]]:
    if isinstance(result, EvaluationResult):
        return result.metrics, result.directions
    if isinstance(result, dict):
        return result, {}
    raise InvalidParameter(
        f"validate() {what} must be an EvaluationResult (from mt.evaluate) or a dict of "
        f"metrics; got {type(result).__name__}."
    )


def _check_one(
    key: str,
    rule: MetricThreshold,
    value: float | None,
    base: float | None,
    higher: bool,
) -> list[str]:
    if value is None or not math.isfinite(value):
        return [f"{key}: the candidate has no value for this metric"]
    failures = []
    word = ">=" if higher else "<="
    if rule.threshold is not None:
        ok = value >= rule.threshold if higher else value <= rule.threshold
        if not ok:
            failures.append(f"{key}: {value:.6g} is not {word} the threshold {rule.threshold:.6g}")
    if rule.min_absolute_change is None and rule.min_relative_change is None:
        return failures
    if base is None or not math.isfinite(base):
        return [
            *failures,
            f"{key}: a change over the baseline was asked, but the baseline has no value",
        ]
    gain = (value - base) if higher else (base - value)
    if rule.min_absolute_change is not None and gain < rule.min_absolute_change:
        failures.append(
            f"{key}: {value:.6g} improves on the baseline {base:.6g} by {gain:.6g}, less than "
            f"min_absolute_change {rule.min_absolute_change:.6g}"
        )
    if rule.min_relative_change is not None:
        relative = gain / abs(base) if base != 0 else (math.inf if gain > 0 else 0.0)
        if relative < rule.min_relative_change:
            failures.append(
                f"{key}: {value:.6g} improves on the baseline {base:.6g} by {relative:.4%}, less "
                f"than min_relative_change {rule.min_relative_change:.4%}"
            )
    return failures


def validate(
    candidate_result: Any,
    baseline_result: Any = None,
    thresholds: dict[str, MetricThreshold] | None = None,
) -> None:
    """Check ``candidate_result`` against ``thresholds``; raise one error listing every failure.

    Passes silently when every threshold holds. A threshold with a change over the baseline
    needs ``baseline_result`` (or a candidate evaluated with ``baseline_model=``).

    Raises:
        ModelValidationFailed: naming each failed metric with the candidate's value, the bound
            and the baseline's value.
        InvalidParameter: malformed thresholds or results.
    """
    if not isinstance(thresholds, dict) or not thresholds:
        raise InvalidParameter(
            "validate() needs thresholds={'metric_name': mt.Threshold(...)}, at least one."
        )
    values, directions = _metrics_of(candidate_result, "candidate_result")
    if baseline_result is None and isinstance(candidate_result, EvaluationResult):
        baseline_result = candidate_result.baseline
    base_values: dict[str, float] = {}
    if baseline_result is not None:
        base_values, base_dirs = _metrics_of(baseline_result, "baseline_result")
        directions = {**base_dirs, **directions}
    failures: list[str] = []
    for key, rule in thresholds.items():
        if not isinstance(rule, MetricThreshold):
            raise InvalidParameter(
                f"thresholds[{key!r}] is {type(rule).__name__}; use mt.Threshold(...)."
            )
        higher = (
            rule.greater_is_better if rule.greater_is_better is not None else directions.get(key)
        )
        if higher is None:
            raise InvalidParameter(
                f"The direction of metric {key!r} is unknown; pass greater_is_better= to its "
                "Threshold."
            )
        failures.extend(_check_one(key, rule, values.get(key), base_values.get(key), higher))
    if failures:
        lines = "\n  - ".join(failures)
        raise ModelValidationFailed(
            f"Model validation failed for {len(failures)} threshold(s):\n  - {lines}", failures
        )
