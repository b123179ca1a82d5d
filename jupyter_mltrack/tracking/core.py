"""``TrackingCore``: the synchronous, validating tracking API over a store it is given.

Every write and read that reaches a store from outside passes through here: the
kernel-side :class:`~.client.TrackingClient` (which adds buffering and spooling on top),
the API handlers of the store service and the Jupyter server, the CLI and tests. The core
validates every input (keys, values, ids, limits; docs/tracking.md), fills MLflow's
defaults (run names, ``mlflow.user``), and does no I/O of its own besides the store's.

Example::

    core = TrackingCore(DuckDBStore("duckdb:///tmp/store.duckdb"))
    run = core.create_run("0", run_name="probe")
    core.log_metric(run.info.run_id, "loss", 0.5, step=1)   # committed on return
    core.set_terminated(run.info.run_id)
"""

from __future__ import annotations

import getpass
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from ..entities import (
    Dataset,
    Experiment,
    LifecycleStage,
    Metric,
    MetricHistory,
    Param,
    Run,
    RunStatus,
    RunTag,
)
from ..errors import AlreadyExists, ExperimentNotFound, InvalidParameter, InvalidState
from ..settings import MAX_RESULTS_PAGE, SEARCH_LIMIT
from ..store.base import (
    LinkedMetricRow,
    MetricRow,
    RunCounter,
    RunPage,
    RunQuery,
    RunRowReader,
    RunRows,
    SeriesRequest,
    TrackingStore,
)
from .artifact_client import ArtifactMethods
from .names import generate_run_name
from .registry_core import RegistryMethods
from .validation import (
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_step,
    validate_tag_value,
    validate_timestamp,
)

__all__ = ["CoreCache", "PagedList", "TrackingCore", "now_ms"]

VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PagedList(list[Run]):
    """A page of runs; ``token`` fetches the next page (``None`` at the end)."""

    def __init__(self, items: Iterable[Run], token: str | None) -> None:
        super().__init__(items)
        self.token = token

    @property
    def next_page_token(self) -> str | None:
        """MLflow's name for :attr:`token`."""
        return self.token

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter's rich display: a table of status badges, durations, params and metrics."""
        from ..display import runs_bundle

        return runs_bundle(self, self.token)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython pretty-prints lists with its own printer, ahead of the bundle's text/plain
        from ..display import runs_text

        printer.text(runs_text(self, self.token))


