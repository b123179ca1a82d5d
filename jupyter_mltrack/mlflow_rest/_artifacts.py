"""The ``mlflow-artifacts`` proxy: upload, streamed download, list and delete of artifacts.

Paths are relative to the server's artifact root (``--artifacts-destination``), the
repository :func:`jupyter_mltrack.artifacts.get_artifact_repository` builds for it, so
the proxy works the same over local directories and object stores. Neither direction
holds a file in memory: an upload (``PUT``) is streamed in the chunks tornado receives
into :meth:`~jupyter_mltrack.artifacts.base.ArtifactRepository.open_writer` (committed
atomically when the body is complete, dropped if the client goes away), a download
(``GET``) is read from ``open_reader`` in 1 MiB chunks, each flushed to the socket
before the next is read.

A path is refused (400 ``INVALID_PARAMETER_VALUE``) when, after percent-decoding until
it no longer changes (so ``%2e%2e`` and ``%252e%252e`` count as ``..``), it is absolute,
has a ``..`` segment, a backslash, a NUL, a ``#`` or a drive letter.
"""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib.parse import unquote

import tornado.web

from ..artifacts import get_artifact_repository, validate_artifact_path
from ..artifacts.base import ArtifactRepository, ArtifactWriter
from ..errors import InvalidParameter
from ._base import Message, MlflowHandler
from ._convert import file_info_json

__all__ = [
    "CHUNK_BYTES",
    "ArtifactFile",
    "ArtifactList",
    "GetRunArtifact",
    "mime_type",
    "safe_artifact_path",
]

#: Where servers before the logged-model table kept their JSON records (still refused).
META_PREFIX = ".mltrack-meta"

#: Size of the chunks a download reads and flushes.
CHUNK_BYTES = 1024 * 1024
#: Largest upload: 1 TiB, i.e. no practical limit (the body is never held in memory).
MAX_UPLOAD_BYTES = 1 << 40


def safe_artifact_path(path: str) -> str:
    """``path`` decoded and normalized, or ``InvalidParameter`` if it could leave the root."""
    decoded = path
    for _ in range(8):  # decode until stable: %252e%252e -> %2e%2e -> ..
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise InvalidParameter(f"Invalid path {path!r}: it is percent-encoded too many times.")
    if "#" in decoded or any(ord(c) < 32 for c in decoded):
        raise InvalidParameter(f"Invalid path {path!r}: it contains '#' or a control character.")
    validate_artifact_path(decoded)  # absolute, '..', backslash, drive letter
    normalized = validate_artifact_path(path)
    if normalized.split("/")[0] == META_PREFIX:
        raise InvalidParameter(
            f"Invalid path {path!r}: {META_PREFIX}/ holds the server's own records."
        )
    return normalized


def _root(handler: MlflowHandler) -> ArtifactRepository:
    return get_artifact_repository(handler.ctx.artifacts_uri)


@tornado.web.stream_request_body
class ArtifactFile(MlflowHandler):
    """``/api/2.0/mlflow-artifacts/artifacts/<path>``: GET, PUT, DELETE one artifact."""

    max_body = None  # uploads stream to the repository; no size limit applies
    _writer: ArtifactWriter | None = None
    _path: str = ""

    async def prepare(self) -> None:
        self._path = safe_artifact_path(self.path_args[0] if self.path_args else "")
        if self.request.method != "PUT":
            return
        self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)  # type: ignore[union-attr]
        self._writer = await self.ctx.io(lambda: _root(self).open_writer(self._path))

    async def data_received(self, chunk: bytes) -> None:
        writer = self._writer
        if writer is None:
            return  # GET/DELETE bodies are ignored
        await self.ctx.io(lambda: writer.write(chunk))

    async def put(self, path: str) -> None:
        writer = self._writer
        assert writer is not None
        await self.ctx.io(writer.commit)
        self.reply({})

    async def get(self, path: str) -> None:
        reader = await self.ctx.io(lambda: _root(self).open_reader(self._path))
        try:
            await stream_file(self, reader, posixpath.basename(self._path))
        finally:
            await self.ctx.io(reader.close)
        self.finish()

    async def delete(self, path: str) -> None:
        await self.ctx.io(lambda: _root(self).delete_artifacts(self._path))
        self.reply({})

    def on_finish(self) -> None:
        self._drop()

    def on_connection_close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()  # a no-op once committed


#: File kinds MLflow's server sends as ``text/plain`` (its ``TEXT_EXTENSIONS``; a name
#: without an extension, ``MLmodel``, counts as its own extension).
TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "MLmodel",
        "mlproject",
    ]
)


def mime_type(name: str) -> str:
    """The ``Content-Type`` MLflow's server gives a downloaded file called ``name``."""
    extension = posixpath.splitext(name)[1].lstrip(".") or name
    if extension in TEXT_EXTENSIONS:
        return "text/plain"
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return "text/plain" if kind.startswith("text/") else kind


async def stream_file(handler: MlflowHandler, reader: Any, name: str) -> None:
    """Send an open artifact as MLflow does: its type, as an attachment, in chunks."""
    handler.set_header("Content-Type", mime_type(name))
    # MLflow (werkzeug's send_file) quotes the name only when it must
    plain = all(c.isalnum() or c in "._+-" for c in name)
    shown = name if plain and name else '"' + name.replace('"', "") + '"'
    handler.set_header("Content-Disposition", f"attachment; filename={shown}")
    handler.set_header("X-Content-Type-Options", "nosniff")
    size = await handler.ctx.io(lambda: _size(reader))
    if size is not None:
        handler.set_header("Content-Length", str(size))
    while True:
        chunk = await handler.ctx.io(lambda: reader.read(CHUNK_BYTES))
        if not chunk:
            break
        handler.write(chunk)
        await handler.flush()  # wait for the socket: at most one chunk in memory


class GetRunArtifact(MlflowHandler):
    """``GET /get-artifact?run_id=&path=``: one file of a run (the route MLflow's web UI
    and ``mlflow.artifacts`` helpers read images and text through), streamed."""

    async def get(self) -> None:
        msg = self.message()
        run_id = msg.string("run_id") or msg.string("run_uuid")
        if not run_id:
            raise Message.missing("run_id")
        raw = msg.string("path", required=True)
        try:
            path = validate_artifact_path(raw)
        except InvalidParameter:
            raise InvalidParameter("Invalid path") from None  # MLflow's exact message
        run = await self.ctx.run(lambda c: c.get_run(run_id))
        repo = get_artifact_repository(run.info.artifact_uri)
        reader = await self.ctx.io(lambda: repo.open_reader(path))
        try:
            await stream_file(self, reader, posixpath.basename(path))
        finally:
            await self.ctx.io(reader.close)
        self.finish()


def _size(reader: Any) -> int | None:
    try:
        import os

        return os.fstat(reader.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


class ArtifactList(MlflowHandler):
    """``GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>``: one level, names only."""

    async def get(self) -> None:
        raw = self.message().string("path")
        path = safe_artifact_path(raw) if raw else None
        infos = await self.ctx.io(lambda: _root(self).list_artifacts(path))
        files = [{**file_info_json(i), "path": posixpath.basename(i.path)} for i in infos]
        self.reply({"files": files})


ARTIFACT_ROUTES: list[tuple[str, type[MlflowHandler]]] = [
    ("artifacts", ArtifactList),
    ("artifacts/(.+)", ArtifactFile),
]
