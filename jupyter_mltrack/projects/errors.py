"""The error of a project run that could not start or did not succeed.

``ExecutionFailed`` is an :class:`~jupyter_mltrack.errors.InvalidState` (code
``INVALID_STATE``), so ``except MltrackError`` and the CLI's one-line reporting catch it.
"""

from __future__ import annotations

from ..errors import InvalidState

__all__ = ["ExecutionFailed"]


class ExecutionFailed(InvalidState):
    """An environment could not be built, or a project run ended FAILED or KILLED."""
