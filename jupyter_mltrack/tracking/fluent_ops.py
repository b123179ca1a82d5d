"""Fluent experiments, reads, artifacts and datasets (the non-hot half of the fluent API)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..artifacts.base import validate_artifact_path
from ..entities import Dataset, Experiment, FileInfo, MetricHistory, Run
from ..errors import InvalidParameter
from ..settings import MAX_RESULTS_PAGE
from .core import PagedList
from .fluent import _active, _active_experiment, _run_id, get_client, get_client_for_active

__all__ = [
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "download_artifacts",
    "get_artifact_uri",
    "get_metric_history",
    "get_metric_series",
    "get_run",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment_tag",
    "set_experiment_tags",
    "sql",
]


# ------------------------------------------------------------------ experiments
def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    """Create an experiment and return its id; ``AlreadyExists`` if the name is taken."""
    return get_client().create_experiment(name, artifact_location, tags)


def search_experiments(
    view_type: str = "ACTIVE_ONLY", max_results: int | None = None, name_like: str | None = None
) -> list[Experiment]:
    return get_client().search_experiments(view_type, max_results, name_like)


def delete_experiment(experiment_id: str) -> None:
    get_client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    get_client().restore_experiment(experiment_id)


def _current_experiment_id() -> str:
    client = get_client()
    active = _active_experiment.get(client.tracking_uri)
    if active is None:
        from .fluent import _resolve_experiment_id

        active = _resolve_experiment_id(client, None)
    return active


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the active experiment (set with :func:`set_experiment`, else Default)."""
    get_client().set_experiment_tag(_current_experiment_id(), key, value)


def delete_experiment_tag(key: str) -> None:
    """Remove tag ``key`` from the active experiment; ``NotFound`` when it has none."""
    get_client().delete_experiment_tag(_current_experiment_id(), key)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    if not isinstance(tags, dict):
        raise InvalidParameter(f"set_experiment_tags needs a dict, got {tags!r}.")
    for k, v in tags.items():
        set_experiment_tag(k, v)


# ------------------------------------------------------------------------- runs
def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


def delete_run(run_id: str) -> None:
    get_client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    get_client().restore_run(run_id)


def _experiment_ids(
    experiment_ids: Sequence[str] | str | None,
    experiment_names: Sequence[str] | None,
    search_all_experiments: bool,
) -> list[str]:
    client = get_client()
    if search_all_experiments:
        return [e.experiment_id for e in client.search_experiments(view_type="ALL")]
    ids: list[str] = []
    if isinstance(experiment_ids, str):
        ids.append(experiment_ids)
    elif experiment_ids:
        ids.extend(str(i) for i in experiment_ids)
    if experiment_names:
        # MLflow ignores names that do not exist (with a warning here): a live view may
        # start before its experiment does
        ids.extend(client.experiment_ids_for_names(list(experiment_names)))
        return ids
    return ids or [_current_experiment_id()]


