# doc() and required() return dataclasses.field(...) with a description (RUF009 misses that).
# ruff: noqa: RUF009
"""Request and reply types of the JupyterLab API (``/mltrack/api/lab``), as dataclasses.

They are the single source of the API's shapes: :mod:`.lab_api` parses queries and bodies
with them and encodes replies from them, :mod:`.openapi` turns them into the OpenAPI
document, and ``python -m jupyter_mltrack._schema_ts`` turns that document into
``src/api/lab.generated.ts``. A field's ``metadata["doc"]`` becomes its description.

Conventions: ids are strings, times ``*_ms`` (UTC epoch ms), floats may be the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (``WireFloat``), entities (``Run``, ``Experiment``,
``FileInfo``) travel as in the store API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..entities import Experiment, FileInfo, LoggedModel, ModelVersion, RegisteredModel, Run

__all__ = [
    "AliasBody",
    "ArtifactList",
    "ArtifactQuery",
    "ArtifactTable",
    "ArtifactTableQuery",
    "ChangeEvent",
    "ColumnsQuery",
    "ColumnsReply",
    "ErrorReply",
    "ExperimentsQuery",
    "ExperimentsReply",
    "FeedStats",
    "JsonNumber",
    "ModelDetail",
    "ModelsPage",
    "ModelsQuery",
    "RunDetail",
    "RunModels",
    "RunPatch",
    "RunRow",
    "RunSummary",
    "RunsCount",
    "RunsPage",
    "RunsQuery",
    "SeriesQuery",
    "SeriesReply",
    "SeriesTrace",
    "VersionDetail",
    "VersionRun",
    "WireFloat",
]


class WireFloat(float):
    """A float on the wire: a JSON number, or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""


class JsonNumber(float):
    """A plain JSON number (in a union with strings, where WireFloat's strings are moot)."""


