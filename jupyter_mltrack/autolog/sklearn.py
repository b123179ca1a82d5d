"""scikit-learn autologging: every outermost ``fit`` becomes a logged run, as MLflow 3 logs it.

:func:`autolog` replaces ``fit``, ``fit_transform`` and ``fit_predict`` on the classes that
define them for every estimator from ``sklearn.utils.all_estimators()`` plus ``Pipeline``,
``GridSearchCV`` and ``RandomizedSearchCV`` (so subclasses, including user subclasses, are
covered); the originals are kept and put back by ``autolog(disable=True)``. Calling it again
only updates the options. As in MLflow, estimators of ``sklearn.preprocessing``,
``sklearn.impute``, ``sklearn.feature_extraction``, ``sklearn.feature_selection`` and
``ColumnTransformer`` start no run when fitted alone (inside a ``Pipeline`` they are part of
its run).

A patched fit:

- logs into the active run, or starts a run (tag ``mlflow.autologging=sklearn``, plus
  ``extra_tags``) and ends it FINISHED after the fit, FAILED (KILLED on
  ``KeyboardInterrupt``) when the fit raises; the exception is re-raised unchanged;
- before fitting: ``estimator.get_params(deep=True)`` as params (``deep=False`` for a search;
  values over 6000 characters are cut to fit and end in ``...``), the tags
  ``estimator_name`` and ``estimator_class``, and the training data as a dataset input
  (``mt.data.from_pandas`` / ``from_numpy``, input tag ``mlflow.data.context=train``);
- after fitting: the model through ``_log_model_hook`` (below), the ``training_*`` metrics of
  :mod:`.sklearn_metrics` tied to that dataset (and to the logged model), our
  ``fit_time_seconds``, ``estimator.html`` and, for classifiers, the plots of
  :mod:`.sklearn_plots`; for a search the best estimator, ``best_cv_score``, ``best_<param>``
  params, child runs and ``cv_results.csv`` (:mod:`.sklearn_search`);
- logs only the outermost call per thread: a Pipeline fitting its steps or a search fitting
  clones logs one run.

Problems while logging never break the fit: they are reported as one ``UserWarning`` per fit
(or at debug level with ``silent=True``) and the fit result is returned as usual.

Models: ``_log_model_hook``, when set (the sklearn flavor sets it), is called after each
logged fit with ``log_models=True`` (the default) as ``_log_model_hook(estimator, run_id,
**options)``, where ``options`` are those of ``name`` (``"model"``, or ``"best_estimator"`` for
a search's best estimator), ``input_example`` (the first 5 training rows when
``log_input_examples=True``, else ``None``), ``signature`` (inferred from those rows with
``jupyter_mltrack.models.infer_signature`` when ``log_model_signatures=True``, else ``None``),
``params``, ``registered_model_name`` and ``serialization_format`` that its signature accepts
(a hook taking only ``(estimator, run_id)`` works too). What it returns may carry a
``model_id``: the training metrics are then logged with that ``model_id``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["autolog"]

logger = logging.getLogger(__name__)

_log_model_hook: Callable[..., Any] | None = None
"""The seam for model logging: ``(fitted estimator, run id, **options)``, see the module doc."""

AUTOLOGGING_TAG = "mlflow.autologging"
FLAVOR = "sklearn"
INPUT_EXAMPLE_ROWS = 5
_METHODS = ("fit", "fit_transform", "fit_predict")
_EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
_SERIALIZATION_FORMATS = ("cloudpickle", "pickle", "skops")


@dataclass(frozen=True)
class _Options:
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = True
    log_datasets: bool = True
    silent: bool = False
    exclusive: bool = False
    max_tuning_runs: int | None = 5
    log_post_training_metrics: bool = True
    serialization_format: str = "cloudpickle"
    registered_model_name: str | None = None
    pos_label: Any = None
    extra_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


_options: _Options | None = None  # None while disabled
_originals: dict[tuple[Any, str], Callable[..., Any]] = {}  # (defining class, name) -> own
_eligible: frozenset[type] = frozenset()  # the classes autolog covers (and their subclasses)
_logs_cache: dict[type, bool] = {}
_lock = threading.Lock()
_local = threading.local()  # .depth: fits in progress on this thread


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Patch (or, with ``disable=True``, restore) scikit-learn's fit methods.

    The arguments are MLflow 3's ``mlflow.sklearn.autolog`` arguments, in its order.

    Args:
        log_input_examples: give the model hook the first 5 training rows as input example.
        log_model_signatures: give the model hook a signature inferred from those rows.
        log_models: call ``_log_model_hook`` after each logged fit when it is set.
        log_datasets: record the training data as a dataset input of the run.
        disable: put the original methods back.
        exclusive: leave runs the user started alone; log only into runs autolog starts.
        disable_for_unsupported_versions: accepted for MLflow compatibility (every
            scikit-learn this package supports is supported).
        silent: report logging problems at debug level instead of as warnings.
        max_tuning_runs: child runs per hyperparameter search, best-ranked first; ``None``
            for one per candidate, ``0`` for none.
        log_post_training_metrics: accepted for MLflow compatibility; metrics computed with
            ``sklearn.metrics`` after the fit are not logged automatically (log them with
            ``mt.log_metric``).
        serialization_format: passed to the model hook (``"cloudpickle"``, ``"pickle"`` or
            ``"skops"``).
        registered_model_name: passed to the model hook, which registers each model under it.
        pos_label: the positive class for binary precision, recall and F1 (``None``:
            weighted averages over the classes).
        extra_tags: tags for every run autolog starts.

    Raises:
        InvalidParameter: ``max_tuning_runs`` is not ``None`` or a non-negative int,
            ``serialization_format`` is unknown or ``extra_tags`` is not a mapping.

    The first call imports every scikit-learn module (``all_estimators``): 0.6-2 s.
    """
    global _options
    from ..errors import InvalidParameter

    if max_tuning_runs is not None and (
        isinstance(max_tuning_runs, bool)
        or not isinstance(max_tuning_runs, int)
        or max_tuning_runs < 0
    ):
        raise InvalidParameter(
            f"max_tuning_runs must be None or a non-negative int, got {max_tuning_runs!r}; "
            "use None to log one child run per search candidate."
        )
    if serialization_format not in _SERIALIZATION_FORMATS:
        raise InvalidParameter(
            f"serialization_format must be one of {', '.join(_SERIALIZATION_FORMATS)}; got "
            f"{serialization_format!r}."
        )
    if extra_tags is not None and not isinstance(extra_tags, Mapping):
        raise InvalidParameter(
            f"extra_tags must be a dict of tag names to values, got {type(extra_tags).__name__}."
        )
    with _lock:
        if disable:
            _options = None
            for (owner, name), original in _originals.items():
                setattr(owner, name, original)
            _originals.clear()
            return
        _options = _Options(
            log_input_examples=bool(log_input_examples),
            log_model_signatures=bool(log_model_signatures),
            log_models=bool(log_models),
            log_datasets=bool(log_datasets),
            silent=bool(silent),
            exclusive=bool(exclusive),
            max_tuning_runs=max_tuning_runs,
            log_post_training_metrics=bool(log_post_training_metrics),
            serialization_format=serialization_format,
            registered_model_name=registered_model_name,
            pos_label=pos_label,
            extra_tags=MappingProxyType({str(k): str(v) for k, v in (extra_tags or {}).items()}),
        )
        if not _originals:
            _patch_all()
    if log_input_examples and _log_model_hook is None and not silent:
        warnings.warn(
            "log_input_examples=True has no effect yet: input examples are stored with logged "
            "models, and no model flavor has set sklearn autolog's model hook (import "
            "jupyter_mltrack.sklearn to log models).",
            UserWarning,
            stacklevel=2,
        )


