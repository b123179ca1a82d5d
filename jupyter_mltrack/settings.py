"""Every setting read from the environment, and the constants shared across layers.

One module, so that each ``MLTRACK_*`` variable is named, parsed and validated once and
the docs can list them from here (docs/configuration.md). Functions read the
environment at call time (tests and notebooks change it); nothing is cached.

This module is at the bottom of the package: it imports only :mod:`.errors`.
"""

from __future__ import annotations

import os

from .errors import ENV_TRACEBACK, InvalidParameter

__all__ = [
    "API_BASE",
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_HTTP_RETRY_TIMEOUT_S",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_RUN_TIMEOUT_S",
    "DEFAULT_SERVER_HOST",
    "DEFAULT_SERVER_PORT",
    "ENV_EXPERIMENT_ID",
    "ENV_EXPERIMENT_NAME",
    "ENV_HEARTBEAT_S",
    "ENV_HTTP_RETRY_TIMEOUT_S",
    "ENV_IDLE_TIMEOUT_S",
    "ENV_RUN_TIMEOUT_S",
    "ENV_SERVER_ARTIFACTS_DESTINATION",
    "ENV_SERVER_BACKEND_STORE_URI",
    "ENV_SERVER_EXPOSE_METRICS",
    "ENV_SERVER_HOST",
    "ENV_SERVER_PORT",
    "ENV_SERVER_WORKERS",
    "ENV_SPOOL_DIR",
    "ENV_START_TIMEOUT_S",
    "ENV_STORE_MODE",
    "ENV_SYSTEM_METRICS",
    "ENV_SYSTEM_METRICS_INTERVAL_S",
    "ENV_TRACEBACK",
    "ENV_TRACKING_PASSWORD",
    "ENV_TRACKING_TOKEN",
    "ENV_TRACKING_URI",
    "ENV_TRACKING_USERNAME",
    "MAX_RESULTS_PAGE",
    "SEARCH_LIMIT",
    "STORE_MODES",
    "auth_headers_from_env",
    "env_bool",
    "env_int",
    "env_seconds",
    "env_text",
    "experiment_id_from_env",
    "experiment_name_from_env",
    "http_retry_timeout_s",
    "service_start_timeout_s",
    "spool_dir_from_env",
    "store_mode",
    "system_metrics_enabled",
    "system_metrics_interval_s",
    "tracking_uri_from_env",
]

#: Path prefix of the store API (the local service, the Jupyter server extension).
API_BASE = "/mltrack/api/v1"
#: Runs per page when a caller pages through every match (fluent search, the CLI).
MAX_RESULTS_PAGE = 10_000
#: Most runs one search returns when the caller sets no ``max_results``.
SEARCH_LIMIT = 100_000

DEFAULT_HEARTBEAT_S = 5.0
DEFAULT_RUN_TIMEOUT_S = 60.0
DEFAULT_IDLE_TIMEOUT_S = 300.0
DEFAULT_START_TIMEOUT_S = 10.0
DEFAULT_SYSTEM_METRICS_INTERVAL_S = 10.0
#: How long a client of a team server retries a request (connection errors, 5xx).
DEFAULT_HTTP_RETRY_TIMEOUT_S = 60.0
DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 5000  # MLflow's, so `http://localhost:5000` in existing code works

ENV_TRACKING_URI = "MLTRACK_TRACKING_URI"
ENV_STORE_MODE = "MLTRACK_STORE_MODE"
ENV_START_TIMEOUT_S = "MLTRACK_SERVICE_START_TIMEOUT_S"
ENV_HEARTBEAT_S = "MLTRACK_HEARTBEAT_S"
ENV_RUN_TIMEOUT_S = "MLTRACK_RUN_TIMEOUT_S"
ENV_IDLE_TIMEOUT_S = "MLTRACK_IDLE_TIMEOUT_S"
ENV_EXPERIMENT_NAME = "MLTRACK_EXPERIMENT_NAME"
ENV_EXPERIMENT_ID = "MLTRACK_EXPERIMENT_ID"
ENV_SYSTEM_METRICS = "MLTRACK_ENABLE_SYSTEM_METRICS"
ENV_SYSTEM_METRICS_INTERVAL_S = "MLTRACK_SYSTEM_METRICS_INTERVAL_S"
#: Client side of a team server: where metric batches wait (default: the user cache dir).
ENV_SPOOL_DIR = "MLTRACK_SPOOL_DIR"
ENV_HTTP_RETRY_TIMEOUT_S = "MLTRACK_HTTP_RETRY_TIMEOUT_S"
#: ``mltrack server`` options (docs/server.md); the command line wins over these.
ENV_SERVER_HOST = "MLTRACK_SERVER_HOST"
ENV_SERVER_PORT = "MLTRACK_SERVER_PORT"
ENV_SERVER_BACKEND_STORE_URI = "MLTRACK_SERVER_BACKEND_STORE_URI"
ENV_SERVER_ARTIFACTS_DESTINATION = "MLTRACK_SERVER_ARTIFACTS_DESTINATION"
ENV_SERVER_WORKERS = "MLTRACK_SERVER_WORKERS"
ENV_SERVER_EXPOSE_METRICS = "MLTRACK_SERVER_EXPOSE_METRICS"

