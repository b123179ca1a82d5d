"""Text, question-answering and retriever metrics, all computed locally.

ROUGE comes from ``rouge-score`` (Google's reference implementation, stemming on) and the
readability grades from ``textstat``; both are in the ``evaluation`` extra. Token counts are
whitespace tokens: MLflow counts ``tiktoken`` tokens, whose encoding files are downloaded at run
time, which this project never does. Names follow MLflow's (``rouge1/v1``, ``exact_match/v1``,
``precision_at_3``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidParameter
from ._metric import EvaluationMetric, MetricValue, make_metric, standard_aggregations

__all__ = [
    "ari_grade_level",
    "default_metrics",
    "exact_match",
    "flesch_kincaid_grade_level",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "token_count",
]


def _texts(values: Any, what: str) -> list[str]:
    out = values.tolist() if hasattr(values, "tolist") else list(values)
    for i, v in enumerate(out):
        if not isinstance(v, str):
            raise InvalidParameter(
                f"Text metrics need text {what}; row {i} is {type(v).__name__} {v!r}."
            )
    return out


def _per_row(scores: list[Any]) -> MetricValue:
    return MetricValue(scores=scores, aggregate_results=standard_aggregations(scores))


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = {"rouge_score": "rouge-score"}.get(module, module)
        raise InvalidParameter(
            f"This text metric needs the {package} package: pip install "
            f"'jupyter-mltrack[evaluation]' (or pip install {package})."
        ) from exc


def _rouge(kind: str) -> EvaluationMetric:
    def fn(predictions: Any, targets: Any) -> MetricValue | None:
        if targets is None:
            return None
        scorer_module = _need("rouge_score.rouge_scorer")
        scorer = scorer_module.RougeScorer([kind], use_stemmer=True)
        preds, refs = _texts(predictions, "predictions"), _texts(targets, "targets")
        return _per_row(
            [scorer.score(r, p)[kind].fmeasure for p, r in zip(preds, refs, strict=True)]
        )

    fn.__name__ = kind
    return make_metric(fn, greater_is_better=True, name=kind, version="v1")


def rouge1() -> EvaluationMetric:
    """ROUGE-1 F-measure per row (unigram overlap with the target)."""
    return _rouge("rouge1")


def rouge2() -> EvaluationMetric:
    """ROUGE-2 F-measure per row (bigram overlap)."""
    return _rouge("rouge2")


def rougeL() -> EvaluationMetric:
    """ROUGE-L F-measure per row (longest common subsequence)."""
    return _rouge("rougeL")


def rougeLsum() -> EvaluationMetric:
    """ROUGE-Lsum F-measure per row (LCS over sentences split at newlines)."""
    return _rouge("rougeLsum")


def flesch_kincaid_grade_level() -> EvaluationMetric:
    """The Flesch-Kincaid grade level of each prediction (``textstat``)."""

    def fn(predictions: Any) -> MetricValue:
        textstat = _need("textstat")
        return _per_row(
            [textstat.flesch_kincaid_grade(t) for t in _texts(predictions, "predictions")]
        )

    return make_metric(fn, greater_is_better=False, name="flesch_kincaid_grade_level", version="v1")


def ari_grade_level() -> EvaluationMetric:
    """The automated readability index of each prediction (``textstat``)."""

    def fn(predictions: Any) -> MetricValue:
        textstat = _need("textstat")
        texts = _texts(predictions, "predictions")
        return _per_row([textstat.automated_readability_index(t) for t in texts])

    return make_metric(
        fn,
        greater_is_better=False,
        name="ari_grade_level",
        long_name="automated_readability_index_grade_level",
        version="v1",
    )


def token_count() -> EvaluationMetric:
    """Whitespace tokens per prediction."""

    def fn(predictions: Any) -> MetricValue:
        scores = [len(t.split()) for t in _texts(predictions, "predictions")]
        return MetricValue(scores=scores, aggregate_results=standard_aggregations(scores))

    return make_metric(fn, greater_is_better=True, name="token_count")


def exact_match() -> EvaluationMetric:
    """The fraction of predictions equal to their target."""

    def fn(predictions: Any, targets: Any) -> MetricValue | None:
        if targets is None:
            return None
        preds, refs = list(predictions), list(targets)
        if not preds:
            return None
        hits = sum(1 for p, r in zip(preds, refs, strict=True) if p == r)
        return MetricValue(aggregate_results={"exact_match": hits / len(preds)})

    return make_metric(fn, greater_is_better=True, name="exact_match", version="v1")


def _ids(value: Any, what: str, row: int) -> list[Any]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidParameter(
            f"Retriever {what} must be a list of document ids per row; row {row} is {value!r}."
        )
    return list(value)


def _check_k(k: Any) -> int:
    if type(k) is not int or k <= 0:
        raise InvalidParameter(f"k must be a positive integer, got {k!r}.")
    return k


def precision_at_k(k: int) -> EvaluationMetric:
    """The fraction of the first ``k`` retrieved ids that are relevant (1 for nothing asked and
    nothing retrieved, as MLflow)."""
    k = _check_k(k)

    def fn(predictions: Any, targets: Any) -> MetricValue:
        scores: list[float] = []
        for i, (retrieved_all, relevant) in enumerate(zip(predictions, targets, strict=True)):
            retrieved = _ids(retrieved_all, "predictions", i)[:k]
            truth = set(_ids(relevant, "targets", i))
            if retrieved:
                scores.append(sum(1 for d in retrieved if d in truth) / len(retrieved))
            else:
                scores.append(1.0 if not truth else 0.0)
        return _per_row(scores)

    return make_metric(fn, greater_is_better=True, name=f"precision_at_{k}")


def recall_at_k(k: int) -> EvaluationMetric:
    """The fraction of relevant ids found in the first ``k`` retrieved."""
    k = _check_k(k)

    def fn(predictions: Any, targets: Any) -> MetricValue:
        scores: list[float] = []
        for i, (retrieved_all, relevant) in enumerate(zip(predictions, targets, strict=True)):
            retrieved = set(_ids(retrieved_all, "predictions", i)[:k])
            truth = set(_ids(relevant, "targets", i))
            if truth:
                scores.append(len(truth & retrieved) / len(truth))
            else:
                scores.append(1.0 if not retrieved else 0.0)
        return _per_row(scores)

    return make_metric(fn, greater_is_better=True, name=f"recall_at_{k}")


def ndcg_at_k(k: int) -> EvaluationMetric:
    """Normalized discounted cumulative gain of the first ``k`` retrieved ids, binary relevance
    (``sum(rel_i / log2(i + 1)) / ideal``)."""
    k = _check_k(k)

    def fn(predictions: Any, targets: Any) -> MetricValue:
        scores: list[float] = []
        for i, (retrieved_all, relevant) in enumerate(zip(predictions, targets, strict=True)):
            retrieved = _ids(retrieved_all, "predictions", i)
            truth = set(_ids(relevant, "targets", i))
            scores.append(_ndcg(retrieved, truth, k))
        return _per_row(scores)

    return make_metric(fn, greater_is_better=True, name=f"ndcg_at_{k}")


def _ndcg(retrieved: Sequence[Any], truth: set[Any], k: int) -> float:
    if not retrieved and not truth:
        return 1.0
    if not retrieved or not truth:
        return 0.0
    seen: set[Any] = set()
    dcg = 0.0
    for rank, doc in enumerate(retrieved[:k], start=1):
        if doc in truth and doc not in seen:
            dcg += 1.0 / math.log2(rank + 1)
        seen.add(doc)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(truth), k) + 1))
    return dcg / ideal


def default_metrics(model_type: str, retriever_k: int = 3) -> list[EvaluationMetric]:
    """The built-in metrics of a text model type (MLflow's lists, ROUGE for text and QA too)."""
    text = [token_count(), flesch_kincaid_grade_level(), ari_grade_level()]
    rouge = [rouge1(), rouge2(), rougeL()]
    if model_type == "question-answering":
        return [*text, exact_match(), *rouge]
    if model_type == "text":
        return [*text, *rouge]
    if model_type == "text-summarization":
        return [*text, rouge1(), rouge2(), rougeL(), rougeLsum()]
    if model_type == "retriever":
        return [precision_at_k(retriever_k), recall_at_k(retriever_k), ndcg_at_k(retriever_k)]
    raise InvalidParameter(f"No text metrics for model_type {model_type!r}.")
