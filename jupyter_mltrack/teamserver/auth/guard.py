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

from ...errors import ExperimentNotFound, MltrackError, NotFound, RunNotFound
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

    def model_level(self, who: Principal | None, name: str) -> Permission:
        """The caller's permission on the registered model ``name`` (MLflow's
        ``registered_model`` resource type, keyed by the model's name)."""
        if who is None:
            raise Unauthenticated("Authentication required.")
        if who.is_admin:
            return PERMISSIONS["MANAGE"]
        granted = self.auth.granted(who.user_id, "registered_model", str(name))
        return PERMISSIONS[granted] if granted is not None else self.default

    def move_model_grants(self, old: str, new: str | None) -> None:
        """Carry every grant on model ``old`` over to ``new`` (a rename), or drop them
        (``new`` is ``None``: the model was deleted, a new one of that name starts bare)."""
        for grant in self.auth.list_permissions():
            if grant["resource_type"] != "registered_model" or grant["resource_id"] != old:
                continue
            username = str(grant["username"])
            if new is not None:
                self.auth.grant(username, "registered_model", new, str(grant["permission"]))
            self.auth.revoke(username, "registered_model", old)


class GuardedStore:
    """A :class:`~jupyter_mltrack.store.base.TrackingStore` that checks every call against
    :class:`Policy` for :data:`current_principal` (see the module docstring)."""

    def __init__(self, store: TrackingStore, policy: Policy) -> None:
        self._store = store
        #: The same store, for its RegistryStore methods (store/registry_base.py).
        self._reg: Any = store
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

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._experiment(experiment_id, "can_update")
        self._store.delete_experiment_tag(experiment_id, key)

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

    # ---------------------------------------------------------- logged models
    # A logged model inherits the permission of its experiment, as a run does; one the
    # caller may not read answers exactly as a missing one.
    def _logged_model(self, model_id: str, need: str) -> None:
        experiment_id = self._reg.get_logged_model(model_id).experiment_id  # or NotFound
        level = self._level(experiment_id)
        if not level.can_read:
            raise _as_missing(lambda s: self._reg.get_logged_model(s), _NO_MODEL_ID, model_id)
        if not getattr(level, need):
            raise PermissionDenied(
                f"User {self._who.username!r} may not {_VERB[need]} logged model "
                f"{model_id!r} of experiment {experiment_id!r} (permission {level.name})."
            )

    def create_logged_model(self, experiment_id: str, *args: Any, **kwargs: Any) -> Any:
        self._experiment(experiment_id, "can_update")
        return self._reg.create_logged_model(experiment_id, *args, **kwargs)

    def get_logged_model(self, model_id: str) -> Any:
        self._logged_model(model_id, "can_read")
        return self._reg.get_logged_model(model_id)

    def finalize_logged_model(self, model_id: str, *args: Any, **kwargs: Any) -> Any:
        self._logged_model(model_id, "can_update")
        return self._reg.finalize_logged_model(model_id, *args, **kwargs)

    def set_logged_model_tags(self, model_id: str, *args: Any, **kwargs: Any) -> Any:
        self._logged_model(model_id, "can_update")
        return self._reg.set_logged_model_tags(model_id, *args, **kwargs)

    def delete_logged_model_tag(self, model_id: str, *args: Any, **kwargs: Any) -> Any:
        self._logged_model(model_id, "can_update")
        return self._reg.delete_logged_model_tag(model_id, *args, **kwargs)

    def log_model_params(self, model_id: str, *args: Any, **kwargs: Any) -> Any:
        self._logged_model(model_id, "can_update")
        return self._reg.log_model_params(model_id, *args, **kwargs)

    def delete_logged_model(self, model_id: str) -> Any:
        self._logged_model(model_id, "can_delete")
        return self._reg.delete_logged_model(model_id)

    def log_model_links(self, run_id: str, links: Any) -> Any:
        """EDIT on the run's experiment, READ on each model's (a model the caller may not
        read answers as a missing one)."""
        self._run(run_id, "can_update")
        for _direction, model_id, _step in links:
            self._logged_model(model_id, "can_read")
        return self._reg.log_model_links(run_id, links)

    def search_logged_models(self, query: Any) -> Any:
        if self._who.is_admin:
            return self._reg.search_logged_models(query)
        asked = tuple(query.experiment_ids) or tuple(
            e.experiment_id for e in self._store.search_experiments("ALL", None, None)
        )
        readable = self.readable(asked)
        if not readable:  # an empty page, in the store's own shape
            readable = ("-1",)
        return self._reg.search_logged_models(replace(query, experiment_ids=readable))

    # ------------------------------------------------------ registered models
    # Per-model READ / EDIT / MANAGE (grants of resource type ``registered_model`` keyed by
    # name, else the server's default); a model the caller may not read answers exactly as
    # a missing one. Whoever creates a model gets MANAGE on it.
    def _model(self, name: str, need: str, missing: Callable[[str], Any] | None = None) -> None:
        level = self._policy.model_level(self._who, name)
        if not level.can_read:
            raise _as_missing(missing or self._reg.get_registered_model, _NO_MODEL_NAME, name)
        if not getattr(level, need):
            raise PermissionDenied(
                f"User {self._who.username!r} may not {_VERB[need]} registered model "
                f"{name!r} (permission {level.name}); ask someone with MANAGE on it."
            )

    def _readable_model(self, name: str) -> bool:
        return self._policy.model_level(self._who, name).can_read

    def create_registered_model(self, name: str, *args: Any, **kwargs: Any) -> Any:
        who = self._who
        created = self._reg.create_registered_model(name, *args, **kwargs)
        if not who.is_admin:
            self._policy.auth.grant(who.username, "registered_model", name, "MANAGE")
        return created

    def get_registered_model(self, name: str) -> Any:
        self._model(name, "can_read")
        return self._reg.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        self._model(name, "can_update")
        renamed = self._reg.rename_registered_model(name, new_name)
        self._policy.move_model_grants(name, new_name)
        return renamed

    def update_registered_model(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update")
        return self._reg.update_registered_model(name, *args, **kwargs)

    def delete_registered_model(self, name: str) -> None:
        self._model(name, "can_delete")
        self._reg.delete_registered_model(name)
        self._policy.move_model_grants(name, None)

    def set_registered_model_tag(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update")
        return self._reg.set_registered_model_tag(name, *args, **kwargs)

    def delete_registered_model_tag(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update")
        return self._reg.delete_registered_model_tag(name, *args, **kwargs)

    def set_registered_model_alias(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update")
        return self._reg.set_registered_model_alias(name, *args, **kwargs)

    def delete_registered_model_alias(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update")
        return self._reg.delete_registered_model_alias(name, *args, **kwargs)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str,
        model_id: str | None,
        user_id: str,
        run_link: str,
    ) -> Any:
        """EDIT on the model, READ on the run and logged model it names; the version's
        ``user_id`` is the authenticated caller, whatever the client claimed."""
        self._model(name, "can_update")
        if run_id:
            self._run(run_id, "can_read")
        if model_id:
            self._logged_model(model_id, "can_read")
        return self._reg.create_model_version(
            name, source, run_id, tags, description, model_id, self._who.username, run_link
        )

    def _version_missing(self, version: Any) -> Callable[[str], Any]:
        return lambda sentinel: self._reg.get_model_version(sentinel, version)

    def get_model_version(self, name: str, version: Any) -> Any:
        self._model(name, "can_read", self._version_missing(version))
        return self._reg.get_model_version(name, version)

    def update_model_version(self, name: str, version: Any, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update", self._version_missing(version))
        return self._reg.update_model_version(name, version, *args, **kwargs)

    def delete_model_version(self, name: str, version: Any) -> None:
        self._model(name, "can_delete", self._version_missing(version))
        self._reg.delete_model_version(name, version)

    def set_model_version_tag(self, name: str, version: Any, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update", self._version_missing(version))
        return self._reg.set_model_version_tag(name, version, *args, **kwargs)

    def delete_model_version_tag(self, name: str, version: Any, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_update", self._version_missing(version))
        return self._reg.delete_model_version_tag(name, version, *args, **kwargs)

    def get_latest_versions(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._model(name, "can_read")
        return self._reg.get_latest_versions(name, *args, **kwargs)

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        self._model(name, "can_read", lambda s: self._reg.get_model_version_by_alias(s, alias))
        return self._reg.get_model_version_by_alias(name, alias)

    def _search_readable(self, search: Callable[[Any], Any], query: Any, name_of: Any) -> Any:
        """A registry search with only the models the caller may read: the store's pages
        are read to the end, filtered, and paged here (offset tokens of our own)."""
        if self._who.is_admin:
            return search(query)
        token = query.page_token
        offset = int(token[2:]) if isinstance(token, str) and token[:2] == "g:" else 0
        if token and not (token[:2] == "g:" and token[2:].isdigit()):
            from ...errors import InvalidParameter

            raise InvalidParameter(f"Invalid page token {token!r:.60}.")
        found: list[Any] = []
        inner = replace(query, page_token=None, max_results=1000)
        while True:
            page = search(inner)
            found += [item for item in page.items if self._readable_model(name_of(item))]
            if not page.next_page_token:
                break
            inner = replace(inner, page_token=page.next_page_token)
        end = offset + query.max_results
        following = f"g:{end}" if end < len(found) else None
        return type(page)(found[offset:end], following)

    def search_registered_models(self, query: Any) -> Any:
        return self._search_readable(self._reg.search_registered_models, query, lambda m: m.name)

    def search_model_versions(self, query: Any) -> Any:
        return self._search_readable(self._reg.search_model_versions, query, lambda v: v.name)

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


#: Names no model has: the store's own answer for them is the answer a denied one gets.
_NO_MODEL_NAME = "mltrack-no-such-model-3f9c1e7a"
_NO_MODEL_ID = "m-" + "0" * 32


def _as_missing(call: Callable[[str], Any], sentinel: str, name: str) -> MltrackError:
    """The error the store raises for a missing ``name``: ``call(sentinel)``'s, with the
    sentinel written as ``name`` (so a denied resource and a missing one read the same)."""
    try:
        call(sentinel)
    except NotFound as exc:
        return type(exc)(exc.message.replace(sentinel, name))
    return NotFound(f"{name!r} not found.")


_VERB = {
    "can_read": "read",
    "can_update": "change",
    "can_delete": "delete or restore",
    "can_manage": "manage permissions of",
}
