"""Model evaluation (``mt.evaluate``, ``mt.validate``, ``mt.Threshold``, ``mt.load_table``).

The default evaluator of each model type computes MLflow's metrics under MLflow's names with
scikit-learn's values (:mod:`.classifier`, :mod:`.regressor`, :mod:`.text`), draws the default
plots (:mod:`.plots`) and logs everything to a run (:mod:`._logging`); :mod:`.validation` gates
a candidate against thresholds and a baseline. docs/evaluation.md has the guide.
"""

from __future__ import annotations

from ._metric import EvaluationMetric, MetricValue, make_judge, make_metric
from .evaluate import MODEL_TYPES, evaluate
from .result import EvaluationArtifact, EvaluationResult
from .tables import load_table
from .validation import MetricThreshold, ModelValidationFailed, Threshold, validate

__all__ = [
    "MODEL_TYPES",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "MetricValue",
    "ModelValidationFailed",
    "Threshold",
    "evaluate",
    "load_table",
    "make_judge",
    "make_metric",
    "validate",
]
