"""Artifact repositories, chosen by the scheme of a run's artifact URI.

``file://`` URIs and plain paths map to :class:`LocalArtifactRepository`,
``s3://bucket/prefix`` to :class:`~jupyter_mltrack.artifacts.s3.S3ArtifactRepository`
(boto3, imported on first use; docs/artifacts-s3.md); other schemes are added with
:func:`register_artifact_repository`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import InvalidParameter
from .base import ArtifactRepository, join_artifact_path, validate_artifact_path
from .local import LocalArtifactRepository
from .proxy import ProxiedArtifactRepository
from .s3 import S3ArtifactRepository

__all__ = [
    "ArtifactRepository",
    "LocalArtifactRepository",
    "ProxiedArtifactRepository",
    "S3ArtifactRepository",
    "get_artifact_repository",
    "join_artifact_path",
    "register_artifact_repository",
    "validate_artifact_path",
]

#: Builds a repository from an artifact URI.
RepositoryFactory = Callable[[str], ArtifactRepository]

#: Scheme (lower case) -> factory. The empty scheme is a plain local path.
_REPOSITORIES: dict[str, RepositoryFactory] = {
    "": LocalArtifactRepository,
    "file": LocalArtifactRepository,
    "mlflow-artifacts": ProxiedArtifactRepository,  # a server's proxy (artifacts/proxy.py)
    "mlflow-artifacts+https": ProxiedArtifactRepository,
    "s3": S3ArtifactRepository,
}


def register_artifact_repository(scheme: str, factory: RepositoryFactory) -> None:
    """Make :func:`get_artifact_repository` build ``factory(uri)`` for ``scheme://`` URIs."""
    _REPOSITORIES[scheme.lower()] = factory


def get_artifact_repository(artifact_uri: str) -> ArtifactRepository:
    """The repository for an artifact URI, chosen by its scheme.

    Args:
        artifact_uri: ``file:///abs/dir``, a plain path (``/abs/dir``,
            ``relative/dir``, ``C:\\dir``), or a URI of a registered scheme.

    Raises:
        InvalidParameter: the URI is empty or its scheme has no repository.

    Example::

        repo = get_artifact_repository("file:///tmp/mlruns/0/abc/artifacts")
        repo.write_bytes("model/params.json", b"{}")
    """
    if not isinstance(artifact_uri, str) or not artifact_uri:
        raise InvalidParameter(
            "The artifact URI is empty; pass a directory path or a URI such as file:///dir."
        )
    scheme = urlsplit(artifact_uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, C:\dir, not a URI scheme
        scheme = ""
    factory = _REPOSITORIES.get(scheme)
    if factory is None:
        supported = ", ".join(f"{s}://" for s in sorted(_REPOSITORIES) if s)
        raise InvalidParameter(
            f"No artifact repository handles {scheme}:// URIs ({artifact_uri!r}); "
            f"supported are {supported} and plain local paths.",
            scheme=scheme,
        )
    return factory(artifact_uri)
