"""Artifacts through a server's ``mlflow-artifacts`` proxy (``mlflow-artifacts:`` URIs).

A team server (``mltrack server`` or ``mlflow server --artifacts-destination``) gives
runs artifact URIs such as ``mlflow-artifacts:/1/<run_id>/artifacts``: the files live
wherever the server keeps them, and clients move them over HTTP with the proxy's routes
(``PUT``/``GET``/``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>``, listing with
``GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>``). Which server:

- ``mlflow-artifacts://host:port/<path>`` names it (``http``, as MLflow does);
- ``mlflow-artifacts:/<path>`` means the tracking server: the ``tracking_uri`` given to
  :func:`resolve_proxied_uri` (the client's), else the URI in force
  (:func:`jupyter_mltrack.config.get_tracking_uri`), which must be ``http(s)://``.

:class:`ProxiedArtifactRepository` streams both ways (stdlib ``http.client``): an upload
sends the local file in blocks with its ``Content-Length``, a download copies the answer
to disk in 1 MiB chunks; neither holds a file in memory. Paths pass
:func:`~.base.validate_artifact_path` before anything is sent.

Example::

    repo = get_artifact_repository("mlflow-artifacts://team:5000/1/abc/artifacts")
    repo.log_artifact("model.pkl", "model")
    repo.list_artifacts("model")  # [FileInfo(path='model/model.pkl', ...)]
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import posixpath
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO, cast
from urllib.parse import quote, urlencode, urlsplit

from ..entities import FileInfo
from ..errors import ArtifactNotFound, InvalidParameter, MltrackError, StoreUnavailable
from .base import join_artifact_path, validate_artifact_path

__all__ = [
    "PROXY_API",
    "PROXY_SCHEME",
    "ProxiedArtifactRepository",
    "ProxiedArtifactWriter",
    "resolve_proxied_uri",
]

PROXY_SCHEME = "mlflow-artifacts"
#: The proxy's route prefix on the server.
PROXY_API = "/api/2.0/mlflow-artifacts/artifacts"
#: Size of the blocks a download copies.
CHUNK_BYTES = 1024 * 1024
#: Seconds one HTTP exchange may stay silent (env ``MLTRACK_ARTIFACT_TIMEOUT_S``).
DEFAULT_TIMEOUT_S = 300.0


def resolve_proxied_uri(artifact_uri: str, tracking_uri: str | None = None) -> str:
    """``mlflow-artifacts:/p`` as ``mlflow-artifacts://host:port/p`` for ``tracking_uri``.

    Other URIs (already naming a host, or of other schemes) come back unchanged, as does
    everything when ``tracking_uri`` is not ``http(s)://`` (there is no server to use).
    An ``https`` tracking server is kept as ``mlflow-artifacts+https://host/p``.
    """
    parts = urlsplit(artifact_uri)
    if parts.scheme.lower() != PROXY_SCHEME or parts.netloc or not tracking_uri:
        return artifact_uri
    server = urlsplit(tracking_uri)
    if server.scheme not in ("http", "https") or not server.netloc:
        return artifact_uri
    scheme = PROXY_SCHEME if server.scheme == "http" else f"{PROXY_SCHEME}+https"
    return f"{scheme}://{server.netloc}/{parts.path.lstrip('/')}"


def _server_and_root(artifact_uri: str) -> tuple[str, str, str, str]:
    """``(http scheme, netloc, base path, root path under the proxy)`` of a proxied URI."""
    parts = urlsplit(artifact_uri)
    scheme = parts.scheme.lower()
    if not parts.netloc:
        from ..config import get_tracking_uri

        tracking = get_tracking_uri()
        resolved = resolve_proxied_uri(artifact_uri, tracking)
        if resolved == artifact_uri:
            raise InvalidParameter(
                f"The artifact URI {artifact_uri!r} is kept by a tracking server's "
                f"mlflow-artifacts proxy, but the tracking URI in force is {tracking!r}. "
                "Set the server's URI with mt.set_tracking_uri('http://host:port') (or "
                "MLTRACK_TRACKING_URI), or use mlflow-artifacts://host:port/<path>."
            )
        return _server_and_root(resolved)
    http_scheme = "https" if scheme.endswith("+https") else "http"
    return http_scheme, parts.netloc, "", parts.path.strip("/")


class ProxiedArtifactRepository:
    """An :class:`~jupyter_mltrack.artifacts.base.ArtifactRepository` over the proxy.

    Args:
        artifact_uri: ``mlflow-artifacts://host:port/<root>`` (or ``mlflow-artifacts:/<root>``
            with an ``http(s)://`` tracking URI in force).
        timeout_s: how long one exchange may stay silent.
        headers: extra request headers (e.g. authentication).
    """

    def __init__(
        self,
        artifact_uri: str,
        *,
        timeout_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(artifact_uri, str) or not artifact_uri:
            raise InvalidParameter("The artifact URI is empty; pass mlflow-artifacts:/<path>.")
        self.artifact_uri = artifact_uri
        self._scheme, self._netloc, self._base, root = _server_and_root(artifact_uri)
        self.root = validate_artifact_path(root) if root else ""
        env_timeout = os.environ.get("MLTRACK_ARTIFACT_TIMEOUT_S")
        self.timeout_s = timeout_s or (float(env_timeout) if env_timeout else DEFAULT_TIMEOUT_S)
        # the server's credentials from MLTRACK_TRACKING_TOKEN / _USERNAME / _PASSWORD
        from ..settings import auth_headers_from_env

        self.headers = {**auth_headers_from_env(), **(headers or {})}

    def __repr__(self) -> str:
        return f"ProxiedArtifactRepository({self.artifact_uri!r})"

    # ---------------------------------------------------------------- HTTP
    def _full(self, path: str | None) -> str:
        rel = validate_artifact_path(path) if path else ""
        return "/".join(p for p in (self.root, rel) if p)

    def _url_path(self, full: str) -> str:
        return f"{self._base}{PROXY_API}/{quote(full)}"

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._netloc, timeout=self.timeout_s)

    def _describe(self) -> str:
        return f"{self._scheme}://{self._netloc}{self._base}{PROXY_API}"

    def _send(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connection()
        try:
            conn.request(method, url, body=body, headers={**self.headers, **(headers or {})})
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if isinstance(exc, socket.timeout | TimeoutError):
                why = f"no answer within {self.timeout_s:.0f} s"
            else:
                why = str(exc) or type(exc).__name__
            raise StoreUnavailable(
                f"The artifact proxy at {self._describe()} could not be reached for "
                f"{method} ({why}). Check that the tracking server is running and "
                "reachable from this machine.",
                url=self._describe(),
            ) from exc

    def _fail(self, method: str, full: str, resp: http.client.HTTPResponse) -> MltrackError:
        raw = resp.read(64 * 1024)
        message = raw.decode("utf-8", "replace").strip()
        try:
            doc = json.loads(raw)
            message = str(doc.get("message") or message)
        except (ValueError, AttributeError):
            pass
        where = f"{method} {full or '/'} on the artifact proxy at {self._describe()}"
        if resp.status == 404:
            return ArtifactNotFound(f"No artifact at {full!r} ({where}).", path=full)
        if 400 <= resp.status < 500:
            return InvalidParameter(f"{where} was refused ({resp.status}): {message}")
        return StoreUnavailable(
            f"{where} failed on the server ({resp.status}): {message}. Retry; if it "
            "persists, check the server's log.",
            url=self._describe(),
        )

    def _simple(self, method: str, full: str, body: Any = None, **headers: str) -> None:
        conn, resp = self._send(method, self._url_path(full), body, headers)
        try:
            if resp.status >= 300:
                raise self._fail(method, full, resp)
            resp.read()
        finally:
            conn.close()

    # ---------------------------------------------------------------- writes
    def _put_file(self, local: str, full: str) -> None:
        size = os.path.getsize(local)
        with open(local, "rb") as fh:  # http.client sends a file object in blocks
            self._simple(
                "PUT",
                full,
                fh,
                **{"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            )

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file to ``<artifact_path>/<its file name>`` (streamed)."""
        path = os.fspath(local_file)
        if not os.path.isfile(path):
            raise InvalidParameter(f"log_artifact needs an existing file, {path!r} is not one.")
        rel = join_artifact_path(artifact_path, os.path.basename(path))
        self._put_file(path, self._full(rel))

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the files under a local directory (recursively) to ``artifact_path``."""
        root = os.fspath(local_dir)
        if not os.path.isdir(root):
            raise InvalidParameter(f"log_artifacts needs an existing directory, got {root!r}.")
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                local = os.path.join(dirpath, name)
                inner = os.path.relpath(local, root).replace(os.sep, "/")
                self._put_file(local, self._full(join_artifact_path(artifact_path, inner)))

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Upload ``data`` as ``artifact_file`` (the server replaces it atomically)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidParameter(f"write_bytes needs bytes, got {type(data).__name__}.")
        self._simple(
            "PUT",
            self._full(validate_artifact_path(artifact_file)),
            bytes(data),
            **{"Content-Type": "application/octet-stream"},
        )

    def open_writer(self, artifact_file: str) -> ProxiedArtifactWriter:
        """A writer spooled to a local temp file, uploaded on ``commit``."""
        return ProxiedArtifactWriter(self, self._full(validate_artifact_path(artifact_file)))

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a tree on the server (the whole root if ``None``)."""
        full = self._full(artifact_path)
        if not full:
            raise InvalidParameter(
                "Refusing to delete the proxy's whole artifact root; name a run's root."
            )
        with contextlib.suppress(ArtifactNotFound):  # a no-op when missing, as in MLflow
            self._simple("DELETE", full)

    # ---------------------------------------------------------------- reads
    def _list_full(self, full: str) -> list[dict[str, Any]]:
        query = f"?{urlencode({'path': full})}" if full else ""
        conn, resp = self._send("GET", f"{self._base}{PROXY_API}{query}")
        try:
            if resp.status >= 300:
                raise self._fail("GET", full, resp)
            doc = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        files = doc.get("files") or []
        return [f for f in files if isinstance(f, dict) and f.get("path")]

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """One level under ``path``, sorted by path; ``[]`` if missing or a file."""
        rel = validate_artifact_path(path) if path else None
        out = []
        for f in self._list_full(self._full(rel)):
            name = posixpath.basename(str(f["path"]))
            size = f.get("file_size")
            out.append(
                FileInfo(
                    path=posixpath.join(rel, name) if rel else name,
                    is_dir=bool(f.get("is_dir")),
                    file_size=None if size is None else int(size),
                )
            )
        return sorted(out, key=lambda i: i.path)

    def open_reader(self, artifact_file: str) -> BinaryIO:
        """The server's streamed answer for one file; raises ``ArtifactNotFound``."""
        full = self._full(validate_artifact_path(artifact_file))
        conn, resp = self._send("GET", self._url_path(full))
        if resp.status >= 300:
            try:
                raise self._fail("GET", full, resp)
            finally:
                conn.close()
        return cast(BinaryIO, _Reader(conn, resp))

    def _download_file(self, rel: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        reader = self.open_reader(rel)
        tmp = dest.with_name(f".mltrack-tmp-{dest.name}")
        try:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(reader, out, CHUNK_BYTES)
            os.replace(tmp, dest)
        finally:
            reader.close()
            tmp.unlink(missing_ok=True)

    def _download_tree(self, rel: str | None, dest: Path) -> int:
        count = 0
        dest.mkdir(parents=True, exist_ok=True)
        for info in self.list_artifacts(rel):
            target = dest / posixpath.basename(info.path)
            if info.is_dir:
                count += self._download_tree(info.path, target)
            else:
                self._download_file(info.path, target)
                count += 1
        return count

    def download_artifacts(
        self, artifact_path: str | None, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy a file or a directory to ``dst_path`` (a new temp dir if ``None``).

        Returns ``<dst_path>/<artifact_path>``; raises ``ArtifactNotFound`` if the server
        has nothing there.
        """
        rel = validate_artifact_path(artifact_path) if artifact_path else None
        base = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="mlt-"))
        dest = base / rel if rel else base
        if rel is None:
            self._download_tree(None, dest)
            return str(dest)
        if self.list_artifacts(rel):
            self._download_tree(rel, dest)
            return str(dest)
        try:
            self._download_file(rel, dest)
        except ArtifactNotFound:
            raise ArtifactNotFound(
                f"No artifact at {rel!r} under {self.artifact_uri}; list_artifacts shows "
                "what the run has.",
                path=rel,
            ) from None
        return str(dest)


class _Reader(io.RawIOBase):
    """The body of one download; closing it closes the connection too."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._resp.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        return self._resp.read(None if size is None or size < 0 else size)

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
            self._conn.close()
        super().close()


class ProxiedArtifactWriter:
    """Bytes written to a local temp file, uploaded (streamed) by :meth:`commit`."""

    def __init__(self, repo: ProxiedArtifactRepository, full: str) -> None:
        self._repo = repo
        self._full = full
        self._tmp: IO[bytes] | None = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="mltrack-upload-", delete=False
        )  # kept open across write() calls; closed by commit/abort

    def write(self, data: bytes) -> int:
        if self._tmp is None:
            raise InvalidParameter("This artifact writer is already committed or aborted.")
        return self._tmp.write(data)

    def commit(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        tmp.close()
        try:
            self._repo._put_file(tmp.name, self._full)
        finally:
            os.unlink(tmp.name)

    def abort(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.close()
            os.unlink(tmp.name)