STORE_MODES = ("service", "direct")


def _text(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def env_text(name: str) -> str | None:
    """The variable ``name``, stripped; ``None`` when unset or blank."""
    return _text(name)


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]`` from the variable ``name``, else ``default``."""
    text = _text(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, got {text!r}.") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise InvalidParameter(f"{name} must be at least {minimum}{upper}, got {value}.")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def env_bool(name: str, default: bool) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off) from the variable ``name``."""
    text = (_text(name) or "").lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f"{name} must be true or false, got {text!r}.")


def spool_dir_from_env() -> str | None:
    """``MLTRACK_SPOOL_DIR``: the root of client spools for team-server URIs."""
    return _text(ENV_SPOOL_DIR)


def http_retry_timeout_s() -> float:
    """``MLTRACK_HTTP_RETRY_TIMEOUT_S``: how long a team-server client retries a request."""
    return env_seconds(ENV_HTTP_RETRY_TIMEOUT_S, DEFAULT_HTTP_RETRY_TIMEOUT_S)


def tracking_uri_from_env() -> str | None:
    """``MLTRACK_TRACKING_URI`` as given (not normalized), or ``None``."""
    return _text(ENV_TRACKING_URI)


def store_mode() -> str:
    """``MLTRACK_STORE_MODE``: ``"service"`` (default) or ``"direct"``."""
    mode = (_text(ENV_STORE_MODE) or "service").lower()
    if mode not in STORE_MODES:
        raise InvalidParameter(
            f"{ENV_STORE_MODE}={mode!r} is not a store mode; use 'service' (the default: "
            "share the store through its owner process) or 'direct' (open the file in this "
            "process; nothing else may use the store meanwhile)."
        )
    return mode


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the variable ``name``, else ``default``."""
    text = _text(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number of seconds, got {text!r}.") from None
    if not value > 0:  # also rejects NaN
        raise InvalidParameter(f"{name} must be a positive number of seconds, got {text!r}.")
    return value


def service_start_timeout_s() -> float:
    """``MLTRACK_SERVICE_START_TIMEOUT_S``: how long a client waits for a new owner."""
    return env_seconds(ENV_START_TIMEOUT_S, DEFAULT_START_TIMEOUT_S)


def system_metrics_enabled() -> bool:
    """``MLTRACK_ENABLE_SYSTEM_METRICS=true``: log system metrics in every run."""
    return (_text(ENV_SYSTEM_METRICS) or "").lower() == "true"


def system_metrics_interval_s() -> float:
    """``MLTRACK_SYSTEM_METRICS_INTERVAL_S`` (default 10)."""
    return env_seconds(ENV_SYSTEM_METRICS_INTERVAL_S, DEFAULT_SYSTEM_METRICS_INTERVAL_S)


def experiment_name_from_env() -> str | None:
    """``MLTRACK_EXPERIMENT_NAME``: the experiment of runs started without one."""
    return _text(ENV_EXPERIMENT_NAME)


def experiment_id_from_env() -> str | None:
    """``MLTRACK_EXPERIMENT_ID``: the experiment of runs started without one."""
    return _text(ENV_EXPERIMENT_ID)


# Credentials our client sends to ``mltrack server --auth`` (docs/auth.md): the mlflow
# client's variables under MLTRACK_ (the MLFLOW_ ones when none of ours is set).
ENV_TRACKING_TOKEN = "MLTRACK_TRACKING_TOKEN"
ENV_TRACKING_USERNAME = "MLTRACK_TRACKING_USERNAME"
ENV_TRACKING_PASSWORD = "MLTRACK_TRACKING_PASSWORD"


def _credential(ours: str) -> str:
    return os.environ.get(ours) or os.environ.get(ours.replace("MLTRACK_", "MLFLOW_", 1)) or ""


def auth_headers_from_env() -> dict[str, str]:
    """The ``Authorization`` header the environment asks for (``{}`` when none).

    ``MLTRACK_TRACKING_TOKEN`` is sent as a bearer token; else ``MLTRACK_TRACKING_USERNAME``
    and ``MLTRACK_TRACKING_PASSWORD`` as HTTP basic auth. With none of ours set, the
    ``MLFLOW_TRACKING_*`` ones are used, so one environment serves both clients.
    """
    import base64

    token = _credential(ENV_TRACKING_TOKEN).strip()
    if token:
        return {"Authorization": f"Bearer {token}"}
    username = _credential(ENV_TRACKING_USERNAME)
    password = _credential(ENV_TRACKING_PASSWORD)
    if username and password:
        if ":" in username:
            raise InvalidParameter(
                f"${ENV_TRACKING_USERNAME} must not contain ':' (HTTP basic auth)."
            )
        raw = f"{username}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    if username or password:
        raise InvalidParameter(
            f"Set both ${ENV_TRACKING_USERNAME} and ${ENV_TRACKING_PASSWORD} (or "
            f"${ENV_TRACKING_TOKEN}) to log in to the tracking server; only one is set."
        )
    return {}
