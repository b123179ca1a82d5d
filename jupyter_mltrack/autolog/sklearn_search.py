"""Hyperparameter searches under sklearn autolog: child runs, ``cv_results.csv``, best params.

For a fitted ``GridSearchCV`` or ``RandomizedSearchCV`` (as MLflow 3 records it):

- the parent run gets ``best_<param>`` params, the ``best_cv_score`` metric and the whole
  ``cv_results_`` as the artifact ``cv_results.csv``;
- one FINISHED child run per candidate, best-ranked first (``rank_test_score``, or the first
  ``rank_test_*`` column with several scorers), at most ``max_tuning_runs`` of them (``None``:
  all). Each holds the seed estimator's params updated with the candidate's, the aggregate
  columns of its ``cv_results_`` row as metrics (``mean_test_score``, ``std_test_score``,
  ``rank_test_score``, ``mean_fit_time``, ... but not the per-split ones), the tags
  ``estimator_name``/``estimator_class`` of the seed estimator and ``mlflow.parentRunId``, and
  the training dataset as an input. Their start time is the parent's.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from typing import TYPE_CHECKING, Any

from .sklearn_metrics import estimator_tags, is_search, loggable_params

if TYPE_CHECKING:
    from ..entities import Dataset
    from ..tracking.client import TrackingClient
    from .sklearn import _Problems

__all__ = ["best_params", "candidate_order", "log_child_runs", "log_cv_results"]

logger = logging.getLogger(__name__)

_EXCLUDED_PREFIXES = ("param", "split")


def best_params(estimator: Any) -> dict[str, Any]:
    best = getattr(estimator, "best_params_", None)
    return {f"best_{k}": v for k, v in best.items()} if isinstance(best, dict) else {}


def candidate_order(cv_results: dict[str, Any], max_tuning_runs: int | None) -> list[int]:
    """Indices of the candidates that get a child run, best-ranked first (ties: first seen)."""
    import numpy as np

    count = len(cv_results["params"])
    if max_tuning_runs is None:
        return list(range(count))
    rank_key = "rank_test_score"
    if rank_key not in cv_results:
        rank_key = next((k for k in cv_results if "rank_test_" in k), "")
        if not rank_key:
            return list(range(min(max_tuning_runs, count)))
        warnings.warn(
            f"sklearn autolog: the best {max_tuning_runs} candidates get child runs, ranked by "
            f"{rank_key!r}; pass max_tuning_runs=None to log every candidate.",
            UserWarning,
            stacklevel=2,
        )
    order = np.argsort(np.asarray(cv_results[rank_key]), kind="stable")
    chosen = [int(i) for i in order[:max_tuning_runs]]
    logger.info("sklearn autolog: %d of %d search candidates get child runs", len(chosen), count)
    return chosen


def _row_metrics(cv_results: dict[str, Any], index: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, column in cv_results.items():
        if key.startswith(_EXCLUDED_PREFIXES):
            continue
        value = column[index]
        if isinstance(value, numbers.Real):
            out[key] = float(value)
    return out


def log_child_runs(
    client: TrackingClient,
    search: Any,
    parent_run_id: str,
    max_tuning_runs: int | None,
    dataset: Dataset | None,
    problems: _Problems,
) -> list[str]:
    """One child run per chosen candidate of the fitted ``search``; their run ids."""
    from ..entities import Metric, Param
    from ..tracking.core import now_ms

    cv_results = search.cv_results_
    parent = client.get_run(parent_run_id)
    seed = search.estimator
    base = seed.get_params(deep=not is_search(seed))
    tags = {"mlflow.autologging": "sklearn", **estimator_tags(seed)}
    end = now_ms()
    run_ids: list[str] = []
    for index in candidate_order(cv_results, max_tuning_runs):
        child = client.create_run(
            parent.info.experiment_id,
            start_time=parent.info.start_time,
            tags=tags,
            parent_run_id=parent_run_id,
        )
        run_id = child.info.run_id
        params = loggable_params({**base, **cv_results["params"][index]}, problems)
        link = (None, None) if dataset is None else (dataset.name, dataset.digest)
        client.log_batch(
            run_id,
            metrics=[
                Metric(key, value, end, 0, None, *link)
                for key, value in _row_metrics(cv_results, index).items()
            ],
            params=[Param(k, v) for k, v in params.items()],
            tags=[],
        )
        if dataset is not None:
            client.log_inputs(run_id, [(dataset, {"mlflow.data.context": "train"})])
        client.set_terminated(run_id, "FINISHED", end_time=end)
        run_ids.append(run_id)
    return run_ids


def log_cv_results(client: TrackingClient, search: Any, run_id: str) -> None:
    """``cv_results_`` as ``cv_results.csv`` (one row per candidate, as pandas writes it)."""
    import pandas as pd

    text = pd.DataFrame.from_dict(search.cv_results_).to_csv(index=False)
    client.log_text(run_id, text, "cv_results.csv")
