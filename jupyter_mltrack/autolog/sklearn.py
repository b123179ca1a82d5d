"""scikit-learn autologging: every outermost ``fit`` becomes a logged run.

:func:`autolog` replaces ``fit`` on the class that defines it for every estimator from
``sklearn.utils.all_estimators()`` plus ``Pipeline`` and ``GridSearchCV`` (so subclasses,
including user subclasses, are covered); the originals are kept and put back by
``autolog(disable=True)``. Calling it again only updates the options.

A patched ``fit``:

- logs into the active run, or starts a run (tag ``mlflow.autologging=sklearn``) and ends it
  FINISHED after the fit, FAILED (KILLED on ``KeyboardInterrupt``) when the fit raises; the
  exception is re-raised unchanged;
- logs ``estimator.get_params(deep=True)`` as params before fitting, tags ``estimator_name``
  and ``estimator_class``, and after fitting the metrics ``fit_time_seconds``,
  ``training_score`` and per-task training metrics; searches (``GridSearchCV``, ...) add
  ``best_<param>`` params and a ``best_cv_score`` metric;
- logs only the outermost call per thread: a Pipeline fitting its steps or a search fitting
  clones logs one run.

Problems while logging never break the fit: they are reported as one ``UserWarning`` per fit
(or at debug level with ``silent=True``) and the fit result is returned as usual.

Models: ``_log_model_hook``, when set, is called as ``_log_model_hook(estimator, run_id)``
after each logged fit (with ``log_models=True``, the default). Model logging arrives in a later
release and will set it; nothing else needs to change here.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import numbers
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["autolog"]

logger = logging.getLogger(__name__)

_log_model_hook: Callable[[Any, str], None] | None = None
"""The seam for model logging: called with (fitted estimator, run id) after a logged fit."""

AUTOLOGGING_TAG = "mlflow.autologging"
FLAVOR = "sklearn"


@dataclass(frozen=True)
class _Options:
    log_input_examples: bool = False
    log_models: bool = True
    silent: bool = False
    exclusive: bool = False
    extra_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


_options: _Options | None = None  # None while disabled
_originals: dict[Any, Callable[..., Any]] = {}  # class that defines fit -> its own fit
_lock = threading.Lock()
_local = threading.local()  # .depth: fits in progress on this thread


def autolog(
    disable: bool = False,
    log_input_examples: bool = False,
    silent: bool = False,
    log_models: bool = True,
    exclusive: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Patch (or, with ``disable=True``, restore) scikit-learn's ``fit`` methods.

    Args:
        disable: put the original ``fit`` methods back.
        log_input_examples: kept for the model hook (input examples go with models).
        silent: report logging problems at debug level instead of as warnings.
        log_models: call ``_log_model_hook`` after each logged fit when it is set.
        exclusive: leave runs the user started alone; log only into runs autolog starts.
        extra_tags: tags for every run autolog starts.

    The first call imports every scikit-learn module (``all_estimators``): 0.6-2 s.
    """
    global _options
    with _lock:
        if disable:
            _options = None
            for owner, original in _originals.items():
                owner.fit = original
            _originals.clear()
            return
        _options = _Options(
            log_input_examples=log_input_examples,
            log_models=log_models,
            silent=silent,
            exclusive=exclusive,
            extra_tags=MappingProxyType({str(k): str(v) for k, v in (extra_tags or {}).items()}),
        )
        if not _originals:
            _patch_all()
    if log_input_examples and _log_model_hook is None and not silent:
        warnings.warn(
            "log_input_examples=True has no effect yet: input examples are stored with logged "
            "models, and sklearn autolog does not log models in this release.",
            UserWarning,
            stacklevel=2,
        )


def _patch_all() -> None:
    from sklearn.model_selection import GridSearchCV  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
    from sklearn.utils import all_estimators  # type: ignore[import-untyped]

    classes = [cls for _, cls in all_estimators()] + [Pipeline, GridSearchCV]
    for cls in classes:
        # Patch where fit is defined, so the class and its subclasses share one wrapper and
        # restoring is a plain setattr of the original function.
        owner = next((k for k in cls.__mro__ if "fit" in vars(k)), None)
        if owner is None or owner in _originals:
            continue
        original = vars(owner)["fit"]
        if not inspect.isfunction(original):
            logger.debug("Not patching %s.fit: it is a %s", owner.__qualname__, type(original))
            continue
        owner.fit = _patched(original)
        _originals[owner] = original


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        options = _options
        if options is None or getattr(_local, "depth", 0) > 0:
            return original(self, *args, **kwargs)
        _local.depth = 1
        try:
            return _fit_and_log(original, signature, options, self, args, kwargs)
        finally:
            _local.depth = 0

    return fit


