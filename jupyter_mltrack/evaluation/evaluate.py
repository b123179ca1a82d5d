"""``mt.evaluate``: the default evaluator of each model type, logged to a run.

The computation (:func:`compute`) and the logging (:func:`evaluate`) are separate, so a
baseline is computed on the same data without a second run, and tests check values without a
store. Everything is computed from numpy arrays once: no copy of the features is made (pandas'
copy-on-write makes ``drop(columns=...)`` free), predictions and probabilities are asked of the
model once, and the curves come from one sort per class (:mod:`.classifier`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameter
from . import classifier as clf
from . import plots
from ._inputs import EvalData, ModelHandle, resolve_data, resolve_model
from ._metric import EvaluationMetric, MetricValue
from .regressor import regressor_metrics
from .result import EvaluationResult
from .text import default_metrics

__all__ = ["MODEL_TYPES", "compute", "evaluate"]

MODEL_TYPES = (
    "classifier",
    "regressor",
    "text",
    "question-answering",
    "text-summarization",
    "retriever",
)
TEXT_TYPES = ("text", "question-answering", "text-summarization", "retriever")

#: metrics where a larger value is better (False: smaller); others are not compared
DIRECTIONS: dict[str, bool] = {
    **dict.fromkeys(
        ("accuracy_score", "recall_score", "precision_score", "f1_score", "roc_auc"), True
    ),
    **dict.fromkeys(("precision_recall_auc", "r2_score", "score", "true_positives"), True),
    "true_negatives": True,
    **dict.fromkeys(("log_loss", "false_positives", "false_negatives", "max_error"), False),
    **dict.fromkeys(
        (
            "mean_absolute_error",
            "mean_squared_error",
            "root_mean_squared_error",
            "mean_absolute_percentage_error",
        ),
        False,
    ),
}
EVAL_TABLE = "eval_results_table"
CONFIG_KEYS = {
    "label_list",
    "pos_label",
    "average",
    "metric_prefix",
    "retriever_k",
    "max_classes_for_multiclass_roc_pr",
    # MLflow's SHAP options: accepted and unused (no SHAP library here, see docs/evaluation.md)
    "log_model_explainability",
    "log_explainer",
    "explainability_algorithm",
    "explainability_nsamples",
    "explainability_kernel_link",
}


@dataclass
class Computed:
    """What one model scored on the data, before anything is logged."""

    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, plots.Figure] = field(default_factory=dict)
    csv_tables: dict[str, Any] = field(default_factory=dict)
    row_columns: dict[str, list[Any]] = field(default_factory=dict)
    directions: dict[str, bool] = field(default_factory=dict)
    y_pred: Any = None


# ------------------------------------------------------------------------- computing
def _predict(handle: ModelHandle, data: EvalData, predictions: Any) -> np.ndarray:
    if handle.predict is None:
        assert data.y_pred is not None
        return data.y_pred
    try:
        out = handle.predict(data.features)
    except Exception as exc:
        raise InvalidParameter(
            f"The model's predict failed on the evaluation data: {type(exc).__name__}: {exc}"
        ) from exc
    return _output_column(out, predictions, data.n)


def _output_column(out: Any, predictions: Any, n: int) -> np.ndarray:
    if hasattr(out, "columns"):  # a DataFrame: the predictions= column, else the only/first one
        if isinstance(predictions, str) and predictions in out.columns:
            out = out[predictions]
        else:
            out = out.iloc[:, 0]
    arr = np.asarray(out.to_numpy() if hasattr(out, "to_numpy") else out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape[0] != n:
        raise InvalidParameter(f"The model returned {arr.shape[0]} predictions for {n} rows.")
    return arr


def _probabilities(handle: ModelHandle, data: EvalData, labels: clf.Labels) -> np.ndarray | None:
    if handle.predict_proba is None:
        return None
    probs = np.asarray(handle.predict_proba(data.features), dtype=np.float64)
    if probs.ndim == 1:
        probs = np.c_[1 - probs, probs]
    if handle.classes is not None and len(handle.classes) == probs.shape[1]:
        order = {v: i for i, v in enumerate(handle.classes.tolist())}
        if not all(v in order for v in labels.values.tolist()):
            warnings.warn(
                f"The model's classes {handle.classes.tolist()[:10]} do not cover the labels "
                f"{labels.values.tolist()[:10]}; log_loss, ROC and PR metrics are skipped.",
                stacklevel=4,
            )
            return None
        cols = [order[v] for v in labels.values.tolist()]
        if cols != list(range(probs.shape[1])):
            probs = probs[:, cols]
    if probs.shape[1] != labels.k:
        warnings.warn(
            f"predict_proba gave {probs.shape[1]} columns for {labels.k} labels; log_loss, ROC "
            "and PR metrics are skipped.",
            stacklevel=4,
        )
        return None
    return probs


def _classifier(
    handle: ModelHandle, data: EvalData, y_pred: np.ndarray, config: dict[str, Any], out: Computed
) -> None:
    assert data.y_true is not None
    labels = clf.encode_labels(data.y_true, y_pred, config.get("label_list"))
    if labels.k < 2:
        raise InvalidParameter(
            f"Classifier evaluation needs at least two labels, found {labels.values.tolist()}; "
            "pass evaluator_config={'label_list': [...]} with every class."
        )
    pos_label = config.get("pos_label")
    pos_index = 1
    if pos_label is not None:
        hits = np.flatnonzero(labels.values == pos_label)
        if not hits.size:
            raise InvalidParameter(
                f"pos_label {pos_label!r} is not one of the labels {labels.values.tolist()}."
            )
        pos_index = int(hits[0])
    cm = clf.confusion(labels)
    probs = _probabilities(handle, data, labels)
    out.metrics.update(
        clf.classifier_metrics(labels, cm, probs, pos_index, str(config.get("average", "weighted")))
    )
    shown = labels.values.tolist()
    out.figures["confusion_matrix"] = plots.confusion_figure(cm, shown)
    if labels.k > 2:
        table = clf.per_class_metrics(labels, cm)
    if probs is not None:
        _curves(labels, probs, pos_index, config, out)
        if labels.k > 2 and "roc" in out.row_columns:
            table["roc_auc"] = out.row_columns.pop("roc")
            table["precision_recall_auc"] = out.row_columns.pop("pr")
    if labels.k > 2:
        import pandas as pd

        out.csv_tables["per_class_metrics"] = pd.DataFrame(table)


def _curves(
    labels: clf.Labels, probs: np.ndarray, pos_index: int, config: dict[str, Any], out: Computed
) -> None:
    if labels.k == 2:
        pos = labels.values.tolist()[pos_index]
        is_pos = labels.true_idx == pos_index
        c = clf.binary_curves(is_pos, probs[:, pos_index])
        out.figures["roc_curve_plot"] = plots.curve_figure(
            "roc", [(f"AUC={c.roc_auc:.3f}", c.fpr, c.tpr)], pos
        )
        out.figures["precision_recall_curve_plot"] = plots.curve_figure(
            "pr", [(f"AP={c.average_precision:.3f}", c.recall, c.precision)], pos
        )
        out.figures["lift_curve_plot"] = plots.curve_figure(
            "lift", [("model", c.gain_x, c.gain_y)], pos
        )
        mean_pred, frac = clf.calibration(is_pos, probs[:, pos_index])
        out.figures["calibration_curve_plot"] = plots.curve_figure(
            "calibration", [("model", mean_pred, frac)], pos
        )
        return
    max_classes = int(config.get("max_classes_for_multiclass_roc_pr", 10))
    if labels.k > max_classes:
        return
    roc, pr, cal, aucs, aps = [], [], [], [], []
    for j, value in enumerate(labels.values.tolist()):
        is_pos = labels.true_idx == j
        c = clf.binary_curves(is_pos, probs[:, j])
        aucs.append(c.roc_auc)
        aps.append(c.average_precision)
        roc.append((f"label={value},AUC={c.roc_auc:.3f}", c.fpr, c.tpr))
        pr.append((f"label={value},AP={c.average_precision:.3f}", c.recall, c.precision))
        cal.append((f"label={value}", *clf.calibration(is_pos, probs[:, j])))
    out.figures["roc_curve_plot"] = plots.curve_figure("roc", roc, None)
    out.figures["precision_recall_curve_plot"] = plots.curve_figure("pr", pr, None)
    out.figures["calibration_curve_plot"] = plots.curve_figure("calibration", cal, None)
    out.row_columns["roc"], out.row_columns["pr"] = aucs, aps


def _regressor(data: EvalData, y_pred: np.ndarray, out: Computed) -> None:
    assert data.y_true is not None
    out.metrics.update(regressor_metrics(data.y_true, y_pred))
    out.figures["residuals_plot"] = plots.residuals_figure(data.y_true, y_pred)
    out.figures["predicted_vs_actual_plot"] = plots.predicted_vs_actual_figure(data.y_true, y_pred)


def _sklearn_score(handle: ModelHandle, data: EvalData, out: Computed, model_type: str) -> None:
    """MLflow's ``score`` for scikit-learn models, from the metrics when ``score`` is the
    mixin's (accuracy or R2), else by calling it."""
    est = handle.estimator
    if est is None or data.y_true is None:
        return
    from sklearn.base import ClassifierMixin, RegressorMixin  # type: ignore[import-untyped]

    method = getattr(type(est), "score", None)
    if method is ClassifierMixin.score and "accuracy_score" in out.metrics:
        out.metrics["score"] = out.metrics["accuracy_score"]
    elif method is RegressorMixin.score and "r2_score" in out.metrics:
        out.metrics["score"] = out.metrics["r2_score"]
    elif method is not None:
        try:
            out.metrics["score"] = float(est.score(data.features, data.y_true))
        except Exception as exc:  # as MLflow: a score that fails is a warning, not an error
            warnings.warn(f"Computing the model's score failed: {exc!r}", stacklevel=4)


