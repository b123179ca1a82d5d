"""The scikit-learn flavor (``jupyter_mltrack.sklearn`` is its public face).

Formats (the ``sklearn`` section's ``serialization_format``, MLflow's names):

- ``skops`` (the default): a zip of JSON and numpy arrays that loads without running pickled
  code. Types skops does not trust by default but that come from scikit-learn, numpy or scipy
  (``sklearn.tree._tree.Tree`` of tree ensembles) are recorded in ``skops_trusted_types``.
  An estimator skops cannot save, or one holding types from other modules (user classes,
  lambdas), falls back to ``cloudpickle`` with a ``serialization_note`` saying why.
- ``cloudpickle`` and ``pickle``: Python pickles; loading one runs code from the file.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from typing import Any

from ..errors import InvalidParameter, MltrackError
from ._log import log_model_with
from ._save import save_model_dir
from .model import Model, ModelInfo
from .signature import ModelSignature

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]

logger = logging.getLogger(__name__)

FLAVOR_NAME = "sklearn"
LOADER_MODULE = "jupyter_mltrack.sklearn"
FORMATS = ("skops", "cloudpickle", "pickle")
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}
_FORMAT_DIST = {"skops": "skops", "cloudpickle": "cloudpickle"}
_SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class _SklearnPyfunc:
    """``predict(data, params=None)`` over an estimator's ``predict`` (or another method)."""

    def __init__(self, model: Any, predict_fn: str = "predict") -> None:
        self.raw_model = model
        self.predict_fn = predict_fn

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return getattr(self.raw_model, self.predict_fn)(data)


def _dump(
    sk_model: Any, directory: str, fmt: str, trusted: list[str] | None
) -> tuple[str, str, list[str] | None, str | None]:
    """Write the estimator; returns (format, file, trusted types, note)."""
    if fmt == "skops":
        try:
            import skops.io as sio  # type: ignore[import-untyped]
        except ImportError:
            note = "skops is not installed (pip install skops); saved with cloudpickle"
            return (*_dump(sk_model, directory, "cloudpickle", None)[:3], note)
        path = os.path.join(directory, _FILES["skops"])
        try:
            sio.dump(sk_model, path)
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in (trusted or [])]
        except Exception as exc:  # skops cannot represent it (custom code, lambdas, ...)
            if os.path.exists(path):
                os.remove(path)
            note = (
                f"skops could not save this estimator ({type(exc).__name__}: {exc}); "
                "saved with cloudpickle"
            )
            return (*_dump(sk_model, directory, "cloudpickle", None)[:3], note)
        unsafe = [t for t in untrusted if not t.startswith(_SAFE_PREFIXES)]
        if unsafe:
            os.remove(path)
            note = (
                "skops would need these non-library types trusted: "
                f"{', '.join(unsafe)}; saved with cloudpickle "
                "(pass skops_trusted_types= to keep skops)"
            )
            return (*_dump(sk_model, directory, "cloudpickle", None)[:3], note)
        trusted_types = sorted({*(trusted or []), *untrusted}) or None
        return "skops", _FILES["skops"], trusted_types, None
    path = os.path.join(directory, _FILES[fmt])
    with open(path, "wb") as out:
        if fmt == "cloudpickle":
            import cloudpickle  # type: ignore[import-untyped]

            cloudpickle.dump(sk_model, out)
        else:
            pickle.dump(sk_model, out, protocol=pickle.DEFAULT_PROTOCOL)
    return fmt, _FILES[fmt], None, None


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = "skops",
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
) -> Model:
    """Save a scikit-learn estimator as a model directory at ``path``.

    ``serialization_format`` is ``"skops"`` (safe, default), ``"cloudpickle"`` or
    ``"pickle"``; see the module doc for the fallback. ``pyfunc_predict_fn`` is the method
    ``predict`` of the loaded pyfunc model calls (``"predict_proba"``, ...).
    """
    if serialization_format not in FORMATS:
        raise InvalidParameter(
            f"serialization_format {serialization_format!r} is not one of {', '.join(FORMATS)}."
        )
    # a transformer such as PCA has no predict: MLflow saves it without the pyfunc flavor
    with_pyfunc = hasattr(sk_model, pyfunc_predict_fn)
    if not with_pyfunc and pyfunc_predict_fn != "predict":
        raise InvalidParameter(
            f"The model ({type(sk_model).__name__}) has no method {pyfunc_predict_fn!r} to use "
            "as pyfunc_predict_fn; fit it first or pass an existing method name."
        )
    if conda_env is not None:
        warnings.warn("conda_env is ignored; use pip_requirements.", UserWarning, stacklevel=2)
    import sklearn  # type: ignore[import-untyped]

    written: dict[str, Any] = {}

    def payload(directory: str) -> dict[str, Any]:
        fmt, file, trusted, note = _dump(
            sk_model, directory, serialization_format, skops_trusted_types
        )
        written.update(fmt=fmt, file=file, trusted=trusted, note=note)
        return {"model_path": file, "predict_fn": pyfunc_predict_fn}

    model = save_model_dir(
        path,
        flavor_name=FLAVOR_NAME,
        flavor_conf=lambda: {
            "pickled_model": written["file"],
            "serialization_format": written["fmt"],
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": written["trusted"],
            "code": None,
            **({"serialization_note": written["note"]} if written["note"] else {}),
        },
        loader_module=LOADER_MODULE,
        write_payload=payload,
        distributions=lambda: ["scikit-learn", _FORMAT_DIST.get(written["fmt"], "")],
        extra_modules=[type(sk_model).__module__],
        predict_fn=getattr(sk_model, pyfunc_predict_fn, None),
        with_pyfunc=with_pyfunc,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )
    if written.get("note"):
        warnings.warn(f"sklearn save_model: {written['note']}.", UserWarning, stacklevel=2)
    return model


