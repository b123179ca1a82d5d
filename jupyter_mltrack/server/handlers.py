"""Tornado handlers of the jupyter_server extension.

Every verb is ``@tornado.web.authenticated``: Jupyter's token or login applies. Handlers get
their collaborators from the route's init kwargs (see ``MltrackExtension.initialize_handlers``).
"""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler, AuthenticatedFileHandler

from ..config import resolve_duckdb_path
from .store_api import owner_summary

__all__ = ["InfoHandler", "StaticFileHandler", "server_info"]


def server_info(version: str, tracking_uri: str, api_base: str) -> dict[str, Any]:
    """The body of ``GET /mltrack/api/info``.

    ``version``; ``tracking_uri``; ``store_path`` (the local DuckDB file, or None for a
    remote store); ``api_base`` (the store API's path under the server's base URL);
    ``store_owner`` (``{"kind", "pid", "this_server"}`` of the process serving the
    DuckDB store now, or None; see :func:`.store_api.owner_summary`).
    """
    store_path = (
        str(resolve_duckdb_path(tracking_uri)) if tracking_uri.startswith("duckdb:") else None
    )
    return {
        "version": version,
        "tracking_uri": tracking_uri,
        "store_path": store_path,
        "api_base": api_base,
        "store_owner": owner_summary(tracking_uri),
    }


class InfoHandler(APIHandler):
    """``GET /mltrack/api/info``: what is installed, which store the server uses, who owns it."""

    def initialize(self, version: str, tracking_uri: str, api_base: str) -> None:
        self._args = (version, tracking_uri, api_base)

    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(server_info(*self._args))  # the owner can change: read it per request


class StaticFileHandler(AuthenticatedFileHandler):
    """``GET /mltrack/static/<file>``: built widget assets (e.g. a chart library loaded once
    per page), behind Jupyter's auth like every other route."""
