"""validate_artifact_path and join_artifact_path: the one gate for artifact paths."""

from __future__ import annotations

import pytest

from jupyter_mltrack.artifacts import join_artifact_path, validate_artifact_path
from jupyter_mltrack.errors import InvalidParameter


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.txt", "a.txt"),
        ("plots/loss.png", "plots/loss.png"),
        ("./plots//loss.png", "plots/loss.png"),
        ("plots/./loss.png", "plots/loss.png"),
        ("model/", "model"),
        ("a..b/..c/d..", "a..b/..c/d.."),
        ("with space/ü.txt", "with space/ü.txt"),
        ("epoch:1/x.txt", "epoch:1/x.txt"),
    ],
)
def test_valid_paths_are_normalized(path: str, expected: str) -> None:
    assert validate_artifact_path(path) == expected


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("", "is empty"),
        (".", "names no file"),
        ("./", "names no file"),
        ("../x", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a/..", "'..' segment"),
        ("..", "'..' segment"),
        ("/etc/passwd", "is absolute"),
        ("//server/share", "is absolute"),
        ("C:\\x", "backslash"),
        ("C:/x", "drive letter"),
        ("c:x", "drive letter"),
        ("a:b.txt", "drive letter"),
        ("..\\..\\x", "backslash"),
        ("a\\b", "backslash"),
        ("a\0b", "NUL"),
    ],
)
def test_unsafe_paths_are_rejected_with_the_reason(path: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_artifact_path(path)
    message = str(info.value)
    assert fragment in message
    assert "relative to the run's artifact root" in message  # says what to do
    assert info.value.details["path"] == path


def test_non_string_path_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="must be a str; got int"):
        validate_artifact_path(3)  # type: ignore[arg-type]


def test_join_places_a_name_under_a_directory() -> None:
    assert join_artifact_path(None, "a.txt") == "a.txt"
    assert join_artifact_path("plots/", "a.txt") == "plots/a.txt"
    with pytest.raises(InvalidParameter, match=r"'\.\.' segment"):
        join_artifact_path("../up", "a.txt")
    with pytest.raises(InvalidParameter, match="is absolute"):
        join_artifact_path("/abs", "a.txt")