class TrackingCore(ArtifactMethods, RegistryMethods):
    """Validated, synchronous access to one tracking store (``store`` is injected).

    Logging to a run that has ended is allowed, as in MLflow (a notebook evaluates and
    tags in later cells); only a deleted run refuses writes.
    """

    #: How long a run found writable is trusted without asking the store again (another
    #: process may delete it meanwhile; deletes in this process are seen at once).
    WRITABLE_TTL_S = 2.0
    _deletes = 0  # deletes through any core of this process (class-wide generation)

    def __init__(self, store: TrackingStore) -> None:
        self.store = store
        # run id -> (trusted until, delete generation) for runs known to accept writes
        self._writable: dict[str, tuple[float, int]] = {}
        self._writable_lock = threading.Lock()

    def _before_read(self) -> None:
        """Hook: the buffering client commits what it holds before any read."""

    # -------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create an experiment; raises ``AlreadyExists`` when the name is taken."""
        if artifact_location is not None and not isinstance(artifact_location, str):
            raise InvalidParameter(
                f"artifact_location must be a string URI or path, got {artifact_location!r}."
            )
        return self.store.create_experiment(
            validate_experiment_name(name), artifact_location or None, _tags(tags)
        )

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment named ``name``, created when missing; safe against racing creators.

        The loser of a race between processes creating the same name gets the winner's
        experiment.
        """
        validate_experiment_name(name)
        for _ in range(3):
            found = self.store.get_experiment_by_name(name)
            if found is not None:
                return found
            try:
                return self.store.get_experiment(self.store.create_experiment(name, None, {}))
            except AlreadyExists:
                continue  # created by someone else since our look-up: read theirs
        raise ExperimentNotFound(
            f"Experiment {name!r} was created and removed again while it was being set; retry."
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(_id(experiment_id, "experiment_id"))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(validate_experiment_name(name))

    def search_experiments(
        self,
        view_type: str = "ACTIVE_ONLY",
        max_results: int | None = None,
        name_like: str | None = None,
    ) -> list[Experiment]:
        """Experiments, newest first; ``name_like`` is a case-insensitive LIKE pattern."""
        if name_like is not None and not isinstance(name_like, str):
            raise InvalidParameter(f"name_like must be a string pattern, got {name_like!r}.")
        return self.store.search_experiments(
            _view_type(view_type), name_like, _max_results(max_results)
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(_id(experiment_id, "experiment_id"))
        self._forget_writable()

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(_id(experiment_id, "experiment_id"))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(
            _id(experiment_id, "experiment_id"), validate_experiment_name(new_name)
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.set_experiment_tags(experiment_id, {key: value})

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, Any]) -> None:
        self.store.set_experiment_tags(_id(experiment_id, "experiment_id"), _tags(tags))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove tag ``key``; ``NotFound`` when the experiment has no such tag."""
        self.store.delete_experiment_tag(
            _id(experiment_id, "experiment_id"), _stored_key(key, "tag")
        )

    # --------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> Run:
        """Start a RUNNING run; a friendly ``run_name`` is generated when absent."""
        tag_map = _tags(tags)
        name = run_name or tag_map.get("mlflow.runName") or generate_run_name()
        if not isinstance(name, str):
            raise InvalidParameter(f"run_name must be a string, got {name!r}.")
        tag_map["mlflow.runName"] = validate_tag_value("mlflow.runName", name)
        if parent_run_id:
            tag_map["mlflow.parentRunId"] = _id(parent_run_id, "parent_run_id")
        if user_id is not None:
            tag_map.setdefault("mlflow.user", validate_tag_value("mlflow.user", user_id))
        tag_map.setdefault("mlflow.user", _user())
        start = validate_timestamp(start_time) if start_time is not None else now_ms()
        run = self.store.create_run(
            _id(experiment_id, "experiment_id"),
            name,
            start,
            tag_map["mlflow.user"],
            tag_map,
            parent_run_id or None,
        )
        self._note_writable(run.info.run_id)
        return run

    def create_run_as(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, Any],
        parent_run_id: str | None,
    ) -> Run:
        """Create a run with exactly these values, each validated (the store API's route).

        The calling client filled MLflow's defaults already; nothing is added here.
        """
        if not isinstance(run_name, str) or not run_name:
            raise InvalidParameter(f"run_name must be a non-empty string, got {run_name!r}.")
        validate_tag_value("mlflow.runName", run_name)
        if not isinstance(user_id, str):
            raise InvalidParameter(f"user_id must be a string, got {user_id!r}.")
        run = self.store.create_run(
            _id(experiment_id, "experiment_id"),
            run_name,
            validate_timestamp(start_time_ms),
            user_id,
            _tags(tags),
            None if parent_run_id is None else _id(parent_run_id, "parent_run_id"),
        )
        self._note_writable(run.info.run_id)
        return run

    def get_run(self, run_id: str) -> Run:
        self._before_read()
        return self.store.get_run(_id(run_id, "run_id"))

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> None:
        """Change a run's status, name and/or end time (MLflow's ``update_run``)."""
        if status is not None:
            _status(status)
        if name is not None:
            validate_tag_value("mlflow.runName", name)
        end = validate_timestamp(end_time) if end_time is not None else None
        self.store.update_run(_id(run_id, "run_id"), status, end, name)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run: commits its buffered metrics, then sets status and end time."""
        _status(status)
        self._before_read()
        end = validate_timestamp(end_time) if end_time is not None else now_ms()
        self.store.update_run(_id(run_id, "run_id"), status, end, None)

    def resume_run(self, run_id: str) -> Run:
        """Set a terminated run back to RUNNING (``start_run(run_id=...)``)."""
        self.check_writable(run_id)
        self.store.update_run(_id(run_id, "run_id"), RunStatus.RUNNING, None, None)
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(_id(run_id, "run_id"))
        self._forget_writable(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(_id(run_id, "run_id"))

    def check_writable(self, run_id: str) -> str:
        """Raise unless ``run_id`` exists and is not deleted (ended runs accept writes)."""
        known = self._writable.get(run_id)
        if known is not None and known[1] == TrackingCore._deletes and known[0] > time.monotonic():
            return run_id
        _, stage = self.store.run_state(_id(run_id, "run_id"))
        if stage != LifecycleStage.ACTIVE:
            raise InvalidState(
                f"Run {run_id} is deleted; restore it with mt.restore_run('{run_id}') before "
                "logging to it."
            )
        self._note_writable(run_id)
        return run_id

    @staticmethod
    def check_id(run_id: Any) -> str:
        """``run_id`` if it is a usable run id, else ``InvalidParameter``."""
        return _id(run_id, "run_id")

    def _note_writable(self, run_id: str) -> None:
        with self._writable_lock:
            until = time.monotonic() + self.WRITABLE_TTL_S
            self._writable[run_id] = (until, TrackingCore._deletes)

    def _forget_writable(self, run_id: str | None = None) -> None:
        with self._writable_lock:
            TrackingCore._deletes += 1  # every core of this process asks the store again
            if run_id is None:
                self._writable.clear()
            else:
                self._writable.pop(run_id, None)

    # ------------------------------------------------------------------ logging
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Log one metric point (NaN and inf are kept), as MLflow's ``MlflowClient.log_metric``.

        ``dataset_name`` and ``dataset_digest`` (both or neither) tie the point to the
        dataset it was computed on, ``model_id`` to a logged model; they come back on the
        ``Metric`` entities of ``get_metric_history``. Such a point is written before the
        call returns (plain points are buffered); ``synchronous`` is accepted for MLflow
        compatibility.
        """
        self.check_writable(run_id)
        point = metric_row(run_id, key, value, timestamp, step)
        links = metric_links(key, dataset_name, dataset_digest, model_id)
        if links is None:
            self.commit_metric_rows([point])
            return
        self._before_read()  # this run's buffered points go first, in order
        self.store.log_batch([(*point, *links)], (), ())

    def commit_metric_rows(self, rows: Sequence[MetricRow]) -> None:  # 5-item points only
        """Write validated rows now (the buffering client overrides this to buffer)."""
        self.store.log_batch(rows, (), ())

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log an immutable param; re-logging a different value raises ``ParamOverwrite``."""
        self.log_batch(run_id, params=[Param(key, value)])
        return value

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.check_writable(run_id)
        self.store.delete_tag(run_id, _stored_key(key, "tag"))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Write metrics, params and tags of one run in one transaction (synchronously).

        ``synchronous`` is accepted for MLflow compatibility; the batch is always written
        before the call returns.
        """
        _id(run_id, "run_id")
        for name, items, kind in (
            ("metrics", metrics, Metric),
            ("params", params, Param),
            ("tags", tags, RunTag),
        ):
            if isinstance(items, str | bytes) or not all(  # type: ignore[unreachable]
                isinstance(i, kind) for i in items
            ):
                raise InvalidParameter(
                    f"log_batch {name}= must be a list of jupyter_mltrack.entities."
                    f"{kind.__name__}, got {items!r:.120}."
                )
        self.log_rows(
            [
                (run_id, m.key, m.value, m.timestamp_ms, m.step)
                if m.dataset_name is None and m.model_id is None
                else (run_id, m.key, m.value, m.timestamp_ms, m.step, *_links_of(m))
                for m in metrics
            ],
            [(run_id, p.key, p.value) for p in params],
            [(run_id, t.key, t.value) for t in tags],
        )

    def log_rows(
        self,
        metrics: Sequence[tuple[Any, ...]] = (),
        params: Sequence[tuple[Any, Any, Any]] = (),
        tags: Sequence[tuple[Any, Any, Any]] = (),
    ) -> None:
        """Validate and write rows of any runs in one transaction (the store API's batch).

        ``metrics`` rows are ``(run_id, key, value, timestamp_ms, step)``, optionally
        followed by ``(dataset_name, dataset_digest, model_id)``; params and tags
        ``(run_id, key, value)``.
        """
        mrows = [_checked_metric_row(row) for row in metrics]
        prows = [
            (_id(r, "run_id"), validate_key(k, "param"), validate_param_value(k, v))
            for r, k, v in params
        ]
        trows = [
            (_id(r, "run_id"), validate_key(k, "tag"), validate_tag_value(k, v)) for r, k, v in tags
        ]
        if any(k == "mlflow.runName" and not v for _, k, v in trows):
            raise InvalidParameter(
                "The tag 'mlflow.runName' renames the run and cannot be empty; give a name."
            )
        for run_id in {r[0] for r in (*mrows, *prows, *trows)}:
            self.check_writable(str(run_id))
        if mrows:
            self._before_read()  # buffered points of these runs go first, in order
        self.store.log_batch(mrows, prows, trows)

    def validate_metric_table(self, table: Any) -> Any:
        """Check an Arrow batch of metric points (``store.arrow.METRIC_SCHEMA``) before ingest.

        Every distinct key must be valid and every run writable; values, steps and
        timestamps are typed by the schema. Returns the table.
        """
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return table
        for key in pc.unique(table.column("key")).to_pylist():
            validate_key(key, "metric")
        for run_id in pc.unique(table.column("run_id")).to_pylist():
            self.check_writable(_id(run_id, "run_id"))
        if (
            pc.any(pc.is_null(table.column("step"))).as_py()
            or pc.any(pc.is_null(table.column("timestamp_ms"))).as_py()
        ):
            raise InvalidParameter("A metric batch has points without a step or timestamp.")
        if "dataset_name" in table.column_names:
            _check_link_columns(table)
        return table

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        """Record datasets (with their input tags, e.g. ``mlflow.data.context``) as run inputs."""
        self.check_writable(run_id)
        checked: list[tuple[Dataset, dict[str, str]]] = []
        for item in datasets:
            ds, tags = item if isinstance(item, tuple) and len(item) == 2 else (item, {})
            if not isinstance(ds, Dataset):
                raise InvalidParameter(
                    f"log_input needs a dataset from mt.data.from_pandas/from_numpy, got "
                    f"{type(ds).__name__}."
                )
            checked.append((ds, _tags(tags)))
        self.store.log_inputs(run_id, checked)

    # -------------------------------------------------------------------- reads
    def search_runs(
        self,
        experiment_ids: Sequence[str] | str,
        filter_string: str = "",
        run_view_type: str = "ACTIVE_ONLY",
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of matching runs (see docs/search.md for the filter language)."""
        query = _run_query(experiment_ids, filter_string, run_view_type, max_results, order_by)
        page = self.search_page(replace(query, page_token=page_token))
        return PagedList(page.runs, page.next_page_token)

    def search_page(self, query: RunQuery) -> RunPage:
        """One :class:`RunPage` for a validated ``query``."""
        self._before_read()
        return self.store.search_runs(check_run_query(query))

    def search_tables(self, query: RunQuery) -> dict[str, Any]:
        """Columnar search (Arrow tables ``runs``, ``params``, ``metrics``, ``tags``)."""
        self._before_read()
        return self.store.search_runs_arrow(check_run_query(query))

    def search_rows(self, query: RunQuery) -> RunRows:
        """One page of a validated ``query`` as flat rows of its ``columns``: the store's
        own read when it has one (:class:`~..store.base.RunRowReader`), else the rows of a
        page of entities."""
        self._before_read()
        query = check_run_query(query)
        if isinstance(self.store, RunRowReader):
            return self.store.search_run_rows(query)
        return RunRows.of_runs(self.store.search_runs(query), query.columns or ())

    def count_runs(self, query: RunQuery) -> int:
        """How many runs ``query`` matches: the store's ``count(*)`` when it has one
        (:class:`~..store.base.RunCounter`), else the rows of a columnar search (at most
        ``SEARCH_LIMIT``)."""
        self._before_read()
        query = check_run_query(query)
        if isinstance(self.store, RunCounter):
            return self.store.count_runs(query)
        tables = self.store.search_runs_arrow(replace(query, max_results=SEARCH_LIMIT))
        return int(tables["runs"].num_rows)

    def search_runs_frame(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: str = "ACTIVE_ONLY",
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
    ) -> Any:
        """Matching runs as a pandas DataFrame with ``params.*``, ``metrics.*``, ``tags.*``."""
        tables = self.search_tables(
            _run_query(experiment_ids, filter_string, run_view_type, max_results, order_by)
        )
        from .frames import runs_to_frame  # pandas is imported on first use only

        return runs_to_frame(tables)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self._before_read()
        return self.store.get_metric_history(_id(run_id, "run_id"), _stored_key(key, "metric"))

    def get_metric_series(
        self,
        run_ids: Sequence[str],
        key: str,
        width: int = 1000,
        x_axis: str = "step",
        x_min: float | None = None,
        x_max: float | None = None,
    ) -> Any:
        """Downsampled series (per-bucket first/min/max/last) as a pandas DataFrame."""
        request = SeriesRequest(tuple(_ids(run_ids)), key, width, x_axis, x_min, x_max)
        return self.series_table(request).to_pandas()

    def series_table(self, request: SeriesRequest) -> Any:
        """The downsampled series of a request as a pyarrow table."""
        if not request.run_ids:
            raise InvalidParameter("A series request needs at least one run id.")
        for run_id in request.run_ids:
            _id(run_id, "run_id")
        _stored_key(request.key, "metric")
        for name in ("x_min", "x_max"):
            bound = getattr(request, name)
            if bound is not None and not isinstance(bound, int | float):
                raise InvalidParameter(f"{name} must be a number, got {bound!r}.")
        self._before_read()
        return self.store.get_metric_series(request)

    def sql(self, query: str) -> Any:
        """Read-only SQL over the documented views (docs/sql.md); a DuckDB relation."""
        self._before_read()
        return self.store.sql(query)

    def gc(self, run_ids: Sequence[str] | None = None) -> list[str]:
        """Permanently remove deleted runs (all, or those given) and their artifacts."""
        if run_ids:
            uris = {r: self.store.get_run(r).info.artifact_uri for r in _ids(run_ids)}
        else:
            rows = self.store.sql(
                "SELECT run_id, artifact_uri FROM runs WHERE lifecycle_stage = 'deleted'"
            ).fetchall()
            uris = dict(rows)
        if not uris:
            return []
        # the store removes exactly the runs whose artifact locations were read above
        removed = self.store.gc(list(uris))
        for rid in removed:
            self._delete_run_artifacts(uris[rid])
        return removed

    def gc_store(self, run_ids: Sequence[str] | None) -> list[str]:
        """Remove deleted runs' rows only (the store API's ``POST /gc``)."""
        if run_ids is not None:
            run_ids = _ids(run_ids)
        return self.store.gc(run_ids)

    def search_runs_all_deleted(self) -> list[Run]:
        """Every deleted run of every experiment (all pages), e.g. to list what gc removes."""
        ids = [e.experiment_id for e in self.search_experiments(view_type="ALL")]
        runs: list[Run] = []
        token: str | None = None
        while True:
            page = self.search_runs(
                ids, run_view_type="DELETED_ONLY", max_results=MAX_RESULTS_PAGE, page_token=token
            )
            runs.extend(page)
            token = page.token
            if token is None:
                return runs

    def experiment_ids_for_names(self, names: Sequence[str]) -> list[str]:
        """The ids of the experiments named ``names``; unknown names are skipped with a warning.

        MLflow ignores experiment names that do not exist; a live view that starts before
        its experiment is created must not fail.
        """
        ids: list[str] = []
        missing: list[str] = []
        for name in names:
            exp = self.get_experiment_by_name(name)
            if exp is None:
                missing.append(name)
            else:
                ids.append(exp.experiment_id)
        if missing:
            warnings.warn(
                f"No experiment named {', '.join(repr(n) for n in missing)}; searching "
                f"{'the others' if ids else 'no experiment'} only.",
                UserWarning,
                stacklevel=3,
            )
        return ids


# ------------------------------------------------------------------- validation
def metric_row(
    run_id: Any, key: Any, value: Any, timestamp: Any = None, step: Any = None
) -> MetricRow:
    """One validated ``(run_id, key, value, timestamp_ms, step)`` point."""
    return (
        _id(run_id, "run_id"),
        validate_key(key, "metric"),
        validate_metric_value(key, value),
        now_ms() if timestamp is None else validate_timestamp(timestamp),
        validate_step(step),
    )


def metric_links(
    key: Any, dataset_name: Any, dataset_digest: Any, model_id: Any
) -> tuple[str | None, str | None, str | None] | None:
    """Validated ``(dataset_name, dataset_digest, model_id)`` of a point, ``None`` without any.

    The dataset is named by both its name and digest or not at all, as in MLflow 3.
    """
    if dataset_name is None and dataset_digest is None and model_id is None:
        return None
    if (dataset_name is None) != (dataset_digest is None):
        raise InvalidParameter(
            f"Metric {key!r} has a dataset_name ({dataset_name!r}) or a dataset_digest "
            f"({dataset_digest!r}) without the other; give both (e.g. dataset.name and "
            "dataset.digest) or neither."
        )
    for name, value in (
        ("dataset_name", dataset_name),
        ("dataset_digest", dataset_digest),
        ("model_id", model_id),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidParameter(
                f"The {name} of metric {key!r} must be a non-empty string or None, got {value!r}."
            )
        if value is not None and len(value) > MAX_LINK_LENGTH:
            raise InvalidParameter(
                f"The {name} of metric {key!r} is {len(value)} characters long; the limit is "
                f"{MAX_LINK_LENGTH}."
            )
    return dataset_name, dataset_digest, model_id


#: Longest dataset name, digest or model id a metric point may carry (MLflow's dataset
#: name limit is 500 characters).
MAX_LINK_LENGTH = 500


def _links_of(metric: Metric) -> tuple[str | None, str | None, str | None]:
    links = metric_links(metric.key, metric.dataset_name, metric.dataset_digest, metric.model_id)
    assert links is not None
    return links


def _checked_metric_row(row: Sequence[Any]) -> MetricRow | LinkedMetricRow:
    """A validated 5-item point, or 8 items when it names a dataset or model."""
    if not isinstance(row, tuple | list) or len(row) not in (5, 8):
        raise InvalidParameter(
            "A metric row must be (run_id, key, value, timestamp_ms, step), optionally "
            f"followed by (dataset_name, dataset_digest, model_id); got {row!r:.120}."
        )
    point = metric_row(*row[:5])
    links = metric_links(row[1], *row[5:]) if len(row) == 8 else None
    return point if links is None else (*point, *links)


def _check_link_columns(table: Any) -> None:
    """The pairing and lengths of an Arrow batch's link columns (see :func:`metric_links`)."""
    import pyarrow.compute as pc

    names, digests = table.column("dataset_name"), table.column("dataset_digest")
    if not pc.all(pc.equal(pc.is_null(names), pc.is_null(digests))).as_py():
        raise InvalidParameter(
            "A metric batch has points with a dataset_name but no dataset_digest, or the "
            "reverse; give both or neither."
        )
    for name in ("dataset_name", "dataset_digest", "model_id"):
        lengths = pc.utf8_length(table.column(name))
        longest, shortest = pc.max(lengths).as_py(), pc.min(lengths).as_py()
        if longest is not None and (longest > MAX_LINK_LENGTH or shortest < 1):
            raise InvalidParameter(
                f"A metric batch has a {name} that is empty or longer than "
                f"{MAX_LINK_LENGTH} characters."
            )


