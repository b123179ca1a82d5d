"""The deployment client interface: MLflow's ``mlflow.deployments`` names and arguments.

A target plugin is a module with a :class:`BaseDeploymentClient` subclass and two functions,
``run_local(name, model_uri, flavor=None, config=None)`` and ``target_help()`` -- the shape
MLflow's SageMaker and Azure ML plugins have, so their modules plug in unchanged.
"""

from __future__ import annotations

import abc
import urllib.parse
from typing import Any

from ..errors import InvalidParameter, MltrackError

__all__ = ["BaseDeploymentClient", "DeploymentError", "PredictionsResponse", "parse_target_uri"]


class DeploymentError(MltrackError):
    """A deployment target could not do what was asked (its message says why)."""


def parse_target_uri(target_uri: str) -> str:
    """The target name of ``"local"``, ``"local:/state/dir"`` or ``"sagemaker:/region"``."""
    if not isinstance(target_uri, str) or not target_uri.strip():
        raise InvalidParameter(
            "A deployment target is a name or NAME:/SUFFIX, e.g. 'local' or 'sagemaker:/eu-west-1'."
        )
    parsed = urllib.parse.urlparse(target_uri.strip())
    if parsed.scheme:
        return parsed.scheme
    if parsed.path and "/" not in parsed.path:
        return parsed.path
    raise InvalidParameter(
        f"Not a deployment target: {target_uri!r}; use 'NAME' or 'NAME:/SUFFIX' (e.g. 'local')."
    )


class PredictionsResponse(dict[str, Any]):
    """What ``predict`` returns: ``{"predictions": ...}`` plus ``get_predictions()``."""

    def get_predictions(self, predictions_format: str = "dataframe", dtype: Any = None) -> Any:
        import numpy as np
        import pandas as pd

        predictions = self["predictions"]
        if predictions_format == "dataframe":
            if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
                return pd.DataFrame.from_records(predictions)
            return pd.DataFrame(
                {"predictions": predictions} if isinstance(predictions, list) else predictions
            )
        if predictions_format == "ndarray":
            return np.array(predictions, dtype=dtype)
        raise InvalidParameter(
            f"predictions_format must be 'dataframe' or 'ndarray'; got {predictions_format!r}"
        )


class BaseDeploymentClient(abc.ABC):
    """Deploy models to one target; subclasses implement at least the deployment methods."""

    def __init__(self, target_uri: str) -> None:
        self.target_uri = target_uri

    @abc.abstractmethod
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy ``model_uri`` as ``name``; blocks until it can score. Returns its dict."""

    @abc.abstractmethod
    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Serve another model or config under ``name``."""

    @abc.abstractmethod
    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Stop and forget ``name`` (no error if it does not exist)."""

    @abc.abstractmethod
    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Every deployment, each a dict with at least ``name``."""

    @abc.abstractmethod
    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """One deployment's dict."""

    @abc.abstractmethod
    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> Any:
        """Score ``inputs`` (a DataFrame or an MLflow JSON payload) with a deployment."""

    def predict_stream(
        self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None
    ) -> Any:
        raise self._unsupported("predict_stream")

    def explain(
        self, deployment_name: str | None = None, df: Any = None, endpoint: str | None = None
    ) -> Any:
        raise self._unsupported("explain")

    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        raise self._unsupported("create_endpoint")

    def update_endpoint(self, endpoint: str, config: dict[str, Any] | None = None) -> None:
        raise self._unsupported("update_endpoint")

    def delete_endpoint(self, endpoint: str) -> None:
        raise self._unsupported("delete_endpoint")

    def list_endpoints(self) -> list[dict[str, Any]]:
        raise self._unsupported("list_endpoints")

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        raise self._unsupported("get_endpoint")

    def _unsupported(self, method: str) -> DeploymentError:
        return DeploymentError(
            f"The {parse_target_uri(self.target_uri)!r} deployment target does not support "
            f"{method}."
        )
