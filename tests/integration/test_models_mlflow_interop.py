"""Models move both ways with the real ``mlflow`` package: what we save loads with
``mlflow.pyfunc.load_model`` (and MLflow's flavor loaders) and predicts the same; sklearn,
PyTorch and pyfunc models saved by ``mlflow`` load with ours and predict the same."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

import jupyter_mltrack as mt

with warnings.catch_warnings():  # mlflow's import warns about its own type hints
    warnings.simplefilter("ignore")
    import mlflow
    import mlflow.models
    import mlflow.pyfunc
    import mlflow.pytorch
    import mlflow.sklearn

pytestmark = [  # MLflow's save/load paths warn (pickle caution, +cpu labels, type hints)
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def _mlflow_may_unpickle(monkeypatch) -> None:
    # MLflow 3.17 refuses every sklearn/pytorch pickle (skops too) unless this is set
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"f1": rng.normal(size=50), "f2": rng.normal(size=50)})
    return X, (X["f1"] - X["f2"] > 0).astype(int).to_numpy()


class TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + 1


class OurModel(mt.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.bias = float(Path(context.artifacts["bias"]).read_text())

    def predict(self, context, model_input, params=None):
        return model_input.sum(axis=1) + self.bias


class TheirModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.bias = float(Path(context.artifacts["bias"]).read_text())

    def predict(self, context, model_input, params=None):
        return model_input.sum(axis=1) + self.bias + (params or {}).get("k", 0)


class TheirModelNoContext(mlflow.pyfunc.PythonModel):
    def predict(self, model_input, params=None):  # MLflow 3's signature
        return model_input["f1"] * 3


def test_our_sklearn_models_load_in_mlflow(tmp_path: Path, frame) -> None:
    X, y = frame
    clf = LogisticRegression().fit(X, y)
    mt.sklearn.save_model(clf, tmp_path / "clf", input_example=X.head(3))
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "clf"))
    np.testing.assert_array_equal(theirs.predict(X), clf.predict(X))
    assert theirs.metadata.get_input_schema().input_names() == ["f1", "f2"]
    assert isinstance(mlflow.sklearn.load_model(str(tmp_path / "clf")), LogisticRegression)
    # a tree ensemble in skops with the library's Tree type trusted in MLmodel
    reg = RandomForestRegressor(n_estimators=4, random_state=0).fit(X, y)
    mt.sklearn.save_model(reg, tmp_path / "rf")
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(str(tmp_path / "rf")).predict(X), reg.predict(X)
    )


def test_our_pyfunc_and_pytorch_models_load_in_mlflow(tmp_path: Path, frame) -> None:
    X, _ = frame
    (tmp_path / "bias.txt").write_text("0.25")
    mt.pyfunc.save_model(
        tmp_path / "pf", python_model=OurModel(), artifacts={"bias": tmp_path / "bias.txt"}
    )
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(str(tmp_path / "pf")).predict(X), X.sum(axis=1) + 0.25
    )
    net = TorchNet().eval()
    A = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(A)).numpy()
    mt.pytorch.save_model(net, tmp_path / "pt2", input_example=A)
    mt.pytorch.save_model(net, tmp_path / "pk", serialization_format="pickle")
    for name in ("pt2", "pk"):
        np.testing.assert_allclose(
            mlflow.pyfunc.load_model(str(tmp_path / name)).predict(A), expected, rtol=1e-5
        )
    assert isinstance(mlflow.pytorch.load_model(str(tmp_path / "pk")), TorchNet)


def test_mlflow_models_load_with_ours(tmp_path: Path, frame) -> None:
    X, y = frame
    clf = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(clf, str(tmp_path / "sk"), input_example=X.head(3))
    mlflow.sklearn.save_model(clf, str(tmp_path / "skcp"), serialization_format="cloudpickle")
    for name in ("sk", "skcp"):
        ours = mt.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(ours.predict(X), clf.predict(X))
        assert isinstance(mt.sklearn.load_model(tmp_path / name), LogisticRegression)
    assert mt.models.load_model(tmp_path / "sk").metadata.saved_by.startswith("mlflow ")

    (tmp_path / "bias.txt").write_text("1.5")
    sig = mlflow.models.infer_signature(X, X.sum(axis=1), params={"k": 0.0})
    mlflow.pyfunc.save_model(
        str(tmp_path / "pf"),
        python_model=TheirModel(),
        artifacts={"bias": str(tmp_path / "bias.txt")},
        signature=sig,
    )
    ours = mt.pyfunc.load_model(tmp_path / "pf")
    np.testing.assert_allclose(ours.predict(X), X.sum(axis=1) + 1.5)
    np.testing.assert_allclose(ours.predict(X, params={"k": 2}), X.sum(axis=1) + 3.5)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "pf"))
    np.testing.assert_allclose(ours.predict(X, params={"k": 2}), theirs.predict(X, params={"k": 2}))
    mlflow.pyfunc.save_model(str(tmp_path / "pf3"), python_model=TheirModelNoContext())
    np.testing.assert_allclose(mt.models.load_model(tmp_path / "pf3").predict(X), X["f1"] * 3)

    net = TorchNet().eval()
    A = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(A)).numpy()
    mlflow.pytorch.save_model(net, str(tmp_path / "tpt2"), input_example=A)
    mlflow.pytorch.save_model(net, str(tmp_path / "tpk"), serialization_format="pickle")
    for name in ("tpt2", "tpk"):
        np.testing.assert_allclose(
            mt.models.load_model(tmp_path / name).predict(A), expected, rtol=1e-5
        )
    assert isinstance(mt.pytorch.load_model(tmp_path / "tpk"), TorchNet)


def test_logged_model_loads_by_alias_in_another_process_with_mlflow(
    tracking_store, frame, tmp_path
):
    """The issue's flow: log from Python, register, alias, load by alias elsewhere -- here the
    model directory is handed to a fresh process that only has mlflow's loader."""
    X, y = frame
    clf = LogisticRegression().fit(X, y)
    with mt.start_run():
        info = mt.sklearn.log_model(clf, name="model", registered_model_name="interop")
    mt.MlflowClient().set_registered_model_alias("interop", "prod", info.registered_model_version)
    local = mt.models.resolve_model_uri("models:/interop@prod", tmp_path / "dl")
    X.to_csv(tmp_path / "x.csv", index=False)
    script = textwrap.dedent(
        f"""
        import json, pandas as pd, mlflow.pyfunc
        m = mlflow.pyfunc.load_model({local!r})
        print(json.dumps(m.predict(pd.read_csv({str(tmp_path / "x.csv")!r})).tolist()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == clf.predict(X).tolist()
