"""The generic Python-function flavor, as ``mlflow.pyfunc``: ``PythonModel``,
``save_model``, ``log_model`` and ``load_model`` (a ``PyFuncModel``).

Example::

    class AddN(mt.pyfunc.PythonModel):
        def __init__(self, n):
            self.n = n

        def predict(self, context, model_input, params=None):
            return model_input + self.n

    mt.pyfunc.save_model("add_n", python_model=AddN(2))
    mt.pyfunc.load_model("add_n").predict(pd.DataFrame({"x": [1, 2]}))
"""

from __future__ import annotations

from .models._pyfunc import (
    PythonModel,
    PythonModelContext,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)
from .models.loading import PyFuncModel, get_model_info

FLAVOR_NAME = "python_function"

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "_load_pyfunc",
    "get_model_info",
    "load_model",
    "log_model",
    "save_model",
]
