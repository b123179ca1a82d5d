"""``mt.metrics``: custom metrics, judges and the built-in metric factories (MLflow's names).

Example::

    import jupyter_mltrack as mt

    judge = mt.metrics.make_judge(my_llm_judge, name="helpfulness")
    mt.evaluate(model, df, targets="answer", model_type="question-answering",
                extra_metrics=[mt.metrics.rougeLsum(), judge])
"""

from __future__ import annotations

from .evaluation._metric import (
    EvaluationMetric,
    MetricValue,
    make_judge,
    make_metric,
    standard_aggregations,
)
from .evaluation.text import (
    ari_grade_level,
    exact_match,
    flesch_kincaid_grade_level,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rouge1,
    rouge2,
    rougeL,
    rougeLsum,
    token_count,
)

__all__ = [
    "EvaluationMetric",
    "MetricValue",
    "ari_grade_level",
    "exact_match",
    "flesch_kincaid_grade_level",
    "make_judge",
    "make_metric",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "standard_aggregations",
    "token_count",
]
