"""The SQL of logged models and the model registry, shared by the DuckDB and PostgreSQL stores.

:class:`SqlRegistry` implements :class:`~.registry_base.RegistryStore` over two context
managers a store provides (``_reg_reader`` and ``_reg_writer``, each yielding a function
``q(sql, params) -> rows`` with ``?`` placeholders) and a :class:`RegistryDialect`: the few
places where the engines differ (list membership, the LIKE escape, how a logged model's
metric points are found). Everything else here is SQL both engines read the same way.

Writes run in one transaction each; the checks they depend on (a name taken, a version
present) run inside it. Names are the keys of the registry tables: a rename updates them
everywhere in that transaction. Version numbers come from ``registered_models.next_version``
(``UPDATE ... RETURNING``, which also serializes concurrent creators on PostgreSQL), so a
deleted version's number is never given out again.
"""

from __future__ import annotations

import json
import operator
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from ..entities import LifecycleStage, LoggedModel, Metric, ModelVersion, RegisteredModel
from ..errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidState,
    NotFound,
    ParamOverwrite,
    RunNotFound,
)
from .registry_base import LoggedModelQuery, ModelLink, ModelPage, RegistryQuery
from .registry_cache import (
    Getter,
    RegistryCache,
    Snapshot,
    build_snapshot,
    select,
    sort_rows,
    tester,
)
from .registry_search import (
    MODEL_VERSION_FIELDS,
    REGISTERED_MODEL_FIELDS,
    Cond,
    SearchSpec,
    compile_conditions,
    compile_order,
    logged_model_spec,
    parse_conditions,
)
from .search import decode_page_token, encode_page_token, search_fingerprint

__all__ = ["Q", "RegistryDialect", "SqlRegistry", "datasets_predicate", "logged_model_location"]

#: The logged-model tag listing the registered versions made from it (MLflow's name).
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
#: ``q(sql, params) -> rows`` on one connection (``?`` placeholders).
Q = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_LM_COLUMNS = (
    "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp, "
    "lm.last_updated_timestamp, lm.status, lm.source_run_id, lm.model_type"
)
_MV_COLUMNS = (
    "v.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.description, "
    "v.source, v.run_id, v.model_id, v.status, v.user_id, v.run_link"
)
_RM_COLUMNS = "m.name, m.creation_timestamp, m.last_updated_timestamp, m.description"


@dataclass(frozen=True, slots=True)
class RegistryDialect:
    """What the engines spell differently.

    ``in_list(column)``: membership in one bound list parameter. ``like_escape``: the
    suffix of a LIKE (PostgreSQL's default escape is ``\\``, DuckDB has none).
    ``model_metrics``: a SELECT of ``(model_id, run_id, key, value, timestamp_ms, step,
    dataset_name, dataset_digest)``, the latest point per run, key and dataset of the
    models in its one bound list parameter. ``metric_exists``: the filter's ``EXISTS``
    over ``lm.model_id``'s points with key ``?`` and ``{pred}`` on ``x.value``.
    ``dataset_exists``: an ``EXISTS`` over ``lm.model_id``'s points with ``{pred}`` on
    ``d.dataset_name`` and ``d.dataset_digest`` (``datasets=`` of a logged-model search);
    ``metric_dataset``: the ``(dataset_name, dataset_digest)`` columns inside
    ``metric_exists`` (a ``metrics.`` comparison then counts only those datasets' points).
    """

    in_list: Callable[[str], str]
    like_escape: str
    model_metrics: str
    metric_exists: str
    dataset_exists: str
    metric_dataset: tuple[str, str]


def datasets_predicate(
    datasets: Sequence[tuple[str, str | None]], name: str, digest: str
) -> tuple[str, list[object]]:
    """``(sql, params)``: columns ``name`` / ``digest`` match one of ``datasets`` (a ``None``
    digest matches any)."""
    parts: list[str] = []
    params: list[object] = []
    for dataset_name, dataset_digest in datasets:
        if dataset_digest is None:
            parts.append(f"{name} = ?")
            params.append(dataset_name)
        else:
            parts.append(f"({name} = ? AND {digest} = ?)")
            params.extend([dataset_name, dataset_digest])
    return f"({' OR '.join(parts)})", params


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def logged_model_location(experiment_location: str, model_id: str) -> str:
    """MLflow 3's layout: ``<experiment artifact location>/models/<model_id>/artifacts``."""
    return f"{experiment_location.rstrip('/')}/models/{model_id}/artifacts"


