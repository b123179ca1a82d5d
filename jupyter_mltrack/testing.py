"""Pytest fixtures for code that uses jupyter-mltrack: a fresh store per test.

Use from a ``conftest.py``: ``from jupyter_mltrack.testing import tracking_store``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["reset_tracking_state", "tracking_store"]


def reset_tracking_state() -> None:
    """End active runs, flush, close every store and forget the tracking URI."""
    from .config import set_tracking_uri
    from .store.schemes import close_all_stores
    from .tracking import fluent

    runs = fluent._runs  # the calling thread's active runs
    while runs.stack:
        try:
            fluent.end_run()
        except Exception:  # a test may have deleted the run or broken the store on purpose
            runs.pop()
    for client in list(fluent._clients.values()):
        with contextlib.suppress(Exception):  # same as above
            client.buffer.close()
    fluent._clients.clear()
    fluent._active_experiment.clear()
    runs.last = None
    close_all_stores()
    set_tracking_uri(None)


@pytest.fixture
def tracking_store(tmp_path: Path) -> Iterator[str]:
    """A fresh DuckDB store in ``tmp_path`` set as the tracking URI; yields the URI.

    The store is opened in direct mode (``MLTRACK_STORE_MODE=direct``): a test's store has
    one user, so no store service is started for it.
    """
    from .config import set_tracking_uri

    reset_tracking_state()
    previous = os.environ.get("MLTRACK_STORE_MODE")
    os.environ["MLTRACK_STORE_MODE"] = "direct"
    uri = "duckdb://" + str(tmp_path / "store" / "store.duckdb")
    set_tracking_uri(uri)
    try:
        yield uri
    finally:
        reset_tracking_state()
        if previous is None:
            os.environ.pop("MLTRACK_STORE_MODE", None)
        else:
            os.environ["MLTRACK_STORE_MODE"] = previous
