"""The artifacts sklearn autolog draws: ``estimator.html`` and the classifier plots.

As MLflow 3: every classifier gets ``training_confusion_matrix.png`` (normalized over the
true labels); a binary one also ``training_roc_curve.png`` and
``training_precision_recall_curve.png``. Figures are drawn on ``matplotlib.figure.Figure``
objects, never through pyplot's current figure, so nothing shows up inline in a notebook
and the user's open figures are left alone. Without matplotlib only the HTML is logged.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sklearn import _Problems

__all__ = ["classifier_plots", "estimator_html"]

_SAVE_RC = {"savefig.dpi": 175, "figure.autolayout": True, "font.size": 8}


def estimator_html(estimator: Any) -> str:
    """scikit-learn's HTML diagram of the estimator as a standalone UTF-8 page."""
    from sklearn.utils import estimator_html_repr  # type: ignore[import-untyped]

    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
        f"<body>\n{estimator_html_repr(estimator)}\n</body>\n</html>\n"
    )


def classifier_plots(
    estimator: Any, X: Any, y: Any, sample_weight: Any, prefix: str, problems: _Problems
) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` for a fitted classifier on its training data."""
    if X is None or y is None:
        return {}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return {}
    import numpy as np
    from sklearn import metrics as skm  # type: ignore[import-untyped]

    labels = getattr(estimator, "classes_", None)
    if labels is None:
        labels = np.unique(np.asarray(y))
    plots: list[tuple[str, str, Callable[..., Any], dict[str, Any], dict[str, Any]]] = [
        (
            "confusion_matrix",
            "Normalized confusion matrix",
            skm.ConfusionMatrixDisplay.from_estimator,
            {"normalize": "true", "cmap": "Blues"},
            {"font.size": min(8.0, 50.0 / max(len(labels), 1)), "axes.labelsize": 8.0},
        )
    ]
    if len(np.unique(np.asarray(y))) == 2:
        plots.append(("roc_curve", "ROC curve", skm.RocCurveDisplay.from_estimator, {}, {}))
        plots.append(
            (
                "precision_recall_curve",
                "Precision recall curve",
                skm.PrecisionRecallDisplay.from_estimator,
                {},
                {},
            )
        )
    out: dict[str, bytes] = {}
    for name, title, draw, extra, rc in plots:
        with problems.step(f"could not draw {prefix}{name}.png"):
            arguments = {"sample_weight": sample_weight, **extra}
            out[f"{prefix}{name}.png"] = _draw(draw, (estimator, X, y), arguments, title, rc)
    return out


def _draw(
    draw: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    title: str,
    rc: dict[str, Any],
) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    settings: Any = {**_SAVE_RC, **rc}
    with matplotlib.rc_context(settings):
        figure = Figure(figsize=(6.0, 4.0), dpi=175)
        ax = figure.add_subplot()
        display = draw(*args, **kwargs, ax=ax)
        display.ax_.set_title(title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
