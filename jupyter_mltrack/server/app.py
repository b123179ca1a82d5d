"""``MltrackExtension``: the jupyter_server extension application.

Its options are traitlets, settable in ``jupyter_server_config.py`` or on the command line
(``jupyter lab --MltrackExtension.tracking_uri=duckdb:///data/store.duckdb``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode, default

from ..config import DEFAULT_STORE_DIR, DEFAULT_STORE_FILE, ENV_TRACKING_URI, normalize_uri
from ..widgets import STATIC_DIR
from .handlers import InfoHandler, StaticFileHandler

__all__ = ["MltrackExtension", "resolve_tracking_uri"]


def resolve_tracking_uri(value: str, root_dir: str | os.PathLike[str]) -> str:
    """Normalize a tracking URI, taking a relative file path as relative to ``root_dir``.

    ``"runs.duckdb"`` and ``"duckdb:runs.duckdb"`` become ``duckdb:///<root_dir>/runs.duckdb``;
    absolute paths and non-file schemes (``http://``, ``postgresql://``) pass through
    :func:`jupyter_mltrack.config.normalize_uri` unchanged in meaning.
    """
    if value.startswith("duckdb:"):
        path = value[len("duckdb:") :].removeprefix("//")
        if path and not Path(path).expanduser().is_absolute():
            value = "duckdb://" + str(Path(root_dir) / path)
    elif "://" not in value and not Path(value).expanduser().is_absolute():
        value = str(Path(root_dir) / value)
    return normalize_uri(value)


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

    def initialize_handlers(self) -> None:
        """Register the routes; collaborators are passed to handlers as init kwargs."""
        from .._version import __version__

        routes: list[tuple[str, type[Any], dict[str, Any]]] = [
            (
                r"/mltrack/api/info",
                InfoHandler,
                {"version": __version__, "tracking_uri": self.tracking_uri},
            ),
            (r"/mltrack/static/(.*)", StaticFileHandler, {"path": str(STATIC_DIR)}),
        ]
        self.handlers.extend(routes)