def _patch_all() -> None:
    global _eligible
    from sklearn.model_selection import (  # type: ignore[import-untyped]
        GridSearchCV,
        RandomizedSearchCV,
    )
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
    from sklearn.utils import all_estimators  # type: ignore[import-untyped]

    classes = [cls for _, cls in all_estimators()] + [Pipeline, GridSearchCV, RandomizedSearchCV]
    _eligible = frozenset(classes)
    _logs_cache.clear()
    for cls in classes:
        for name in _METHODS:
            # Patch where the method is defined, so the class and its subclasses share one
            # wrapper and restoring is a plain setattr of the original function.
            owner = next((k for k in cls.__mro__ if name in vars(k)), None)
            if owner is None or (owner, name) in _originals:
                continue
            original = vars(owner)[name]
            if not inspect.isfunction(original):
                logger.debug("Not patching %s.%s: a %s", owner.__qualname__, name, type(original))
                continue
            setattr(owner, name, _patched(original))
            _originals[(owner, name)] = original


def _logs(cls: type) -> bool:
    """Whether fitting an instance of ``cls`` on its own is logged (MLflow's selection)."""
    known = _logs_cache.get(cls)
    if known is None:
        covered = [k for k in cls.__mro__ if k in _eligible]
        known = bool(covered) and not any(
            k.__module__.startswith(_EXCLUDED_MODULES)
            or f"{k.__module__}.{k.__qualname__}" in _EXCLUDED_CLASSES
            for k in covered[:1]
        )
        _logs_cache[cls] = known
    return known


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        options = _options
        if options is None or getattr(_local, "depth", 0) > 0 or not _logs(type(self)):
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
    from ..entities import Param, RunTag
    from ..tracking import fluent as mt
    from .sklearn_metrics import estimator_tags, loggable_params, search_params

    problems = _Problems(options.silent)
    tags = estimator_tags(estimator)
    try:
        active = mt.active_run()
        started = active is None
        if active is None:
            # Tags go in with the run: one store write fewer per fit.
            active = mt.start_run(tags={**options.extra_tags, AUTOLOGGING_TAG: FLAVOR, **tags})
        run_id: str = active.info.run_id
        client = mt.get_client_for_active()
    except Exception as exc:  # tracking must not stop the user's fit
        problems.add("could not start or find a run", exc)
        problems.emit()
        return original(estimator, *args, **kwargs)
    if not started and options.exclusive:
        return original(estimator, *args, **kwargs)

    X, y, sample_weight = _fit_data(signature, estimator, args, kwargs)
    dataset = _training_dataset(X, y, problems)
    with problems.step("could not log params"):
        params = loggable_params(search_params(estimator), problems)
        user_tags = [] if started else [RunTag(k, v) for k, v in tags.items()]
        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], tags=user_tags)
    if dataset is not None and options.log_datasets:
        with problems.step("could not log the training dataset"):
            client.log_inputs(run_id, [(dataset, {"mlflow.data.context": "train"})])
    input_example = _input_example(X, options)

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
        _after_fit(
            client,
            options,
            estimator,
            run_id,
            X,
            y,
            sample_weight,
            dataset,
            input_example,
            fit_time,
            problems,
        )
    finally:
        if started:
            with problems.step("could not end the run"):
                mt.end_run("FINISHED")
        problems.emit()
    return result