def _run_query(
    experiment_ids: Any,
    filter_string: Any,
    view_type: str,
    max_results: int | None,
    order_by: Sequence[str] | None,
) -> RunQuery:
    """The :class:`RunQuery` of the MLflow-style search arguments (ids as strings)."""
    return RunQuery(
        tuple(_ids(experiment_ids)),
        _filter(filter_string),
        view_type,
        max_results,
        tuple(order_by or ()),
    )


def check_run_query(query: RunQuery) -> RunQuery:
    """``query`` with every field checked (clear errors for bad ids, types and limits)."""
    if not isinstance(query, RunQuery):
        raise InvalidParameter(f"Expected a RunQuery, got {type(query).__name__}.")
    if not query.experiment_ids:
        raise InvalidParameter(
            "search_runs needs at least one experiment id or name; pass experiment_ids=[...]."
        )
    _ids(list(query.experiment_ids))
    _filter(query.filter_string)
    _view_type(query.view_type)
    _max_results(query.max_results)
    for item in query.order_by:
        if not isinstance(item, str):
            raise InvalidParameter(f"order_by items must be strings, got {item!r}.")
    if query.page_token is not None and not isinstance(query.page_token, str):
        raise InvalidParameter(f"page_token must be a string, got {query.page_token!r}.")
    for column in query.columns or ():
        kind, _, key = column.partition(".") if isinstance(column, str) else ("", "", "")
        if kind not in ("params", "metrics", "tags") or not key:
            raise InvalidParameter(
                f"Column {column!r} is not params.<key>, metrics.<key> or tags.<key>."
            )
    return query


