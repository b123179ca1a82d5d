"""Artifacts in a local directory (``file://`` URIs or plain paths).

Every path is checked twice: :func:`validate_artifact_path` rejects unsafe
text, then the resolved location must stay inside the root, so a symbolic link
planted in the tree cannot redirect a read or a write outside it. Files are
written to a temporary name in the target directory and moved into place with
``os.replace``, so readers never see a partial file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..entities import FileInfo
from ..errors import ArtifactNotFound, InvalidParameter
from .base import join_artifact_path, validate_artifact_path

__all__ = ["LocalArtifactRepository", "LocalArtifactWriter", "local_path_from_uri"]

#: Prefix of in-flight temporary files; listings and downloads skip them.
_TMP_PREFIX = ".mltrack-tmp-"


def local_path_from_uri(root_uri_or_path: str | os.PathLike[str]) -> Path:
    """The absolute local path named by a ``file://`` URI or a plain path.

    Raises:
        InvalidParameter: a ``file://`` URI names a remote host, or the input is empty.
    """
    text = os.fspath(root_uri_or_path)
    if not text:
        raise InvalidParameter(
            "The artifact location is empty; pass a directory path or a file:// URI."
        )
    parts = urlsplit(text)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidParameter(
                f"Artifact URI {text!r} names host {parts.netloc!r}; file:// URIs must be "
                "local (file:///path/to/dir). Use a proxied or S3 location for remote storage."
            )
        text = url2pathname(parts.path)
    return Path(text).absolute()


class LocalArtifactRepository:
    """An :class:`~jupyter_mltrack.artifacts.base.ArtifactRepository` over a local directory.

    The root is created on the first write. Example::

        repo = LocalArtifactRepository("file:///tmp/mlruns/1/abc/artifacts")
        repo.write_bytes("notes/readme.txt", b"hello")
        repo.list_artifacts("notes")  # [FileInfo(path='notes/readme.txt', ...)]
    """

    def __init__(self, root_uri_or_path: str | os.PathLike[str]) -> None:
        self.root = local_path_from_uri(root_uri_or_path)
        self.artifact_uri = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalArtifactRepository({self.artifact_uri!r})"

    # writes

    def log_artifact(
        self, local_file: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy one local file to ``<artifact_path>/<its file name>``.

        Raises:
            InvalidParameter: ``local_file`` is not an existing file, or a path is unsafe.
        """
        source = Path(local_file)
        if not source.is_file():
            hint = "use log_artifacts for a directory" if source.is_dir() else "check the path"
            raise InvalidParameter(f"Local file {str(source)!r} is not an existing file; {hint}.")
        target = self._local(join_artifact_path(artifact_path, source.name))
        self._replace(target, partial(_copy_into, source))

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy every file under ``local_dir`` to ``artifact_path``, keeping the layout.

        Symbolic links to files are copied as files; links to directories are
        not followed (a link cycle cannot make the copy endless).

        Raises:
            InvalidParameter: ``local_dir`` is not an existing directory, or a path is unsafe.
        """
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
                target = self._local(join_artifact_path(artifact_path, relative))
                self._replace(target, partial(_copy_into, file))

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Write ``data`` to ``artifact_file`` atomically, replacing any previous file."""
        self._replace(self._local(artifact_file), lambda out: out.write(data))

    def open_writer(self, artifact_file: str) -> LocalArtifactWriter:
        """A writer to a temporary file beside ``artifact_file``, moved into place on commit."""
        target = self._local(artifact_file)
        self._replace(target, lambda out: None, commit=False)  # checks the parent and target
        temp = target.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        return LocalArtifactWriter(os.fdopen(fd, "wb"), temp, target)

    # reads

    def open_reader(self, artifact_file: str) -> BinaryIO:
        """The stored file opened for binary reading.

        Raises:
            ArtifactNotFound: no file is stored at ``artifact_file`` (or it is a directory).
        """
        source = self._local(artifact_file)
        if not source.is_file():
            raise ArtifactNotFound(
                f"No artifact file at {artifact_file!r} under {self.artifact_uri}"
                + ("; it is a directory, list it instead." if source.is_dir() else "."),
                path=artifact_file,
            )
        return source.open("rb")

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """One level under ``path``, sorted; ``[]`` if it is missing or a file.

        Entries that are symbolic links leading outside the root are left out.
        """
        directory = self._local(path)
        if not directory.is_dir():
            return []
        prefix = "" if path is None else self._relative(directory) + "/"
        root = os.path.realpath(self.root)
        infos = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX):
                    continue
                if entry.is_symlink() and not _inside(root, os.path.realpath(entry.path)):
                    continue
                is_dir = entry.is_dir()
                size = None if is_dir else entry.stat().st_size
                infos.append(FileInfo(prefix + entry.name, is_dir, size))
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(
        self, artifact_path: str | None, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy a file or directory to ``dst_path`` (a new temp dir if ``None``).

        Returns:
            The local path of the copy, ``<dst_path>/<artifact_path>``.

        Raises:
            ArtifactNotFound: nothing is stored at ``artifact_path``.
            InvalidParameter: the path is unsafe or leads outside the root.
        """
        source = self._local(artifact_path)
        if not source.exists():
            raise ArtifactNotFound(
                f"No artifact at {artifact_path or '(root)'!r} under {self.artifact_uri}; "
                "list_artifacts() shows what was logged.",
                path=artifact_path,
            )
        if dst_path is None:
            dst_path = tempfile.mkdtemp(prefix="mltrack-artifacts-")
        destination = Path(dst_path).absolute()
        if artifact_path is not None:
            destination = destination / self._relative(source)
        if source.is_dir():
            self._copy_tree(source, destination)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        return str(destination)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or directory tree (everything if ``None``); missing is a no-op.

        A symbolic link is removed itself; its target is never touched.
        """
        if artifact_path is None:
            # Empty the root rather than remove it: the root itself may be a link.
            targets = list(self.root.iterdir()) if self.root.is_dir() else []
        else:
            targets = [self._local(artifact_path, follow_last=False)]
        for target in targets:
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)

    # helpers

    def _local(self, path: str | None, *, follow_last: bool = True) -> Path:
        """The local path of an artifact path, checked to resolve inside the root.

        ``follow_last=False`` checks only the parent, for operations that act
        on a symbolic link itself rather than on its target.
        """
        if path is None:
            return self.root
        target = self.root.joinpath(*validate_artifact_path(path).split("/"))
        checked = target if follow_last else target.parent
        if not _inside(os.path.realpath(self.root), os.path.realpath(checked)):
            raise InvalidParameter(
                f"Artifact path {path!r} resolves outside the artifact root {self.artifact_uri} "
                "through a symbolic link; remove the link or choose another path.",
                path=path,
            )
        return target

    def _replace(
        self, target: Path, write: Callable[[BinaryIO], object], *, commit: bool = True
    ) -> None:
        """Write a new file through ``write`` and move it over ``target`` atomically
        (``commit=False`` only checks that ``target`` can be written)."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidParameter(
                f"Cannot write {self._relative(target)!r}: a file stands where a directory is "
                "needed; choose another artifact path or delete that file first."
            ) from None
        if target.is_dir():
            raise InvalidParameter(
                f"Cannot write {self._relative(target)!r}: it is a directory; choose a file "
                "name inside it."
            )
        if not commit:
            return
        # Our own O_EXCL name (not mkstemp) so the file gets the umask's mode, not 0600.
        temp = target.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _copy_tree(self, source: Path, destination: Path) -> None:
        """Copy a stored directory, refusing files that are links leading outside the root."""
        root = os.path.realpath(self.root)
        destination.mkdir(parents=True, exist_ok=True)
        for dirpath, _dirnames, filenames in os.walk(source):
            out_dir = destination / Path(dirpath).relative_to(source)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                file = Path(dirpath, name)
                if not _inside(root, os.path.realpath(file)):
                    raise InvalidParameter(
                        f"Artifact {self._relative(file)!r} is a symbolic link leading outside "
                        f"the artifact root {self.artifact_uri}; remove the link and retry."
                    )
                shutil.copyfile(file, out_dir / name)

    def _relative(self, target: Path) -> str:
        return target.relative_to(self.root).as_posix()


def _inside(root_real: str, candidate_real: str) -> bool:
    """Whether a resolved path is the resolved root or below it."""
    return os.path.commonpath([root_real, candidate_real]) == root_real


def _copy_into(source: Path, out: BinaryIO) -> None:
    with source.open("rb") as src:
        shutil.copyfileobj(src, out)


class LocalArtifactWriter:
    """An :class:`~jupyter_mltrack.artifacts.base.ArtifactWriter` to a temporary file that
    :meth:`commit` moves over the target with ``os.replace``."""

    def __init__(self, out: BinaryIO, temp: Path, target: Path) -> None:
        self._out, self._temp, self._target = out, temp, target
        self._done = False

    def write(self, data: bytes) -> int:
        return self._out.write(data)

    def commit(self) -> None:
        self._out.close()
        os.replace(self._temp, self._target)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._out.close()
        self._temp.unlink(missing_ok=True)
