"""Tracking: the validating core, the buffering client (``MlflowClient``), the fluent API."""

from .client import MlflowClient, PagedList, TrackingClient
from .core import TrackingCore

__all__ = ["MlflowClient", "PagedList", "TrackingClient", "TrackingCore"]
