"""The whole error tree of jupyter-mltrack.

Every error carries a stable ``code`` (MLflow's names where MLflow has one) and
an ``http_status``. ``to_dict`` gives the one JSON shape used on the wire and
``from_dict`` rebuilds the same class on the client side, so ``except
RunNotFound`` behaves the same against every backend::

    MltrackError                      INTERNAL_ERROR           500
    ├── InvalidParameter              INVALID_PARAMETER_VALUE  400
    │   ├── InvalidFilter             INVALID_PARAMETER_VALUE  400
    │   ├── ParamOverwrite            INVALID_PARAMETER_VALUE  400
    │   └── SchemaMismatch            INVALID_PARAMETER_VALUE  400
    ├── NotFound                      RESOURCE_DOES_NOT_EXIST  404
    │   ├── ExperimentNotFound
    │   ├── RunNotFound
    │   └── ArtifactNotFound
    ├── AlreadyExists                 RESOURCE_ALREADY_EXISTS  400
    ├── InvalidState                  INVALID_STATE            400
    └── StoreUnavailable              TEMPORARILY_UNAVAILABLE  503
        └── StoreLocked
"""

from __future__ import annotations

import os
import traceback
from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ArtifactNotFound",
    "ExperimentNotFound",
    "InvalidFilter",
    "InvalidParameter",
    "InvalidState",
    "MltrackError",
    "NotFound",
    "ParamOverwrite",
    "RunNotFound",
    "SchemaMismatch",
    "StoreLocked",
    "StoreUnavailable",
]


#: ``MLTRACK_TRACEBACK=full`` shows whole tracebacks of our errors in notebooks. (Read here,
#: not in :mod:`.settings`, because settings depends on this module.)
ENV_TRACEBACK = "MLTRACK_TRACEBACK"


class MltrackError(Exception):
    """Base of every error raised by jupyter-mltrack."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: a notebook shows this one message, not a page of our internals.

        Set ``MLTRACK_TRACEBACK=full`` to see the whole traceback instead.
        """
        if os.environ.get(ENV_TRACEBACK, "").strip().lower() == "full":
            return traceback.format_exception(type(self), self, self.__traceback__)
        return [
            f"{type(self).__name__}: {self.message}",
            "(a jupyter-mltrack error; set MLTRACK_TRACEBACK=full for the traceback)",
        ]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape sent by every server: ``error_code``, ``message``, ``error_class``."""
        body: dict[str, Any] = {
            "error_code": self.code,
            "message": self.message,
            "error_class": type(self).__name__,
        }
        if self.details:
            body["details"] = self.details
        return body

    @staticmethod
    def from_dict(body: dict[str, Any]) -> MltrackError:
        """Rebuild an error from :meth:`to_dict` output (unknown classes map by code)."""
        cls = _BY_NAME.get(str(body.get("error_class", "")))
        if cls is None:
            cls = _BY_CODE.get(str(body.get("error_code", "")), MltrackError)
        details = body.get("details") or {}
        return cls(str(body.get("message", "unknown error")), **details)


class InvalidParameter(MltrackError):
    """An argument was malformed, out of range or over a limit."""

    code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class InvalidFilter(InvalidParameter):
    """A filter or order-by string could not be parsed; ``details['position']`` is 0-based."""


class ParamOverwrite(InvalidParameter):
    """A param was logged again with a different value (params are immutable)."""


class SchemaMismatch(InvalidParameter):
    """Model input (or params) did not match the model's signature; the message names the
    column, tensor or param and what the signature expects."""


class NotFound(MltrackError):
    """The named resource does not exist."""

    code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ExperimentNotFound(NotFound):
    """No experiment with that id or name."""


class RunNotFound(NotFound):
    """No run with that id."""


class ArtifactNotFound(NotFound):
    """No artifact at that path."""


class AlreadyExists(MltrackError):
    """A resource with that unique name already exists."""

    code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class InvalidState(MltrackError):
    """The operation is not allowed in the resource's current state."""

    code = "INVALID_STATE"
    http_status = 400


class StoreUnavailable(MltrackError):
    """The store cannot be reached or opened right now."""

    code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class StoreLocked(StoreUnavailable):
    """The store file is held by another process."""


def _all_subclasses(cls: type[MltrackError]) -> list[type[MltrackError]]:
    out: list[type[MltrackError]] = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


_BY_NAME: dict[str, type[MltrackError]] = {c.__name__: c for c in _all_subclasses(MltrackError)}
_BY_CODE: dict[str, type[MltrackError]] = {
    "INTERNAL_ERROR": MltrackError,
    "INVALID_PARAMETER_VALUE": InvalidParameter,
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "INVALID_STATE": InvalidState,
    "TEMPORARILY_UNAVAILABLE": StoreUnavailable,
}
