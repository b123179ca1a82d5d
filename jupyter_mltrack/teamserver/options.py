"""The options of ``mltrack server``: one frozen value, from the command line or the environment.

Every option has an environment variable (``jupyter_mltrack.settings``); a flag on the
command line wins over it. :meth:`ServerOptions.validated` checks everything before any
file is opened or port bound, so a wrong option is one clear message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from ..config import normalize_uri, resolve_duckdb_path
from ..errors import InvalidParameter
from ..settings import (
    DEFAULT_SERVER_HOST,
    DEFAULT_SERVER_PORT,
    ENV_SERVER_ARTIFACTS_DESTINATION,
    ENV_SERVER_BACKEND_STORE_URI,
    ENV_SERVER_EXPOSE_METRICS,
    ENV_SERVER_HOST,
    ENV_SERVER_PORT,
    ENV_SERVER_WORKERS,
    env_bool,
    env_int,
    env_text,
)

__all__ = ["BACKEND_SCHEMES", "ServerOptions"]

#: Backend store schemes ``mltrack server`` serves (docs/server.md, docs/postgres.md).
BACKEND_SCHEMES = ("duckdb", "postgresql", "postgres")

_DEFAULT_STORE = "mltrack-server/store.duckdb"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What ``mltrack server`` serves and how.

    Attributes:
        host: interface to bind; ``127.0.0.1`` by default (only this machine).
        port: TCP port; 0 picks a free one (the server prints and logs it).
        backend_store_uri: ``duckdb:///path/store.duckdb`` (normalized, absolute).
        artifacts_destination: the directory the server stores artifacts in and proxies,
            or an ``s3://bucket/prefix`` URI (docs/artifacts-s3.md).
        s3_endpoint_url: the S3 endpoint of an ``s3://`` destination (SeaweedFS, MinIO,
            ...); ``None`` for AWS or ``MLTRACK_S3_ENDPOINT_URL`` from the environment.
        workers: server processes; a DuckDB store is owned by exactly one process, so 1;
            a PostgreSQL one takes any number (they share the listening socket).
        expose_metrics: serve Prometheus metrics at ``/metrics``.
    """

    host: str = DEFAULT_SERVER_HOST
    port: int = DEFAULT_SERVER_PORT
    backend_store_uri: str = ""
    artifacts_destination: Path | str | None = None
    workers: int = 1
    expose_metrics: bool = False
    s3_endpoint_url: str | None = None
    #: ``--auth``: users, tokens and permissions (docs/auth.md)
    auth: bool = False
    #: the auth database (default ``auth.sqlite`` beside the store, or in ./mltrack-server)
    auth_db: Path | None = None
    auth_default_permission: str = "NO_PERMISSIONS"
    #: TLS: serve HTTPS with this certificate chain and key (docs/auth.md)
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_env(cls) -> ServerOptions:
        """The defaults overridden by the ``MLTRACK_SERVER_*`` variables."""
        artifacts = env_text(ENV_SERVER_ARTIFACTS_DESTINATION)
        return cls(
            host=env_text(ENV_SERVER_HOST) or DEFAULT_SERVER_HOST,
            port=env_int(ENV_SERVER_PORT, DEFAULT_SERVER_PORT, maximum=65535),
            backend_store_uri=env_text(ENV_SERVER_BACKEND_STORE_URI) or "",
            artifacts_destination=artifacts or None,
            workers=env_int(ENV_SERVER_WORKERS, 1, minimum=1),
            expose_metrics=env_bool(ENV_SERVER_EXPOSE_METRICS, False),
        )

    @property
    def scheme(self) -> str:
        return urlparse(self.backend_store_uri).scheme

    @property
    def store_path(self) -> Path:
        """The DuckDB file of a ``duckdb:`` backend."""
        return resolve_duckdb_path(self.backend_store_uri)

    @property
    def url(self) -> str:
        """``http://host:port`` as clients write it (``localhost`` style hosts kept)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def validated(self) -> ServerOptions:
        """These options checked and normalized; raises ``InvalidParameter`` naming the option.

        The backend defaults to ``./mltrack-server/store.duckdb`` and the artifacts to an
        ``artifacts`` directory beside the store file.
        """
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InvalidParameter(f"--port must be between 0 and 65535, got {self.port!r}.")
        if not self.host or any(c.isspace() for c in self.host):
            raise InvalidParameter(
                f"--host must be an interface name or address such as 127.0.0.1, got {self.host!r}."
            )
        if not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidParameter(f"--workers must be 1 or more, got {self.workers!r}.")
        uri = normalize_uri(self.backend_store_uri or _DEFAULT_STORE)
        scheme = urlparse(uri).scheme
        if scheme not in BACKEND_SCHEMES:
            raise InvalidParameter(
                f"--backend-store-uri {self.backend_store_uri!r}: mltrack server stores runs in "
                "DuckDB or PostgreSQL; use duckdb:///path/store.duckdb, a path, or "
                "postgresql://user@host:port/database."
            )
        if scheme == "duckdb" and self.workers > 1:
            raise InvalidParameter(
                f"--workers {self.workers}: a DuckDB store is owned by one process, so "
                "mltrack server runs one worker for it (requests are served by its thread "
                "pool). Several worker processes need a PostgreSQL backend store "
                "(--backend-store-uri postgresql://...); drop --workers or use --workers 1."
            )
        # a PostgreSQL backend keeps artifacts in ./mltrack-server/artifacts by default
        store = (
            resolve_duckdb_path(uri)
            if scheme == "duckdb"
            else Path(os.path.abspath("mltrack-server/store"))
        )
        artifacts = self.artifacts_destination
        if isinstance(artifacts, str) and artifacts.lower().startswith("s3://"):
            from ..artifacts.s3 import S3ArtifactRepository

            uri_root = S3ArtifactRepository(artifacts).artifact_uri  # checks the URI
            return replace(self, backend_store_uri=uri, artifacts_destination=uri_root)
        if isinstance(artifacts, str) and "://" in artifacts and not artifacts.startswith("file:"):
            raise InvalidParameter(
                f"--artifacts-destination {artifacts!r}: mltrack server keeps artifacts in a "
                "directory or in S3 (s3://bucket/prefix); other schemes are not served."
            )
        if isinstance(artifacts, str):
            from ..artifacts.local import local_path_from_uri

            artifacts = local_path_from_uri(artifacts)
        artifacts = (
            Path(os.path.abspath(os.path.expanduser(artifacts)))
            if artifacts is not None
            else store.parent / "artifacts"
        )
        if artifacts.exists() and not artifacts.is_dir():
            raise InvalidParameter(
                f"--artifacts-destination {artifacts} exists and is not a directory; pass "
                "a directory (it is created when missing)."
            )
        return replace(self, backend_store_uri=uri, artifacts_destination=artifacts)
