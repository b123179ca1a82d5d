"""Model URIs -> local model directories.

Forms (MLflow's): a local path, ``file:///abs/path``, ``runs:/<run_id>/<path>``,
``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>/latest`` and
MLflow 3's ``models:/<model_id>`` (``m-<32 hex>``); any artifact URI the artifact
repositories know (``s3://``, ``mlflow-artifacts:/``) works too.

Local paths and local artifact stores are read in place (no copy) unless ``dst_path`` is
given; everything else is downloaded to ``dst_path`` or a new temporary directory. Only the
``runs:/`` and ``models:/`` forms open the tracking client, so a worker process given a model
directory needs no store.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.parse
from typing import Any

from ..errors import ArtifactNotFound, InvalidParameter, MltrackError, NotFound
from .model import MLMODEL_FILE_NAME

__all__ = ["parse_models_uri", "resolve_model_uri"]

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def _client() -> Any:
    from ..tracking.fluent import get_client

    return get_client()


def _local_path_of(uri: str) -> str | None:
    """The local directory of a ``file:`` URI or a plain path; None for other schemes."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return uri
    return None


def _copy_local(path: str, dst_path: str | None) -> str:
    if dst_path is None:
        return os.path.abspath(path)
    target = os.path.join(os.path.abspath(dst_path), os.path.basename(os.path.normpath(path)))
    shutil.copytree(path, target, dirs_exist_ok=True)
    return target


def _download_artifact_uri(client: Any, artifact_uri: str, dst_path: str | None) -> str:
    local = _local_path_of(artifact_uri)
    if local is not None:
        if not os.path.isdir(local):
            raise ArtifactNotFound(f"No model directory at {artifact_uri!r}.")
        return _copy_local(local, dst_path)
    repo = client._repo_for(artifact_uri)
    dst = dst_path or tempfile.mkdtemp(prefix="mltrack-model-")
    return str(repo.download_artifacts(None, dst))


def parse_models_uri(uri: str) -> dict[str, str]:
    """``models:/...`` -> ``{"model_id"}`` or ``{"name", "version"|"alias"|"latest"}``."""
    rest = uri[len("models:/") :].lstrip("/")
    if not rest:
        raise InvalidParameter(
            f"Model URI {uri!r} names no model; use models:/<name>/<version>, "
            "models:/<name>@<alias>, models:/<name>/latest or models:/<model_id>."
        )
    if "/" not in rest and "@" not in rest:
        if _MODEL_ID.match(rest):
            return {"model_id": rest}
        raise InvalidParameter(
            f"Model URI {uri!r}: {rest!r} is not a model id (m-<32 hex>); for a registered "
            "model give a version or alias: models:/<name>/<version> or models:/<name>@<alias>."
        )
    if "@" in rest and "/" not in rest.split("@", 1)[1]:
        name, alias = rest.rsplit("@", 1)
        if not name or not alias:
            raise InvalidParameter(f"Model URI {uri!r}: use models:/<name>@<alias>.")
        return {"name": name, "alias": alias}
    name, _, tail = rest.rpartition("/")
    if not name or not tail:
        raise InvalidParameter(f"Model URI {uri!r}: use models:/<name>/<version>.")
    if tail == "latest":
        return {"name": name, "latest": "1"}
    if not tail.isdigit():
        raise InvalidParameter(
            f"Model URI {uri!r}: version {tail!r} is not a number; use a version number, "
            "'latest', or an alias as models:/<name>@<alias>."
        )
    return {"name": name, "version": tail}


def _need(client: Any, method: str) -> Any:
    fn = getattr(client, method, None)
    if fn is None:
        raise MltrackError(
            f"This store's client has no {method}(); the model registry is needed for models:/ "
            "URIs. Load the model by its local path or runs:/<run_id>/<path> instead."
        )
    return fn


def _logged_model_dir(client: Any, model_id: str, dst_path: str | None) -> str:
    logged = _need(client, "get_logged_model")(model_id)
    return _download_artifact_uri(client, logged.artifact_location, dst_path)