def _no_model(name: str) -> NotFound:
    return NotFound(
        f"No registered model named {name!r}; list them with mt.search_registered_models() "
        "or `mltrack models list`, or create it with create_registered_model / "
        "mt.register_model.",
        name=name,
    )


def _no_version(name: str, version: int) -> NotFound:
    return NotFound(
        f"Registered model {name!r} has no version {version}; list its versions with "
        f"search_model_versions(\"name = '{name}'\") or `mltrack models show {name}`.",
        name=name,
        version=str(version),
    )


def _no_alias(name: str, alias: str) -> NotFound:
    return NotFound(
        f"Registered model {name!r} has no alias {alias!r}; set one with "
        f"set_registered_model_alias({name!r}, {alias!r}, version) or "
        f"`mltrack models alias {name} {alias} VERSION`.",
        name=name,
        alias=alias,
    )


def _no_logged_model(model_id: str) -> NotFound:
    return NotFound(
        f"No logged model with id {model_id!r}; find ids with mt.search_logged_models() "
        "(they look like m-<32 hex digits>).",
        model_id=model_id,
    )


_CACHE_LOCK = threading.Lock()
Tester = Callable[[Any], bool]


class SqlRegistry:
    """The registry operations; a store mixes this in and provides the three members below.

    A store that is the only writer of its registry (DuckDB) sets ``_registry_cached`` and
    reads registered models and versions from an in-memory snapshot
    (:mod:`.registry_cache`); the others read with SQL every time.
    """

    _registry_dialect: RegistryDialect
    _registry_cached: ClassVar[bool] = False
    _reg_cache_: RegistryCache | None = None

    def _reg_reader(self) -> AbstractContextManager[Q]:  # pragma: no cover - per store
        raise NotImplementedError

    def _reg_writer(self) -> AbstractContextManager[Q]:  # pragma: no cover - per store
        raise NotImplementedError

    # ------------------------------------------------------------------- cache
    @property
    def _reg_cache(self) -> RegistryCache:
        cache = self._reg_cache_
        if cache is None:
            with _CACHE_LOCK:
                cache = self._reg_cache_
                if cache is None:
                    cache = self._reg_cache_ = RegistryCache()
        return cache

    @contextmanager
    def _writer(self) -> Iterator[Q]:
        """A write transaction; the snapshot is dropped when it ends, whatever happened."""
        try:
            with self._reg_writer() as q:
                yield q
        finally:
            if self._registry_cached:
                self._reg_cache.invalidate()

    def _snapshot(self) -> Snapshot | None:
        """The current snapshot (``None`` for stores that do not cache)."""
        if not self._registry_cached:
            return None
        return self._reg_cache.get(self._load_snapshot)

    def _load_snapshot(self) -> Snapshot:
        with self._reg_reader() as q:
            return build_snapshot(
                q(f"SELECT {_RM_COLUMNS} FROM store.registered_models m", []),
                q("SELECT name, key, value FROM store.registered_model_tags", []),
                q("SELECT name, alias, version FROM store.registered_model_aliases", []),
                q(f"SELECT {_MV_COLUMNS} FROM store.model_versions v", []),
                q("SELECT name, version, key, value FROM store.model_version_tags", []),
            )

    # ------------------------------------------------------------ logged models
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        tags: dict[str, str],
        params: dict[str, str],
        model_type: str | None,
    ) -> LoggedModel:
        model_id = "m-" + uuid.uuid4().hex
        with self._reg_writer() as q:
            found = q(
                "SELECT artifact_location, lifecycle_stage FROM store.experiments "
                "WHERE experiment_id = ?",
                [experiment_id],
            )
            if not found:
                raise ExperimentNotFound(
                    f"No experiment with id {experiment_id!r}; list them with "
                    "mt.search_experiments() or `mltrack experiments list`."
                )
            if found[0][1] != LifecycleStage.ACTIVE:
                raise InvalidState(
                    f"Experiment {experiment_id} is deleted; restore it before logging models "
                    "to it."
                )
            now = now_ms()
            q(
                "INSERT INTO store.logged_models (model_id, experiment_id, name, "
                "artifact_location, creation_timestamp, last_updated_timestamp, status, "
                "source_run_id, model_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    model_id,
                    experiment_id,
                    name,
                    logged_model_location(str(found[0][0]), model_id),
                    now,
                    now,
                    "PENDING",
                    source_run_id,
                    model_type,
                ],
            )
            for key, value in tags.items():
                q("INSERT INTO store.logged_model_tags VALUES (?, ?, ?)", [model_id, key, value])
            for key, value in params.items():
                q("INSERT INTO store.logged_model_params VALUES (?, ?, ?)", [model_id, key, value])
            return self._logged_models(q, [model_id])[0]

    def _require_logged_model(self, q: Q, model_id: str) -> None:
        if not q("SELECT 1 FROM store.logged_models WHERE model_id = ?", [model_id]):
            raise _no_logged_model(model_id)

    def _touch_logged_model(self, q: Q, model_id: str) -> None:
        q(
            "UPDATE store.logged_models SET last_updated_timestamp = ? WHERE model_id = ?",
            [now_ms(), model_id],
        )

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        with self._reg_writer() as q:
            done = q(
                "UPDATE store.logged_models SET status = ?, last_updated_timestamp = ? "
                "WHERE model_id = ? RETURNING model_id",
                [status, now_ms(), model_id],
            )
            if not done:
                raise _no_logged_model(model_id)
            return self._logged_models(q, [model_id])[0]

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self._reg_reader() as q:
            found = self._logged_models(q, [model_id])
        if not found:
            raise _no_logged_model(model_id)
        return found[0]

    def search_logged_models(self, query: LoggedModelQuery) -> ModelPage[LoggedModel]:
        dialect = self._registry_dialect
        spec = logged_model_spec(dialect.metric_exists)
        # MLflow's datasets: a model with a point on one of them; metrics.<key> comparisons
        # then count only those datasets' points
        scope = (
            {"metrics": datasets_predicate(query.datasets, *dialect.metric_dataset)}
            if query.datasets
            else None
        )
        where, params = compile_conditions(
            parse_conditions(query.filter_string, spec),
            spec,
            like_escape=dialect.like_escape,
            scope=scope,
        )
        if query.experiment_ids:
            where += f" AND {dialect.in_list('lm.experiment_id')}"
            params.append(list(query.experiment_ids))
        if query.datasets:
            pred, values = datasets_predicate(query.datasets, "d.dataset_name", "d.dataset_digest")
            where += f" AND {dialect.dataset_exists.format(pred=pred)}"
            params.extend(values)
        fingerprint = search_fingerprint(
            query.experiment_ids,
            query.filter_string,
            query.order_by,
            f"logged_models {json.dumps(query.datasets)}" if query.datasets else "logged_models",
        )
        order = compile_order(query.order_by, spec)
        with self._reg_reader() as q:
            ids, token = self._page(
                q,
                f"SELECT lm.model_id FROM store.logged_models lm WHERE {where} ORDER BY {order}",
                params,
                query.max_results,
                query.page_token,
                fingerprint,
            )
            models = self._logged_models(q, [r[0] for r in ids])
        return ModelPage(models, token)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        with self._reg_writer() as q:
            self._require_logged_model(q, model_id)
            for key, value in tags.items():
                q(
                    "DELETE FROM store.logged_model_tags WHERE model_id = ? AND key = ?",
                    [model_id, key],
                )
                q("INSERT INTO store.logged_model_tags VALUES (?, ?, ?)", [model_id, key, value])
            self._touch_logged_model(q, model_id)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._reg_writer() as q:
            self._require_logged_model(q, model_id)
            q("DELETE FROM store.logged_model_tags WHERE model_id = ? AND key = ?", [model_id, key])
            self._touch_logged_model(q, model_id)

    def log_model_params(self, model_id: str, params: dict[str, str]) -> None:
        with self._reg_writer() as q:
            self._require_logged_model(q, model_id)
            have: dict[str, str] = {
                str(k): str(v)
                for k, v in q(
                    "SELECT key, value FROM store.logged_model_params WHERE model_id = ?",
                    [model_id],
                )
            }
            for key, value in params.items():
                if key in have:
                    if have[key] != value:
                        raise ParamOverwrite(
                            f"Logged model {model_id} already has param {key!r} = "
                            f"{have[key]!r}; params are immutable, so {value!r} was refused. "
                            "Log a new model for new params.",
                            key=key,
                        )
                    continue
                q(
                    "INSERT INTO store.logged_model_params VALUES (?, ?, ?)",
                    [model_id, key, value],
                )
            self._touch_logged_model(q, model_id)

    def delete_logged_model(self, model_id: str) -> None:
        with self._reg_writer() as q:
            if not q(
                "DELETE FROM store.logged_models WHERE model_id = ? RETURNING model_id",
                [model_id],
            ):
                raise _no_logged_model(model_id)
            q("DELETE FROM store.logged_model_tags WHERE model_id = ?", [model_id])
            q("DELETE FROM store.logged_model_params WHERE model_id = ?", [model_id])
            q("DELETE FROM store.run_model_links WHERE model_id = ?", [model_id])

    def log_model_links(self, run_id: str, links: Sequence[ModelLink]) -> None:
        """Record ``(direction, model_id, step)`` links of a run to logged models, in one
        transaction; a link already recorded is kept once. ``RunNotFound`` / ``NotFound``
        when the run or a model does not exist."""
        with self._reg_writer() as q:
            if not q("SELECT 1 FROM store.runs WHERE run_id = ?", [run_id]):
                raise RunNotFound(
                    f"No run with id {run_id!r}; find run ids with mt.search_runs() or "
                    "`mltrack runs list`."
                )
            for direction, model_id, step in links:
                self._require_logged_model(q, model_id)
                q(
                    "INSERT INTO store.run_model_links (run_id, model_id, direction, step) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [run_id, model_id, direction, step],
                )

    def _logged_models(self, q: Q, ids: Sequence[str]) -> list[LoggedModel]:
        """The logged models ``ids`` (in that order; missing ones left out)."""
        if not ids:
            return []
        in_list = self._registry_dialect.in_list
        rows = q(
            f"SELECT {_LM_COLUMNS} FROM store.logged_models lm WHERE {in_list('lm.model_id')}",
            [list(ids)],
        )
        by_id = {r[0]: r for r in rows}
        tags: dict[str, dict[str, str]] = {i: {} for i in by_id}
        params: dict[str, dict[str, str]] = {i: {} for i in by_id}
        metrics: dict[str, list[Metric]] = {i: [] for i in by_id}
        if by_id:
            found = [list(by_id)]
            for mid, k, v in q(
                "SELECT model_id, key, value FROM store.logged_model_tags "
                f"WHERE {in_list('model_id')} ORDER BY key",
                found,
            ):
                tags[mid][k] = v
            for mid, k, v in q(
                "SELECT model_id, key, value FROM store.logged_model_params "
                f"WHERE {in_list('model_id')} ORDER BY key",
                found,
            ):
                params[mid][k] = v
            points = q(self._registry_dialect.model_metrics, found)
            for mid, run_id, key, value, ts, step, ds_name, ds_digest in sorted(
                points, key=lambda p: (p[2], p[1], p[6] or "", p[7] or "")
            ):
                metrics[mid].append(
                    Metric(key, float(value), int(ts), int(step), mid, ds_name, ds_digest, run_id)
                )
        return [
            LoggedModel(
                r[0],
                str(r[1]),
                r[2],
                r[3],
                int(r[4]),
                int(r[5]),
                r[6],
                r[7],
                r[8],
                tags[r[0]],
                params[r[0]],
                metrics[r[0]],
            )
            for r in (by_id[i] for i in ids if i in by_id)
        ]

    # -------------------------------------------------------- registered models
    def _require_model(self, q: Q, name: str) -> None:
        if not q("SELECT 1 FROM store.registered_models WHERE name = ?", [name]):
            raise _no_model(name)

    def create_registered_model(
        self, name: str, tags: dict[str, str], description: str
    ) -> RegisteredModel:
        with self._writer() as q:
            if q("SELECT 1 FROM store.registered_models WHERE name = ?", [name]):
                raise AlreadyExists(
                    f"A registered model named {name!r} already exists; register a new "
                    "version of it with create_model_version / mt.register_model, or pick "
                    "another name.",
                    name=name,
                )
            now = now_ms()
            q(
                "INSERT INTO store.registered_models (name, creation_timestamp, "
                "last_updated_timestamp, description, next_version) VALUES (?, ?, ?, ?, 1)",
                [name, now, now, description],
            )
            for key, value in tags.items():
                q("INSERT INTO store.registered_model_tags VALUES (?, ?, ?)", [name, key, value])
        return RegisteredModel(name, now, now, description, dict(tags), {}, [])

    def get_registered_model(self, name: str) -> RegisteredModel:
        snap = self._snapshot()
        if snap is not None:
            if name not in snap.models:
                raise _no_model(name)
            return _snap_model(snap, name)
        with self._reg_reader() as q:
            found = self._registered_models(q, [name])
        if not found:
            raise _no_model(name)
        return found[0]

    def search_registered_models(self, query: RegistryQuery) -> ModelPage[RegisteredModel]:
        spec = REGISTERED_MODEL_FIELDS
        snap = self._snapshot()
        if snap is not None:
            conds = parse_conditions(query.filter_string, spec)
            found = select(list(snap.models.values()), _model_tests(snap, conds))
            sort_rows(found, query.order_by, spec, _rm_key)
            rows, token = _slice(
                found,
                query,
                search_fingerprint(["registered_models"], query.filter_string, query.order_by),
            )
            return ModelPage([_snap_model(snap, r[0]) for r in rows], token)
        where, params = self._where(query.filter_string, spec)
        fingerprint = search_fingerprint(["registered_models"], query.filter_string, query.order_by)
        order = compile_order(query.order_by, spec)
        with self._reg_reader() as q:
            rows, token = self._page(
                q,
                f"SELECT m.name FROM store.registered_models m WHERE {where} ORDER BY {order}",
                params,
                query.max_results,
                query.page_token,
                fingerprint,
            )
            models = self._registered_models(q, [r[0] for r in rows])
        return ModelPage(models, token)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        with self._writer() as q:
            self._require_model(q, name)
            if new_name != name and q(
                "SELECT 1 FROM store.registered_models WHERE name = ?", [new_name]
            ):
                raise AlreadyExists(
                    f"Cannot rename {name!r} to {new_name!r}: a registered model of that name "
                    "already exists.",
                    name=new_name,
                )
            q(
                "UPDATE store.registered_models SET name = ?, last_updated_timestamp = ? "
                "WHERE name = ?",
                [new_name, now_ms(), name],
            )
            for table in (
                "registered_model_tags",
                "model_versions",
                "model_version_tags",
                "registered_model_aliases",
            ):
                q(f"UPDATE store.{table} SET name = ? WHERE name = ?", [new_name, name])
            return self._registered_models(q, [new_name])[0]

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        with self._writer() as q:
            if not q(
                "UPDATE store.registered_models SET description = ?, last_updated_timestamp = ? "
                "WHERE name = ? RETURNING name",
                [description, now_ms(), name],
            ):
                raise _no_model(name)
            return self._registered_models(q, [name])[0]

    def delete_registered_model(self, name: str) -> None:
        with self._writer() as q:
            if not q("DELETE FROM store.registered_models WHERE name = ? RETURNING name", [name]):
                raise _no_model(name)
            for table in (
                "registered_model_tags",
                "model_versions",
                "model_version_tags",
                "registered_model_aliases",
            ):
                q(f"DELETE FROM store.{table} WHERE name = ?", [name])

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with self._writer() as q:
            self._require_model(q, name)
            q("DELETE FROM store.registered_model_tags WHERE name = ? AND key = ?", [name, key])
            q("INSERT INTO store.registered_model_tags VALUES (?, ?, ?)", [name, key, value])

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._writer() as q:
            self._require_model(q, name)
            q("DELETE FROM store.registered_model_tags WHERE name = ? AND key = ?", [name, key])

    def _registered_models(self, q: Q, names: Sequence[str]) -> list[RegisteredModel]:
        """The registered models ``names`` (in that order; missing ones left out), each with
        its tags, aliases and latest version."""
        if not names:
            return []
        in_list = self._registry_dialect.in_list
        found = [list(names)]
        rows = q(
            f"SELECT {_RM_COLUMNS} FROM store.registered_models m WHERE {in_list('m.name')}", found
        )
        by_name = {r[0]: r for r in rows}
        tags: dict[str, dict[str, str]] = {n: {} for n in by_name}
        aliases: dict[str, dict[str, str]] = {n: {} for n in by_name}
        latest: dict[str, list[ModelVersion]] = {n: [] for n in by_name}
        for n, k, v in q(
            "SELECT name, key, value FROM store.registered_model_tags "
            f"WHERE {in_list('name')} ORDER BY key",
            found,
        ):
            tags[n][k] = v
        for n, alias, version in q(
            "SELECT name, alias, version FROM store.registered_model_aliases "
            f"WHERE {in_list('name')} ORDER BY alias",
            found,
        ):
            aliases[n][alias] = str(version)
        version_rows = q(
            f"SELECT {_MV_COLUMNS} FROM store.model_versions v JOIN (SELECT name, "
            "max(version) AS version FROM store.model_versions "
            f"WHERE {in_list('name')} GROUP BY name) t "
            "ON t.name = v.name AND t.version = v.version",
            found,
        )
        for mv in self._versions(q, version_rows):
            latest[mv.name].append(mv)
        return [
            RegisteredModel(
                r[0], int(r[1]), int(r[2]), r[3] or "", tags[r[0]], aliases[r[0]], latest[r[0]]
            )
            for r in (by_name[n] for n in names if n in by_name)
        ]

    # ----------------------------------------------------------------- versions
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
    ) -> ModelVersion:
        with self._writer() as q:
            now = now_ms()
            taken = q(
                "UPDATE store.registered_models SET next_version = next_version + 1, "
                "last_updated_timestamp = ? WHERE name = ? RETURNING next_version",
                [now, name],
            )
            if not taken:
                raise _no_model(name)
            version = int(taken[0][0]) - 1
            q(
                "INSERT INTO store.model_versions (name, version, creation_timestamp, "
                "last_updated_timestamp, description, source, run_id, model_id, status, "
                "user_id, run_link) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'READY', ?, ?)",
                [name, version, now, now, description, source, run_id, model_id, user_id, run_link],
            )
            for key, value in tags.items():
                q(
                    "INSERT INTO store.model_version_tags VALUES (?, ?, ?, ?)",
                    [name, version, key, value],
                )
            if model_id is not None:
                self._link_version(q, model_id, name, version)
        # everything is known: no read back (each statement costs DuckDB a millisecond)
        return ModelVersion(
            name,
            str(version),
            now,
            now,
            description,
            source,
            run_id,
            model_id,
            "READY",
            dict(tags),
            [],
            user_id,
            run_link,
        )

    def _link_version(self, q: Q, model_id: str, name: str, version: int) -> None:
        """Add ``{"name", "version"}`` to the logged model's ``mlflow.modelVersions`` tag (a
        JSON list), as MLflow's server does when a version names its logged model; nothing
        when no logged model has that id."""
        if not q("SELECT 1 FROM store.logged_models WHERE model_id = ?", [model_id]):
            return
        where = "FROM store.logged_model_tags WHERE model_id = ? AND key = ?"
        found = q(f"SELECT value {where}", [model_id, MODEL_VERSIONS_TAG])
        try:
            linked = json.loads(found[0][0]) if found else []
        except ValueError:
            linked = []
        entry = {"name": name, "version": version}
        if not isinstance(linked, list):
            linked = []
        if entry not in linked:
            linked.append(entry)
        q(f"DELETE {where}", [model_id, MODEL_VERSIONS_TAG])
        q(
            "INSERT INTO store.logged_model_tags VALUES (?, ?, ?)",
            [model_id, MODEL_VERSIONS_TAG, json.dumps(linked)],
        )
        self._touch_logged_model(q, model_id)

    def _version(self, q: Q, name: str, version: int) -> ModelVersion:
        rows = q(
            f"SELECT {_MV_COLUMNS} FROM store.model_versions v WHERE v.name = ? AND v.version = ?",
            [name, version],
        )
        if not rows:
            if not q("SELECT 1 FROM store.registered_models WHERE name = ?", [name]):
                raise _no_model(name)
            raise _no_version(name, version)
        return self._versions(q, rows)[0]

    def _versions(self, q: Q, rows: Sequence[tuple[Any, ...]]) -> list[ModelVersion]:
        """Model versions from ``_MV_COLUMNS`` rows, with their tags and aliases."""
        if not rows:
            return []
        in_list = self._registry_dialect.in_list
        names = [sorted({r[0] for r in rows})]
        keys = {(r[0], int(r[1])) for r in rows}
        tags: dict[tuple[str, int], dict[str, str]] = {k: {} for k in keys}
        aliases: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        for n, ver, k, v in q(
            "SELECT name, version, key, value FROM store.model_version_tags "
            f"WHERE {in_list('name')} ORDER BY key",
            names,
        ):
            if (n, int(ver)) in tags:
                tags[(n, int(ver))][k] = v
        for n, alias, ver in q(
            "SELECT name, alias, version FROM store.registered_model_aliases "
            f"WHERE {in_list('name')} ORDER BY alias",
            names,
        ):
            if (n, int(ver)) in aliases:
                aliases[(n, int(ver))].append(alias)
        return [
            ModelVersion(
                r[0],
                str(r[1]),
                int(r[2]),
                int(r[3]),
                r[4] or "",
                r[5],
                r[6],
                r[7],
                r[8],
                tags[(r[0], int(r[1]))],
                aliases[(r[0], int(r[1]))],
                r[9] or "",
                r[10] or "",
            )
            for r in rows
        ]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        snap = self._snapshot()
        if snap is not None:
            return _snap_version_of(snap, name, version)
        with self._reg_reader() as q:
            return self._version(q, name, version)

    def search_model_versions(self, query: RegistryQuery) -> ModelPage[ModelVersion]:
        spec = MODEL_VERSION_FIELDS
        snap = self._snapshot()
        if snap is not None:
            conds = parse_conditions(query.filter_string, spec)
            pool = snap.all_versions
            named = [c.value for c in conds if c.key is None and c.field == "name" and c.op == "="]
            if named and isinstance(named[0], str):  # the common case: one model's versions
                pool = snap.versions.get(named[0], [])
            found = select(pool, _version_tests(snap, conds))
            sort_rows(found, query.order_by, spec, _mv_key)
            rows, token = _slice(
                found,
                query,
                search_fingerprint(["model_versions"], query.filter_string, query.order_by),
            )
            return ModelPage([_snap_version(snap, r) for r in rows], token)
        where, params = self._where(query.filter_string, spec)
        fingerprint = search_fingerprint(["model_versions"], query.filter_string, query.order_by)
        order = compile_order(query.order_by, spec)
        with self._reg_reader() as q:
            rows, token = self._page(
                q,
                f"SELECT {_MV_COLUMNS} FROM store.model_versions v WHERE {where} ORDER BY {order}",
                params,
                query.max_results,
                query.page_token,
                fingerprint,
            )
            versions = self._versions(q, rows)
        return ModelPage(versions, token)

    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion:
        with self._writer() as q:
            q(
                "UPDATE store.model_versions SET description = ?, last_updated_timestamp = ? "
                "WHERE name = ? AND version = ?",
                [description, now_ms(), name, version],
            )
            return self._version(q, name, version)

    def delete_model_version(self, name: str, version: int) -> None:
        with self._writer() as q:
            self._version(q, name, version)  # NotFound names what is missing
            q("DELETE FROM store.model_versions WHERE name = ? AND version = ?", [name, version])
            q(
                "DELETE FROM store.model_version_tags WHERE name = ? AND version = ?",
                [name, version],
            )
            q(
                "DELETE FROM store.registered_model_aliases WHERE name = ? AND version = ?",
                [name, version],
            )
            q(
                "UPDATE store.registered_models SET last_updated_timestamp = ? WHERE name = ?",
                [now_ms(), name],
            )

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        with self._writer() as q:
            self._version(q, name, version)
            q(
                "DELETE FROM store.model_version_tags WHERE name = ? AND version = ? AND key = ?",
                [name, version, key],
            )
            q(
                "INSERT INTO store.model_version_tags VALUES (?, ?, ?, ?)",
                [name, version, key, value],
            )

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        with self._writer() as q:
            self._version(q, name, version)
            q(
                "DELETE FROM store.model_version_tags WHERE name = ? AND version = ? AND key = ?",
                [name, version, key],
            )

    def get_latest_versions(self, name: str) -> list[ModelVersion]:
        snap = self._snapshot()
        if snap is not None:
            if name not in snap.models:
                raise _no_model(name)
            return [_snap_version(snap, r) for r in snap.versions.get(name, [])[-1:]]
        with self._reg_reader() as q:
            self._require_model(q, name)
            rows = q(
                f"SELECT {_MV_COLUMNS} FROM store.model_versions v WHERE v.name = ? "
                "ORDER BY v.version DESC LIMIT 1",
                [name],
            )
            return self._versions(q, rows)

    # ------------------------------------------------------------------ aliases
    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        with self._writer() as q:
            self._version(q, name, version)
            q(
                "DELETE FROM store.registered_model_aliases WHERE name = ? AND alias = ?",
                [name, alias],
            )
            q(
                "INSERT INTO store.registered_model_aliases VALUES (?, ?, ?)",
                [name, alias, version],
            )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._writer() as q:
            self._require_model(q, name)
            q(
                "DELETE FROM store.registered_model_aliases WHERE name = ? AND alias = ?",
                [name, alias],
            )

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        snap = self._snapshot()
        if snap is not None:
            if name not in snap.models:
                raise _no_model(name)
            version = snap.aliases.get(name, {}).get(alias)
            if version is None:
                raise _no_alias(name, alias)
            return _snap_version_of(snap, name, int(version))
        with self._reg_reader() as q:
            found = q(
                "SELECT version FROM store.registered_model_aliases WHERE name = ? AND alias = ?",
                [name, alias],
            )
            if not found:
                self._require_model(q, name)
                raise _no_alias(name, alias)
            return self._version(q, name, int(found[0][0]))

    # ------------------------------------------------------------------ helpers
    def _where(self, text: str, spec: SearchSpec) -> tuple[str, list[Any]]:
        return compile_conditions(
            parse_conditions(text, spec), spec, like_escape=self._registry_dialect.like_escape
        )

    @staticmethod
    def _page(
        q: Q,
        sql: str,
        params: list[Any],
        max_results: int,
        page_token: str | None,
        fingerprint: str,
    ) -> tuple[list[tuple[Any, ...]], str | None]:
        """One page of ``sql``'s rows and the next page's token (one row more is read to
        know whether there is a next page)."""
        offset = decode_page_token(page_token, fingerprint) if page_token else 0
        rows = q(f"{sql} LIMIT ? OFFSET ?", [*params, max_results + 1, offset])
        if len(rows) > max_results:
            return rows[:max_results], encode_page_token(offset + max_results, fingerprint)
        return rows, None