def _stored_key(key: Any, kind: str) -> str:
    """A key to look up: any non-empty string (a store may hold keys that other tools
    wrote with characters our writes refuse)."""
    if not isinstance(key, str) or not key:
        raise InvalidParameter(f"The {kind} key must be a non-empty string, got {key!r}.")
    return key


def _tags(tags: dict[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidParameter(f"tags must be a dict of str to value, got {tags!r}.")
    return {validate_key(k, "tag"): validate_tag_value(k, v) for k, v in tags.items()}


def _id(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"{name} must be a non-empty string, got {value!r}.")
    return value


def _ids(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [_id(v, "id") for v in values]


def _filter(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidParameter(f"filter_string must be a string, got {text!r}.")
    return text


def _view_type(view_type: Any) -> str:
    text = str(getattr(view_type, "name", view_type)).upper()
    if text not in VIEW_TYPES:
        raise InvalidParameter(
            f"Unknown view type {view_type!r}; use one of {', '.join(VIEW_TYPES)}."
        )
    return text


def _max_results(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameter(f"max_results must be a positive integer, got {value!r}.")
    return value


def _status(status: Any) -> str:
    if status not in RunStatus.ALL:
        raise InvalidParameter(
            f"Unknown run status {status!r}; use one of {', '.join(RunStatus.ALL)}."
        )
    return str(status)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


class CoreCache:
    """One :class:`TrackingCore` per store object, for handlers whose store provider may
    return another store later (a reopened one): ``cache.of(provider())``."""

    def __init__(self) -> None:
        self._cores: dict[int, TrackingCore] = {}

    def of(self, store: TrackingStore) -> TrackingCore:
        core = self._cores.get(id(store))
        if core is None or core.store is not store:  # an id reused by a new object
            core = self._cores[id(store)] = TrackingCore(store)
        return core
