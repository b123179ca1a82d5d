"""Authorization: who may do what to which experiment, enforced at the store.

Every route of the server (ours under ``/mltrack/api/v1`` and MLflow's) reaches the
tracking data only through the store its context hands out, on the store executor. With
``--auth`` that store is a :class:`GuardedStore`: it reads the caller set by the gate
(:data:`current_principal`, carried into the executor's threads by
:class:`ContextExecutor`) and checks each call against the caller's permission on the
experiment involved, so no route can forget a check. Runs inherit their experiment's
permission. Search results contain only what the caller may read (``search_runs`` is
restricted to the readable experiments before it runs, so its paging stays right).

A caller who may not *read* an experiment gets exactly the answer a missing experiment
or run gets (``RESOURCE_DOES_NOT_EXIST``, same message), so nobody learns that it
exists; one who may read but not change it gets ``PERMISSION_DENIED`` (403).
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

from ...errors import ExperimentNotFound, MltrackError, RunNotFound
from ...store.base import RunPage, RunQuery, SeriesRequest, TrackingStore
from .store import PERMISSIONS, AuthStore, Permission

__all__ = [
    "ContextExecutor",
    "GuardedStore",
    "PermissionDenied",
    "Policy",
    "Principal",
    "current_principal",
]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    is_admin: bool


#: The caller of the request being served (set by the gate, read by the guard).
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mltrack_principal", default=None
)


class PermissionDenied(MltrackError):
    code = "PERMISSION_DENIED"
    http_status = 403


class Unauthenticated(MltrackError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ContextExecutor(Executor):
    """An executor running each call in a copy of the submitter's context (so the guard
    sees the request's caller on the store threads)."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        ctx = contextvars.copy_context()
        return self.inner.submit(lambda: ctx.run(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def missing_experiment(experiment_id: str) -> ExperimentNotFound:
    """The error a missing experiment gets (the same text as the stores')."""
    return ExperimentNotFound(
        f"No experiment with id {experiment_id!r}; list them with "
        "mt.search_experiments() or `mltrack experiments list`."
    )


def missing_run(run_id: str) -> RunNotFound:
    return RunNotFound(
        f"No run with id {run_id!r}; find run ids with mt.search_runs() or `mltrack runs list`."
    )


class Policy:
    """The permission of a caller on an experiment: an explicit grant, else the default;
    administrators may do everything."""

    def __init__(self, auth: AuthStore, default_permission: str = "NO_PERMISSIONS") -> None:
        self.auth = auth
        self.default = PERMISSIONS[default_permission]

    def level(self, who: Principal | None, experiment_id: str) -> Permission:
        if who is None:
            raise Unauthenticated("Authentication required.")
        if who.is_admin:
            return PERMISSIONS["MANAGE"]
        granted = self.auth.granted(who.user_id, "experiment", str(experiment_id))
        return PERMISSIONS[granted] if granted is not None else self.default


class GuardedStore:
    """A :class:`~jupyter_mltrack.store.base.TrackingStore` that checks every call against
    :class:`Policy` for :data:`current_principal` (see the module docstring)."""

    def __init__(self, store: TrackingStore, policy: Policy) -> None:
        self._store = store
        self._policy = policy
        self._run_experiment: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- checks
    @property
    def _who(self) -> Principal:
        who = current_principal.get()
        if who is None:
            raise Unauthenticated("Authentication required.")
        return who

    def _level(self, experiment_id: str) -> Permission:
        return self._policy.level(self._who, experiment_id)

    def _experiment(self, experiment_id: str, need: str) -> None:
        level = self._level(experiment_id)
        if not level.can_read:
            raise missing_experiment(experiment_id)
        if not getattr(level, need):
            raise PermissionDenied(
                f"User {self._who.username!r} may not {_VERB[need]} experiment "
                f"{experiment_id!r} (permission {level.name}); ask someone with MANAGE on it."
            )

    def experiment_of_run(self, run_id: str) -> str:
        with self._lock:
            found = self._run_experiment.get(run_id)
        if found is None:
            found = self._store.get_run(run_id).info.experiment_id
            with self._lock:
                self._run_experiment[run_id] = found
                if len(self._run_experiment) > 100_000:
                    self._run_experiment.popitem(last=False)
        return found

    def _run(self, run_id: str, need: str) -> None:
        try:
            experiment_id = self.experiment_of_run(run_id)
        except RunNotFound:
            raise missing_run(run_id) from None
        level = self._level(experiment_id)
        if not level.can_read:
            raise missing_run(run_id)
        if not getattr(level, need):
            raise PermissionDenied(
                f"User {self._who.username!r} may not {_VERB[need]} run {run_id!r} of "
                f"experiment {experiment_id!r} (permission {level.name})."
            )

    def _runs(self, run_ids: Iterable[str], need: str) -> None:
        for run_id in dict.fromkeys(run_ids):
            self._run(run_id, need)

    def readable(self, experiment_ids: Iterable[str]) -> tuple[str, ...]:
        return tuple(e for e in experiment_ids if self._level(e).can_read)

    def _admin(self, what: str) -> None:
        if not self._who.is_admin:
            raise PermissionDenied(f"Only administrators may {what} on a server with --auth.")

    # ------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        who = self._who
        experiment_id = self._store.create_experiment(name, artifact_location, tags)
        if not who.is_admin:
            self._policy.auth.grant(who.username, "experiment", experiment_id, "MANAGE")
        return experiment_id

    def get_experiment(self, experiment_id: str) -> Any:
        self._experiment(experiment_id, "can_read")
        return self._store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Any:
        found = self._store.get_experiment_by_name(name)
        if found is None or not self._level(found.experiment_id).can_read:
            return None
        return found

    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Any]:
        if self._who.is_admin:
            return self._store.search_experiments(view_type, name_like, max_results)
        found = self._store.search_experiments(view_type, name_like, None)
        visible = [e for e in found if self._level(e.experiment_id).can_read]
        return visible if max_results is None else visible[:max_results]

    def delete_experiment(self, experiment_id: str) -> None:
        self._experiment(experiment_id, "can_delete")
        self._store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._experiment(experiment_id, "can_delete")
        self._store.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._experiment(experiment_id, "can_update")
        self._store.rename_experiment(experiment_id, new_name)

    def set_experiment_tags(self, experiment_id: str, tags: dict[str, str]) -> None:
        self._experiment(experiment_id, "can_update")
        self._store.set_experiment_tags(experiment_id, tags)

    # ------------------------------------------------------------------- runs
    def create_run(self, experiment_id: str, *args: Any, **kwargs: Any) -> Any:
        self._experiment(experiment_id, "can_update")
        return self._store.create_run(experiment_id, *args, **kwargs)

    def get_run(self, run_id: str) -> Any:
        self._run(run_id, "can_read")
        return self._store.get_run(run_id)

    def update_run(self, run_id: str, *args: Any, **kwargs: Any) -> Any:
        self._run(run_id, "can_update")
        return self._store.update_run(run_id, *args, **kwargs)

    def delete_run(self, run_id: str) -> None:
        self._run(run_id, "can_delete")
        self._store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self._run(run_id, "can_delete")
        self._store.restore_run(run_id)

    def log_batch(self, metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any]) -> None:
        self._runs((row[0] for rows in (metrics, params, tags) for row in rows), "can_update")
        self._store.log_batch(metrics, params, tags)

    def log_metric_table(self, table: Any) -> None:
        self.check_metric_table(table)
        self._store.log_metric_table(table)

    def check_metric_table(self, table: Any) -> None:
        """EDIT on the experiment of every run a metric batch (an Arrow table) names."""
        import pyarrow.compute as pc

        self._runs((str(r) for r in pc.unique(table.column("run_id")).to_pylist()), "can_update")

    def run_state(self, run_id: str) -> tuple[str, str]:
        self._run(run_id, "can_read")
        return self._store.run_state(run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._run(run_id, "can_update")
        self._store.delete_tag(run_id, key)

    def log_inputs(self, run_id: str, *args: Any, **kwargs: Any) -> Any:
        self._run(run_id, "can_update")
        return self._store.log_inputs(run_id, *args, **kwargs)

    def _query(self, query: RunQuery) -> RunQuery | None:
        """``query`` over the readable experiments only; ``None`` when none is readable."""
        if self._who.is_admin:
            return query
        readable = self.readable(query.experiment_ids)
        return replace(query, experiment_ids=readable) if readable else None

    def search_runs(self, query: RunQuery) -> Any:
        narrowed = self._query(query)
        return RunPage([], None) if narrowed is None else self._store.search_runs(narrowed)

    def search_runs_arrow(self, query: RunQuery) -> Any:
        narrowed = self._query(query)
        if narrowed is None:  # the empty tables, with their columns, from the store itself
            return self._store.search_runs_arrow(replace(query, experiment_ids=("-1",)))
        return self._store.search_runs_arrow(narrowed)

    def get_metric_history(self, run_id: str, key: str) -> Any:
        self._run(run_id, "can_read")
        return self._store.get_metric_history(run_id, key)

    def get_metric_series(self, request: SeriesRequest) -> Any:
        self._runs(request.run_ids, "can_read")
        return self._store.get_metric_series(request)

    def sql(self, query: str) -> Any:
        self._admin("run SQL on the store")
        return self._store.sql(query)

    def gc(self, run_ids: Sequence[str] | None) -> list[str]:
        self._admin("garbage-collect the store")
        return self._store.gc(run_ids)

    def close(self) -> None:  # the server closes the real store itself
        return None

    def __getattr__(self, name: str) -> Any:
        # Plain attributes (path, uri, artifact_root) pass; any other method is refused
        # unless the caller is an administrator, so a new store method is closed by default.
        value = getattr(self._store, name)
        if callable(value) and not self._who.is_admin:
            raise PermissionDenied(
                f"{name} is not available to non-administrators on a server with --auth."
            )
        return value


_VERB = {
    "can_read": "read",
    "can_update": "change",
    "can_delete": "delete or restore",
    "can_manage": "manage permissions of",
}
