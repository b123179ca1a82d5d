"""The artifact repository protocol and the path rules every repository enforces.

A repository stores one run's (or one experiment's) artifacts under a root;
every path it accepts or returns is a POSIX path relative to that root, as in
MLflow. :func:`validate_artifact_path` is the single gate for those paths, so
local, proxied (HTTP) and S3 repositories reject the same inputs with the same
messages.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import BinaryIO, Protocol, runtime_checkable

from ..entities import FileInfo
from ..errors import InvalidParameter

__all__ = [
    "ArtifactRepository",
    "ArtifactWriter",
    "join_artifact_path",
    "validate_artifact_path",
]

_DRIVE = re.compile(r"^[A-Za-z]:")


@runtime_checkable
class ArtifactRepository(Protocol):
    """What every artifact backend implements; every method may raise ``MltrackError``.

    Paths are POSIX paths relative to ``artifact_uri`` (the run's artifact
    root) and pass :func:`validate_artifact_path`; ``None`` means the root.
    Writes are atomic: a reader sees the old file or the new one, never a
    partial one. Deleting a path that does not exist is a no-op (as in MLflow),
    so clean-up can be retried.
    """

    artifact_uri: str

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy one local file to ``<artifact_path>/<its file name>``."""
        ...

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy the files under a local directory (recursively) to ``artifact_path``."""
        ...

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Write ``data`` to ``artifact_file`` atomically, replacing any previous file."""
        ...

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """One level of the tree under ``path``, sorted by path; ``[]`` if missing or a file."""
        ...

    def download_artifacts(
        self, artifact_path: str | None, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy a file or directory to ``dst_path`` (a new temp dir if ``None``).

        Returns the local path of the copy, ``<dst_path>/<artifact_path>``.
        Raises ``ArtifactNotFound`` if nothing is stored at ``artifact_path``.
        """
        ...

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a directory tree (the whole root if ``None``)."""
        ...

    def open_reader(self, artifact_file: str) -> BinaryIO:
        """A binary stream of one stored file, read in chunks (the artifact proxy's
        downloads). Raises ``ArtifactNotFound`` if no file is stored at that path."""
        ...

    def open_writer(self, artifact_file: str) -> ArtifactWriter:
        """A writer whose bytes become ``artifact_file`` on :meth:`ArtifactWriter.commit`,
        atomically (the artifact proxy streams uploads through it)."""
        ...


class ArtifactWriter(Protocol):
    """A file being written in chunks; nothing is visible until :meth:`commit`."""

    def write(self, data: bytes) -> object: ...
    def commit(self) -> None:
        """Move the written bytes into place (replacing any previous file)."""
        ...

    def abort(self) -> None:
        """Drop what was written; safe to call after :meth:`commit` (then a no-op)."""
        ...


def validate_artifact_path(path: str) -> str:
    """Check an artifact path and return it normalized (POSIX, relative, no ``.`` parts).

    Args:
        path: a path relative to the artifact root, e.g. ``"plots/loss.png"``.
            Empty and duplicate separators and ``.`` segments are dropped.

    Returns:
        The normalized path, e.g. ``"./plots//loss.png"`` -> ``"plots/loss.png"``.

    Raises:
        InvalidParameter: the path is not a str, is empty, contains NUL or a
            backslash, is absolute, starts with a drive letter, or has a
            ``..`` segment.

    Example::

        >>> validate_artifact_path("plots/./loss.png")
        'plots/loss.png'
    """
    if not isinstance(path, str):
        raise InvalidParameter(
            f"Artifact path must be a str; got {type(path).__name__}. "
            "Pass a path relative to the run's artifact root, e.g. 'plots/loss.png'."
        )
    problem = _path_problem(path)
    if problem is None:
        normalized = "/".join(p for p in path.split("/") if p not in ("", "."))
        if normalized:
            return normalized
        problem = "names no file or directory"
    raise InvalidParameter(
        f"Artifact path {path!r} {problem}. Artifact paths are relative to the run's "
        "artifact root and use '/' between segments, e.g. 'plots/loss.png'.",
        path=path,
    )


def _path_problem(path: str) -> str | None:
    """Why ``path`` is unsafe, as a sentence fragment, or ``None`` if it is fine."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL character"
    if "\\" in path:
        return "contains a backslash; use '/' as the separator"
    if path.startswith("/"):
        return "is absolute; drop the leading '/'"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    if ".." in path.split("/"):
        return "has a '..' segment, which could leave the artifact root"
    return None


def join_artifact_path(artifact_path: str | None, name: str) -> str:
    """``artifact_path/name`` validated, or just ``name`` when ``artifact_path`` is ``None``.

    Repositories use it to place a logged file (``name`` is its base name, or
    its path inside a logged directory) under the directory the caller asked for.
    """
    if artifact_path is None:
        return validate_artifact_path(name)
    return validate_artifact_path(posixpath.join(validate_artifact_path(artifact_path), name))
