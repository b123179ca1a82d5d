"""Model directories in MLflow's layout, saved and loaded from local paths: the sklearn
flavor (skops by default, cloudpickle fallback, pickle), the pyfunc flavor (PythonModel,
artifacts, code paths, plain callables), the environment files and the mismatch warning."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import jupyter_mltrack as mt
from jupyter_mltrack.errors import AlreadyExists, InvalidParameter, NotFound, SchemaMismatch


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60)})
    y = (X["x1"] + X["x2"] > 0).astype(int).to_numpy()
    return X, y


def _mlmodel(path: Path) -> dict:
    return yaml.safe_load((path / "MLmodel").read_text())


def test_sklearn_default_is_skops_with_mlflow_layout(tmp_path: Path, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    out = tmp_path / "m"
    mt.sklearn.save_model(model, out, input_example=X.head(3))
    names = {p.name for p in out.iterdir()}
    assert {
        "MLmodel",
        "model.skops",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
    } <= names
    meta = _mlmodel(out)
    pyfunc = meta["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "jupyter_mltrack.sklearn"
    assert pyfunc["model_path"] == "model.skops"
    assert pyfunc["python_version"] == platform.python_version()
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    sk = meta["flavors"]["sklearn"]
    assert sk["serialization_format"] == "skops" and sk["pickled_model"] == "model.skops"
    assert meta["model_size_bytes"] > 0 and meta["utc_time_created"] and meta["model_uuid"]
    assert meta["saved_input_example_info"]["type"] == "dataframe"
    assert json.loads(meta["signature"]["inputs"])[0] == {
        "type": "double",
        "name": "x1",
        "required": True,
    }
    reqs = (out / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("skops==") for r in reqs)
    assert (
        yaml.safe_load((out / "python_env.yaml").read_text())["python"] == platform.python_version()
    )
    example = json.loads((out / "input_example.json").read_text())
    assert example["columns"] == ["x1", "x2"] and len(example["data"]) == 3

    loaded = mt.models.load_model(out)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.metadata.get_input_schema().input_names() == ["x1", "x2"]
    assert loaded.metadata.saved_input_example_info["artifact_path"] == "input_example.json"
    pd.testing.assert_frame_equal(
        loaded.metadata.load_input_example(out), X.head(3).reset_index(drop=True)
    )
    native = mt.sklearn.load_model(str(out))
    assert isinstance(native, LogisticRegression)
    np.testing.assert_array_equal(native.coef_, model.coef_)
    with pytest.raises(SchemaMismatch, match=r"missing column.*'x2'"):
        loaded.predict(X[["x1"]])


def test_tree_models_stay_skops_with_the_library_types_trusted(tmp_path: Path, data) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    mt.sklearn.save_model(model, tmp_path / "rf", pyfunc_predict_fn="predict_proba")
    sk = _mlmodel(tmp_path / "rf")["flavors"]["sklearn"]
    assert sk["serialization_format"] == "skops"
    assert sk["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]
    proba = mt.models.load_model(tmp_path / "rf").predict(X)
    np.testing.assert_allclose(proba, model.predict_proba(X))


def test_user_code_falls_back_to_cloudpickle_with_a_note(tmp_path: Path, data) -> None:
    X, y = data
    pipe = make_pipeline(FunctionTransformer(lambda v: v * 2), LogisticRegression()).fit(X, y)
    with pytest.warns(UserWarning, match="saved with cloudpickle"):
        mt.sklearn.save_model(pipe, tmp_path / "p")
    sk = _mlmodel(tmp_path / "p")["flavors"]["sklearn"]
    assert sk["serialization_format"] == "cloudpickle"
    assert "cloudpickle" in sk["serialization_note"]
    assert any(
        r.startswith("cloudpickle==") for r in (tmp_path / "p/requirements.txt").read_text().split()
    )
    np.testing.assert_array_equal(mt.models.load_model(tmp_path / "p").predict(X), pipe.predict(X))


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_pickle_formats_on_request(tmp_path: Path, data, fmt: str) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    mt.sklearn.save_model(model, tmp_path / fmt, serialization_format=fmt)
    assert _mlmodel(tmp_path / fmt)["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    np.testing.assert_array_equal(mt.models.load_model(tmp_path / fmt).predict(X), model.predict(X))


def test_save_validates_its_input(tmp_path: Path, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    with pytest.raises(InvalidParameter, match="serialization_format 'json'"):
        mt.sklearn.save_model(model, tmp_path / "a", serialization_format="json")
    with pytest.raises(InvalidParameter, match="no method 'transform'"):
        mt.sklearn.save_model(model, tmp_path / "a", pyfunc_predict_fn="transform")
    mt.sklearn.save_model(model, tmp_path / "a")
    with pytest.raises(AlreadyExists, match="already exists"):
        mt.sklearn.save_model(model, tmp_path / "a")
    with pytest.raises(InvalidParameter, match=r"pip_requirements .* not both"):
        mt.sklearn.save_model(
            model, tmp_path / "b", pip_requirements=["x"], extra_pip_requirements=["y"]
        )
    assert not (tmp_path / "b").exists()  # a failed save leaves nothing behind
    with pytest.raises(NotFound, match="does not exist"):
        mt.models.load_model(tmp_path / "nope")
    with pytest.raises(InvalidParameter, match="model_uri must be"):
        mt.models.load_model(42)


def test_requirements_overrides(tmp_path: Path, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    mt.sklearn.save_model(model, tmp_path / "a", pip_requirements=["scikit-learn", "numpy<3"])
    assert (tmp_path / "a/requirements.txt").read_text().split() == ["scikit-learn", "numpy<3"]
    mt.sklearn.save_model(model, tmp_path / "b", extra_pip_requirements=["pyarrow"])
    reqs = (tmp_path / "b/requirements.txt").read_text().split()
    assert reqs[-1] == "pyarrow" and any(r.startswith("scikit-learn==") for r in reqs)


def test_environment_mismatch_warns_one_line(tmp_path: Path, data) -> None:
    X, y = data
    mt.sklearn.save_model(LogisticRegression().fit(X, y), tmp_path / "m")
    reqs = tmp_path / "m/requirements.txt"
    reqs.write_text(reqs.read_text() + "\nscikit-learn==0.1.0\nno-such-dist-xyz==1.0")
    with pytest.warns(UserWarning, match="saved in another environment") as record:
        mt.models.load_model(tmp_path / "m")
    message = str(record[0].message)
    assert "\n" not in message
    assert (
        "scikit-learn==0.1.0 saved" in message
        and "no-such-dist-xyz==1.0 saved, not installed" in message
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mt.models.load_model(tmp_path / "m", suppress_warnings=True)


class Scale(mt.pyfunc.PythonModel):
    def __init__(self, factor: float) -> None:
        self.factor = factor

    def load_context(self, context) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context, model_input, params=None):
        extra = (params or {}).get("extra", 0.0)
        return model_input * self.factor + self.offset + extra


class NoContext(mt.pyfunc.PythonModel):
    def predict(self, model_input, params=None):  # MLflow 3's form
        return model_input["x1"] * 10


def test_pyfunc_python_model_artifacts_params(tmp_path: Path, data) -> None:
    X, _ = data
    (tmp_path / "offset.txt").write_text("1.5")
    sig = mt.models.infer_signature(X, X, params={"extra": 0.0})
    mt.pyfunc.save_model(
        tmp_path / "m",
        python_model=Scale(2.0),
        artifacts={"offset": tmp_path / "offset.txt"},
        signature=sig,
    )
    conf = _mlmodel(tmp_path / "m")["flavors"]["python_function"]
    assert conf["loader_module"] == "jupyter_mltrack.pyfunc"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"]["offset"]["path"] == "artifacts/offset.txt"
    loaded = mt.pyfunc.load_model(str(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(X), X * 2.0 + 1.5)
    pd.testing.assert_frame_equal(loaded.predict(X, params={"extra": 1}), X * 2.0 + 2.5)
    assert isinstance(loaded.unwrap_python_model(), Scale)
    with pytest.raises(SchemaMismatch, match="Param 'extra' expects double"):
        loaded.predict(X, params={"extra": "much"})

    mt.pyfunc.save_model(tmp_path / "nc", python_model=NoContext())
    np.testing.assert_allclose(mt.pyfunc.load_model(tmp_path / "nc").predict(X), X["x1"] * 10)
    mt.pyfunc.save_model(
        tmp_path / "fn", python_model=lambda df: df.sum(axis=1), input_example=X.head(2)
    )
    fn = mt.pyfunc.load_model(tmp_path / "fn")
    np.testing.assert_allclose(fn.predict(X), X.sum(axis=1))
    assert fn.metadata.get_output_schema() is not None  # inferred from the example's prediction
    sk = mt.models.load_model(_sklearn_dir(tmp_path, data))
    assert isinstance(sk.get_raw_model(), LogisticRegression)
    with pytest.raises(InvalidParameter, match="unwrap_python_model works on pyfunc"):
        sk.unwrap_python_model()


def _sklearn_dir(tmp_path: Path, data) -> Path:
    X, y = data
    out = tmp_path / "sk"
    if not out.exists():
        mt.sklearn.save_model(LogisticRegression().fit(X, y), out)
    return out


def test_pyfunc_code_paths_are_importable_in_a_fresh_process(tmp_path: Path) -> None:
    lib = tmp_path / "src" / "helperlib_xq.py"
    lib.parent.mkdir()
    lib.write_text("def double(v):\n    return v * 2\n")
    sys.path.insert(0, str(lib.parent))
    try:
        import helperlib_xq  # type: ignore[import-not-found]

        class UsesLib(mt.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return helperlib_xq.double(model_input)

        mt.pyfunc.save_model(tmp_path / "m", python_model=UsesLib(), code_paths=[str(lib)])
    finally:
        sys.path.remove(str(lib.parent))
        sys.modules.pop("helperlib_xq", None)
    assert (tmp_path / "m/code/helperlib_xq.py").is_file()
    assert _mlmodel(tmp_path / "m")["flavors"]["python_function"]["code"] == "code"
    # a worker process with only the model directory (what serving and batch predict do)
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from jupyter_mltrack.models import pyfunc_loader
        meta, impl = pyfunc_loader({str(tmp_path / "m")!r})
        print(impl.predict(pd.DataFrame({{"x": [1.0, 2.0]}}))["x"].tolist())
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRACK_TRACKING")}
    env["MLTRACK_TRACKING_URI"] = "duckdb:///nonexistent-dir-should-not-open/s.duckdb"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[2.0, 4.0]"
    assert not Path("/nonexistent-dir-should-not-open").exists()


def test_pyfunc_validates(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="needs python_model"):
        mt.pyfunc.save_model(tmp_path / "a")
    with pytest.raises(InvalidParameter, match="must be an instance"):
        mt.pyfunc.save_model(tmp_path / "a", python_model=Scale)
    with pytest.raises(InvalidParameter, match=r"artifacts\['x'\].*does not exist"):
        mt.pyfunc.save_model(
            tmp_path / "a", python_model=Scale(1.0), artifacts={"x": tmp_path / "missing"}
        )
    with pytest.raises(InvalidParameter, match="code_paths entry"):
        mt.pyfunc.save_model(
            tmp_path / "a", python_model=Scale(1.0), code_paths=[str(tmp_path / "missing.py")]
        )


def test_a_transformer_without_predict_saves_without_pyfunc(tmp_path: Path) -> None:
    """PCA has no predict: saved with the sklearn flavor only, as MLflow saves it."""
    from sklearn.decomposition import PCA

    rows = np.random.default_rng(0).random((20, 4))
    pca = PCA(2).fit(rows)
    mt.sklearn.save_model(pca, tmp_path / "pca")
    flavors = yaml.safe_load((tmp_path / "pca" / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {"sklearn"}
    back = mt.sklearn.load_model(str(tmp_path / "pca"))
    np.testing.assert_allclose(back.transform(rows), pca.transform(rows))
    with pytest.raises(InvalidParameter, match="no python_function flavor"):
        mt.models.load_model(str(tmp_path / "pca"))
    with pytest.raises(InvalidParameter, match="pyfunc_predict_fn"):
        mt.sklearn.save_model(pca, tmp_path / "pca2", pyfunc_predict_fn="predict_proba")
