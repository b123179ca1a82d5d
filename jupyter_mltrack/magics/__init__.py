"""IPython magics of jupyter-mltrack: ``%%track`` and ``%track_experiment``.

``%load_ext jupyter_mltrack`` registers them, and so does ``import jupyter_mltrack`` inside
IPython (a notebook kernel). See docs/notebooks.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register_magics"]


def register_magics(shell: Any) -> None:
    """Register the magics and their cell hooks on ``shell`` (once; later calls do nothing)."""
    from .track import TrackMagics

    registry = getattr(shell.magics_manager, "registry", {})
    if TrackMagics.__name__ in registry:
        return
    magics = TrackMagics(shell)
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.events.pre_run_cell)
    shell.events.register("post_run_cell", magics.events.post_run_cell)