def doc(text: str, default: Any = None, factory: Any = None) -> Any:
    """A dataclass field with a description (and a default, when given)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


def required(text: str) -> Any:
    """A dataclass field without a default, with a description."""
    return field(metadata={"doc": text})


# ----------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class ExperimentsQuery:
    """Query of ``GET /experiments``."""

    view_type: str = doc("`ACTIVE_ONLY`, `DELETED_ONLY` or `ALL`.", "ACTIVE_ONLY")


@dataclass(frozen=True)
class RunsQuery:
    """Query of ``GET /runs`` and ``GET /runs/count``: one server-side sorted, filtered view."""

    experiment_ids: list[str] = required("Experiments to list (the parameter repeats).")
    filter: str = doc("The filter language of docs/search.md; empty for every run.", "")
    order_by: list[str] = doc(
        "Sort keys like `metrics.acc DESC`, `params.lr`, `attributes.start_time DESC`; "
        "default newest first.",
        factory=list,
    )
    view_type: str = doc("`ACTIVE_ONLY`, `DELETED_ONLY` or `ALL`.", "ACTIVE_ONLY")
    offset: int = doc("Index of the first row of the page (0-based).", 0)
    limit: int = doc("Rows in the page (1..5000).", 100)
    columns: list[str] = doc(
        "Values to return per row: `params.<key>`, `metrics.<key>`, `tags.<key>`.",
        factory=list,
    )
    top_level: bool = doc(
        "Only runs without a parent run (their children are listed with `parent_run_id`).",
        False,
    )
    parent_run_id: str | None = doc("Only the child runs of this run.", None)


@dataclass(frozen=True)
class ColumnsQuery:
    """Query of ``GET /columns``."""

    experiment_ids: list[str] = required("Experiments whose keys to list.")


@dataclass(frozen=True)
class ArtifactQuery:
    """Query of ``GET /runs/{run_id}/artifacts`` and ``GET /runs/{run_id}/artifact``."""

    path: str = doc("Path relative to the run's artifact root; empty for the root.", "")


@dataclass(frozen=True)
class SeriesQuery:
    """Query of ``GET /series``: a downsampled metric (ARCHITECTURE.md section 6)."""

    run_ids: list[str] = required("Runs to read (the parameter repeats).")
    key: str = required("The metric key.")
    width: int = doc("Pixel width of the chart: at most 4 points per pixel come back.", 1000)
    x_axis: str = doc("`step`, `relative_time` (ms since the run's start) or `wall_time`.", "step")
    x_min: float | None = doc("Lower bound of the visible x range (zoom).", None)
    x_max: float | None = doc("Upper bound of the visible x range (zoom).", None)


@dataclass(frozen=True)
class ArtifactTableQuery:
    """Query of ``GET /runs/{run_id}/artifact/table``: a table artifact read as rows."""

    path: str = required("A `.csv`, `.tsv` or `.parquet` file, relative to the artifact root.")
    limit: int = doc("Rows to return from the start of the table (1..10000).", 500)


# ------------------------------------------------------------------------------ bodies
@dataclass(frozen=True)
class RunPatch:
    """Body of ``PATCH /runs/{run_id}``: any combination; applied in this order."""

    lifecycle_stage: str | None = doc("`deleted` deletes the run, `active` restores it.", None)
    run_name: str | None = doc("A new name for the run.", None)
    set_tags: dict[str, str] = doc("Tags to set (mutable).", factory=dict)
    delete_tags: list[str] = doc("Tag keys to remove.", factory=list)


# ----------------------------------------------------------------------------- replies
@dataclass(frozen=True)
class ErrorReply:
    """Every error answer: the error tree of jupyter_mltrack/errors.py as JSON."""

    error_code: str = required("e.g. `RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`.")
    message: str = required("What was wrong and what to do, in one sentence or two.")
    error_class: str | None = doc("The error's class, e.g. `InvalidFilter`, `RunNotFound`.")
    details: dict[str, Any] | None = doc(
        "Extra facts, e.g. `position` (0-based) of the offending text of a filter."
    )
    request_id: str | None = doc("Set on internal errors: the server log has the traceback.")


@dataclass(frozen=True)
class ExperimentsReply:
    """Reply of ``GET /experiments``."""

    experiments: list[Experiment] = required("Newest first.")


@dataclass(frozen=True)
class RunRow:
    """One row of the runs table."""

    run_id: str = required("")
    run_name: str = required("")
    experiment_id: str = required("")
    status: str = required("`RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED` or `KILLED`.")
    start_time_ms: int = required("")
    end_time_ms: int | None = required("")
    user_id: str = required("")
    lifecycle_stage: str = required("`active` or `deleted`.")
    parent_run_id: str | None = required("")
    child_count: int = required("How many runs name this run as their parent.")
    values: dict[str, str | JsonNumber | None] = required(
        "The requested columns: strings for params and tags, numbers for metrics (or "
        "`NaN`, `Infinity`, `-Infinity`); null when the run has no such key."
    )


@dataclass(frozen=True)
class RunsPage:
    """Reply of ``GET /runs``: rows ``offset`` .. ``offset + len(runs) - 1`` of the view."""

    runs: list[RunRow] = required("")
    offset: int = required("")
    total: int | None = required(
        "Rows in the whole view when it is cheap to know (no filter); else null: ask "
        "`GET /runs/count`."
    )
    has_more: bool = required("Whether rows follow this page.")
    version: int = required("The store's change version this page was read at.")


@dataclass(frozen=True)
class RunsCount:
    """Reply of ``GET /runs/count``."""

    total: int = required("Rows in the whole view.")
    version: int = required("")


@dataclass(frozen=True)
class ColumnsReply:
    """Reply of ``GET /columns``: the keys the column chooser offers, sorted."""

    params: list[str] = required("")
    metrics: list[str] = required("")
    tags: list[str] = required("")


@dataclass(frozen=True)
class RunSummary:
    """A run named by another (its parent or a child)."""

    run_id: str = required("")
    run_name: str = required("")
    status: str = required("")


@dataclass(frozen=True)
class RunDetail:
    """Reply of ``GET /runs/{run_id}`` and ``PATCH /runs/{run_id}``."""

    run: Run = required("The whole run: info, latest metrics, params, tags, inputs.")
    experiment: Experiment = required("")
    parent: RunSummary | None = required("")
    children: list[RunSummary] = required("Newest first (at most 1000).")


@dataclass(frozen=True)
class ArtifactList:
    """Reply of ``GET /runs/{run_id}/artifacts``: one level of the artifact tree."""

    path: str = required("")
    files: list[FileInfo] = required("")


@dataclass(frozen=True)
class ArtifactTable:
    """Reply of ``GET /runs/{run_id}/artifact/table``: the first rows of a table artifact."""

    path: str = required("")
    columns: list[str] = required("Column names, in the file's order.")
    rows: list[list[Any]] = required(
        "The first `limit` rows, one value per column: JSON numbers, strings, booleans or "
        "null; other values (dates, nested) as their text."
    )
    total_rows: int = required("Rows in the whole table.")


@dataclass(frozen=True)
class SeriesTrace:
    """One run's downsampled series, points in x order."""

    run_id: str = required("")
    x: list[WireFloat] = required("")
    y: list[WireFloat] = required("")


