"""log_model against a real DuckDB store: logged models linked to their run (MLflow 3),
every URI form load_model takes, registration, and sklearn autolog logging the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter, MltrackError, NotFound


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    return X, (X["a"] * 2 - X["b"]).to_numpy()


def test_log_model_is_a_logged_model_of_the_run(tracking_store, data) -> None:
    X, y = data
    model = LinearRegression().fit(X, y)
    with mt.start_run() as run:
        mt.log_param("alpha", 0.5)
        info = mt.sklearn.log_model(
            model, name="model", input_example=X.head(3), params={"note": "first"}
        )
    run_id = run.info.run_id
    assert info.model_uri == f"models:/{info.model_id}" and info.model_id.startswith("m-")
    assert info.run_id == run_id and info.artifact_path == "model"
    assert info.params == {"alpha": "0.5", "note": "first"}
    assert info.signature is not None and info.signature.inputs.input_names() == ["a", "b"]

    logged = mt.get_logged_model(info.model_id)
    assert logged.status == "READY" and logged.source_run_id == run_id and logged.name == "model"
    files = {p.name for p in Path(logged.artifact_location.removeprefix("file://")).iterdir()}
    assert {"MLmodel", "model.skops", "requirements.txt", "input_example.json"} <= files
    meta = yaml.safe_load(
        Path(logged.artifact_location.removeprefix("file://"), "MLmodel").read_text()
    )
    assert meta["model_id"] == info.model_id and meta["run_id"] == run_id
    assert meta["artifact_path"] == logged.artifact_location

    history = json.loads(mt.get_run(run_id).data.tags["mlflow.log-model.history"])
    assert history[-1]["model_id"] == info.model_id and history[-1]["artifact_path"] == "model"

    expected = model.predict(X)
    for uri in (info.model_uri, f"runs:/{run_id}/model"):
        np.testing.assert_allclose(mt.models.load_model(uri).predict(X), expected)
    assert isinstance(mt.sklearn.load_model(f"runs:/{run_id}/model"), LinearRegression)
    assert mt.models.get_model_info(info.model_uri).model_id == info.model_id


def test_registered_model_uris(tracking_store, data) -> None:
    X, y = data
    with mt.start_run():
        first = mt.sklearn.log_model(
            LinearRegression().fit(X, y), name="m", registered_model_name="reg"
        )
        second = mt.sklearn.log_model(
            LinearRegression(fit_intercept=False).fit(X, y + 3),
            name="m2",
            registered_model_name="reg",
        )
    assert (first.registered_model_version, second.registered_model_version) == ("1", "2")
    client = mt.MlflowClient()
    client.set_registered_model_alias("reg", "champion", "1")
    v1 = mt.models.load_model("models:/reg/1").predict(X)
    np.testing.assert_allclose(mt.models.load_model("models:/reg@champion").predict(X), v1)
    latest = mt.models.load_model("models:/reg/latest")
    assert latest.metadata.model_id == second.model_id
    with pytest.raises(NotFound):
        mt.models.load_model("models:/reg@nobody")
    with pytest.raises(NotFound):
        mt.models.load_model("models:/reg/9")
    with pytest.raises(InvalidParameter, match="not a number"):
        mt.models.load_model("models:/reg/one")
    with pytest.raises(InvalidParameter, match="not a model id"):
        mt.models.load_model("models:/justaname")


def test_dst_path_download_and_mlflow2_positional_artifact_path(tracking_store, tmp_path, data):
    X, y = data
    with mt.start_run() as run:
        info = mt.sklearn.log_model(LogisticRegression().fit(X, y > 0), "clf")  # MLflow 2 form
    assert info.artifact_path == "clf"
    pm = mt.models.load_model(f"runs:/{run.info.run_id}/clf", dst_path=tmp_path / "dl")
    assert Path(pm.local_path).is_relative_to(tmp_path / "dl")
    assert (Path(pm.local_path) / "MLmodel").is_file()
    with pytest.raises(InvalidParameter, match="only name="):
        mt.sklearn.log_model(LinearRegression(), "a", name="b")
    with pytest.raises(NotFound, match="No model at runs:/"):
        mt.models.load_model(f"runs:/{run.info.run_id}/nothing")


class Doubler(mt.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def test_pyfunc_log_model_without_active_run(tracking_store, data) -> None:
    X, _ = data
    info = mt.pyfunc.log_model(name="doubler", python_model=Doubler(), input_example=X.head(2))
    assert info.run_id is None and info.model_uri.startswith("models:/m-")
    pd.testing.assert_frame_equal(mt.pyfunc.load_model(info.model_uri).predict(X), X * 2)
    assert mt.last_logged_model().model_id == info.model_id


def test_sklearn_autolog_logs_the_model(tracking_store, data) -> None:
    X, y = data
    mt.autolog(log_input_examples=True)
    try:
        model = LogisticRegression().fit(X, y > 0)
    finally:
        mt.autolog(disable=True)
    run = mt.last_active_run()
    assert run is not None
    logged = mt.last_logged_model()
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
    pm = mt.models.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(pm.predict(X), model.predict(X))
    assert pm.metadata.saved_input_example_info is not None


def test_log_model_validates(tracking_store) -> None:
    with pytest.raises(InvalidParameter, match="name must be a non-empty string"):
        mt.sklearn.log_model(LinearRegression(), name="")
    with pytest.raises(InvalidParameter, match="params must be a dict"):
        mt.sklearn.log_model(LinearRegression(), name="x", params=[1])
    with pytest.raises(MltrackError):
        mt.models.load_model("models:/m-00000000000000000000000000000000")
