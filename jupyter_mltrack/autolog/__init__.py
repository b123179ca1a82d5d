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
    disable: bool = False,
    log_input_examples: bool = False,
    silent: bool = False,
    log_models: bool = True,
    exclusive: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Enable (or, with ``disable=True``, undo) autologging for every supported library.

    Args:
        disable: restore the libraries' original methods.
        log_input_examples: keep an input example with logged models (used once models are
            logged; see :mod:`jupyter_mltrack.autolog.sklearn`).
        silent: report autologging problems at debug level instead of as warnings.
        log_models: call the model-logging hook after each logged fit.
        exclusive: do not log into runs the user started; only into runs autolog starts.
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
            disable=disable,
            log_input_examples=log_input_examples,
            silent=silent,
            log_models=log_models,
            exclusive=exclusive,
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
