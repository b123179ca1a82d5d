"""The jupyter_server extension, against a real `jupyter server` subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mltrack._version import __version__
from jupyter_mltrack.server.app import resolve_tracking_uri
from jupyter_mltrack.widgets import STATIC_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(start_jupyter):
    """A server with no tracking configuration: the default store under its root_dir."""
    srv = start_jupyter("server", env={"MLTRACK_TRACKING_URI": None})
    yield srv
    srv.stop()


def test_info_reports_version_and_default_store(server) -> None:
    info = server.get_json("mltrack/api/info")
    store = server.root_dir.resolve() / "mltrack" / "store.duckdb"
    assert info == {
        "version": __version__,
        "tracking_uri": f"duckdb://{store}",
        "store_path": str(store),
    }


def test_info_needs_the_token(server) -> None:
    status, _ = server.get("mltrack/api/info", token=False)
    assert status == 403


def test_static_route_serves_widget_bundle_behind_auth(server) -> None:
    status, body = server.get("mltrack/static/runTable.js")
    assert status == 200
    assert body == (STATIC_DIR / "runTable.js").read_bytes()
    status, _ = server.get("mltrack/static/runTable.js", token=False)
    assert status in (302, 403)  # redirect to login for a page-like GET, never the file
    assert server.get("mltrack/static/../server/app.py")[0] in (403, 404)


def test_tracking_uri_option_is_relative_to_root_dir(start_jupyter) -> None:
    srv = start_jupyter(
        "server",
        "--MltrackExtension.tracking_uri=runs/team.duckdb",
        env={"MLTRACK_TRACKING_URI": "/ignored/because/option/wins.duckdb"},
    )
    try:
        info = srv.get_json("mltrack/api/info")
    finally:
        srv.stop()
    store = srv.root_dir.resolve() / "runs" / "team.duckdb"
    assert info["tracking_uri"] == f"duckdb://{store}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("store.duckdb", "duckdb:///root/store.duckdb"),
        ("duckdb:rel/s.duckdb", "duckdb:///root/rel/s.duckdb"),
        ("duckdb:///abs/s.duckdb", "duckdb:///abs/s.duckdb"),
        ("/abs/s.duckdb", "duckdb:///abs/s.duckdb"),
        ("http://tracking.example:5000", "http://tracking.example:5000"),
    ],
)
def test_resolve_tracking_uri(value: str, expected: str) -> None:
    assert resolve_tracking_uri(value, Path("/root")) == expected
