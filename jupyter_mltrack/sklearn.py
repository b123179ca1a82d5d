"""The scikit-learn flavor, as ``mlflow.sklearn``: ``save_model``, ``log_model``,
``load_model`` (the estimator) and ``autolog``.

Example::

    import jupyter_mltrack as mt

    with mt.start_run():
        info = mt.sklearn.log_model(model, name="model", input_example=X[:5])
    mt.models.load_model(info.model_uri).predict(X)

The default format is skops (loading it runs no pickled code); see docs/models.md.
"""

from __future__ import annotations

from .autolog.sklearn import autolog
from .models._sklearn import (
    FLAVOR_NAME,
    _load_pyfunc,
    autolog_model_hook,
    load_model,
    log_model,
    save_model,
)

SERIALIZATION_FORMAT_SKOPS = "skops"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_PICKLE = "pickle"

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "_load_pyfunc",
    "autolog",
    "autolog_model_hook",
    "load_model",
    "log_model",
    "save_model",
]
