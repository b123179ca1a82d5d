"""Regressor metrics with numpy: MLflow's default names, scikit-learn's values."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter

__all__ = ["regressor_metrics"]


def regressor_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``example_count``, MAE, MSE, RMSE, ``sum_on_target``, ``mean_on_target``, R2,
    ``max_error`` and MAPE, each equal to scikit-learn's function of the same name."""
    if y_true.shape[0] != y_pred.shape[0]:
        raise InvalidParameter(
            f"The targets have {y_true.shape[0]} rows and the predictions {y_pred.shape[0]}; "
            "they must have one prediction per row."
        )
    if y_true.dtype.kind not in "iufb" or y_pred.dtype.kind not in "iufb":
        raise InvalidParameter(
            "A regressor's targets and predictions must be numbers, got "
            f"{y_true.dtype} and {y_pred.dtype}; use model_type='classifier' for labels."
        )
    y = y_true.astype(np.float64, copy=False)
    p = y_pred.astype(np.float64, copy=False)
    n = len(y)
    if n == 0:
        raise InvalidParameter("The evaluation data has no rows.")
    err = p - y
    abs_err = np.abs(err)
    mse = float(np.mean(err * err))
    ss_res = float(np.sum(err * err))
    del err
    mean_y = float(np.mean(y))
    ss_tot = float(np.sum((y - mean_y) ** 2))
    # a constant target: scikit-learn's force_finite (1 for a perfect fit, else 0)
    r2 = 1.0 - ss_res / ss_tot if ss_tot != 0 else (1.0 if ss_res == 0 else 0.0)
    eps = np.finfo(np.float64).eps
    total = float(np.sum(y))
    return {
        "example_count": n,
        "mean_absolute_error": float(np.mean(abs_err)),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": total,
        "mean_on_target": total / n,
        "r2_score": r2,
        "max_error": float(np.max(abs_err)),
        "mean_absolute_percentage_error": float(np.mean(abs_err / np.maximum(np.abs(y), eps))),
    }
