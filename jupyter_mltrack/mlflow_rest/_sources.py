"""MLflow 3.17's checks of a model version's ``source`` on ``model-versions/create``.

The rules of MLflow's server (``mlflow/server/handlers.py``: ``_create_model_version``,
``_validate_source_run``, ``_validate_source_model``), with its messages and codes:

- ``models:/<name>/<version>`` (or ``@alias``, ``/latest``) is another version: it becomes
  ``models:/<name>/<version>`` and lends its ``run_id`` / ``model_id`` unless the request
  gives them, which must then match;
- a local path or ``file:`` URI needs the run (or logged model) whose artifact directory
  holds it; ours live behind the proxy, so local sources are refused;
- ``mlflow-artifacts:`` and proxy ``http(s)`` URIs must lie under the artifact root of the
  run (or logged model) named by ``run_id`` (or ``model_id``), which must exist;
- ``runs:/<id>/...`` must name the request's ``run_id``; ``models:/<model_id>`` its
  ``model_id``; no source may climb with ``..``.

Every refusal is ``INVALID_PARAMETER_VALUE``. Other schemes (``s3://``, ...) pass, as in
MLflow (its host policy for them is not ported: ``mltrack server`` reads no model source).
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter, NotFound
from ..tracking.core import TrackingCore
from ..tracking.registry_core import parse_model_uri
from ._convert import proxied_uri

__all__ = ["checked_version_source"]

_PROXY_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")


def checked_version_source(
    c: TrackingCore,
    prefix: str,
    source: str,
    run_id: str | None,
    model_id: str | None,
    *,
    has_run_id: bool,
    has_model_id: bool,
) -> tuple[str, str | None, str | None]:
    """``(source, run_id, model_id)`` to record, or MLflow's ``InvalidParameter``;
    ``prefix`` is the served artifact root (what ``mlflow-artifacts:/`` stands for)."""
    source, run_id, model_id = _lineage(c, source, run_id, model_id, has_run_id, has_model_id)
    if model_id:
        _check_against(c, prefix, source, model_id, "model_id")
    else:
        _check_against(c, prefix, source, run_id, "run_id")
    return source, run_id, model_id


def _invalid(source: str, what: str) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid model version source: '{source}'. The {what} request parameter must "
        "identify the resource that contains the source."
    )


def _lineage(
    c: TrackingCore,
    source: str,
    run_id: str | None,
    model_id: str | None,
    has_run_id: bool,
    has_model_id: bool,
) -> tuple[str, str | None, str | None]:
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme != "models":
        return source, run_id, model_id
    if parsed.netloc:
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. Registered model sources must use the "
            "active model registry."
        )
    uri = _model_uri(source)
    if uri.model_id is not None:
        return source, run_id, model_id
    other = c.get_model_version_by_uri(source)
    if (has_run_id and (run_id or "") != (other.run_id or "")) or (
        has_model_id and (model_id or "") != (other.model_id or "")
    ):
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. The run_id and model_id request "
            "parameters must match the referenced model version."
        )
    return (
        f"models:/{other.name}/{other.version}",
        run_id if has_run_id else other.run_id,
        model_id if has_model_id else other.model_id,
    )


def _model_uri(source: str) -> Any:
    try:
        return parse_model_uri(source)
    except InvalidParameter:
        raise _invalid(source, "model_id") from None


def _check_against(c: TrackingCore, prefix: str, source: str, owner: str | None, what: str) -> None:
    """``_validate_source_run`` (``what`` ``"run_id"``) or ``_validate_source_model``."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("", "file"):
        _check_local(c, prefix, source, owner, what)
        return
    _refuse_relative_paths(source)
    if parsed.scheme == "runs":
        if parsed.netloc or _runs_uri_run_id(source) != owner or what != "run_id":
            raise _invalid(source, what)
        return
    if parsed.scheme == "models":
        if parsed.netloc:
            raise _invalid(source, "model_id")
        named = _model_uri(source).model_id
        if named is not None and (what != "model_id" or named != owner):
            raise _invalid(source, "model_id")
        return
    if _is_proxy_source(source):
        root = _artifact_root(c, prefix, owner, what) if owner else None
        if root is None or not _within(source, root):
            raise _invalid(source, what)


def _local_path(uri: str) -> Path:
    parsed = urllib.parse.urlparse(uri)
    return Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri).resolve()


def _check_local(c: TrackingCore, prefix: str, source: str, owner: str | None, what: str) -> None:
    """A local source must lie in the local artifact directory of the run (logged model)."""
    shown = source
    if owner:
        root = _artifact_root(c, prefix, owner, what)
        if root is None:
            raise _invalid(source, what)
        path = _local_path(source)
        shown = str(path)
        local_root = urllib.parse.urlparse(root).scheme in ("", "file")
        if local_root and _local_path(root) in (path, *path.parents):
            return
    kind = "run" if what == "run_id" else "model"
    raise InvalidParameter(
        f"Invalid model version source: '{shown}'. To use a local path as a model version "
        f"source, the {what} request parameter has to be specified and the local path has "
        f"to be contained within the artifact directory of the {kind} specified by the {what}."
    )


def _artifact_root(c: TrackingCore, prefix: str, owner: str, what: str) -> str | None:
    """The proxied artifact root of the run or logged model, ``None`` when it is missing."""
    try:
        if what == "run_id":
            return proxied_uri(c.get_run(owner).info.artifact_uri, prefix)
        return proxied_uri(c.get_logged_model(owner).artifact_location, prefix)
    except (NotFound, InvalidParameter):
        return None


def _runs_uri_run_id(source: str) -> str | None:
    path = urllib.parse.urlparse(source).path.lstrip("/")
    return path.split("/", 1)[0] or None


def _unquoted(value: str) -> str:
    while (once := urllib.parse.unquote(value)) != value:
        value = once
    return value


def _parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parsed = urllib.parse.urlsplit(uri)
    path = tuple(_unquoted(p) for p in parsed.path.split("/") if p)
    return parsed.scheme.lower(), parsed.netloc.lower(), path


def _within(source: str, root: str) -> bool:
    scheme, authority, parts = _parts(source)
    root_scheme, root_authority, root_parts = _parts(root)
    return (
        (scheme, authority) == (root_scheme, root_authority)
        and bool(root_parts)
        and parts[: len(root_parts)] == root_parts
    )


def _is_proxy_source(source: str) -> bool:
    scheme, _, parts = _parts(source)
    if scheme == "mlflow-artifacts":
        return True
    n = len(_PROXY_ROUTE)
    return scheme in ("http", "https") and any(
        parts[i : i + n] == _PROXY_ROUTE for i in range(len(parts) - n + 1)
    )


def _refuse_relative_paths(source: str) -> None:
    """MLflow's ``_validate_non_local_source_contains_relative_paths``."""
    text = source
    while (once := urllib.parse.unquote_plus(text)) != text:
        text = once
    path = re.sub(r"/+", "/", urllib.parse.urlparse(text).path.rstrip("/"))
    # MLflow compares the path with pathlib's resolve(): a relative or empty one differs too
    absolute = path.startswith("/") and posixpath.normpath(path) == path
    if "\x00" in path or ".." in text.split("/") or not absolute:
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. If supplying a source as an http, "
            "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute "
            "path must be provided without relative path references present. Please provide "
            "an absolute path."
        )