def _after_fit(
    client: Any,
    options: _Options,
    estimator: Any,
    run_id: str,
    X: Any,
    y: Any,
    sample_weight: Any,
    dataset: Any,
    input_example: Any,
    fit_time: float,
    problems: _Problems,
) -> None:
    from ..entities import Metric, Param
    from ..tracking.core import now_ms
    from . import sklearn_plots, sklearn_search
    from .sklearn_metrics import PREFIX, is_search, loggable_params, search_params, training_metrics

    search = is_search(estimator)
    signature = _signature(estimator, input_example, options, problems)
    model_id = None
    if options.log_models and _log_model_hook is not None:
        params = {**search_params(estimator), **sklearn_search.best_params(estimator)}
        model_id = _log_model(
            estimator, run_id, "model", input_example, signature, params, options, problems
        )

    link = (None, None) if dataset is None else (dataset.name, dataset.digest)
    with problems.step("could not log metrics"):
        metrics = training_metrics(estimator, X, y, sample_weight, options.pos_label, problems)
        ts = now_ms()
        points = [Metric(k, v, ts, 0, model_id, *link) for k, v in metrics.items()]
        points.append(Metric("fit_time_seconds", fit_time, ts, 0))
        client.log_batch(run_id, metrics=points)
    from sklearn.base import is_classifier  # type: ignore[import-untyped]

    if is_classifier(estimator):
        for name, png in sklearn_plots.classifier_plots(
            estimator, X, y, sample_weight, PREFIX, problems
        ).items():
            with problems.step(f"could not log {name}"):
                client.write_artifact(run_id, name, png)
    with problems.step("could not log estimator.html"):
        client.log_text(run_id, sklearn_plots.estimator_html(estimator), "estimator.html")
    if not search:
        return

    best_estimator = getattr(estimator, "best_estimator_", None)
    if options.log_models and _log_model_hook is not None and best_estimator is not None:
        _log_model(
            best_estimator,
            run_id,
            "best_estimator",
            input_example,
            signature,
            best_estimator.get_params(deep=True),
            options,
            problems,
        )
    best_score = getattr(estimator, "best_score_", None)
    if best_score is not None:
        with problems.step("could not log best_cv_score"):
            client.log_batch(
                run_id,
                metrics=[Metric("best_cv_score", float(best_score), now_ms(), 0, model_id, *link)],
            )
    with problems.step("could not log the best params"):
        best = loggable_params(sklearn_search.best_params(estimator), problems)
        client.log_batch(run_id, params=[Param(k, v) for k, v in best.items()])
    if hasattr(estimator, "cv_results_"):
        with problems.step("could not log the search's child runs"):
            sklearn_search.log_child_runs(
                client, estimator, run_id, options.max_tuning_runs, dataset, problems
            )
        with problems.step("could not log cv_results.csv"):
            sklearn_search.log_cv_results(client, estimator, run_id)


