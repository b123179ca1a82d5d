"""The default evaluation plots: plotly figures (JSON) and static PNGs under MLflow's names.

Each plot is built once as a plotly figure dict (``{"data": [...], "layout": {...}}``, what the
run detail view previews and ``EvalCompare`` overlays) from curves already thinned to at most
1,000 points, and drawn again as a PNG with matplotlib under MLflow's artifact name
(``confusion_matrix.png``, ``roc_curve_plot.png``, ...). plotly's own static export (kaleido)
drives a Chrome it would download, so it is not used; without matplotlib the PNGs are skipped.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np

__all__ = ["Figure", "png_bytes"]

_logger = logging.getLogger(__name__)

Figure = dict[str, Any]


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}},
        "template": "plotly_white",
        **extra,
    }


def _line(x: np.ndarray, y: np.ndarray, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [float(v) for v in x],
        "y": [float(v) for v in y],
        "name": name,
        **extra,
    }


def _diagonal(reverse: bool = False) -> dict[str, Any]:
    y = [1.0, 0.0] if reverse else [0.0, 1.0]
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0.0, 1.0],
        "y": y,
        "name": "chance",
        "line": {"dash": "dash", "color": "gray"},
        "showlegend": False,
    }


def confusion_figure(cm: np.ndarray, labels: list[Any]) -> Figure:
    """The confusion matrix normalized by true label (as MLflow's), counts in the hover text."""
    rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows != 0)
    names = [str(v) for v in labels]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": norm.round(6).tolist(),
                "x": names,
                "y": names,
                "text": cm.tolist(),
                "texttemplate": "%{z:.2f}",
                "hovertemplate": (
                    "true %{y}, predicted %{x}: %{text} rows (%{z:.3f})<extra></extra>"
                ),
                "colorscale": "Blues",
                "zmin": 0,
                "zmax": 1,
            }
        ],
        "layout": _layout(
            "Normalized confusion matrix",
            "Predicted label",
            "True label",
            yaxis={"title": {"text": "True label"}, "autorange": "reversed", "type": "category"},
            xaxis={"title": {"text": "Predicted label"}, "type": "category"},
        ),
    }


def curve_figure(kind: str, series: list[tuple[str, np.ndarray, np.ndarray]], pos: Any) -> Figure:
    """ROC (``kind="roc"``), precision-recall (``"pr"``), lift/gain (``"lift"``) or
    calibration (``"calibration"``) curves, one trace per ``(name, x, y)``."""
    suffix = f" (Positive label: {pos})" if pos is not None else ""
    if kind == "roc":
        layout = _layout("ROC curve", f"False Positive Rate{suffix}", f"True Positive Rate{suffix}")
        extra: list[dict[str, Any]] = [_diagonal()]
        shape = {"shape": "hv"}
    elif kind == "pr":
        layout = _layout("Precision recall curve", f"Recall{suffix}", f"Precision{suffix}")
        extra, shape = [_diagonal(reverse=True)], {"shape": "hv"}
    elif kind == "lift":
        layout = _layout(
            "Cumulative gains", "Fraction of rows (highest score first)", "Fraction of positives"
        )
        extra, shape = [_diagonal()], {}
    else:
        layout = _layout("Calibration curve", "Mean predicted probability", "Fraction of positives")
        extra, shape = [_diagonal()], {}
    traces = [
        _line(x, y, name, line=shape, mode="lines+markers" if kind == "calibration" else "lines")
        for name, x, y in series
    ]
    return {"data": traces + extra, "layout": layout}


def residuals_figure(y_true: np.ndarray, y_pred: np.ndarray, max_points: int = 2000) -> Figure:
    """Residuals against predictions (a sample of at most ``max_points`` rows)."""
    idx = _sample(len(y_true), max_points)
    pred = y_pred[idx].astype(np.float64)
    return {
        "data": [
            {
                "type": "scattergl",
                "mode": "markers",
                "x": pred.tolist(),
                "y": (y_true[idx].astype(np.float64) - pred).tolist(),
                "name": "residual",
                "marker": {"size": 4, "opacity": 0.6},
            }
        ],
        "layout": _layout("Residuals", "Predicted value", "Residual (target - predicted)"),
    }


def predicted_vs_actual_figure(
    y_true: np.ndarray, y_pred: np.ndarray, max_points: int = 2000
) -> Figure:
    """Predicted against actual values with the identity line."""
    idx = _sample(len(y_true), max_points)
    lo = float(min(y_true.min(), y_pred.min()))
    hi = float(max(y_true.max(), y_pred.max()))
    return {
        "data": [
            {
                "type": "scattergl",
                "mode": "markers",
                "x": y_true[idx].astype(np.float64).tolist(),
                "y": y_pred[idx].astype(np.float64).tolist(),
                "name": "rows",
                "marker": {"size": 4, "opacity": 0.6},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": [lo, hi],
                "y": [lo, hi],
                "name": "ideal",
                "line": {"dash": "dash", "color": "gray"},
            },
        ],
        "layout": _layout("Predicted vs actual", "Actual value", "Predicted value"),
    }


def _sample(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.random.default_rng(0).choice(n, size=k, replace=False)


def png_bytes(figure: Figure) -> bytes | None:
    """A PNG of a figure made here, drawn with matplotlib (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure as MplFigure
    except ImportError:  # matplotlib is optional: the plotly JSON is the artifact then
        return None
    fig = MplFigure(figsize=(6.0, 4.0), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for trace in figure["data"]:
        if trace["type"] == "heatmap":
            z = np.asarray(trace["z"])
            image = ax.imshow(z, cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(len(trace["x"])), trace["x"])
            ax.set_yticks(range(len(trace["y"])), trace["y"])
            for (i, j), value in np.ndenumerate(z):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    color="white" if value > 0.5 else "black",
                    fontsize=8,
                )
            fig.colorbar(image, ax=ax)
        elif trace.get("mode") == "markers":
            ax.scatter(trace["x"], trace["y"], s=4, alpha=0.6, label=trace.get("name"))
        else:
            dashed = trace.get("line", {}).get("dash") == "dash"
            step = trace.get("line", {}).get("shape") == "hv"
            ax.plot(
                trace["x"],
                trace["y"],
                linestyle="--" if dashed else "-",
                color="gray" if dashed else None,
                drawstyle="steps-post" if step else "default",
                label=None if dashed else trace.get("name"),
                linewidth=1,
            )
    layout = figure["layout"]
    ax.set_title(layout["title"]["text"])
    ax.set_xlabel(layout["xaxis"]["title"]["text"])
    ax.set_ylabel(layout["yaxis"]["title"]["text"])
    if any(t["type"] != "heatmap" and t.get("showlegend", True) for t in figure["data"]):
        ax.legend(loc="best", fontsize=7)
    # fixed margins: tight_layout measures every text box and cost more than the drawing
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.13, top=0.9)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
