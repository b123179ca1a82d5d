"""jupyter-mltrack: a Jupyter-native experiment tracker with MLflow's fluent API.

Example::

    import jupyter_mltrack as mt

    mt.set_experiment("demo")
    with mt.start_run(run_name="lr-0.1"):
        mt.log_param("lr", 0.1)
        for step in range(100):
            mt.log_metric("loss", 1 / (step + 1), step=step)
    mt.search_runs(order_by=["metrics.loss ASC"])
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._jupyter import _jupyter_labextension_paths, _jupyter_server_extension_points  # noqa: F401 (hooks)
from .autolog import autolog
from .config import get_tracking_uri, set_tracking_uri
from .entities import Experiment, Metric, Param, Run, RunStatus, RunTag
from .tracking.client import MlflowClient, TrackingClient
from .tracking.fluent import (
    ActiveRun,
    active_run,
    delete_tag,
    end_run,
    flush,
    get_experiment,
    get_experiment_by_name,
    last_active_run,
    log_batch,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from .tracking.fluent_ops import (
    create_experiment,
    delete_experiment,
    delete_experiment_tag,
    delete_run,
    download_artifacts,
    get_artifact_uri,
    get_metric_history,
    get_metric_series,
    get_run,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_inputs,
    log_table,
    log_text,
    restore_experiment,
    restore_run,
    search_experiments,
    search_runs,
    set_experiment_tag,
    set_experiment_tags,
    sql,
)
from .tracking.fluent_registry import (
    get_logged_model,
    last_logged_model,
    register_model,
    search_logged_models,
)

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0.dev0"

__all__ = [
    "ActiveRun",
    "Experiment",
    "Metric",
    "MetricThreshold",
    "MlflowClient",
    "Param",
    "Run",
    "RunStatus",
    "RunTag",
    "Threshold",
    "TrackingClient",
    "__version__",
    "active_run",
    "autolog",
    "compare",
    "create_experiment",
    "data",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "deployments",
    "download_artifacts",
    "end_run",
    "errors",
    "evaluate",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_metric_history",
    "get_metric_series",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "last_logged_model",
    "list_artifacts",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "metrics",
    "models",
    "projects",
    "pyfunc",
    "pytorch",
    "register_model",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sklearn",
    "sql",
    "start_run",
    "validate",
    "widgets",
]


_LAZY_MODULES = (
    "data",
    "widgets",
    "projects",
    "models",
    "deployments",
    "sklearn",
    "pytorch",
    "pyfunc",
)
_EVALUATION = ("evaluate", "validate", "Threshold", "MetricThreshold", "load_table")


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        # imported on first use (widgets load ipywidgets, flavors their ML libraries)
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _EVALUATION or name == "metrics":  # evaluation loads numpy: on first use
        import importlib

        if name == "metrics":
            return importlib.import_module(".metrics", __name__)
        return getattr(importlib.import_module(".evaluation", __name__), name)
    if name == "compare":  # mt.compare(runs): the linked comparison widgets
        from .widgets.comparison import compare

        return compare
    raise AttributeError(f"module 'jupyter_mltrack' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mltrack``: register ``%%track`` and ``%track_experiment``."""
    from .magics import register_magics

    register_magics(ipython)


def _register_magics_in_ipython() -> None:
    """``import jupyter_mltrack`` inside IPython (a notebook kernel) registers the magics too.

    Outside IPython this costs a dict look-up: IPython is not imported for it.
    """
    import sys

    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    if shell is None or not hasattr(shell, "register_magics"):
        return
    try:
        load_ipython_extension(shell)
    except Exception as exc:  # never make the import fail; %load_ext shows the error
        import warnings

        warnings.warn(
            f"jupyter_mltrack could not register its magics ({type(exc).__name__}: {exc}); "
            "run %load_ext jupyter_mltrack to see why.",
            stacklevel=2,
        )


_register_magics_in_ipython()