@dataclass(frozen=True)
class SeriesReply:
    """Reply of ``GET /series``."""

    key: str = required("")
    x_axis: str = required("")
    traces: list[SeriesTrace] = required(
        "In the order of `run_ids`; runs without the key are left out."
    )


@dataclass(frozen=True)
class ChangeEvent:
    """One event of ``GET /changes`` (server-sent events, event name `change`)."""

    version: int = required("Increases by one each time the store's runs change.")
    subscribers: int = required("Open change streams on this server (every tab counts).")
    error: str | None = required("Why the last poll could not read the store, or null.")


@dataclass(frozen=True)
class FeedStats:
    """Reply of ``GET /changes/stats``: what the coalesced store poll costs."""

    version: int = required("")
    subscribers: int = required("")
    ticks: int = required("Polls since the server started.")
    store_reads: int = required("Store reads made by those polls (one per tick).")
    interval_s: float = required("Seconds between polls while anyone listens.")


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ModelsQuery:
    """Query of ``GET /models``: one page of registered models, by name."""

    filter: str = doc("The registry filter language (`name LIKE '%churn%'`); empty for all.", "")
    max_results: int = doc("Models in the page (1..1000).", 100)
    page_token: str = doc("`next_page_token` of the previous page; empty for the first.", "")


@dataclass(frozen=True)
class ModelsPage:
    """Reply of ``GET /models``."""

    models: list[RegisteredModel] = required("")
    next_page_token: str | None = required("Null on the last page.")


@dataclass(frozen=True)
class VersionRun:
    """The run a model version came from, with its latest metrics."""

    run_id: str = required("")
    run_name: str = required("")
    status: str = required("")
    experiment_id: str = required("")
    metrics: dict[str, WireFloat] = required("The run's latest metrics, by key.")


@dataclass(frozen=True)
class VersionDetail:
    """One version in ``ModelDetail``."""

    version: ModelVersion = required("")
    run: VersionRun | None = required("Null when the version names no run, or it is gone.")
    code: str = required("Python that loads this version: by its first alias, else by its number.")


@dataclass(frozen=True)
class ModelDetail:
    """Reply of ``GET /models/{name}`` and of the alias routes."""

    model: RegisteredModel = required("")
    versions: list[VersionDetail] = required("Newest first (at most 1000).")


@dataclass(frozen=True)
class AliasBody:
    """Body of ``PUT /models/{name}/aliases/{alias}``."""

    version: str = required("The version the alias points to, e.g. `3`.")


@dataclass(frozen=True)
class RunModels:
    """Reply of ``GET /runs/{run_id}/models``: the models a run logged."""

    logged_models: list[LoggedModel] = required("Logged models whose source run it is.")
    versions: list[ModelVersion] = required("Registered versions made from the run.")