def _fit_data(
    signature: inspect.Signature, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """X, y and sample_weight as passed to fit (None where absent).

    X and y are fit's first two parameters whatever their names (``MultiOutputClassifier``
    calls them ``X`` and ``Y``); ``sample_weight`` may also come in fit params.
    """
    try:
        bound = signature.bind(estimator, *args, **kwargs)
    except TypeError:  # fit accepted it anyway (it returned); nothing to score with
        return None, None, None
    arguments = bound.arguments
    positional = [
        p.name
        for p in list(signature.parameters.values())[1:3]
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    X = arguments.get(positional[0]) if positional else None
    y = arguments.get(positional[1]) if len(positional) > 1 else None
    extra = arguments.get("fit_params") or arguments.get("params") or arguments.get("kwargs")
    sample_weight = arguments.get("sample_weight")
    if sample_weight is None and isinstance(extra, dict):
        sample_weight = extra.get("sample_weight")
    # LabelEncoder.fit(y) and friends take only y: there is no X to score.
    if positional and positional[0] == "y":
        return None, None, None
    return X, y, sample_weight


def _training_dataset(X: Any, y: Any, problems: _Problems) -> Any:
    """The record of the training data (``mt.data``), or None for other data types."""
    if X is None:
        return None
    with problems.step("could not describe the training data as a dataset"):
        import numpy as np
        import pandas as pd

        from ..data import from_numpy, from_pandas

        if isinstance(X, pd.DataFrame):
            return from_pandas(X)._to_mlflow_entity()
        try:
            from scipy.sparse import issparse  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - scipy comes with scikit-learn
            issparse = None
        if issparse is not None and issparse(X):
            X = X.toarray()
            if y is not None and issparse(y):
                y = y.toarray()
        if isinstance(X, np.ndarray):
            targets = None if y is None else np.asarray(y)
            return from_numpy(X, targets=targets)._to_mlflow_entity()
        logger.debug("sklearn autolog: no dataset input for training data of %s", type(X))
    return None


def _input_example(X: Any, options: _Options) -> Any:
    """The first rows of X, copied before fit can change them (only when models are logged)."""
    if not options.log_models or _log_model_hook is None or X is None:
        return None
    if not (options.log_input_examples or options.log_model_signatures):
        return None
    try:
        return copy.deepcopy(X[:INPUT_EXAMPLE_ROWS])
    except Exception:  # not sliceable: no example, no signature
        logger.debug("sklearn autolog: no input example from %s", type(X), exc_info=True)
        return None


def _signature(estimator: Any, example: Any, options: _Options, problems: _Problems) -> Any:
    if example is None or not options.log_model_signatures:
        return None

    def infer() -> Any:
        from ..models import infer_signature

        if hasattr(estimator, "predict"):
            output = estimator.predict(copy.deepcopy(example))
        elif hasattr(estimator, "transform"):
            output = estimator.transform(copy.deepcopy(example))
        else:
            return None
        return infer_signature(example, output)

    return problems.attempt("could not infer the model signature", infer)


def _log_model(
    estimator: Any,
    run_id: str,
    name: str,
    input_example: Any,
    signature: Any,
    params: dict[str, Any],
    options: _Options,
    problems: _Problems,
) -> str | None:
    """Call the model hook with the options its signature accepts; the model id it returns."""
    hook = _log_model_hook
    if hook is None:
        return None
    offered: dict[str, Any] = {
        "name": name,
        "input_example": input_example if options.log_input_examples else None,
        "signature": signature,
        "params": params,
        "registered_model_name": options.registered_model_name if name == "model" else None,
        "serialization_format": options.serialization_format,
    }
    try:
        parameters = inspect.signature(hook).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            offered = {k: v for k, v in offered.items() if k in parameters}
    except (TypeError, ValueError):
        offered = {}
    info = problems.attempt(f"could not log the model {name!r}", hook, estimator, run_id, **offered)
    model_id = getattr(info, "model_id", None)
    return model_id if isinstance(model_id, str) else None


class _Problems:
    """Collects what went wrong while logging one fit and reports it once."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.messages: list[str] = []

    def add(self, what: str, exc: BaseException | None = None) -> None:
        self.messages.append(what if exc is None else f"{what} ({type(exc).__name__}: {exc})")
        if exc is not None:
            logger.debug("sklearn autolog: %s", what, exc_info=exc)

    def attempt(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or None after recording why it failed."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # reported once by emit()
            self.add(what, exc)
            return None

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
