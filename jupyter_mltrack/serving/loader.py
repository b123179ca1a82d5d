"""Loading the model a server or a batch job scores, and following a registry alias.

:func:`load_pyfunc` goes through :func:`jupyter_mltrack.models.load_model` (every URI form:
a path, ``runs:/``, ``models:/name/1``, ``models:/name@alias``, ``models:/m-...``).
:class:`ModelHolder` keeps the model being served and, with ``watch_alias``, polls the
registry and swaps in the alias's new version once it has loaded, so requests are answered
by the old version until then.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any

from ..errors import InvalidParameter
from .payload import InputColumn, input_columns

__all__ = ["ModelHolder", "load_pyfunc", "local_model_dir", "parse_alias_uri"]

log = logging.getLogger(__name__)

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)/?$")


def load_pyfunc(model_uri: str) -> Any:
    """The pyfunc model at ``model_uri`` (``.predict(data, params=None)``, ``.metadata``)."""
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(
            "model_uri must be a model URI or path, e.g. models:/churn@champion or ./model"
        )
    from ..models import load_model

    return load_model(model_uri)


def local_model_dir(model_uri: str) -> str:
    """A local directory holding the model at ``model_uri`` (downloaded when remote)."""
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter("model_uri must be a model URI or path, e.g. models:/churn/1")
    plain = model_uri[len("file://") :] if model_uri.startswith("file://") else model_uri
    if os.path.isdir(plain):
        if not os.path.isfile(os.path.join(plain, "MLmodel")):
            raise InvalidParameter(
                f"{plain!r} is not a model directory (it has no MLmodel file); pass the "
                "directory save_model wrote."
            )
        return os.path.abspath(plain)
    from ..models import resolve_model_uri

    return str(resolve_model_uri(model_uri))


def parse_alias_uri(model_uri: str) -> tuple[str, str] | None:
    """``(name, alias)`` of a ``models:/name@alias`` URI, else None."""
    m = _ALIAS_URI.match(model_uri.strip())
    return (m["name"], m["alias"]) if m else None


def _signature_columns(model: Any) -> list[InputColumn] | None:
    meta = getattr(model, "metadata", None)
    getter = getattr(meta, "get_input_schema", None)
    try:
        schema = getter() if callable(getter) else None
    except Exception:  # a model without a signature
        schema = None
    return input_columns(schema)


class ModelHolder:
    """The served model, replaceable while requests are in flight (one attribute swap)."""

    def __init__(self, model_uri: str, *, tracking_uri: str | None = None) -> None:
        self.model_uri = model_uri
        self.tracking_uri = tracking_uri
        self.model: Any = None
        self.columns: list[InputColumn] | None = None
        self.version: str | None = None  # the registry version served, for alias URIs
        self.loaded_at = 0.0
        self.reloads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        alias = parse_alias_uri(self.model_uri)
        uri = self.model_uri
        if alias is not None:
            version = self._alias_version(*alias)
            if version is not None:
                uri = f"models:/{alias[0]}/{version}"
                self.version = version
        self._install(load_pyfunc(uri))

    def _install(self, model: Any) -> None:
        columns = _signature_columns(model)
        self.model, self.columns = model, columns  # readers see the old or the new pair
        self.loaded_at = time.time()

    def _alias_version(self, name: str, alias: str) -> str | None:
        from ..tracking.client import TrackingClient

        client = TrackingClient(self.tracking_uri) if self.tracking_uri else TrackingClient()
        try:
            mv = client.get_model_version_by_alias(name, alias)
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        return str(mv.version)

    def watch(self, interval_s: float) -> None:
        """Poll the alias every ``interval_s`` seconds in a daemon thread; reload on a move."""
        alias = parse_alias_uri(self.model_uri)
        if alias is None:
            raise InvalidParameter(
                f"--watch-alias needs a models:/NAME@ALIAS URI; {self.model_uri!r} names no alias."
            )
        if interval_s <= 0:
            raise InvalidParameter(f"the alias poll interval must be > 0 s; got {interval_s}")
        self._thread = threading.Thread(
            target=self._watch_loop, args=(alias, interval_s), name="mltrack-alias", daemon=True
        )
        self._thread.start()

    def _watch_loop(self, alias: tuple[str, str], interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                version = self._alias_version(*alias)
                if version is None or version == self.version:
                    continue
                log.info("alias %s@%s moved to version %s: loading", *alias, version)
                model = load_pyfunc(f"models:/{alias[0]}/{version}")
                self._install(model)
                self.version = version
                self.reloads += 1
                log.info("now serving %s version %s", alias[0], version)
            except Exception as exc:  # keep serving the old version; try again next poll
                log.warning("alias reload failed (still serving %s): %s", self.version, exc)

    def stop(self) -> None:
        self._stop.set()
