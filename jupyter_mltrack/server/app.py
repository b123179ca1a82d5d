"""``MltrackExtension``: the jupyter_server extension application.

Its options are traitlets, settable in ``jupyter_server_config.py`` or on the command line
(``jupyter lab --MltrackExtension.tracking_uri=duckdb:///data/store.duckdb``).

For a DuckDB store the server is the store's owner (ARCHITECTURE.md section 3): it holds the
file, serves kernels, scripts and the CLI on the store's unix socket, and serves the same
store API on its own routes under ``/mltrack/api/v1`` (Jupyter's auth), and the JupyterLab API
(``/mltrack/api/lab``: runs pages, run detail, artifacts, series, live changes) that the
sidebar and views read (:mod:`jupyter_mltrack.service.lab_api`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Unicode, default

from ..config import DEFAULT_STORE_DIR, DEFAULT_STORE_FILE, normalize_uri
from ..service.api import authenticated_variant
from ..service.lab_api import LabContext, lab_handlers
from ..service.live import ChangeFeed
from ..service.metrics import instrument_application
from ..service.openapi import openapi_document
from ..settings import API_BASE, ENV_TRACKING_URI
from ..widgets import STATIC_DIR
from ..widgets._vendor import VENDOR_DIR
from .handlers import InfoHandler, StaticFileHandler
from .store_api import StoreApi, mount_store_api

__all__ = ["STORE_API_PATH", "MltrackExtension", "resolve_tracking_uri"]

#: Where the store API is mounted, under the server's base URL.
STORE_API_PATH = API_BASE


def resolve_tracking_uri(value: str, root_dir: str | os.PathLike[str]) -> str:
    """Normalize a tracking URI, taking a relative file path as relative to ``root_dir``.

    ``"runs.duckdb"`` and ``"duckdb:runs.duckdb"`` become ``duckdb:///<root_dir>/runs.duckdb``;
    absolute paths and non-file schemes (``http://``, ``postgresql://``) pass through
    :func:`jupyter_mltrack.config.normalize_uri` unchanged in meaning.
    """
    return normalize_uri(value, base_dir=root_dir)


class MltrackExtension(ExtensionApp):
    """Serves the jupyter-mltrack REST API and widget assets inside a Jupyter server."""

    name = "jupyter_mltrack"
    description = "jupyter-mltrack: experiment tracking inside Jupyter."
    load_other_extensions = True

    tracking_uri = Unicode(
        config=True,
        help=(
            "The store this server uses and shows in the sidebar: a DuckDB file path, "
            "'duckdb:///abs/path/store.duckdb', or the URI of a remote store. Relative paths "
            f"are relative to the server's root_dir. Default: the {ENV_TRACKING_URI} "
            f"environment variable, else '<root_dir>/{DEFAULT_STORE_DIR}/{DEFAULT_STORE_FILE}'. "
            f"Kernels started by the server inherit it as {ENV_TRACKING_URI}."
        ),
    )

    own_store = Bool(
        True,
        config=True,
        help=(
            "Whether this server owns its DuckDB store: it holds the file for as long as it "
            "runs and serves kernels, scripts and the mltrack CLI on the store's unix socket. "
            "When another process already owns the store, or with False, the server uses the "
            "store as a client of its owner (the store service, started when none runs). The "
            "sidebar and the /mltrack/api/v1 routes work either way. Ignored for remote stores."
        ),
    )

    live_interval_s = Float(
        1.0,
        config=True,
        help=(
            "Seconds between the polls of the store that push live updates to the "
            "JupyterLab views. One poll serves every open tab (GET /mltrack/api/lab/changes); "
            "nothing is polled while no view listens."
        ),
    )

    #: The store routes and what backs them (set by ``initialize_settings``).
    store_api: StoreApi | None = None
    #: The JupyterLab API's shared state (set by ``initialize_settings``).
    lab: LabContext | None = None

    @default("tracking_uri")
    def _default_tracking_uri(self) -> str:
        return os.environ.get(ENV_TRACKING_URI) or str(Path(DEFAULT_STORE_DIR) / DEFAULT_STORE_FILE)

    @property
    def root_dir(self) -> str:
        """The server's root directory (the working directory when no server is linked)."""
        return str(self.serverapp.root_dir) if self.serverapp is not None else os.getcwd()

    def initialize_settings(self) -> None:
        """Resolve the tracking URI once, so that every handler sees the same absolute one.

        The resolved URI is also exported as ``MLTRACK_TRACKING_URI`` so that kernels this
        server starts log to the store the sidebar shows, whatever their working directory.
        """
        self.tracking_uri = resolve_tracking_uri(self.tracking_uri, self.root_dir)
        os.environ[ENV_TRACKING_URI] = self.tracking_uri
        self.log.info("jupyter-mltrack store: %s", self.tracking_uri)
        # Runs during ServerApp.initialize, on the thread whose IOLoop the server then runs:
        # the owner's socket and timers attach to that loop.
        self.store_api = mount_store_api(
            self.tracking_uri, STORE_API_PATH, own=self.own_store, log=self.log
        )
        api = self.store_api.context
        self.lab = LabContext(api, ChangeFeed(api, self.live_interval_s), openapi=openapi_document)

    def initialize_handlers(self) -> None:
        """Register the routes; collaborators are passed to handlers as init kwargs.

        ``ExtensionApp`` prepends the server's base URL to every pattern.
        """
        from .._version import __version__

        info = {
            "version": __version__,
            "tracking_uri": self.tracking_uri,
            "api_base": STORE_API_PATH,
        }
        routes: list[tuple[str, type[Any], dict[str, Any]]] = [
            (r"/mltrack/api/info", InfoHandler, info),
            (r"/mltrack/static/(.*)", StaticFileHandler, {"path": str(STATIC_DIR)}),
            # plotly.min.js, loaded once per page by the chart widgets (widgets/_vendor.py)
            (r"/mltrack/vendor/(.*)", StaticFileHandler, {"path": str(VENDOR_DIR)}),
            *(self.store_api.routes if self.store_api is not None else []),
            *(lab_handlers(self.lab, authenticated_variant) if self.lab is not None else []),
        ]
        self.handlers.extend(routes)
        if self.store_api is not None and self.serverapp is not None:
            # our store routes in the mltrack request metrics of Jupyter's own /metrics
            instrument_application(self.serverapp.web_app, self.store_api.routes)

    async def stop_extension(self) -> None:
        """Release the store (when this server owns it) as the server stops."""
        if self.lab is not None:
            await self.lab.feed.stop()
            self.lab = None
        if self.store_api is not None:
            await self.store_api.stop()
            self.store_api = None
            self.log.info("jupyter-mltrack: stopped serving the store %s", self.tracking_uri)
