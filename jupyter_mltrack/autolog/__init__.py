"""Automatic logging: patch ML libraries so that training calls become logged runs.

``mt.autolog()`` turns it on for every supported library that is installed (scikit-learn
today); ``jupyter_mltrack.autolog.sklearn.autolog`` is the per-library switch. See
docs/capture.md for what is logged.

This package imports no ML library until :func:`autolog` is called, so ``import
jupyter_mltrack`` stays fast.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Mapping

__all__ = ["autolog"]

logger = logging.getLogger(__name__)

SUPPORTED = ("sklearn",)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Enable (or, with ``disable=True``, undo) autologging for every supported library.

    The arguments are those of MLflow's ``mlflow.autolog`` that apply here, in its order;
    each library's own ``autolog`` (``mt.sklearn.autolog``) takes more.

    Args:
        log_input_examples: log the first training rows with each model.
        log_model_signatures: log a signature inferred from them with each model.
        log_models: log the fitted model after each logged fit.
        log_datasets: record the training data as a dataset input.
        disable: restore the libraries' original methods.
        exclusive: do not log into runs the user started; only into runs autolog starts.
        disable_for_unsupported_versions: accepted for MLflow compatibility.
        silent: report autologging problems at debug level instead of as warnings.
        extra_tags: tags added to every run autolog starts.

    Example::

        mt.autolog()
        LogisticRegression().fit(X, y)   # one FINISHED run with params and metrics
    """
    found = False
    if importlib.util.find_spec("sklearn") is not None:
        from . import sklearn

        found = True
        sklearn.autolog(
            log_input_examples=log_input_examples,
            log_model_signatures=log_model_signatures,
            log_models=log_models,
            log_datasets=log_datasets,
            disable=disable,
            exclusive=exclusive,
            disable_for_unsupported_versions=disable_for_unsupported_versions,
            silent=silent,
            extra_tags=extra_tags,
        )
    if not found and not disable:
        message = (
            "mt.autolog() found none of the supported libraries installed "
            f"({', '.join(SUPPORTED)}); nothing will be logged automatically."
        )
        if silent:
            logger.debug(message)
        else:
            warnings.warn(message, UserWarning, stacklevel=2)
