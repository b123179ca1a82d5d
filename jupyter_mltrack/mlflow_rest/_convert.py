"""Our entities in MLflow's JSON shapes (``mlflow/protos/service.proto``, proto field names).

Times are integers (MLflow's server writes int64 fields as JSON numbers); NaN and the
infinities are written as the proto3 JSON strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"``, which MLflow's client parses back to floats. Artifact URIs under the
server's artifact root are rewritten to ``mlflow-artifacts:/<path>``, so MLflow's client
moves their files through the proxy (``/api/2.0/mlflow-artifacts/artifacts/<path>``).
"""

from __future__ import annotations

import math
from typing import Any

from ..entities import Dataset, Experiment, FileInfo, Metric, Run, RunInfo

__all__ = [
    "PROXY_SCHEME",
    "dataset_json",
    "experiment_json",
    "file_info_json",
    "float_json",
    "kv_list",
    "metric_json",
    "proxied_uri",
    "run_info_json",
    "run_json",
]

PROXY_SCHEME = "mlflow-artifacts:"


def float_json(value: float) -> float | str:
    """A metric value as proto3 JSON writes it (strings for NaN and the infinities)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def kv_list(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def proxied_uri(uri: str, prefix: str) -> str:
    """``mlflow-artifacts:/<rest>`` for a URI under the served root ``prefix``, else ``uri``."""
    root = prefix.rstrip("/")
    if uri == root:
        return PROXY_SCHEME + "/"
    if uri.startswith(root + "/"):
        return PROXY_SCHEME + "/" + uri[len(root) + 1 :]
    return uri


def experiment_json(exp: Experiment, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": proxied_uri(exp.artifact_location, prefix),
        "lifecycle_stage": exp.lifecycle_stage,
        "tags": kv_list(exp.tags),
    }
    if exp.creation_time_ms is not None:
        out["creation_time"] = exp.creation_time_ms
    if exp.last_update_time_ms is not None:
        out["last_update_time"] = exp.last_update_time_ms
    return out


def run_info_json(info: RunInfo, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time_ms,
        "artifact_uri": proxied_uri(info.artifact_uri, prefix),
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time_ms is not None:
        out["end_time"] = info.end_time_ms
    return out


def dataset_json(ds: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
    }
    if ds.schema is not None:
        out["schema"] = ds.schema
    if ds.profile is not None:
        out["profile"] = ds.profile
    return out


def run_json(
    run: Run, prefix: str, latest: dict[str, tuple[int, int]] | None = None
) -> dict[str, Any]:
    """A run; ``latest`` maps metric keys to ``(timestamp_ms, step)`` of the latest point."""
    latest = latest or {}
    metrics = []
    for key, value in run.data.metrics.items():
        timestamp, step = latest.get(key, (run.info.start_time_ms, 0))
        metrics.append(
            {"key": key, "value": float_json(float(value)), "timestamp": timestamp, "step": step}
        )
    return {
        "info": run_info_json(run.info, prefix),
        "data": {
            "metrics": metrics,
            "params": kv_list(run.data.params),
            "tags": kv_list(run.data.tags),
        },
        "inputs": {
            "dataset_inputs": [
                {"tags": kv_list(d.tags), "dataset": dataset_json(d.dataset)}
                for d in run.inputs.dataset_inputs
            ],
            "model_inputs": [{"model_id": m.model_id} for m in run.inputs.model_inputs],
        },
        "outputs": {
            "model_outputs": [
                {"model_id": m.model_id, "step": m.step} for m in run.outputs.model_outputs
            ]
        },
    }


def metric_json(metric: Metric, run_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": metric.key,
        "value": float_json(float(metric.value)),
        "timestamp": int(metric.timestamp_ms),
        "step": int(metric.step),
    }
    for name in ("dataset_name", "dataset_digest", "model_id"):
        value = getattr(metric, name, None)
        if value is not None:
            out[name] = value
    if run_id is not None:
        out["run_id"] = run_id
    return out


def file_info_json(info: FileInfo, strip: str = "") -> dict[str, Any]:
    """A listing entry; ``strip`` is a prefix removed from the path (proxy listings are
    relative to the listed directory's parent, as MLflow's)."""
    path = info.path[len(strip) :] if strip and info.path.startswith(strip) else info.path
    out: dict[str, Any] = {"path": path, "is_dir": info.is_dir}
    if info.file_size is not None:
        out["file_size"] = info.file_size
    return out
