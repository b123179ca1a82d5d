"""What sklearn autolog computes from a fitted estimator: params, tags and training metrics.

The names and computations are MLflow 3's (``mlflow.sklearn`` autolog), so runs logged here
and there compare key for key:

- classifiers: ``training_precision_score``, ``training_recall_score``, ``training_f1_score``
  (``average="weighted"``, or ``"binary"`` with ``pos_label``), ``training_accuracy_score``,
  and with ``predict_proba`` ``training_log_loss`` and ``training_roc_auc`` (weighted,
  one-vs-one for several classes; the positive column for two);
- regressors: ``training_mean_squared_error``, ``training_root_mean_squared_error``,
  ``training_mean_absolute_error``, ``training_r2_score`` (``uniform_average``);
- any estimator with ``score`` and labels: ``training_score``.

A metric that cannot be computed is left out and reported; the others are still logged.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sklearn import _Problems

__all__ = [
    "PREFIX",
    "estimator_tags",
    "is_search",
    "loggable_params",
    "search_params",
    "training_metrics",
]

logger = logging.getLogger(__name__)

PREFIX = "training_"
_ELLIPSIS = "..."


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def is_search(estimator: Any) -> bool:
    """GridSearchCV or RandomizedSearchCV (what MLflow treats as a parameter search)."""
    from sklearn.model_selection import (  # type: ignore[import-untyped]
        GridSearchCV,
        RandomizedSearchCV,
    )

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def search_params(estimator: Any) -> dict[str, Any]:
    """``get_params`` as MLflow logs it: deep, except for a search, whose seed estimator's
    untuned params would only mislead."""
    params: dict[str, Any] = estimator.get_params(deep=not is_search(estimator))
    return params


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def loggable_params(params: Mapping[str, Any], problems: _Problems) -> dict[str, str]:
    """Params as strings; keys over 250 and values over 6000 characters are cut to fit and
    end in ``...`` (as MLflow's autologging does), with one warning naming them."""
    from ..tracking.validation import MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH

    out: dict[str, str] = {}
    cut: list[str] = []
    for key, value in params.items():
        name = str(key)
        text = str(value)
        if len(name) > MAX_ENTITY_KEY_LENGTH:
            name = _truncate(name, MAX_ENTITY_KEY_LENGTH)
            cut.append(f"key {name!r}")
        if len(text) > MAX_PARAM_VAL_LENGTH:
            cut.append(f"{name!r} ({len(text)} characters)")
            text = _truncate(text, MAX_PARAM_VAL_LENGTH)
        out[name] = text
    if cut:
        problems.add(
            f"truncated param(s) {', '.join(cut)} to MLflow's limits (keys "
            f"{MAX_ENTITY_KEY_LENGTH}, values {MAX_PARAM_VAL_LENGTH} characters); log the "
            "full value as an artifact with mt.log_text if you need it"
        )
    return out


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


def training_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, pos_label: Any, problems: _Problems
) -> dict[str, float]:
    """The ``training_*`` metrics of a fitted estimator on its training data."""
    if X is None or y is None:
        return {}
    from sklearn.base import is_classifier, is_regressor  # type: ignore[import-untyped]

    out: dict[str, float] = {}
    if is_classifier(estimator):
        out.update(_classifier_metrics(estimator, X, y, sample_weight, pos_label, problems))
    elif is_regressor(estimator):
        out.update(_regressor_metrics(estimator, X, y, sample_weight, problems))
    score = getattr(estimator, "score", None)
    if callable(score):
        with problems.step("could not compute training_score"):
            args = (X, y, sample_weight) if _accepts(score, "sample_weight") else (X, y)
            out[PREFIX + "score"] = float(score(*args))
    return out


def _compute(out: dict[str, float], name: str, problems: _Problems, fn: Callable[[], Any]) -> None:
    with problems.step(f"could not compute {PREFIX}{name}"):
        out[PREFIX + name] = float(fn())


def _predict(estimator: Any, X: Any, problems: _Problems) -> Any:
    return problems.attempt(
        "could not predict on the training data for the training metrics", estimator.predict, X
    )


def _classifier_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, pos_label: Any, problems: _Problems
) -> dict[str, float]:
    from sklearn import metrics as skm  # type: ignore[import-untyped]

    out: dict[str, float] = {}
    y_pred = _predict(estimator, X, problems)
    if y_pred is None:
        return out
    average = "weighted" if pos_label is None else "binary"
    common = {"pos_label": pos_label, "average": average, "sample_weight": sample_weight}
    if pos_label is None:
        common.pop("pos_label")  # sklearn's default (1) is ignored for "weighted" anyway
    for name, fn in (
        ("precision_score", skm.precision_score),
        ("recall_score", skm.recall_score),
        ("f1_score", skm.f1_score),
    ):
        _compute(out, name, problems, functools.partial(fn, y, y_pred, zero_division=0, **common))
    _compute(
        out,
        "accuracy_score",
        problems,
        lambda: skm.accuracy_score(y, y_pred, normalize=True, sample_weight=sample_weight),
    )
    if not hasattr(estimator, "predict_proba"):
        return out
    with problems.step("could not compute training_log_loss and training_roc_auc"):
        proba = estimator.predict_proba(X)
        _compute(
            out, "log_loss", problems, lambda: skm.log_loss(y, proba, sample_weight=sample_weight)
        )
        score = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
        if score.ndim == 2 and sample_weight is not None:
            # sklearn's one-vs-one ROC AUC takes no weights; MLflow leaves the metric out too
            logger.debug("sklearn autolog: no training_roc_auc for weighted multiclass data")
            return out
        _compute(
            out,
            "roc_auc",
            problems,
            lambda: skm.roc_auc_score(
                y, score, average="weighted", sample_weight=sample_weight, multi_class="ovo"
            ),
        )
    return out


def _regressor_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, problems: _Problems
) -> dict[str, float]:
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    y_pred = _predict(estimator, X, problems)
    if y_pred is None:
        return out
    common = {"sample_weight": sample_weight, "multioutput": "uniform_average"}
    _compute(
        out, "mean_squared_error", problems, lambda: skm.mean_squared_error(y, y_pred, **common)
    )
    if PREFIX + "mean_squared_error" in out:
        out[PREFIX + "root_mean_squared_error"] = math.sqrt(out[PREFIX + "mean_squared_error"])
    _compute(
        out, "mean_absolute_error", problems, lambda: skm.mean_absolute_error(y, y_pred, **common)
    )
    _compute(out, "r2_score", problems, lambda: skm.r2_score(y, y_pred, **common))
    return out
