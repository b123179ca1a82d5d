"""What a conformance script recorded, read back through ``MlflowClient``, as one JSON line.

Both backends print the same shape; the test compares them. Values that differ by design
(run ids, times, digests, absolute paths, the source of ``code`` datasets) are left out.
"""

from __future__ import annotations

import json
import math
from typing import Any

MARKER = "CONFORMANCE-SUMMARY "


def _tags(tags: Any) -> dict[str, str]:
    """Input tags as a dict: MLflow has a list of InputTag, jupyter-mltrack a dict."""
    if isinstance(tags, dict):
        return dict(tags)
    return {t.key: t.value for t in tags}


def _dataset(dataset_input: Any) -> dict[str, Any]:
    ds = dataset_input.dataset
    out: dict[str, Any] = {
        "name": ds.name,
        "source_type": ds.source_type,
        "tags": _tags(dataset_input.tags),
        "schema": json.loads(ds.schema) if ds.schema else None,
        "profile": json.loads(ds.profile) if ds.profile else None,
    }
    if ds.source_type != "code":  # MLflow records the run's source tags there
        out["source"] = json.loads(ds.source)
    return out


def _number(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


def summarize(mlflow: Any, experiment_name: str) -> dict[str, Any]:
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    runs = [client.get_run(r.info.run_id) for r in client.search_runs([experiment.experiment_id])]
    names = {r.info.run_id: r.info.run_name for r in runs}
    assert len(set(names.values())) == len(runs), f"run names must be unique: {names}"
    summary: dict[str, Any] = {}
    for run in runs:
        run_id, data = run.info.run_id, run.data
        summary[run.info.run_name] = {
            "status": run.info.status,
            "parent": names.get(data.tags.get("mlflow.parentRunId", "")),
            "children": sorted(
                names[r.info.run_id]
                for r in runs
                if r.data.tags.get("mlflow.parentRunId") == run_id
            ),
            "params": dict(data.params),
            "metrics": {k: _number(v) for k, v in data.metrics.items()},
            "metric_history": {
                key: [
                    [m.step, _number(m.value)]
                    for m in sorted(
                        client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp)
                    )
                ]
                for key in data.metrics
            },
            "tags": {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
            "artifacts": sorted(
                f.path + ("/" if f.is_dir else "") for f in client.list_artifacts(run_id)
            ),
            "datasets": [_dataset(i) for i in run.inputs.dataset_inputs],
        }
    return summary


def print_summary(mlflow: Any, experiment_name: str, checks: dict[str, Any] | None = None) -> None:
    """Print the summary of ``experiment_name`` plus the script's own ``checks``."""
    body = {"runs": summarize(mlflow, experiment_name), "checks": checks or {}}
    print(MARKER + json.dumps(body, sort_keys=True), flush=True)