def _text_predictions(
    handle: ModelHandle, data: EvalData, predictions: Any
) -> tuple[Any, list[float] | None]:
    """Predictions row by row, timed (the ``latency`` metric), for text models."""
    if handle.predict is None:
        return data.y_pred, None
    frame = data.features_frame()
    outputs: list[Any] = []
    latencies: list[float] = []
    for i in range(len(frame)):
        start = time.perf_counter()
        try:
            row_out = handle.predict(frame.iloc[[i]])
        except Exception as exc:
            raise InvalidParameter(
                f"The model's predict failed on row {i}: {type(exc).__name__}: {exc}"
            ) from exc
        latencies.append(time.perf_counter() - start)
        outputs.append(_output_column(row_out, predictions, 1)[0])
    return np.asarray(outputs, dtype=object), latencies


def _custom(
    metrics: Sequence[EvaluationMetric], data: EvalData, y_pred: Any, out: Computed, prefix: str
) -> None:
    import pandas as pd

    if not metrics:
        return
    frame = data.features_frame()
    inputs = frame.iloc[:, 0] if frame.shape[1] == 1 else frame
    columns: dict[str, Any] = {str(c): frame[c] for c in frame.columns}
    columns.update(
        predictions=pd.Series(y_pred, name=data.predictions_name),
        targets=pd.Series(data.y_true, name=data.targets_name) if data.y_true is not None else None,
        inputs=inputs,
        metrics=dict(out.metrics),
    )
    for metric in metrics:
        if not isinstance(metric, EvaluationMetric):
            raise InvalidParameter(
                f"extra_metrics holds {type(metric).__name__}; build metrics with "
                "mt.metrics.make_metric(...) or mt.metrics.make_judge(...)."
            )
        value = metric.compute(columns)
        _record(metric, value, out, prefix)
        columns["metrics"] = dict(out.metrics)


