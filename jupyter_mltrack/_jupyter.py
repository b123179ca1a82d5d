"""Hooks through which Jupyter finds the lab extension and the server extension.

``jupyter_mltrack/__init__.py`` re-exports both functions, because Jupyter looks them up on
the top-level package named in ``jupyter-config/server-config/jupyter_mltrack.json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_labextension_paths", "_jupyter_server_extension_points"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built lab extension lives inside the package (for ``jupyter-builder develop``)."""
    return [{"src": "labextension", "dest": "jupyter-mltrack"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The jupyter_server extension: :class:`~jupyter_mltrack.server.MltrackExtension`."""
    # Imported here so that ``import jupyter_mltrack`` does not pull in jupyter_server.
    from .server import MltrackExtension

    return [{"module": "jupyter_mltrack", "app": MltrackExtension}]
