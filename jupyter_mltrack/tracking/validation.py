"""Input validation shared by the client and every server: limits follow MLflow's.

Over-limit input is an error that says which limit, never silent truncation.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from ..errors import InvalidParameter

__all__ = [
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_PARAM_VAL_LENGTH",
    "MAX_TAG_VAL_LENGTH",
    "validate_experiment_name",
    "validate_key",
    "validate_metric_value",
    "validate_param_value",
    "validate_step",
    "validate_tag_value",
    "validate_timestamp",
]

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
_KEY_RE = re.compile(r"^[/\w.\- :]+$")
_valid_keys: dict[str, None] = {}


def validate_key(key: Any, kind: str) -> str:
    """Check a metric/param/tag key; ``kind`` names it in the message. Cached when valid."""
    if key in _valid_keys:
        return key  # type: ignore[no-any-return]
    if not isinstance(key, str):
        raise InvalidParameter(
            f"{kind.capitalize()} key must be a string, got {type(key).__name__} {key!r}."
        )
    if not key:
        raise InvalidParameter(f"{kind.capitalize()} key must not be empty.")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameter(
            f"{kind.capitalize()} key {key[:40]!r}... is {len(key)} characters long; the limit "
            f"is {MAX_ENTITY_KEY_LENGTH}. Use a shorter key."
        )
    if not _KEY_RE.match(key):
        bad = next(c for c in key if not _KEY_RE.match(c))
        raise InvalidParameter(
            f"{kind.capitalize()} key {key!r} contains {bad!r}; keys may only contain letters, "
            "digits, underscores, dashes, periods, spaces, colons and slashes."
        )
    parts = key.split("/")
    if key.startswith("/") or ".." in parts or "." in parts:
        raise InvalidParameter(
            f"{kind.capitalize()} key {key!r} is not a valid relative name: it must not start "
            "with '/' or contain '.' or '..' path components."
        )
    if len(_valid_keys) < 100_000:
        _valid_keys[key] = None
    return key


def _check_value(value: Any, kind: str, key: str, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidParameter(
            f"{kind.capitalize()} {key!r} has a value of {len(text)} characters; the limit is "
            f"{limit}. Log long text as an artifact instead (mt.log_text).",
            key=key,
        )
    return text


def validate_param_value(key: str, value: Any) -> str:
    """Params are stored as strings (``str(value)``), at most 6000 characters."""
    return _check_value(value, "param", key, MAX_PARAM_VAL_LENGTH)


def validate_tag_value(key: str, value: Any) -> str:
    """Tag values are stored as strings, at most 8000 characters."""
    return _check_value(value, "tag", key, MAX_TAG_VAL_LENGTH)


def validate_metric_value(key: str, value: Any) -> float:
    """A real number (int, float, numpy scalar, 0-d array); NaN and inf are kept."""
    if type(value) is float or (type(value) is int):
        return float(value)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        item = value.item()
        if isinstance(item, numbers.Real):
            return float(item)
    raise InvalidParameter(
        f"Metric {key!r} got a non-numeric value {value!r} ({type(value).__name__}); metrics "
        "must be real numbers. Log text as a tag or param instead.",
        key=key,
    )


def validate_step(step: Any) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidParameter(f"Metric step must be an integer, got {step!r}.")
    return int(step)


def validate_timestamp(timestamp_ms: Any) -> int:
    if type(timestamp_ms) is int:  # fast path: the abstract isinstance below is slow
        return timestamp_ms
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, numbers.Integral):
        raise InvalidParameter(
            f"timestamp must be integer milliseconds since the epoch, got {timestamp_ms!r}."
        )
    return int(timestamp_ms)


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"Experiment name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(
            f"Experiment name is {len(name)} characters; the limit is {MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name


def is_finite(value: float) -> bool:
    return math.isfinite(value)
