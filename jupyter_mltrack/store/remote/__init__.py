"""The remote tracking store: the ``TrackingStore`` protocol over the store API."""

from .store import RemoteStore, remote_store_factory

__all__ = ["RemoteStore", "remote_store_factory"]
