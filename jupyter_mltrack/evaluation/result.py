"""What ``mt.evaluate`` returns: metrics, artifacts, per-row tables and the plot figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvaluationArtifact", "EvaluationResult"]


@dataclass(frozen=True)
class EvaluationArtifact:
    """One logged artifact: where it is (``uri``, ``path`` in the run) and what it holds.

    ``content`` is a plotly figure dict for plots (their PNG is ``uri``, the figure is also
    logged as ``<name>.plotly.json``), a DataFrame for tables.
    """

    uri: str
    path: str
    content: Any = None
    figure_path: str | None = None

    def __repr__(self) -> str:
        return f"EvaluationArtifact(path={self.path!r}, uri={self.uri!r})"


@dataclass
class EvaluationResult:
    """``.metrics`` (name -> value), ``.artifacts`` (name -> :class:`EvaluationArtifact`),
    ``.tables`` (``eval_results_table`` -> DataFrame), the run and model it belongs to.

    ``baseline`` is the baseline model's result when ``baseline_model=`` was given (its
    deltas are logged as ``delta/<metric>``); ``figures`` maps plot names to plotly figure
    dicts (``EvalCompare`` overlays them); ``curves`` holds the raw curve points.
    """

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    model_id: str | None = None
    model_type: str = ""
    dataset_name: str | None = None
    dataset_digest: str | None = None
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    baseline: EvaluationResult | None = None
    #: greater-is-better of each metric (built-in directions and custom metrics')
    directions: dict[str, bool] = field(default_factory=dict)

    @property
    def baseline_model_metrics(self) -> dict[str, float] | None:
        """The baseline's metrics (MLflow 2's name), or None without a baseline."""
        return self.baseline.metrics if self.baseline is not None else None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in list(self.metrics.items())[:6])
        more = "" if len(self.metrics) <= 6 else f", ... ({len(self.metrics)} metrics)"
        return f"EvaluationResult(run_id={self.run_id!r}, {shown}{more})"
