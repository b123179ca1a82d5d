"""Where the store is: tracking URI resolution shared by every entry point.

Order: :func:`set_tracking_uri` in this process, then the ``MLTRACK_TRACKING_URI``
environment variable, then the default ``duckdb:///<cwd>/mltrack/store.duckdb``
(a ``mltrack/`` folder in the working directory holding the DuckDB file and,
beside it, ``artifacts/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from .errors import InvalidParameter
from .settings import ENV_TRACKING_URI, tracking_uri_from_env

__all__ = [
    "DEFAULT_STORE_DIR",
    "ENV_TRACKING_URI",
    "get_tracking_uri",
    "resolve_duckdb_path",
    "set_tracking_uri",
]

DEFAULT_STORE_DIR = "mltrack"
DEFAULT_STORE_FILE = "store.duckdb"

_uri: str | None = None


def default_tracking_uri() -> str:
    return "duckdb://" + str(Path.cwd() / DEFAULT_STORE_DIR / DEFAULT_STORE_FILE)


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the store for this process; ``None`` returns to env var / default.

    A plain filesystem path is taken as a DuckDB file.
    """
    global _uri
    if uri is None:
        _uri = None
        return
    _uri = normalize_uri(os.fspath(uri))


def get_tracking_uri() -> str:
    """The store URI in force for this process."""
    if _uri is not None:
        return _uri
    env = tracking_uri_from_env()
    if env:
        return normalize_uri(env)
    return default_tracking_uri()


def normalize_uri(uri: str, base_dir: str | os.PathLike[str] | None = None) -> str:
    """Turn a path or ``duckdb:`` URI into ``duckdb:///abs/path``; other schemes pass through.

    A relative path is taken relative to ``base_dir`` (default: the working directory).
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParameter(
            f"Tracking URI must be a non-empty string, got {uri!r}; pass a path to a "
            "DuckDB file or a URI such as 'duckdb:///path/store.duckdb'."
        )
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = _absolute(Path(parsed.path if parsed.scheme == "file" else uri), base_dir)
        if path.suffix == "" and not path.is_file():
            path = path / DEFAULT_STORE_FILE
        return "duckdb://" + str(path)
    if parsed.scheme == "duckdb":
        return "duckdb://" + str(resolve_duckdb_path(uri, base_dir))
    return uri


def _absolute(path: Path, base_dir: str | os.PathLike[str] | None) -> Path:
    path = path.expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return path.resolve()


def resolve_duckdb_path(uri: str, base_dir: str | os.PathLike[str] | None = None) -> Path:
    """The absolute file path of a ``duckdb:`` URI (``duckdb:///abs`` or ``duckdb:rel``).

    A relative path is taken relative to ``base_dir`` (default: the working directory).
    """
    if not uri.startswith("duckdb:"):
        if "://" in uri:
            raise InvalidParameter(
                f"{uri!r} is not a DuckDB store URI; use 'duckdb:///path/store.duckdb'."
            )
        return _absolute(Path(uri), base_dir)  # a plain file path
    rest = uri[len("duckdb:") :]
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise InvalidParameter(
            f"Tracking URI {uri!r} names no file; use 'duckdb:///path/store.duckdb'."
        )
    return _absolute(Path(rest), base_dir)
