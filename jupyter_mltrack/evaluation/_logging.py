"""Logging one evaluation to a run: the dataset input, the metrics (tied to the dataset and the
logged model), the plots (PNG under MLflow's names plus plotly JSON), the tables."""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidParameter
from ..tracking import fluent
from ..tracking.fluent_ops import log_input
from . import plots
from ._inputs import EvalData
from .evaluate import EVAL_TABLE, Computed, to_json
from .result import EvaluationArtifact, EvaluationResult

__all__ = ["log_evaluation"]


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None}


def log_evaluation(
    computed: Computed,
    data: EvalData,
    model_id: str | None,
    model_type: str,
    config: dict[str, Any],
    baseline: Computed | None,
    custom_artifacts: Sequence[Any] | None,
) -> EvaluationResult:
    """Log ``computed`` to the active run, or to a new run that is ended afterwards."""
    started = fluent.active_run() is None
    run = fluent.start_run() if started else fluent.active_run()
    assert run is not None
    try:
        return _log(run, computed, data, model_id, model_type, config, baseline, custom_artifacts)
    except BaseException:
        if started:
            fluent.end_run("FAILED")
            started = False
        raise
    finally:
        if started:
            fluent.end_run()


def _log(
    run: Any,
    computed: Computed,
    data: EvalData,
    model_id: str | None,
    model_type: str,
    config: dict[str, Any],
    baseline: Computed | None,
    custom_artifacts: Sequence[Any] | None,
) -> EvaluationResult:
    client = fluent.get_client_for_active()
    run_id = run.info.run_id
    root = run.info.artifact_uri.rstrip("/")
    prefix = str(config.get("metric_prefix") or "")
    log_input(data.dataset, context=prefix or None)
    metrics = _finite(computed.metrics)
    if baseline is not None:
        base = _finite(baseline.metrics)
        metrics.update({f"baseline/{k}": v for k, v in base.items()})
        metrics.update(
            {f"delta/{k}": metrics[k] - v for k, v in base.items() if k in computed.metrics}
        )
    fluent.log_metrics(metrics, dataset=data.dataset, model_id=model_id)

    artifacts: dict[str, EvaluationArtifact] = {}
    for name, figure in computed.figures.items():
        json_path = f"{name}.plotly.json"
        client.write_artifact(run_id, json_path, to_json(figure).encode())
        png = plots.png_bytes(figure)
        path = json_path
        if png is not None:
            path = f"{name}.png"
            client.write_artifact(run_id, path, png)
        artifacts[name] = EvaluationArtifact(f"{root}/{path}", path, figure, json_path)
    for name, frame in computed.csv_tables.items():
        path = f"{name}.csv"
        client.write_artifact(run_id, path, frame.to_csv(index=False).encode())
        artifacts[name] = EvaluationArtifact(f"{root}/{path}", path, frame)
    tables: dict[str, Any] = {}
    if computed.row_columns:
        table = _eval_table(data, computed)
        path = f"{prefix}{EVAL_TABLE}.json"
        client.log_table(run_id, table, path)
        tables[EVAL_TABLE] = table
        artifacts[EVAL_TABLE] = EvaluationArtifact(f"{root}/{path}", path, table)
    if custom_artifacts:
        artifacts.update(_custom_artifacts(client, run_id, root, custom_artifacts, data, computed))
    baseline_result = None
    if baseline is not None:
        baseline_result = EvaluationResult(
            metrics=dict(baseline.metrics),
            run_id=run_id,
            model_type=model_type,
            figures=baseline.figures,
            directions=dict(baseline.directions),
        )
    return EvaluationResult(
        metrics=dict(computed.metrics),
        artifacts=artifacts,
        tables=tables,
        run_id=run_id,
        model_id=model_id,
        model_type=model_type,
        dataset_name=data.dataset.name,
        dataset_digest=data.dataset.digest,
        figures=computed.figures,
        baseline=baseline_result,
        directions=dict(computed.directions),
    )


def _eval_table(data: EvalData, computed: Computed) -> Any:
    frame = data.features_frame()
    columns: dict[str, Any] = {}
    if data.y_true is not None:
        columns[data.targets_name] = _plain(data.y_true)
    columns[data.predictions_name] = _plain(computed.y_pred)
    columns.update(computed.row_columns)
    return frame.assign(**columns)


def _plain(values: Any) -> list[Any]:
    out: list[Any] = values.tolist() if hasattr(values, "tolist") else list(values)
    return [
        (v.tolist() if hasattr(v, "tolist") else v)
        if not (isinstance(v, float) and math.isnan(v))
        else None
        for v in out
    ]


def _custom_artifacts(
    client: Any,
    run_id: str,
    root: str,
    functions: Sequence[Any],
    data: EvalData,
    computed: Computed,
) -> dict[str, EvaluationArtifact]:
    """MLflow's ``custom_artifacts``: ``fn(eval_df, builtin_metrics, artifacts_dir)`` returns
    ``{name: path | dict | DataFrame | figure}``."""
    import pandas as pd

    eval_df = pd.DataFrame({"prediction": _plain(computed.y_pred)})
    if data.y_true is not None:
        eval_df["target"] = _plain(data.y_true)
    out: dict[str, EvaluationArtifact] = {}
    for index, fn in enumerate(functions):
        if not callable(fn):
            raise InvalidParameter(f"custom_artifacts[{index}] is not a function: {fn!r}.")
        with tempfile.TemporaryDirectory() as tmp:
            produced = fn(eval_df, dict(computed.metrics), tmp)
            if produced is None:
                continue
            if not isinstance(produced, dict) or not all(isinstance(k, str) for k in produced):
                raise InvalidParameter(
                    f"custom_artifacts[{index}] must return a dict of artifact name to a file "
                    f"path, dict, DataFrame or figure; got {type(produced).__name__}."
                )
            for name, value in produced.items():
                path = _write_custom(client, run_id, name, value)
                out[name] = EvaluationArtifact(f"{root}/{path}", path, value)
    return out


def _write_custom(client: Any, run_id: str, name: str, value: Any) -> str:
    import pandas as pd

    if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
        client.log_artifact(run_id, value)
        return os.path.basename(os.fspath(value))
    if isinstance(value, pd.DataFrame):
        path = f"{name}.json"
        client.log_table(run_id, value, path)
        return path
    if isinstance(value, dict):
        path = f"{name}.json"
        client.log_dict(run_id, value, path)
        return path
    if hasattr(value, "savefig") or hasattr(value, "to_plotly_json"):
        path = f"{name}.png" if hasattr(value, "savefig") else f"{name}.html"
        client.log_figure(run_id, value, path)
        return path
    if isinstance(value, bytes):
        client.write_artifact(run_id, name, io.BytesIO(value).getvalue())
        return name
    raise InvalidParameter(
        f"Custom artifact {name!r} is a {type(value).__name__}; return a file path, a dict, a "
        "DataFrame or a figure."
    )
