"""Where the widgets' built ESM/CSS bundles live, and a clear error when they are missing."""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "bundle_path"]

#: Built by ``jlpm build:widgets`` (esbuild, from ``src/widgets/``); shipped in the wheel.
STATIC_DIR = Path(__file__).parent / "static"


def bundle_path(name: str) -> Path:
    """The path of the built asset ``name`` in :data:`STATIC_DIR`.

    Raises:
        FileNotFoundError: the asset was not built, e.g. in a source checkout installed
            without its JavaScript build.
    """
    path = STATIC_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"The widget bundle {path} is missing. In a source checkout, run "
            "`jlpm build:widgets` (or `pip install -e .`, which builds it) and restart the "
            "kernel."
        )
    return path


def bundle_or_empty(name: str) -> Path | str:
    """``bundle_path(name)`` when built, else ``""`` so the module still imports; the widget's
    ``__init__`` then calls :func:`bundle_path` to raise the explanatory error."""
    path = STATIC_DIR / name
    return path if path.is_file() else ""