def _load_from_file(path: str, fmt: str, trusted: list[str] | None) -> Any:
    if fmt == "skops":
        import skops.io as sio

        return sio.load(path, trusted=trusted)
    if fmt not in FORMATS:
        raise InvalidParameter(f"Unknown sklearn serialization_format {fmt!r} in MLmodel.")
    with open(path, "rb") as fh:
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(fh)
        return pickle.load(fh)


def _flavor_conf(model_dir: str) -> dict[str, Any]:
    meta = Model.load(model_dir)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidParameter(
            f"The model at {model_dir!r} has no sklearn flavor (it has "
            f"{', '.join(sorted(meta.flavors))}); load it with mt.models.load_model."
        )
    return conf


def _load_pyfunc(path: str, model_config: Any = None) -> _SklearnPyfunc:
    """The pyfunc loader (``loader_module``): ``path`` is the model directory or its file."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    conf = _flavor_conf(model_dir)
    pyconf = Model.load(model_dir).flavors.get("python_function", {})
    file = os.path.join(
        model_dir, conf.get("pickled_model") or pyconf.get("model_path") or "model.pkl"
    )
    fmt = conf.get("serialization_format", "pickle")
    model = _load_from_file(file, fmt, conf.get("skops_trusted_types"))
    return _SklearnPyfunc(model, pyconf.get("predict_fn", "predict"))


def load_model(model_uri: Any, dst_path: str | None = None) -> Any:
    """The scikit-learn estimator stored at ``model_uri`` (any URI ``mt.models.load_model``
    takes). Pickled formats run code from the file while loading: load trusted models only."""
    from .uri import resolve_model_uri

    local = resolve_model_uri(model_uri, dst_path)
    conf = _flavor_conf(local)
    file = os.path.join(local, conf.get("pickled_model", "model.pkl"))
    return _load_from_file(
        file, conf.get("serialization_format", "pickle"), conf.get("skops_trusted_types")
    )


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    **kwargs: Any,
) -> ModelInfo:
    """Log an estimator as a logged model of the active run (see
    :func:`jupyter_mltrack.models._log.log_model_with`); ``kwargs`` go to :func:`save_model`."""
    return log_model_with(
        lambda path, **kw: save_model(sk_model, path, **kw),
        flavor_name=FLAVOR_NAME,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        **kwargs,
    )


def autolog_model_hook(
    estimator: Any,
    run_id: str,
    *,
    name: str = "model",
    input_example: Any = None,
    signature: ModelSignature | None = None,
    params: dict[str, Any] | None = None,
    registered_model_name: str | None = None,
    serialization_format: str = "skops",
) -> ModelInfo:
    """sklearn autolog's ``_log_model_hook``: log the fitted estimator into ``run_id`` as a
    logged model called ``name`` (``"model"``, or ``"best_estimator"`` for a search)."""
    if not run_id:
        raise MltrackError("autolog gave no run to attach the model to.")
    return log_model(
        estimator,
        name=name,
        run_id=run_id,
        input_example=input_example,
        signature=signature,
        params=params,
        registered_model_name=registered_model_name,
        serialization_format=serialization_format,
    )
