"""Tornado handlers of the jupyter_server extension.

Every verb is ``@tornado.web.authenticated``: Jupyter's token or login applies. Handlers get
their collaborators from the route's init kwargs (see ``MltrackExtension.initialize_handlers``).
"""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler, AuthenticatedFileHandler

from ..config import resolve_duckdb_path

__all__ = ["InfoHandler", "StaticFileHandler", "server_info"]


def server_info(version: str, tracking_uri: str) -> dict[str, Any]:
    """The body of ``GET /mltrack/api/info``: version, tracking URI, local store file or None."""
    store_path = (
        str(resolve_duckdb_path(tracking_uri)) if tracking_uri.startswith("duckdb:") else None
    )
    return {"version": version, "tracking_uri": tracking_uri, "store_path": store_path}


class InfoHandler(APIHandler):
    """``GET /mltrack/api/info``: what is installed and which store the server uses."""

    def initialize(self, version: str, tracking_uri: str) -> None:
        self._info = server_info(version, tracking_uri)

    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(self._info)


class StaticFileHandler(AuthenticatedFileHandler):
    """``GET /mltrack/static/<file>``: built widget assets (e.g. a chart library loaded once
    per page), behind Jupyter's auth like every other route."""