def search_runs(
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str = "",
    run_view_type: str = "ACTIVE_ONLY",
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Search runs; a DataFrame with ``params.*``/``metrics.*``/``tags.*`` columns or a list.

    Example: ``mt.search_runs(filter_string="metrics.acc > 0.9", order_by=["metrics.acc DESC"])``.
    """
    ids = _experiment_ids(experiment_ids, experiment_names, search_all_experiments)
    client = get_client()
    if output_format not in ("pandas", "list"):
        raise InvalidParameter(f"Unknown output_format {output_format!r}; use 'pandas' or 'list'.")
    if not ids:  # only unknown experiment names: nothing matches
        return PagedList([], None) if output_format == "list" else _empty_runs_frame()
    if output_format == "pandas":
        return client.search_runs_frame(ids, filter_string, run_view_type, max_results, order_by)
    if output_format == "list":
        runs = PagedList([], None)  # a list of Run with a rich notebook display
        token: str | None = None
        while True:
            page = client.search_runs(
                ids,
                filter_string,
                run_view_type,
                min(max_results - len(runs), MAX_RESULTS_PAGE),
                order_by,
                token,
            )
            runs.extend(page)
            token = page.token
            if token is None or len(runs) >= max_results:
                return runs
    raise InvalidParameter(f"Unknown output_format {output_format!r}; use 'pandas' or 'list'.")


def _empty_runs_frame() -> Any:
    import pandas as pd

    return pd.DataFrame(
        columns=["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    )


def get_metric_history(run_id: str, key: str) -> MetricHistory:
    """Every point of a metric, as a lazy ``Sequence[Metric]`` with numpy columns."""
    return get_client().get_metric_history(run_id, key)


def get_metric_series(
    run_ids: Sequence[str] | str,
    key: str,
    width: int = 1000,
    x_axis: str = "step",
    x_min: float | None = None,
    x_max: float | None = None,
) -> Any:
    """Downsampled series for charts: per x bucket the first, min, max and last points."""
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    return get_client().get_metric_series(ids, key, width, x_axis, x_min, x_max)


def sql(query: str) -> Any:
    """Read-only SQL over the views in docs/sql.md, as a DuckDB relation (``.df()``, ``.pl()``)."""
    return get_client().sql(query)


# -------------------------------------------------------------------- artifacts
def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    get_client_for_active().log_artifact(_run_id(None), local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    get_client_for_active().log_artifacts(_run_id(None), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    get_client_for_active().log_text(_run_id(None), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> None:
    get_client_for_active().log_dict(_run_id(None), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    get_client_for_active().log_figure(_run_id(None), figure, artifact_file)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
) -> None:
    get_client_for_active().log_image(_run_id(None), image, artifact_file, key, step, timestamp)


def log_table(data: Any, artifact_file: str) -> None:
    get_client_for_active().log_table(_run_id(None), data, artifact_file)


def list_artifacts(run_id: str | None = None, path: str | None = None) -> list[FileInfo]:
    return get_client_for_active().list_artifacts(_run_id(run_id), path)


def download_artifacts(
    run_id: str | None = None,
    artifact_path: str = "",
    dst_path: str | os.PathLike[str] | None = None,
) -> str:
    return get_client_for_active().download_artifacts(_run_id(run_id), artifact_path, dst_path)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifact root, or of ``artifact_path`` under it.

    As in MLflow, a run is started when none is active. Example:
    ``mt.get_artifact_uri("plots/a.png")`` -> ``"file:///.../<run_id>/artifacts/plots/a.png"``.
    """
    root = _active().info.artifact_uri
    if artifact_path is None:
        return root
    return root.rstrip("/") + "/" + validate_artifact_path(artifact_path)


def log_input(
    dataset: Dataset, context: str | None = None, tags: dict[str, str] | None = None
) -> None:
    """Record that the active run used ``dataset`` (from ``mt.data.from_pandas/from_numpy``).

    ``context`` (e.g. ``"training"``) is stored as the input tag ``mlflow.data.context``;
    the run shows it in ``mt.get_run(run_id).inputs.dataset_inputs``.
    """
    log_inputs([dataset], [context], [tags])


def log_inputs(
    datasets: Sequence[Dataset] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[dict[str, str] | None] | None = None,
) -> None:
    """Record several datasets at once; ``contexts`` and ``tags_list`` match by position."""
    records = list(datasets or [])
    context_list = list(contexts) if contexts is not None else [None] * len(records)
    tag_dicts = list(tags_list) if tags_list is not None else [None] * len(records)
    if not len(records) == len(context_list) == len(tag_dicts):
        raise InvalidParameter(
            f"log_inputs got {len(records)} datasets, {len(context_list)} contexts and "
            f"{len(tag_dicts)} tag dicts; pass one context and one tag dict (or None) each."
        )
    inputs: list[tuple[Dataset, dict[str, str]]] = []
    for dataset, context, tags in zip(records, context_list, tag_dicts, strict=True):
        if tags is not None and not isinstance(tags, dict):
            raise InvalidParameter(f"log_input tags must be a dict of str to str, got {tags!r}.")
        input_tags = dict(tags or {})
        if context is not None:
            input_tags["mlflow.data.context"] = context
        # the store gets the record only, never the data an mt.data dataset holds
        if isinstance(dataset, Dataset):
            dataset = dataset._to_mlflow_entity()
        inputs.append((dataset, input_tags))
    if inputs:
        get_client_for_active().log_inputs(_run_id(None), inputs)