#: Index in an ``_MV_COLUMNS`` row of each bare field of the version filter.
_MV_FIELDS = {
    "name": 0,
    "version": 1,
    "version_number": 1,
    "creation_timestamp": 2,
    "last_updated_timestamp": 3,
    "source": 5,
    "source_path": 5,
    "run_id": 6,
    "model_id": 7,
    "status": 8,
    "user_id": 9,
}
_RM_ORDER = {"name": 0, "creation_timestamp": 1, "last_updated_timestamp": 2}


def _model_tag(snap: Snapshot, key: str) -> Getter:
    tags = snap.tags
    return lambda row: tags.get(row[0], {}).get(key)


def _version_tag(snap: Snapshot, key: str) -> Getter:
    tags = snap.version_tags
    return lambda row: tags.get((row[0], int(row[1])), {}).get(key)


def _model_tests(snap: Snapshot, conds: Sequence[Cond]) -> list[tuple[Getter, Tester]]:
    tests: list[tuple[Getter, Tester]] = []
    for cond in conds:
        if cond.key is None:  # the only bare field is the name
            tests.append((operator.itemgetter(0), tester(cond)))
        else:
            tests.append((_model_tag(snap, cond.key), tester(cond)))
    return tests


def _version_tests(snap: Snapshot, conds: Sequence[Cond]) -> list[tuple[Getter, Tester]]:
    tests: list[tuple[Getter, Tester]] = []
    for cond in conds:
        if cond.key is None:
            tests.append((operator.itemgetter(_MV_FIELDS[cond.field]), tester(cond)))
        else:
            tests.append((_version_tag(snap, cond.key), tester(cond)))
    return tests


