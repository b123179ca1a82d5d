"""Tracking: the client, the fluent API and the metric buffer."""

from .client import PagedList, TrackingClient

__all__ = ["PagedList", "TrackingClient"]