def _record(
    metric: EvaluationMetric, value: MetricValue | None, out: Computed, prefix: str
) -> None:
    if value is None:
        return
    key = prefix + metric.key
    for agg, number in (value.aggregate_results or {}).items():
        if not isinstance(number, (int, float, np.number)):  # None: not computed (as MLflow)
            continue
        name = key if agg == metric.name else f"{key}/{agg}"
        out.metrics[name] = float(number)
        if agg in (metric.name, "mean", "p90"):
            out.directions[name] = metric.greater_is_better
    if value.scores is not None:
        column = key if metric.name in ("token_count", "latency") else f"{key}/score"
        out.row_columns[column] = list(value.scores)
    if value.justifications is not None:
        out.row_columns[f"{key}/justification"] = list(value.justifications)


def compute(
    handle: ModelHandle,
    data: EvalData,
    model_type: str,
    config: dict[str, Any],
    extra_metrics: Sequence[EvaluationMetric] = (),
    predictions: Any = None,
) -> Computed:
    """Every metric, figure and per-row column of one model on ``data`` (nothing logged)."""
    out = Computed()
    prefix = str(config.get("metric_prefix") or "")
    latencies = None
    if model_type in ("classifier", "regressor"):
        if data.y_true is None:
            raise InvalidParameter(
                f"A {model_type} evaluation needs targets= (the label column or array)."
            )
        y_pred = _predict(handle, data, predictions)
        if model_type == "classifier":
            _classifier(handle, data, y_pred, config, out)
        else:
            _regressor(data, y_pred, out)
        _sklearn_score(handle, data, out, model_type)
        builtins: list[EvaluationMetric] = []
    else:
        if model_type == "retriever" and data.y_true is None:
            raise InvalidParameter("A retriever evaluation needs targets= (the relevant ids).")
        y_pred, latencies = _text_predictions(handle, data, predictions)
        builtins = default_metrics(model_type, int(config.get("retriever_k", 3)))
    out.y_pred = y_pred
    if prefix:
        out.metrics = {prefix + k: v for k, v in out.metrics.items()}
        out.figures = {prefix + k: v for k, v in out.figures.items()}
        out.csv_tables = {prefix + k: v for k, v in out.csv_tables.items()}
    out.directions.update(
        {prefix + k: v for k, v in DIRECTIONS.items() if prefix + k in out.metrics}
    )
    _custom([*builtins, *extra_metrics], data, y_pred, out, prefix)
    if latencies is not None:
        from ._metric import standard_aggregations

        out.row_columns[prefix + "latency"] = latencies
        for agg, number in standard_aggregations(latencies).items():
            out.metrics[f"{prefix}latency/{agg}"] = number
    return out