def _rm_key(row: tuple[Any, ...], name: str) -> Any:
    return row[_RM_ORDER[name]]


def _mv_key(row: tuple[Any, ...], name: str) -> Any:
    return row[_MV_FIELDS[name]]


def _slice(
    rows: list[tuple[Any, ...]], query: RegistryQuery, fingerprint: str
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page of already ordered rows, as :meth:`SqlRegistry._page` pages SQL."""
    offset = decode_page_token(query.page_token, fingerprint) if query.page_token else 0
    page = rows[offset : offset + query.max_results]
    more = len(rows) > offset + query.max_results
    return page, encode_page_token(offset + query.max_results, fingerprint) if more else None


def _snap_version(snap: Snapshot, r: tuple[Any, ...]) -> ModelVersion:
    key = (r[0], int(r[1]))
    return ModelVersion(
        r[0],
        str(r[1]),
        int(r[2]),
        int(r[3]),
        r[4] or "",
        r[5],
        r[6],
        r[7],
        r[8],
        dict(snap.version_tags.get(key, {})),
        list(snap.version_aliases.get(key, [])),
        r[9] or "",
        r[10] or "",
    )


def _snap_version_of(snap: Snapshot, name: str, version: int) -> ModelVersion:
    if name not in snap.models:
        raise _no_model(name)
    for row in snap.versions.get(name, []):
        if int(row[1]) == version:
            return _snap_version(snap, row)
    raise _no_version(name, version)


def _snap_model(snap: Snapshot, name: str) -> RegisteredModel:
    r = snap.models[name]
    latest = snap.versions.get(name, [])[-1:]
    return RegisteredModel(
        r[0],
        int(r[1]),
        int(r[2]),
        r[3] or "",
        dict(snap.tags.get(name, {})),
        dict(snap.aliases.get(name, {})),
        [_snap_version(snap, v) for v in latest],
    )


def iter_pages(fetch: Callable[[str | None], ModelPage[Any]]) -> Iterator[Any]:
    """Every item of a paged search: ``fetch(token)`` until the token is ``None``."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page.items
        token = page.next_page_token
        if token is None:
            return
