"""Helpers for the sklearn autolog scripts: stable run names and timing-free summaries.

Autolog names its runs at random and child runs record fit and score times; both differ
between any two runs of a script, so the scripts name the runs themselves and the timing
metrics are compared by key only.
"""

from __future__ import annotations

import json
from typing import Any

from _summary import MARKER, summarize

#: cv_results_ columns that are wall-clock times: their keys must match, not their values
TIMING_METRICS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


def name_last_run(mlflow: Any, name: str) -> str:
    """Rename the run autolog used last; returns its id."""
    run_id: str = mlflow.last_active_run().info.run_id
    mlflow.MlflowClient().update_run(run_id, name=name)
    return run_id


def name_children(mlflow: Any, parent_run_id: str, keys: list[str]) -> list[str]:
    """Name each child run of ``parent_run_id`` ``<parent name>[k=v,...]`` from its params."""
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id])
    names = []
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") != parent_run_id:
            continue
        label = ",".join(f"{k}={run.data.params.get(k)}" for k in keys)
        name = f"{parent.info.run_name}[{label}]"
        client.update_run(run.info.run_id, name=name)
        names.append(name)
    return sorted(names)


def print_autolog_summary(
    mlflow: Any, experiment_name: str, checks: dict[str, Any] | None = None
) -> None:
    """``print_summary`` with the timing metrics' values replaced by ``"<timing>"``."""
    runs = summarize(mlflow, experiment_name)
    for run in runs.values():
        for key in TIMING_METRICS:
            if key in run["metrics"]:
                run["metrics"][key] = "<timing>"
                run["metric_history"][key] = "<timing>"
    body = {"runs": runs, "checks": checks or {}}
    print(MARKER + json.dumps(body, sort_keys=True), flush=True)
