"""The owner's store for the API: reads on their own DuckDB cursors, writes on the store.

DuckDB runs a read on one cursor while a write transaction is open on another cursor of
the same database (the read sees the last commit), but ``DuckDBStore`` guards its one
connection with one lock for everything, so a search would wait for every metric batch
ahead of it. :class:`RoutedStore` serves reads from *read views* (copies of the store,
each with its own cursor and lock) and sends writes to the store itself.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ..entities import Dataset, Experiment, MetricHistory, Run
from ..store.base import MetricRow, RunPage, SeriesRequest
from ..store.duckdb.store import DuckDBStore

__all__ = ["RoutedStore", "read_view"]

T = TypeVar("T")


def read_view(store: DuckDBStore) -> DuckDBStore:
    """A copy of ``store`` on its own cursor of the same database, with its own lock.

    Use it for reads only; close it before the store.
    """
    view = copy.copy(store)
    view._lock = threading.RLock()
    view._con = store._con.cursor()
    view._con.execute("USE mltrack_db")  # a cursor starts in the default catalog
    return view


class RoutedStore:
    """A ``TrackingStore``: reads on a pool of read views, writes on ``store``."""

    def __init__(self, store: DuckDBStore, readers: int = 2) -> None:
        self.store = store
        self.uri = store.uri
        self.path = store.path
        self._views: list[DuckDBStore] = [read_view(store) for _ in range(readers)]
        self._free: queue.SimpleQueue[DuckDBStore] = queue.SimpleQueue()
        for view in self._views:
            self._free.put(view)

    @contextmanager
    def _view(self) -> Iterator[DuckDBStore]:
        view = self._free.get()
        try:
            yield view
        finally:
            self._free.put(view)

    def _read(self, fn: Callable[[DuckDBStore], T]) -> T:
        with self._view() as view:
            return fn(view)

    # ------------------------------------------------------------------ reads
    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._read(lambda v: v.get_experiment(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._read(lambda v: v.get_experiment_by_name(name))

    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Experiment]:
        return self._read(lambda v: v.search_experiments(view_type, name_like, max_results))

    def get_run(self, run_id: str) -> Run:
        return self._read(lambda v: v.get_run(run_id))

    def run_state(self, run_id: str) -> tuple[str, str]:
        return self._read(lambda v: v.run_state(run_id))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        view_type: str,
        max_results: int | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> RunPage:
        return self._read(
            lambda v: v.search_runs(
                experiment_ids, filter_string, view_type, max_results, order_by, page_token
            )
        )

    def search_runs_arrow(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        view_type: str,
        max_results: int | None,
        order_by: Sequence[str],
    ) -> dict[str, Any]:
        return self._read(
            lambda v: v.search_runs_arrow(
                experiment_ids, filter_string, view_type, max_results, order_by
            )
        )

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        return self._read(lambda v: v.get_metric_history(run_id, key))

    def get_metric_series(self, request: SeriesRequest) -> Any:
        return self._read(lambda v: v.get_metric_series(request))

    def sql(self, query: str) -> Any:
        return self._read(lambda v: v.sql(query))

    # ----------------------------------------------------------------- writes
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        return self.store.create_experiment(name, artifact_location, tags)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(experiment_id, new_name)

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None:
        self.store.set_experiment_tags(experiment_id, tags)

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run:
        return self.store.create_run(
            experiment_id, run_name, start_time_ms, user_id, tags, parent_run_id
        )

    def update_run(
        self, run_id: str, status: str | None, end_time_ms: int | None, run_name: str | None
    ) -> None:
        self.store.update_run(run_id, status, end_time_ms, run_name)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def log_batch(
        self,
        metrics: Sequence[MetricRow],
        params: Sequence[tuple[str, str, str]],
        tags: Sequence[tuple[str, str, str]],
    ) -> None:
        self.store.log_batch(metrics, params, tags)

    def log_metric_table(self, table: Any) -> None:
        self.store.log_metric_table(table)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, dict[str, str]]]) -> None:
        self.store.log_inputs(run_id, datasets)

    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        return self.store.gc(run_ids)

    def close(self) -> None:
        """Close the read views (waiting for reads in progress), then the store."""
        for _ in self._views:
            view = self._free.get()
            with view._lock:
                view._con.close()
        self.store.close()

    def __getattr__(self, name: str) -> Any:
        # anything else a DuckDBStore offers (artifact_root, ...) comes from the store
        return getattr(self.store, name)
