"""Artifacts in an S3-compatible object store (``s3://bucket/prefix`` URIs), through boto3.

Configuration comes from the usual places, never from the URI:

- the endpoint: ``MLTRACK_S3_ENDPOINT_URL`` (``mltrack server --s3-endpoint-url`` sets
  it), else ``MLFLOW_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL``, else AWS itself;
- credentials and region: boto3's chain (``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles, ...); the region defaults to
  ``us-east-1`` when none is configured;
- addressing: path style (``endpoint/bucket/key``), which every S3-compatible server
  (SeaweedFS, MinIO, Ceph) serves; ``MLTRACK_S3_ADDRESSING_STYLE=virtual`` for
  virtual-hosted buckets.

Paths pass :func:`~jupyter_mltrack.artifacts.base.validate_artifact_path` before they
become keys (``<prefix>/<path>``), so ``..``, absolute paths, backslashes and NULs are
refused exactly as on a local directory; an object store has no symbolic links, and a
local directory given to :meth:`S3ArtifactRepository.log_artifacts` is walked without
following links to directories. Uploads of files over 8 MiB are multipart (boto3's
transfer manager); :meth:`~S3ArtifactRepository.open_writer` streams a body in 8 MiB
parts and completes the upload on commit (an object appears whole or not at all),
:meth:`~S3ArtifactRepository.open_reader` streams the object's body. Listings page
through ``list_objects_v2`` with a ``/`` delimiter: "directories" are key prefixes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from ..entities import FileInfo
from ..errors import ArtifactNotFound, InvalidParameter, StoreUnavailable
from .base import join_artifact_path, validate_artifact_path

__all__ = [
    "ENV_S3_ADDRESSING_STYLE",
    "ENV_S3_ENDPOINT_URL",
    "PART_BYTES",
    "S3ArtifactRepository",
    "S3ArtifactWriter",
    "s3_client",
]

ENV_S3_ENDPOINT_URL = "MLTRACK_S3_ENDPOINT_URL"
ENV_S3_ADDRESSING_STYLE = "MLTRACK_S3_ADDRESSING_STYLE"
_ENDPOINT_FALLBACKS = (ENV_S3_ENDPOINT_URL, "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")

#: Size of a multipart upload's parts (S3's minimum is 5 MiB for all but the last).
PART_BYTES = 8 * 1024 * 1024

_clients: dict[tuple[str | None, str, str | None, str | None], Any] = {}
_clients_lock = threading.Lock()


def _endpoint() -> str | None:
    for name in _ENDPOINT_FALLBACKS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def s3_client() -> Any:
    """A boto3 S3 client for the configured endpoint (shared: boto3 clients are thread-safe).

    Raises:
        InvalidParameter: boto3 is not installed (``pip install 'jupyter-mltrack[s3]'``).
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise InvalidParameter(
            "s3:// artifact locations need boto3: pip install 'jupyter-mltrack[s3]' "
            "(or pip install boto3)."
        ) from None
    endpoint = _endpoint()
    style = os.environ.get(ENV_S3_ADDRESSING_STYLE, "path").strip() or "path"
    key = (endpoint, style, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_PROFILE"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            session = boto3.session.Session()
            region = session.region_name or "us-east-1"
            client = session.client(
                "s3",
                endpoint_url=endpoint,
                region_name=region,
                config=Config(
                    s3={"addressing_style": style},
                    retries={"max_attempts": 5, "mode": "standard"},
                    signature_version="s3v4",
                ),
            )
            _clients[key] = client
    return client


def _parse(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InvalidParameter(
            f"S3 artifact URI {uri!r} must look like s3://bucket/prefix (a bucket name after "
            "s3://)."
        )
    prefix = parts.path.strip("/")
    if prefix:
        validate_artifact_path(prefix)  # no '..' or backslashes in the prefix either
    return parts.netloc, prefix


class S3ArtifactRepository:
    """An :class:`~jupyter_mltrack.artifacts.base.ArtifactRepository` over ``s3://bucket/prefix``.

    Example::

        os.environ["MLTRACK_S3_ENDPOINT_URL"] = "http://127.0.0.1:8333"
        repo = S3ArtifactRepository("s3://mltrack/artifacts/1/abc/artifacts")
        repo.write_bytes("notes/readme.txt", b"hello")
        repo.list_artifacts("notes")  # [FileInfo(path='notes/readme.txt', ...)]
    """

    def __init__(self, artifact_uri: str) -> None:
        self.bucket, self.prefix = _parse(artifact_uri)
        self.artifact_uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3ArtifactRepository({self.artifact_uri!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    # writes

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload one local file to ``<artifact_path>/<its file name>`` (multipart when large)."""
        source = Path(local_file)
        if not source.is_file():
            hint = "use log_artifacts for a directory" if source.is_dir() else "check the path"
            raise InvalidParameter(f"Local file {str(source)!r} is not an existing file; {hint}.")
        self._upload(source, self._key(join_artifact_path(artifact_path, source.name)))

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload every file under ``local_dir`` to ``artifact_path``, keeping the layout."""
        source = Path(local_dir)
        if not source.is_dir():
            raise InvalidParameter(
                f"Local directory {str(source)!r} is not an existing directory; "
                "use log_artifact for a single file."
            )
        for dirpath, _dirnames, filenames in os.walk(source):
            for name in sorted(filenames):
                file = Path(dirpath, name)
                relative = file.relative_to(source).as_posix()
                self._upload(file, self._key(join_artifact_path(artifact_path, relative)))

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Store ``data`` as ``artifact_file`` (one PUT: atomic, replaces any previous object)."""
        key = self._key(artifact_file)
        self._call(
            "write", artifact_file, self.client.put_object, Bucket=self.bucket, Key=key, Body=data
        )

    def open_writer(self, artifact_file: str) -> S3ArtifactWriter:
        """A writer streaming ``artifact_file`` in :data:`PART_BYTES` parts; see the module doc."""
        return S3ArtifactWriter(self, self._key(artifact_file), artifact_file)

    # reads

    def open_reader(self, artifact_file: str) -> BinaryIO:
        """The object's body, streamed. Raises ``ArtifactNotFound`` if there is no such object."""
        key = self._key(artifact_file)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                hint = "; it is a directory, list it instead." if self._is_dir(key) else "."
                raise ArtifactNotFound(
                    f"No artifact file at {artifact_file!r} under {self.artifact_uri}{hint}",
                    path=artifact_file,
                ) from None
            raise self._unavailable("read", artifact_file, exc) from exc
        return cast(BinaryIO, response["Body"])

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """One level under ``path``, sorted; ``[]`` if it is missing or a file."""
        base = self._key(path)
        prefix = base + "/" if base else ""
        relative = "" if path is None else validate_artifact_path(path) + "/"
        infos: list[FileInfo] = []
        for page in self._pages(prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix) :].rstrip("/")
                if name:
                    infos.append(FileInfo(relative + name, True, None))
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if name and "/" not in name:
                    infos.append(FileInfo(relative + name, False, int(obj["Size"])))
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(
        self, artifact_path: str | None, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy a stored file or "directory" (key prefix) to ``dst_path`` (a temp dir if None)."""
        if dst_path is None:
            dst_path = tempfile.mkdtemp(prefix="mltrack-artifacts-")
        destination = Path(dst_path).absolute()
        base = self._key(artifact_path)
        if artifact_path is not None:
            destination = destination / validate_artifact_path(artifact_path)
            if self._exists(base):
                destination.parent.mkdir(parents=True, exist_ok=True)
                self._download(base, destination, artifact_path)
                return str(destination)
        prefix = base + "/" if base else ""
        found = False
        for obj in self._objects(prefix):
            found = True
            relative = obj["Key"][len(prefix) :]
            target = destination.joinpath(*validate_artifact_path(relative).split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download(obj["Key"], target, relative)
        if not found:
            if artifact_path is None:
                destination.mkdir(parents=True, exist_ok=True)
                return str(destination)
            raise ArtifactNotFound(
                f"No artifact at {artifact_path!r} under {self.artifact_uri}; "
                "list_artifacts() shows what was logged.",
                path=artifact_path,
            )
        return str(destination)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete an object and everything under it as a prefix; missing is a no-op."""
        base = self._key(artifact_path)
        prefix = base + "/" if base else ""
        keys = [base] if artifact_path is not None else []
        objects = [obj["Key"] for obj in self._objects(prefix)]
        # Servers with a real directory tree behind S3 (SeaweedFS's filer) keep emptied
        # "directories" listed as common prefixes until their "<dir>/" key is deleted too
        # (deepest first); on AWS those deletes are no-ops.
        folders = {
            prefix + "/".join(parts[: i + 1]) + "/"
            for key in objects
            for parts in [key[len(prefix) :].split("/")[:-1]]
            for i in range(len(parts))
        }
        if artifact_path is not None:
            folders.add(prefix)
        keys += objects + sorted(folders, key=lambda k: (-k.count("/"), k))
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            self._call(
                "delete",
                artifact_path or "(root)",
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": chunk, "Quiet": True},
            )

    # helpers

    def _key(self, path: str | None) -> str:
        if path is None:
            return self.prefix
        clean = validate_artifact_path(path)
        return f"{self.prefix}/{clean}" if self.prefix else clean

    def _pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)
        except Exception as exc:
            if _missing(exc):
                return
            raise self._unavailable("list", prefix or "(root)", exc) from exc

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self._pages(prefix):
            yield from page.get("Contents", [])

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                return False
            raise self._unavailable("read", key, exc) from exc
        return True

    def _is_dir(self, key: str) -> bool:
        return any(True for _ in self._objects(key + "/"))

    def _upload(self, source: Path, key: str) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES)
        self._call(
            "upload",
            str(source),
            self.client.upload_file,
            str(source),
            self.bucket,
            key,
            Config=config,
        )

    def _download(self, key: str, target: Path, shown: str) -> None:
        temp = target.with_name(f".mltrack-tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            self.client.download_file(self.bucket, key, str(temp))
            os.replace(temp, target)
        except Exception as exc:
            temp.unlink(missing_ok=True)
            if _missing(exc):
                raise ArtifactNotFound(
                    f"No artifact file at {shown!r} under {self.artifact_uri}.", path=shown
                ) from None
            raise self._unavailable("download", shown, exc) from exc

    def _call(self, what: str, shown: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise self._unavailable(what, shown, exc) from exc

    def _unavailable(self, what: str, shown: str, exc: BaseException) -> StoreUnavailable:
        endpoint = _endpoint() or "AWS S3"
        return StoreUnavailable(
            f"Could not {what} {shown!r} in {self.artifact_uri} at {endpoint}: "
            f"{type(exc).__name__}: {exc}. Check the bucket exists, the endpoint "
            f"(${ENV_S3_ENDPOINT_URL}) and the credentials (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY)."
        )


def _missing(exc: BaseException) -> bool:
    """Whether a botocore error means "no such key" (or bucket)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class S3ArtifactWriter:
    """An :class:`~jupyter_mltrack.artifacts.base.ArtifactWriter` over a multipart upload.

    Bytes are buffered up to :data:`PART_BYTES`; the first full part starts a multipart
    upload. :meth:`commit` puts a small body in one request or completes the upload;
    :meth:`abort` aborts it, so no partial object ever appears.
    """

    def __init__(self, repo: S3ArtifactRepository, key: str, shown: str) -> None:
        self._repo, self._key, self._shown = repo, key, shown
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def write(self, data: bytes) -> int:
        if self._done:
            raise InvalidParameter(f"The writer of {self._shown!r} is already closed.")
        self._buffer += data
        while len(self._buffer) >= PART_BYTES:
            self._send(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]
        return len(data)

    def _send(self, part: bytes) -> None:
        client, bucket = self._repo.client, self._repo.bucket
        if self._upload_id is None:
            created = self._repo._call(
                "upload", self._shown, client.create_multipart_upload, Bucket=bucket, Key=self._key
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        reply = self._repo._call(
            "upload",
            self._shown,
            client.upload_part,
            Bucket=bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
        )
        self._parts.append({"ETag": reply["ETag"], "PartNumber": number})

    def commit(self) -> None:
        if self._done:
            return
        client, bucket = self._repo.client, self._repo.bucket
        try:
            if self._upload_id is None:
                self._repo._call(
                    "write",
                    self._shown,
                    client.put_object,
                    Bucket=bucket,
                    Key=self._key,
                    Body=bytes(self._buffer),
                )
            else:
                if self._buffer:
                    self._send(bytes(self._buffer))
                self._repo._call(
                    "upload",
                    self._shown,
                    client.complete_multipart_upload,
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._buffer.clear()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        if self._upload_id is not None:
            # best effort: the server also expires abandoned uploads itself
            with contextlib.suppress(Exception):
                self._repo.client.abort_multipart_upload(
                    Bucket=self._repo.bucket, Key=self._key, UploadId=self._upload_id
                )
