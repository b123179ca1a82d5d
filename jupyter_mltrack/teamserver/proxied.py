"""Proxied artifact locations on our store API, as MLflow's server gives them.

``mlflow server --artifacts-destination DIR`` hands clients ``mlflow-artifacts:/<exp>``
experiment locations and ``mlflow-artifacts:/<exp>/<run>/artifacts`` run URIs: clients
never need the server's disk, they move files through the proxy. The store keeps
``file://`` (or ``s3://``) URIs under the destination (the local clients on the server
machine and the unix socket read them directly); on the team server's store API
(``/mltrack/api/v1``, our own client over HTTP) :class:`ProxiedArtifactStore` rewrites:

- out: ``Experiment.artifact_location``, ``RunInfo.artifact_uri`` and the
  ``artifact_uri`` column of columnar searches under the destination become
  ``mlflow-artifacts:/<path>`` (other locations, e.g. one given at creation, stay);
- in: ``create_experiment(artifact_location="mlflow-artifacts:/x")`` stores ``<dest>/x``.

The MLflow REST routes rewrite the same way on their side (``mlflow_rest._convert``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from ..entities import Experiment, Run
from ..errors import InvalidParameter
from ..service.api import RouteSpec
from ..service.api_base import ApiContext
from ..store.base import RunPage, RunQuery, TrackingStore

__all__ = ["PROXY_PREFIX", "ProxiedArtifactStore", "destination_prefix", "proxy_store_routes"]

PROXY_PREFIX = "mlflow-artifacts:/"


def destination_prefix(artifacts_destination: Any) -> str:
    """The URI prefix the store writes artifact locations under for this destination."""
    from ..artifacts.local import local_path_from_uri

    text = str(artifacts_destination)
    if "://" in text and not text.startswith("file://"):
        return text.rstrip("/")
    return local_path_from_uri(text).as_uri()


class ProxiedArtifactStore:
    """A :class:`~jupyter_mltrack.store.base.TrackingStore` whose artifact locations under
    ``prefix`` read as ``mlflow-artifacts:/...`` (every other method is the store's)."""

    def __init__(self, store: TrackingStore, prefix: str) -> None:
        self._store = store
        self._prefix = prefix.rstrip("/")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    # ------------------------------------------------------------- mapping
    def outward(self, uri: str) -> str:
        """``mlflow-artifacts:/<rest>`` for a URI under the destination, else ``uri``."""
        if uri == self._prefix:
            return PROXY_PREFIX
        if uri.startswith(self._prefix + "/"):
            return PROXY_PREFIX + uri[len(self._prefix) + 1 :]
        return uri

    def inward(self, uri: str | None) -> str | None:
        """A location given by a client: ``mlflow-artifacts:/x`` is ``<destination>/x``."""
        if uri is None or not uri.startswith("mlflow-artifacts:"):
            return uri
        rest = uri[len("mlflow-artifacts:") :]
        if rest.startswith("//"):
            raise InvalidParameter(
                f"Artifact location {uri!r} names a server; give mlflow-artifacts:/<path> "
                "(a path under this server's artifacts destination)."
            )
        from ..artifacts import validate_artifact_path

        path = rest.strip("/")
        return f"{self._prefix}/{validate_artifact_path(path)}" if path else self._prefix

    def _experiment(self, exp: Experiment) -> Experiment:
        return dataclasses.replace(exp, artifact_location=self.outward(exp.artifact_location))

    def _run(self, run: Run) -> Run:
        info = dataclasses.replace(run.info, artifact_uri=self.outward(run.info.artifact_uri))
        return dataclasses.replace(run, info=info)

    # ------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        return self._store.create_experiment(name, self.inward(artifact_location), tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._experiment(self._store.get_experiment(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        exp = self._store.get_experiment_by_name(name)
        return None if exp is None else self._experiment(exp)

    def search_experiments(
        self, view_type: str, name_like: str | None, max_results: int | None
    ) -> list[Experiment]:
        found = self._store.search_experiments(view_type, name_like, max_results)
        return [self._experiment(e) for e in found]

    # ------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        start_time_ms: int,
        user_id: str,
        tags: dict[str, str],
        parent_run_id: str | None,
    ) -> Run:
        run = self._store.create_run(
            experiment_id, run_name, start_time_ms, user_id, tags, parent_run_id
        )
        return self._run(run)

    def get_run(self, run_id: str) -> Run:
        return self._run(self._store.get_run(run_id))

    def search_runs(self, query: RunQuery) -> RunPage:
        page = self._store.search_runs(query)
        return dataclasses.replace(page, runs=[self._run(r) for r in page.runs])

    def search_runs_arrow(self, query: RunQuery) -> dict[str, Any]:
        tables = self._store.search_runs_arrow(query)
        runs = tables.get("runs")
        names = getattr(runs, "column_names", ())
        if runs is None or "artifact_uri" not in names:
            return tables
        import pyarrow as pa

        index = names.index("artifact_uri")
        column = runs.column(index).to_pylist()
        mapped = pa.array([None if u is None else self.outward(u) for u in column], pa.string())
        return {**tables, "runs": runs.set_column(index, "artifact_uri", mapped)}


def proxy_store_routes(routes: list[RouteSpec], artifacts_destination: Any) -> list[RouteSpec]:
    """``routes`` of our store API with their store seen through :class:`ProxiedArtifactStore`."""
    prefix = destination_prefix(artifacts_destination)
    wrapped: dict[int, tuple[TrackingStore, TrackingStore]] = {}
    contexts: dict[int, ApiContext] = {}
    out: list[RouteSpec] = []
    for pattern, handler, kwargs in routes:
        ctx = kwargs.get("api")
        if not isinstance(ctx, ApiContext):
            out.append((pattern, handler, kwargs))
            continue
        if id(ctx) not in contexts:
            provider = ctx.store_provider

            def proxied(provider: Any = provider) -> TrackingStore:
                store = provider()
                hit = wrapped.get(id(store))
                if hit is None or hit[0] is not store:
                    hit = (store, cast(TrackingStore, ProxiedArtifactStore(store, prefix)))
                    wrapped[id(store)] = hit
                return hit[1]

            contexts[id(ctx)] = dataclasses.replace(ctx, store_provider=proxied)
        out.append((pattern, handler, {**kwargs, "api": contexts[id(ctx)]}))
    return out