# --------------------------------------------------------------------------- logging
def _check_config(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidParameter(f"evaluator_config must be a dict, got {type(config).__name__}.")
    if "default" in config and isinstance(config["default"], dict):  # per-evaluator form
        config = config["default"]
    unknown = sorted(set(config) - CONFIG_KEYS)
    if "sample_weights" in unknown:
        raise InvalidParameter("evaluator_config sample_weights is not supported yet.")
    if unknown:
        raise InvalidParameter(
            f"Unknown evaluator_config keys {unknown}; known: {sorted(CONFIG_KEYS)}."
        )
    return dict(config)


def _check_evaluators(evaluators: Any) -> None:
    if evaluators is None or evaluators == "default" or evaluators == ["default"]:
        return
    raise InvalidParameter(
        f"evaluators={evaluators!r}: only the 'default' evaluator exists (it picks the metrics "
        "of model_type); add metrics with extra_metrics=[...]."
    )


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: Any = None,
    predictions: Any = None,
    dataset_path: str | None = None,
    feature_names: list[str] | None = None,
    evaluators: Any = None,
    evaluator_config: dict[str, Any] | None = None,
    extra_metrics: Sequence[EvaluationMetric] | None = None,
    custom_artifacts: Sequence[Any] | None = None,
    baseline_model: Any = None,
    model_id: str | None = None,
    validation_thresholds: dict[str, Any] | None = None,
    env_manager: str = "local",
) -> EvaluationResult:
    """Evaluate a model on data and log the metrics, plots and tables to the active run.

    Args:
        model: a model URI (``runs:/...``, ``models:/...``, a path), a loaded model or fitted
            estimator (anything with ``predict``; ``predict_proba`` adds log loss, ROC and PR),
            a function of the features, or ``None`` with ``predictions=``.
        data: a DataFrame, NumPy arrays, a DuckDB relation or a ``mt.data`` dataset.
        model_type: ``"classifier"``, ``"regressor"``, ``"text"``, ``"question-answering"``,
            ``"text-summarization"`` or ``"retriever"``.
        targets: the label column (DataFrame) or array (NumPy).
        predictions: with ``model=None``, the column (or array) of predictions; with a model
            returning several columns, the one to use.
        extra_metrics: metrics from ``mt.metrics.make_metric`` / ``make_judge`` or the
            built-in factories (``mt.metrics.rouge1()``, ...).
        baseline_model: a second model evaluated on the same data; its metrics are logged as
            ``baseline/<metric>`` and the differences as ``delta/<metric>``.
        validation_thresholds: ``{metric: mt.Threshold(...)}``, checked with ``mt.validate``
            against the baseline after logging.

    Returns:
        An :class:`EvaluationResult` with ``.metrics``, ``.artifacts`` and ``.tables``.

    Raises:
        InvalidParameter: a malformed argument, named in the message.
        ModelValidationFailed: a threshold failed (with ``validation_thresholds``).

    Example::

        result = mt.evaluate(clf, test_df, targets="label", model_type="classifier")
        result.metrics["f1_score"], result.artifacts["roc_curve_plot"].uri
    """
    if model_type not in MODEL_TYPES:
        raise InvalidParameter(
            f"evaluate() needs model_type= one of {', '.join(MODEL_TYPES)}; got {model_type!r}."
        )
    if data is None:
        raise InvalidParameter("evaluate() needs data= (a DataFrame, arrays or a dataset).")
    if env_manager != "local":
        raise InvalidParameter(
            f"env_manager={env_manager!r} is not supported; models are evaluated in this process."
        )
    if dataset_path is not None and not isinstance(dataset_path, str):
        raise InvalidParameter(f"dataset_path must be text, got {dataset_path!r}.")
    _check_evaluators(evaluators)
    config = _check_config(evaluator_config)
    metrics_list = list(extra_metrics or [])
    handle = resolve_model(model)
    if model_id is not None:
        if handle.model_id is not None and handle.model_id != model_id:
            raise InvalidParameter(
                f"model_id={model_id!r} contradicts the model's own id {handle.model_id!r}; "
                "omit model_id= or pass the matching one."
            )
        handle.model_id = model_id
    static = handle.predict is None
    ev_data = resolve_data(data, targets, predictions, feature_names, static)
    computed = compute(handle, ev_data, model_type, config, metrics_list, predictions)
    baseline = None
    if baseline_model is not None:
        base_handle = resolve_model(baseline_model)
        if base_handle.predict is None:
            raise InvalidParameter("baseline_model must be a model, not None.")
        base_data = resolve_data(data, targets, None, feature_names, False)
        baseline = compute(base_handle, base_data, model_type, config, metrics_list, predictions)

    from ._logging import log_evaluation

    result = log_evaluation(
        computed, ev_data, handle.model_id, model_type, config, baseline, custom_artifacts
    )
    if validation_thresholds is not None:
        from .validation import validate

        validate(result, result.baseline, validation_thresholds)
    return result


def to_json(value: Any) -> str:
    """Compact JSON of a figure or table (NaN as null)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
