"""``TrackingClient``: explicit-id tracking API (like ``MlflowClient``).

The client validates input, fills defaults and turns store answers into
entities; it does no I/O of its own. Metric points go through a bounded
:class:`~.buffer.MetricBuffer`; params and tags are written at once so that
errors (a param overwrite) surface at the call that caused them.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..config import get_tracking_uri, normalize_uri
from ..entities import Dataset, Experiment, Metric, MetricHistory, Param, Run, RunStatus, RunTag
from ..errors import InvalidParameter, InvalidState
from ..store.arrow import flat_to_table
from ..store.base import MetricRow, SeriesRequest, TrackingStore
from ..store.remote.spool import spool_of
from ..store.schemes import get_store
from .artifact_client import ArtifactMethods
from .buffer import MetricBuffer
from .names import generate_run_name
from .validation import (
    validate_experiment_name,
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_step,
    validate_tag_value,
    validate_timestamp,
)

__all__ = ["PagedList", "TrackingClient"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PagedList(list[Run]):
    """A page of runs; ``token`` fetches the next page (``None`` at the end)."""

    def __init__(self, items: Iterable[Run], token: str | None) -> None:
        super().__init__(items)
        self.token = token


class TrackingClient(ArtifactMethods):
    """Explicit-id access to one tracking store.

    Example::

        client = TrackingClient("duckdb:///tmp/store.duckdb")
        run = client.create_run("0")
        client.log_metric(run.info.run_id, "loss", 0.5, step=1)
        client.set_terminated(run.info.run_id)
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = normalize_uri(tracking_uri) if tracking_uri else get_tracking_uri()
        self.store: TrackingStore = get_store(self.tracking_uri)
        self._spool = spool_of(self.store)  # set when an owner process serves the store
        self.buffer = MetricBuffer(self._commit_metrics)
        self.buffer.start()
        self._writable: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _commit_metrics(self, flat: list[Any]) -> None:
        if self._spool is not None:  # spool, send with (client_id, seq), unspool on the ack
            self._spool.commit(flat)
            return
        self.store.log_metric_table(flat_to_table(flat))

    # -------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create an experiment; raises ``AlreadyExists`` when the name is taken."""
        validate_experiment_name(name)
        return self.store.create_experiment(name, artifact_location, self._tags(tags))

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
        return self.store.search_experiments(view_type, name_like, max_results)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(_id(experiment_id, "experiment_id"))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(_id(experiment_id, "experiment_id"))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(
            _id(experiment_id, "experiment_id"), validate_experiment_name(new_name)
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tags(
            _id(experiment_id, "experiment_id"), self._tags({key: value})
        )

    # --------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
    ) -> Run:
        """Start a RUNNING run; a friendly ``run_name`` is generated when absent."""
        tag_map = self._tags(tags)
        name = run_name or tag_map.get("mlflow.runName") or generate_run_name()
        if not isinstance(name, str):
            raise InvalidParameter(f"run_name must be a string, got {name!r}.")
        tag_map["mlflow.runName"] = validate_tag_value("mlflow.runName", name)
        if parent_run_id:
            tag_map["mlflow.parentRunId"] = parent_run_id
        tag_map.setdefault("mlflow.user", _user())
        start = validate_timestamp(start_time) if start_time is not None else now_ms()
        run = self.store.create_run(
            _id(experiment_id, "experiment_id"),
            name,
            start,
            tag_map["mlflow.user"],
            tag_map,
            parent_run_id,
        )
        self._writable[run.info.run_id] = True
        return run

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(_id(run_id, "run_id"))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if status is not None:
            _status(status)
        self.store.update_run(_id(run_id, "run_id"), status, None, name)
        self._writable.pop(run_id, None)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run: flushes its buffered metrics, then sets status and end time."""
        _status(status)
        self.flush()
        end = validate_timestamp(end_time) if end_time is not None else now_ms()
        self.store.update_run(_id(run_id, "run_id"), status, end, None)
        self._writable.pop(run_id, None)

    def resume_run(self, run_id: str) -> Run:
        """Set a terminated run back to RUNNING so it can be logged to again."""
        self.store.update_run(_id(run_id, "run_id"), RunStatus.RUNNING, None, None)
        self._writable.pop(run_id, None)
        self.check_writable(run_id)
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(_id(run_id, "run_id"))
        self._writable.pop(run_id, None)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(_id(run_id, "run_id"))
        self._writable.pop(run_id, None)

    def check_writable(self, run_id: str) -> str:
        """Raise unless ``run_id`` is an active, RUNNING run (cached once known)."""
        if self._writable.get(run_id):
            return run_id
        status, stage = self.store.run_state(_id(run_id, "run_id"))
        if stage != "active":
            raise InvalidState(
                f"Run {run_id} is deleted; restore it with mt.restore_run before logging to it."
            )
        if status in RunStatus.TERMINAL:
            raise InvalidState(
                f"Run {run_id} is {status}; logging to an ended run is not allowed. Resume it "
                f"with mt.start_run(run_id='{run_id}') or start a new run."
            )
        self._writable[run_id] = True
        return run_id

    # ------------------------------------------------------------------ logging
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        """Buffer one metric point (NaN and inf are kept); committed in the background."""
        self.check_writable(run_id)
        row = (
            run_id,
            validate_key(key, "metric"),
            validate_metric_value(key, value),
            now_ms() if timestamp is None else validate_timestamp(timestamp),
            validate_step(step),
        )
        self.append_metric_row(row)

    def append_metric_row(self, row: MetricRow) -> None:
        """Buffer one validated point; the flusher thread commits it."""
        self.buffer.append(row)

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log an immutable param; re-logging a different value raises ``ParamOverwrite``."""
        self.log_batch(run_id, params=[Param(key, value)])
        return value

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.check_writable(run_id)
        self.store.delete_tag(run_id, validate_key(key, "tag"))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write metrics, params and tags of one run in one transaction (synchronously)."""
        self.check_writable(run_id)
        mrows = [
            (
                run_id,
                validate_key(m.key, "metric"),
                validate_metric_value(m.key, m.value),
                validate_timestamp(m.timestamp_ms),
                validate_step(m.step),
            )
            for m in metrics
        ]
        prows = [
            (run_id, validate_key(p.key, "param"), validate_param_value(p.key, p.value))
            for p in params
        ]
        trows = [
            (run_id, validate_key(t.key, "tag"), validate_tag_value(t.key, t.value)) for t in tags
        ]
        if mrows:
            self.flush()
        self.store.log_batch(mrows, prows, trows)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        self.check_writable(run_id)
        for ds, _ in datasets:
            if not isinstance(ds, Dataset):
                raise InvalidParameter(
                    f"log_input needs a dataset from mt.data.from_pandas/from_numpy, got "
                    f"{type(ds).__name__}."
                )
        self.store.log_inputs(run_id, datasets)

    def flush(self) -> None:
        """Commit every buffered metric point now."""
        if not self.buffer.flush():
            raise InvalidState(
                "Buffered metrics could not be written to the store; they are kept in memory. "
                "Check the warning above and call mt.flush() again."
            )

    # -------------------------------------------------------------------- reads
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: str = "ACTIVE_ONLY",
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of matching runs (see docs/search.md for the filter language)."""
        self.flush()
        page = self.store.search_runs(
            _ids(experiment_ids),
            _filter(filter_string),
            run_view_type,
            max_results,
            list(order_by or []),
            page_token,
        )
        return PagedList(page.runs, page.next_page_token)

    def search_runs_frame(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: str = "ACTIVE_ONLY",
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
    ) -> Any:
        """Matching runs as a pandas DataFrame with ``params.*``, ``metrics.*``, ``tags.*``."""
        self.flush()
        tables = self.store.search_runs_arrow(
            _ids(experiment_ids),
            _filter(filter_string),
            run_view_type,
            max_results,
            list(order_by or []),
        )
        from .frames import runs_to_frame  # pandas is imported on first use only

        return runs_to_frame(tables)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.flush()
        return self.store.get_metric_history(_id(run_id, "run_id"), validate_key(key, "metric"))

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
        self.flush()
        request = SeriesRequest(
            tuple(_ids(run_ids)), validate_key(key, "metric"), width, x_axis, x_min, x_max
        )
        return self.store.get_metric_series(request).to_pandas()

    def sql(self, query: str) -> Any:
        """Read-only SQL over the documented views (docs/sql.md); a DuckDB relation."""
        self.flush()
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

    def search_runs_all_deleted(self) -> list[Run]:
        """Every deleted run of every experiment (all pages), e.g. to list what gc removes."""
        ids = [e.experiment_id for e in self.search_experiments(view_type="ALL")]
        runs: list[Run] = []
        token: str | None = None
        while True:
            page = self.search_runs(
                ids, run_view_type="DELETED_ONLY", max_results=10_000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if token is None:
                return runs

    # ---------------------------------------------------------------- helpers
    @staticmethod
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