def _model_version_source(client: Any, ref: dict[str, str]) -> str:
    name = ref["name"]
    if "alias" in ref:
        mv = _need(client, "get_model_version_by_alias")(name, ref["alias"])
    elif "latest" in ref:
        versions = _need(client, "get_latest_versions")(name)
        if not versions:
            raise NotFound(f"Registered model {name!r} has no versions yet; register one first.")
        mv = max(versions, key=lambda v: int(v.version))
    else:
        mv = _need(client, "get_model_version")(name, ref["version"])
    model_id = getattr(mv, "model_id", None)
    if model_id:
        return f"models:/{model_id}"
    return str(mv.source)


def _run_model_dir(client: Any, run_id: str, path: str, dst_path: str | None) -> str:
    """``runs:/`` -- the run's own artifacts, else a logged model of that run and name."""
    run = client.get_run(run_id)
    artifact_root = run.info.artifact_uri
    local_root = _local_path_of(artifact_root)
    if local_root is not None:
        candidate = os.path.join(local_root, path) if path else local_root
        if os.path.isfile(os.path.join(candidate, MLMODEL_FILE_NAME)):
            return _copy_local(candidate, dst_path)
    else:
        try:
            names = [f.path.rsplit("/", 1)[-1] for f in client.list_artifacts(run_id, path or None)]
        except MltrackError:
            names = []
        if MLMODEL_FILE_NAME in names:
            dst = dst_path or tempfile.mkdtemp(prefix="mltrack-model-")
            return str(client.download_artifacts(run_id, path, dst))
    search = getattr(client, "search_logged_models", None)
    if search is not None:
        name = path.split("/", 1)[0]
        models = search(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{name}'",
        )
        models = list(getattr(models, "items", models) or [])
        if models:
            latest = max(models, key=lambda m: m.creation_timestamp or 0)
            return _download_artifact_uri(client, latest.artifact_location, dst_path)
    raise NotFound(
        f"No model at runs:/{run_id}/{path}: the run has no MLmodel under {path!r} and logged "
        "no model of that name. list_artifacts(run_id) shows what it has."
    )


def resolve_model_uri(model_uri: Any, dst_path: str | os.PathLike[str] | None = None) -> str:
    """The local directory holding the model at ``model_uri`` (downloaded when remote)."""
    if isinstance(model_uri, os.PathLike):
        model_uri = os.fspath(model_uri)
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(
            f"model_uri must be a path or URI string, got {model_uri!r}; e.g. "
            "'runs:/<run_id>/model', 'models:/<name>@<alias>' or a local directory."
        )
    dst = os.fspath(dst_path) if dst_path is not None else None
    if dst is not None:
        os.makedirs(dst, exist_ok=True)
    uri = model_uri.strip()
    if uri.startswith("runs:"):
        rest = uri[len("runs:") :].lstrip("/")
        run_id, _, path = rest.partition("/")
        if not run_id:
            raise InvalidParameter(f"Model URI {uri!r}: use runs:/<run_id>/<path>.")
        return _run_model_dir(_client(), run_id, path.strip("/"), dst)
    if uri.startswith("models:"):
        ref = parse_models_uri(uri)
        client = _client()
        if "model_id" in ref:
            return _logged_model_dir(client, ref["model_id"], dst)
        source = _model_version_source(client, ref)
        if source.startswith("models:/m-"):
            return _logged_model_dir(client, source[len("models:/") :], dst)
        return resolve_model_uri(source, dst)
    local = _local_path_of(uri)
    if local is not None:
        if not os.path.exists(local):
            raise NotFound(
                f"No model at {uri!r}: the path does not exist. Pass a model directory, "
                "runs:/<run_id>/<path> or models:/<name>@<alias>."
            )
        if os.path.isfile(local) and os.path.basename(local) == MLMODEL_FILE_NAME:
            local = os.path.dirname(local)
        return _copy_local(local, dst)
    return _download_artifact_uri(_client(), uri, dst)
