"""Where a ``duckdb:`` URI (or a plain path) puts the store file."""

from pathlib import Path

import pytest

from jupyter_mltrack.config import resolve_duckdb_path
from jupyter_mltrack.errors import InvalidParameter


def test_uri_forms_and_plain_paths(tmp_path: Path) -> None:
    target = tmp_path / "s.duckdb"
    assert resolve_duckdb_path(f"duckdb://{target}") == target
    assert resolve_duckdb_path(str(target)) == target  # a plain path is not cut short
    assert resolve_duckdb_path("duckdb:rel.duckdb", tmp_path) == target.with_name("rel.duckdb")
    assert resolve_duckdb_path("rel.duckdb", tmp_path) == target.with_name("rel.duckdb")


@pytest.mark.parametrize("uri", ["s3://bucket/s.duckdb", "http://host/s.duckdb", "duckdb:"])
def test_other_schemes_and_empty_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidParameter, match=r"duckdb:///path/store\.duckdb"):
        resolve_duckdb_path(uri)
