"""Store protocols: the primitives every backend implements.

Conveniences (``log_metric``, defaults, validation) live in the client
(:mod:`jupyter_mltrack.tracking.client`); a store receives validated input
and only does I/O. Backends: :class:`~jupyter_mltrack.store.duckdb.store.DuckDBStore`
now, a service (remote) store and PostgreSQL later, all behind this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..entities import Dataset, Experiment, MetricHistory, Run

__all__ = [
    "ROW_FIELDS",
    "LinkedMetricRow",
    "MetricRow",
    "RunPage",
    "RunQuery",
    "RunRowReader",
    "RunRows",
    "SeriesRequest",
    "TrackingStore",
]

#: One metric point as buffered by the client: (run_id, key, value, timestamp_ms, step).
MetricRow = tuple[str, str, float, int, int]
#: A point tied to a dataset and/or a logged model: a ``MetricRow`` followed by
#: ``(dataset_name, dataset_digest, model_id)``, each possibly ``None`` (MLflow 3's Metric).
LinkedMetricRow = tuple[str, str, float, int, int, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs plus the token of the next page (``None`` at the end)."""

    runs: list[Run]
    next_page_token: str | None


#: The run fields of each :class:`RunRows` row, before its asked columns.
ROW_FIELDS = (
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "start_time_ms",
    "end_time_ms",
    "user_id",
    "lifecycle_stage",
    "parent_run_id",
)


@dataclass(frozen=True, slots=True)
class RunRows:
    """One page of runs as flat rows: ``ROW_FIELDS`` plus one key per column of the query
    (``metrics.acc``, ``params.lr``, ...; ``None`` where the run has no such key)."""

    rows: list[dict[str, Any]]
    next_page_token: str | None

    @classmethod
    def of_runs(cls, page: RunPage, columns: Sequence[str]) -> RunRows:
        """The rows of a page of entities."""
        rows = []
        for run in page.runs:
            data = run.data
            by_kind: dict[str, dict[str, Any]] = {
                "metrics": data.metrics, "params": data.params, "tags": data.tags
            }  # fmt: skip
            row: dict[str, Any] = {name: getattr(run.info, name) for name in ROW_FIELDS}
            for column in columns:
                kind, _, key = column.partition(".")
                row[column] = by_kind[kind].get(key)
            rows.append(row)
        return cls(rows, page.next_page_token)


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A run search, as every store, route and client passes it.

    ``filter_string`` is the filter language (docs/search.md); ``view_type`` MLflow's
    ``ACTIVE_ONLY`` / ``DELETED_ONLY`` / ``ALL``; ``order_by`` items like
    ``"metrics.acc DESC"``; ``max_results`` ``None`` for the store's page limit;
    ``page_token`` from the previous :class:`RunPage` (row searches only);
    ``columns`` narrows what row searches load into each run's data to these
    ``params.<key>``, ``metrics.<key>`` and ``tags.<key>`` (``None``: everything; a narrowed
    run has no dataset inputs). Views that show a few columns of many runs (the JupyterLab
    sidebar) pass it so a page reads only what it draws.
    """

    experiment_ids: tuple[str, ...]
    filter_string: str = ""
    view_type: str = "ACTIVE_ONLY"
    max_results: int | None = None
    order_by: tuple[str, ...] = ()
    page_token: str | None = None
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    """A downsampled series request (ARCHITECTURE.md section 6).

    ``x_axis`` is ``"step"``, ``"relative_time"`` (ms since the run's
    start time) or ``"wall_time"`` (epoch ms). ``x_min``/``x_max`` restrict to the
    visible range when zooming.
    """

    run_ids: tuple[str, ...]
    key: str
    width: int
    x_axis: str = "step"
    x_min: float | None = None
    x_max: float | None = None


@runtime_checkable
class RunCounter(Protocol):
    """A store that counts a search's matches itself (``count(*)``, nothing loaded).

    Optional: :meth:`.TrackingCore.count_runs` falls back to a columnar search for stores
    without it (the remote store, wrappers that check access per search).
    """

    def count_runs(self, query: RunQuery) -> int:
        """How many runs ``query`` matches (experiments, view type, filter; paging and
        ``max_results`` ignored)."""
        ...


@runtime_checkable
class RunRowReader(Protocol):
    """A store that reads pages of flat rows itself (DuckDB: from a table of the whole
    ordered search kept per store version, ``store/duckdb/row_pages.py``).

    Optional: :meth:`.TrackingCore.search_rows` builds the rows from a page of entities for
    stores without it.
    """

    def search_run_rows(self, query: RunQuery) -> RunRows:
        """One page of ``query`` as :class:`RunRows` (``query.columns`` its columns)."""
        ...


@runtime_checkable
class TrackingStore(Protocol):
    """What every tracking backend implements; every method may raise ``MltrackError``."""

    uri: str

    # experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Experiment]: ...
    def delete_experiment(self, experiment_id: str) -> None: ...
    def restore_experiment(self, experiment_id: str) -> None: ...
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None: ...
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one tag; ``ExperimentNotFound`` / ``NotFound`` when the experiment or the
        tag is missing (MLflow's ``delete_experiment_tag``)."""
        ...

    # runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None: ...
    def delete_run(self, run_id: str) -> None: ...
    def restore_run(self, run_id: str) -> None: ...
    def log_batch(
        self,
        metrics: Sequence[MetricRow | LinkedMetricRow],
        params: Sequence[tuple[str, str, str]],
        tags: Sequence[tuple[str, str, str]],
    ) -> None:
        """Write metric rows, ``(run_id, key, value)`` params and tags in one transaction.

        Raises ``ParamOverwrite`` when a param exists with a different value.
        """
        ...

    def log_metric_table(self, table: Any) -> None:
        """Append a pyarrow table of metric points (``store.arrow.METRIC_SCHEMA``, or
        ``LINKED_METRIC_SCHEMA`` with the dataset/model links)."""
        ...

    def run_state(self, run_id: str) -> tuple[str, str]:
        """``(status, lifecycle_stage)`` of a run; raises ``RunNotFound``."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None: ...
    def log_inputs(
        self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]
    ) -> None: ...

    # reads
    def search_runs(self, query: RunQuery) -> RunPage: ...
    def search_runs_arrow(self, query: RunQuery) -> dict[str, Any]:
        """Columnar search: ``{"runs": Table, "params": Table, "metrics": Table, "tags": Table}``.

        The tables are pyarrow; params/metrics/tags are long ``(run_id, key, value, pos)``
        where ``pos`` is the 0-based row of the run in ``runs`` (optional for other stores).
        """
        ...

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory: ...
    def get_metric_series(self, request: SeriesRequest) -> Any:
        """Per-bucket first/min/max/last as a pyarrow table (see ``SeriesRequest``)."""
        ...

    def sql(self, query: str) -> Any:
        """Run one read-only SELECT over the documented views; returns a DuckDB relation."""
        ...

    # maintenance
    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        """Permanently remove deleted runs (all, or the given ones); returns removed ids."""
        ...

    def close(self) -> None: ...