def _fit_and_log(
    original: Callable[..., Any],
    signature: inspect.Signature,
    options: _Options,
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    from ..tracking import fluent as mt

    problems = _Problems(options.silent)
    cls = type(estimator)
    estimator_tags = {
        "estimator_name": cls.__name__,
        "estimator_class": f"{cls.__module__}.{cls.__name__}",
    }
    try:
        active = mt.active_run()
        started = active is None
        if active is None:
            # Tags go in with the run: one store write fewer per fit.
            tags = {**options.extra_tags, AUTOLOGGING_TAG: FLAVOR, **estimator_tags}
            active = mt.start_run(tags=tags)
        run_id: str = active.info.run_id
    except Exception as exc:  # tracking must not stop the user's fit
        problems.add("could not start or find a run", exc)
        problems.emit()
        return original(estimator, *args, **kwargs)
    if not started and options.exclusive:
        return original(estimator, *args, **kwargs)

    with problems.step("could not log params"):
        mt.log_params(_loggable_params(estimator.get_params(deep=True), problems))
    if not started:
        with problems.step("could not set the estimator tags"):
            mt.set_tags(estimator_tags)

    started_at = time.perf_counter()
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        if started:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            with problems.step(f"could not end the run as {status}"):
                mt.end_run(status)
        problems.emit()
        raise
    fit_time = time.perf_counter() - started_at

    try:
        X, y, sample_weight = _fit_data(signature, estimator, args, kwargs)
        with problems.step("could not log metrics"):
            metrics = {"fit_time_seconds": fit_time}
            metrics.update(_training_metrics(estimator, X, y, sample_weight, problems))
            metrics.update(_search_metrics(estimator))
            mt.log_metrics(metrics)
        with problems.step("could not log the best params"):
            best = getattr(estimator, "best_params_", None)
            if isinstance(best, dict):
                mt.log_params(_loggable_params({f"best_{k}": v for k, v in best.items()}, problems))
        hook = _log_model_hook
        if options.log_models and hook is not None:
            with problems.step("could not log the model"):
                hook(estimator, run_id)
    finally:
        if started:
            with problems.step("could not end the run"):
                mt.end_run("FINISHED")
        problems.emit()
    return result


def _fit_data(
    signature: inspect.Signature, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """X, y and sample_weight as passed to fit (None where absent)."""
    try:
        bound = signature.bind(estimator, *args, **kwargs)
    except TypeError:  # fit accepted it anyway (it returned); nothing to score with
        return None, None, None
    arguments = bound.arguments
    extra = arguments.get("fit_params") or arguments.get("params") or arguments.get("kwargs")
    sample_weight = arguments.get("sample_weight")
    if sample_weight is None and isinstance(extra, dict):
        sample_weight = extra.get("sample_weight")
    # LabelEncoder.fit(y) and friends take only y: there is no X to score.
    return arguments.get("X"), arguments.get("y"), sample_weight


def _loggable_params(params: Mapping[str, Any], problems: _Problems) -> dict[str, str]:
    from ..tracking.validation import MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH

    out: dict[str, str] = {}
    too_long: list[str] = []
    for key, value in params.items():
        if len(key) > MAX_ENTITY_KEY_LENGTH:
            logger.debug("Autolog skipped param %r: key longer than %d", key, MAX_ENTITY_KEY_LENGTH)
            continue
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            too_long.append(f"{key!r} ({len(text)} characters)")
            continue
        out[key] = text
    if too_long:
        problems.add(
            f"skipped param(s) {', '.join(too_long)}: param values are limited to "
            f"{MAX_PARAM_VAL_LENGTH} characters; log a shorter form with mt.log_param if you "
            "need it"
        )
    return out


def _training_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, problems: _Problems
) -> dict[str, float]:
    if X is None or y is None:
        return {}
    from sklearn import metrics as skm  # type: ignore[import-untyped]
    from sklearn.base import is_classifier, is_regressor  # type: ignore[import-untyped]

    weight = {} if sample_weight is None else {"sample_weight": sample_weight}
    out: dict[str, float] = {}
    score = getattr(estimator, "score", None)
    if callable(score):
        with problems.step("could not compute training_score"):
            score_weight = weight if _accepts(score, "sample_weight") else {}
            out["training_score"] = float(score(X, y, **score_weight))
    if not (is_classifier(estimator) or is_regressor(estimator)):
        return out
    with problems.step("could not compute training metrics from predictions on X"):
        y_pred = estimator.predict(X)
        if is_classifier(estimator):
            out["training_accuracy_score"] = float(skm.accuracy_score(y, y_pred, **weight))
            # One pass for all three: the separate functions each recount the confusion matrix.
            precision, recall, f1, _ = skm.precision_recall_fscore_support(
                y, y_pred, average="weighted", zero_division=0, **weight
            )
            out["training_precision_score"] = float(precision)
            out["training_recall_score"] = float(recall)
            out["training_f1_score"] = float(f1)
        else:
            out["training_mse"] = float(skm.mean_squared_error(y, y_pred, **weight))
            out["training_r2_score"] = float(skm.r2_score(y, y_pred, **weight))
            out["training_mae"] = float(skm.mean_absolute_error(y, y_pred, **weight))
    return out


def _search_metrics(estimator: Any) -> dict[str, float]:
    best_score = getattr(estimator, "best_score_", None)
    if isinstance(best_score, numbers.Real) and math.isfinite(best_score):
        return {"best_cv_score": float(best_score)}
    return {}


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class _Problems:
    """Collects what went wrong while logging one fit and reports it once."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.messages: list[str] = []

    def add(self, what: str, exc: BaseException | None = None) -> None:
        self.messages.append(what if exc is None else f"{what} ({type(exc).__name__}: {exc})")
        if exc is not None:
            logger.debug("sklearn autolog: %s", what, exc_info=exc)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """``with problems.step("what"):`` records an exception instead of raising it."""
        try:
            yield
        except Exception as exc:  # reported once by emit()
            self.add(what, exc)

    def emit(self) -> None:
        if not self.messages:
            return
        message = "jupyter_mltrack sklearn autolog: " + "; ".join(self.messages) + "."
        self.messages = []
        if self.silent:
            logger.debug(message)
        else:
            # 1 here, 2 _fit_and_log, 3 the patched fit, 4 the user's call.
            warnings.warn(message, UserWarning, stacklevel=4)


from ..models._sklearn import autolog_model_hook as _sklearn_flavor_hook  # noqa: E402

_log_model_hook = _sklearn_flavor_hook  # the sklearn flavor logs the fitted models
