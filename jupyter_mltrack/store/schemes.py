"""Choose a tracking store by URI scheme; every scheme, built-in or not, is an entry point.

An entry point in group ``jupyter_mltrack.stores`` named after the scheme points at a
callable ``factory(uri) -> TrackingStore``. The built-in ones are declared in this
package's ``pyproject.toml`` exactly as a third party would declare its own:

- ``duckdb`` -> ``jupyter_mltrack.service.discovery:open_store`` (the embedded store,
  shared through its owner process; see docs/service-design.md);
- ``http`` / ``https`` -> ``jupyter_mltrack.store.remote.server_store:server_store_factory``
  (a team server, ``mltrack server``).

Stores are cached per URI within a process. A store this process *owns* (the Jupyter
server extension's, a direct-mode script's) is registered with
:func:`register_local_store` and handed out as is, never cached or closed from here.
This module imports nothing above ``store/``: factories are found by name at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..config import normalize_uri, resolve_duckdb_path
from ..errors import InvalidParameter
from .base import TrackingStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "close_all_stores",
    "get_store",
    "local_store",
    "register_local_store",
    "register_store",
    "unregister_local_store",
]

ENTRY_POINT_GROUP = "jupyter_mltrack.stores"

StoreFactory = Callable[[str], TrackingStore]
_factories: dict[str, StoreFactory] = {}
_stores: dict[str, TrackingStore] = {}
_lock = threading.Lock()

# Stores owned by this process, by store file path: handed out instead of connecting to
# our own socket.
_local: dict[Path, Any] = {}
_local_lock = threading.Lock()


def register_local_store(path: Path, store: Any) -> None:
    """Make ``get_store`` return ``store`` for the store file ``path`` in this process."""
    with _local_lock:
        _local[path] = store


def unregister_local_store(path: Path, store: Any) -> None:
    """Forget ``store`` for ``path`` (only if it is the one registered)."""
    with _local_lock:
        if _local.get(path) is store:
            del _local[path]


def local_store(path: Path) -> Any:
    """The store this process owns for ``path``, or ``None``."""
    with _local_lock:
        return _local.get(path)


def _owned_here(uri: str) -> TrackingStore | None:
    if not uri.startswith("duckdb:"):
        return None
    owned: TrackingStore | None = local_store(resolve_duckdb_path(uri))
    return owned


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``scheme://...`` URIs open stores built by ``factory`` (tests, plugins at run time)."""
    _factories[scheme] = factory


def _factory_for(scheme: str) -> StoreFactory:
    if scheme in _factories:
        return _factories[scheme]
    found = entry_points(group=ENTRY_POINT_GROUP)
    for ep in found:
        if ep.name == scheme:
            factory: StoreFactory = ep.load()
            _factories[scheme] = factory
            return factory
    known = sorted({*_factories, *(ep.name for ep in found)})
    if not known:
        raise InvalidParameter(
            f"No tracking store handles the scheme {scheme!r}, and no store entry points are "
            f"installed at all (group {ENTRY_POINT_GROUP!r}): jupyter-mltrack's metadata is "
            "missing. Reinstall it (`pip install jupyter-mltrack`, or `pip install -e .` in a "
            "checkout)."
        )
    raise InvalidParameter(
        f"No tracking store handles the scheme {scheme!r}; supported: {', '.join(known)}. "
        "Use a path, 'duckdb:///path/store.duckdb' or 'http://host:port'."
    )


def get_store(uri: str) -> TrackingStore:
    """The (cached) store for ``uri``; paths are taken as DuckDB files."""
    uri = normalize_uri(uri)
    with _lock:
        store = _stores.get(uri)
        if store is None:
            owned = _owned_here(uri)
            if owned is not None:
                return owned
            store = _factory_for(urlparse(uri).scheme)(uri)
            _stores[uri] = store
        return store


def close_all_stores() -> None:
    """Close every cached store (tests and process exit)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
