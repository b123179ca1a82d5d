"""The PyTorch flavor, as ``mlflow.pytorch``: ``save_model``, ``log_model`` and
``load_model`` (the ``torch.nn.Module``).

Example::

    with mt.start_run():
        info = mt.pytorch.log_model(net, name="net", input_example=X[:8])
    mt.models.load_model(info.model_uri).predict(X)

With an array example the model is saved as a ``torch.export`` graph (pt2), which loads
without unpickling classes; see docs/models.md.
"""

from __future__ import annotations

from .models._pytorch import FLAVOR_NAME, _load_pyfunc, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "_load_pyfunc", "load_model", "log_model", "save_model"]
