"""Artifact methods of :class:`~.client.TrackingClient` (files, text, dicts, figures, images).

Every run has an artifact root (its ``artifact_uri``); the repository for it is
chosen by scheme in :mod:`jupyter_mltrack.artifacts`. Object-to-bytes
conversions live in :mod:`.artifact_writers`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..entities import FileInfo
from ..errors import ArtifactNotFound, InvalidParameter

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactRepository
    from ..store.base import TrackingStore

__all__ = ["ArtifactMethods"]


class ArtifactMethods:
    """Mixin: needs ``self.store`` and ``check_writable``."""

    store: TrackingStore

    def check_writable(self, run_id: str) -> str:  # pragma: no cover - provided by client
        raise NotImplementedError

    def _repo(self, run_id: str) -> ArtifactRepository:
        return self._repo_for(self.store.get_run(run_id).info.artifact_uri)

    def _repo_for(self, artifact_uri: str) -> ArtifactRepository:
        """The repository of an artifact URI; ``mlflow-artifacts:/...`` (a team server's
        proxy) goes to this client's tracking server."""
        from ..artifacts import get_artifact_repository
        from ..artifacts.proxy import resolve_proxied_uri

        tracking_uri = getattr(self, "tracking_uri", None)
        return get_artifact_repository(resolve_proxied_uri(artifact_uri, tracking_uri))

    def _delete_run_artifacts(self, artifact_uri: str) -> None:
        self._repo_for(artifact_uri).delete_artifacts(None)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local file into the run's artifacts (under ``artifact_path`` if given)."""
        self.check_writable(run_id)
        path = os.fspath(local_path)
        if not os.path.isfile(path):
            raise InvalidParameter(
                f"log_artifact needs an existing file, {path!r} is not one; use "
                "log_artifacts for a directory."
            )
        self._repo(run_id).log_artifact(path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Copy a local directory's contents into the run's artifacts."""
        self.check_writable(run_id)
        path = os.fspath(local_dir)
        if not os.path.isdir(path):
            raise InvalidParameter(f"log_artifacts needs an existing directory, got {path!r}.")
        self._repo(run_id).log_artifacts(path, artifact_path)

    def write_artifact(self, run_id: str, artifact_file: str, data: bytes) -> None:
        self.check_writable(run_id)
        self._repo(run_id).write_bytes(artifact_file, data)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        from .artifact_writers import text_bytes

        self.write_artifact(run_id, artifact_file, text_bytes(text))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """JSON for ``.json`` (and others), YAML for ``.yaml``/``.yml``."""
        from .artifact_writers import dict_bytes

        self.write_artifact(run_id, artifact_file, dict_bytes(dictionary, artifact_file))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """A matplotlib or plotly figure, format by extension."""
        from .artifact_writers import figure_bytes

        self.write_artifact(run_id, artifact_file, figure_bytes(figure, artifact_file))

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """A numpy array or PIL image; with ``key`` (and ``step``) it joins an image series."""
        from .artifact_writers import image_bytes, image_series_file

        if (artifact_file is None) == (key is None):
            raise InvalidParameter(
                "log_image needs exactly one of artifact_file (a single image) or key "
                "(an image series, with step)."
            )
        if key is not None:
            from .client import now_ms

            artifact_file = image_series_file(key, step or 0, timestamp or now_ms())
        assert artifact_file is not None
        self.write_artifact(run_id, artifact_file, image_bytes(image, artifact_file))

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """A dict of columns or DataFrame; logging to the same ``.json`` file appends rows."""
        from .artifact_writers import merge_table_json, table_bytes

        payload = table_bytes(data, artifact_file)
        if artifact_file.endswith(".json"):
            try:
                existing = self._read_artifact(run_id, artifact_file)
            except ArtifactNotFound:
                existing = None
            if existing is not None:
                payload = merge_table_json(existing, payload)
        self.write_artifact(run_id, artifact_file, payload)

    def _read_artifact(self, run_id: str, artifact_file: str) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self._repo(run_id).download_artifacts(artifact_file, tmp)
            except (FileNotFoundError, ArtifactNotFound) as exc:
                raise ArtifactNotFound(f"No artifact {artifact_file!r} in run {run_id}.") from exc
            with open(local, "rb") as fh:
                return fh.read()

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One level of the run's artifacts (``path`` relative to the artifact root)."""
        return self._repo(run_id).list_artifacts(path)

    def download_artifacts(
        self, run_id: str, path: str, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy an artifact file or directory to ``dst_path`` (a temp dir by default)."""
        dst = os.fspath(dst_path) if dst_path is not None else None
        return self._repo(run_id).download_artifacts(path, dst)
