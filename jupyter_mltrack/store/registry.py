"""Choose a tracking store by URI scheme; third parties add schemes by entry point.

An entry point in group ``jupyter_mltrack.stores`` named after the scheme must
point at a callable ``factory(uri) -> TrackingStore``. Stores are cached per
URI within a process.

A ``duckdb:`` store is shared through its owner process (docs/service-design.md):
``MLTRACK_STORE_MODE=service`` (the default) connects to the store service, starting it
when needed; ``direct`` opens the file in this process. A store this process owns (the
Jupyter server extension's) is handed out as is and never closed from here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import urlparse

from ..config import normalize_uri
from ..errors import InvalidParameter
from .base import TrackingStore

__all__ = ["close_all_stores", "get_store", "register_store"]

StoreFactory = Callable[[str], TrackingStore]
_factories: dict[str, StoreFactory] = {}
_stores: dict[str, TrackingStore] = {}
_lock = threading.Lock()


def _duckdb_factory(uri: str) -> TrackingStore:
    from ..service.discovery import open_store

    return open_store(uri)


def _owned_here(uri: str) -> TrackingStore | None:
    if not uri.startswith("duckdb:"):
        return None
    from ..config import resolve_duckdb_path
    from ..service.owner import local_store

    owned: TrackingStore | None = local_store(resolve_duckdb_path(uri))
    return owned


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``scheme://...`` URIs open stores built by ``factory``."""
    _factories[scheme] = factory


def _factory_for(scheme: str) -> StoreFactory:
    if scheme in _factories:
        return _factories[scheme]
    for ep in entry_points(group="jupyter_mltrack.stores"):
        if ep.name == scheme:
            factory: StoreFactory = ep.load()
            _factories[scheme] = factory
            return factory
    known = sorted({*_factories, *(ep.name for ep in entry_points(group="jupyter_mltrack.stores"))})
    raise InvalidParameter(
        f"No tracking store handles the scheme {scheme!r}; supported: {', '.join(known)}. "
        "Use a path or 'duckdb:///path/store.duckdb'."
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


register_store("duckdb", _duckdb_factory)
