"""MLflow's REST API on our store: unchanged ``mlflow`` code logs to ``mltrack server``.

Mounting (``jupyter_mltrack.teamserver.app.mlflow_routes`` does this)::

    routes = make_handlers(
        store_provider,               # () -> TrackingStore, called per request (cheap)
        artifacts_destination,        # Path or URI the mlflow-artifacts proxy serves
        executor=executor,            # where store calls run (never the IOLoop)
    )
    app = tornado.web.Application([*our_routes, *routes, ...])

``make_handlers(store_provider, artifacts_destination, *, executor=None,
artifact_executor=None, base_url="", **ignored)`` returns tornado route specs
``(pattern, handler class, init kwargs)`` for:

- ``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...`` and the same under ``3.0``:
  experiments, runs, params, metrics, tags, log-batch, log-inputs, log-model, outputs,
  search, metric history and ``get-history-bulk-interval``, artifact listing, the
  logged-model endpoints of MLflow 3 (:mod:`._tracking`, :mod:`._models`);
- the model registry: ``registered-models/...`` and ``model-versions/...``
  (:mod:`._registry`);
- ``/api/2.0/mlflow-artifacts/artifacts[/<path>]`` (and ``/ajax-api/...``): the streamed
  artifact proxy (:mod:`._artifacts`) over ``artifacts_destination``;
- ``/get-artifact?run_id=&path=`` (a run's file, streamed, MLflow's MIME types);
- ``/api/3.0/mlflow/server-info``, ``/health`` (``OK``) and ``/version`` (ours);
- any other path under those prefixes: 404 ``ENDPOINT_NOT_FOUND`` in MLflow's shape.

Every handler calls the validating :class:`~jupyter_mltrack.tracking.core.TrackingCore`
of the store (never a store directly) and answers errors as MLflow does:
``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}`` with MLflow's statuses
(:func:`._base.mlflow_error`). Run artifact URIs under ``artifacts_destination`` are
given to clients as ``mlflow-artifacts:/<experiment>/<run>/artifacts``, so MLflow's
client moves files through the proxy. ``ignored`` keyword arguments (``ingest``,
``backend``, ...) are accepted so the server can offer more than this layer uses.
What still differs from MLflow is listed in docs/mlflow-compat.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import tornado.web

from .._version import __version__
from ..artifacts.local import local_path_from_uri
from ..store.base import TrackingStore
from ._artifacts import ARTIFACT_ROUTES, GetRunArtifact
from ._base import EndpointNotFound, MlflowContext, MlflowHandler, mlflow_error
from ._models import MODEL_ROUTES
from ._registry import REGISTRY_ROUTES
from ._tracking import TRACKING_ROUTES

__all__ = ["MlflowContext", "RouteSpec", "make_handlers", "mlflow_error"]

RouteSpec = tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]

#: The prefixes MLflow serves its API under (the UI uses ``/ajax-api``).
API_PREFIXES = (
    "/api/2.0/mlflow",
    "/ajax-api/2.0/mlflow",
    "/api/3.0/mlflow",
    "/ajax-api/3.0/mlflow",
)
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("OK")


class Version(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(__version__)


class ServerInfo(MlflowHandler):
    """``/api/3.0/mlflow/server-info``: what MLflow's client asks before some calls."""

    async def get(self) -> None:
        self.reply(
            {
                "store_type": None,
                "workspaces_enabled": False,
                "trace_archival_enabled": False,
                "multipart_uploads_enabled": False,
                "multipart_downloads_enabled": False,
                "presigned_upload_run_id_supported": False,
                "presigned_upload_model_id_supported": False,
            }
        )


#: Query arguments a request may carry. Tornado's default (1,000) answers a bare 400
#: before any handler runs; MLflow's clients send one ``run_id``/``run_ids`` argument per
#: run (its own tests send 1,000 to get MLflow's limit error). The 64 KB header limit
#: still bounds the request line.
MAX_QUERY_ARGUMENTS = 20_000


def _allow_long_queries() -> None:
    import dataclasses

    import tornado.httputil

    config = tornado.httputil._DEFAULT_PARSE_BODY_CONFIG
    if config.urlencoded.max_arguments < MAX_QUERY_ARGUMENTS:
        urlencoded = dataclasses.replace(config.urlencoded, max_arguments=MAX_QUERY_ARGUMENTS)
        tornado.httputil.set_parse_body_config(dataclasses.replace(config, urlencoded=urlencoded))


def make_handlers(
    store_provider: Callable[[], TrackingStore],
    artifacts_destination: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    artifact_executor: Executor | None = None,
    base_url: str = "",
    **ignored: Any,
) -> list[RouteSpec]:
    """Tornado route specs of the MLflow REST layer (see the module docstring).

    Args:
        store_provider: returns the served store; called on the store executor.
        artifacts_destination: the artifact root of the proxy: a directory path or a URI
            of a registered artifact scheme. New experiments of the store should keep
            their artifacts under it (the server creates the store so), or MLflow's
            client cannot reach them through the proxy.
        executor: where store calls run; default a new single-thread executor.
        artifact_executor: where artifact I/O runs; default 4 new threads.
        base_url: a prefix before every route (``""`` for the server root).
        ignored: other collaborators a server offers (``ingest``, ``backend``, ...).
    """
    _allow_long_queries()
    text = os.fspath(artifacts_destination)
    if "://" in text and not text.startswith("file://"):
        artifacts_uri = prefix = text.rstrip("/")
    else:
        root = local_path_from_uri(text)
        artifacts_uri, prefix = str(root), root.as_uri()
    ctx = MlflowContext(
        store_provider=store_provider,
        executor=executor or ThreadPoolExecutor(1, thread_name_prefix="mltrack-mlflow"),
        artifact_executor=artifact_executor
        or ThreadPoolExecutor(4, thread_name_prefix="mltrack-artifacts"),
        artifacts_uri=artifacts_uri,
        artifacts_prefix=prefix,
    )
    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    kwargs = {"ctx": ctx}
    routes: list[RouteSpec] = []
    for api in API_PREFIXES:
        for path, cls in (*TRACKING_ROUTES, *MODEL_ROUTES, *REGISTRY_ROUTES):
            routes.append((f"{base}{api}/{path}", cls, kwargs))
        if api.startswith(("/api/3.0", "/ajax-api/3.0")):
            routes.append((f"{base}{api}/server-info", ServerInfo, kwargs))
    for api in ARTIFACT_PREFIXES:
        for path, cls in ARTIFACT_ROUTES:
            routes.append((f"{base}{api}/{path}", cls, kwargs))
    routes.append((f"{base}/get-artifact", GetRunArtifact, kwargs))
    routes.append((f"{base}/health", Health, {}))
    routes.append((f"{base}/version", Version, {}))
    for api in (*API_PREFIXES, *ARTIFACT_PREFIXES):
        routes.append((f"{base}{api}(?:/.*)?", EndpointNotFound, kwargs))
    return routes
