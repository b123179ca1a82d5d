"""Helpers for the sklearn autolog scripts: stable run names and timing-free summaries.

Autolog names its runs at random and child runs record fit and score times; both differ
between any two runs of a script, so the scripts name the runs themselves and the timing
metrics are compared by key only.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote, urlparse

from _summary import MARKER, summarize

# MLflow infers each logged model's requirements in a subprocess that imports the model: 20-50
# s per model on a loaded 2-core machine, which pushes these scripts past the suite's timeout.
# The requirement files' contents are not compared (only which files a model has), so MLflow
# may fall back to its default requirements after 5 s.
os.environ.setdefault("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "5")

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


def logged_models(mlflow: Any, experiment_name: str) -> dict[str, Any]:
    """``{run name: {model name: {"files": [...], "flavors": [...]}}}`` of the experiment's
    logged models: the files at the top of each model directory and its MLmodel's flavors."""
    client = mlflow.MlflowClient()
    experiment_id = client.get_experiment_by_name(experiment_name).experiment_id
    names = {r.info.run_id: r.info.run_name for r in client.search_runs([experiment_id])}
    out: dict[str, Any] = {}
    for model in mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list"):
        root = unquote(urlparse(model.artifact_location).path)
        flavors = []
        with open(os.path.join(root, "MLmodel")) as f:
            in_flavors = False
            for line in f:  # the top-level keys under "flavors:" (no YAML parser needed)
                if line.startswith("flavors:"):
                    in_flavors = True
                elif in_flavors and line.startswith("  ") and not line.startswith("   "):
                    flavors.append(line.strip().rstrip(":"))
                elif in_flavors and not line.startswith(" "):
                    in_flavors = False
        out.setdefault(names.get(model.source_run_id, "<no run>"), {})[model.name] = {
            "files": sorted(os.listdir(root)),
            "flavors": sorted(flavors),
        }
    return out


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
    body = {
        "runs": runs,
        "checks": {**(checks or {}), "logged_models": logged_models(mlflow, experiment_name)},
    }
    print(MARKER + json.dumps(body, sort_keys=True), flush=True)
