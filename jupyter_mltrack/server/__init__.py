"""The jupyter_server extension of jupyter-mltrack: REST routes under ``/mltrack/``."""

from __future__ import annotations

from .app import MltrackExtension

__all__ = ["MltrackExtension"]
