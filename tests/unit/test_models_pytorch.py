"""The PyTorch flavor on a CPU build: the torch.export graph (pt2) by default with an array
example, the pickle format otherwise, both loading as pyfunc models and as modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter, SchemaMismatch


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * 2


@pytest.fixture(scope="module")
def net() -> Net:
    return Net().eval()


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(8, 4)).astype("float32")


@pytest.fixture(scope="module")
def pt2_dir(tmp_path_factory, net, X) -> Path:
    out = tmp_path_factory.mktemp("pt") / "pt2"
    mt.pytorch.save_model(net, out, input_example=X)
    return out


def _expected(net: Net, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


def test_pt2_is_the_default_with_an_array_example(pt2_dir: Path, net, X) -> None:
    meta = yaml.safe_load((pt2_dir / "MLmodel").read_text())
    assert (pt2_dir / "data" / "model.pt2").is_file() and not (pt2_dir / "data/model.pth").exists()
    assert meta["flavors"]["pytorch"]["serialization_format"] == "pt2"
    assert meta["flavors"]["pytorch"]["model_data"] == "data"
    assert meta["flavors"]["python_function"]["loader_module"] == "jupyter_mltrack.pytorch"
    assert meta["flavors"]["python_function"]["data"] == "data"
    reqs = (pt2_dir / "requirements.txt").read_text().split()
    assert "torch==2.13.0" in reqs  # the local label (+cpu) is not pinned
    loaded = mt.models.load_model(pt2_dir)
    np.testing.assert_allclose(loaded.predict(X), _expected(net, X), rtol=1e-5)
    # the batch dimension stays dynamic
    assert loaded.predict(X[:3]).shape == (3, 2)
    # the signature was inferred from the example: float32 [-1, 4]
    with pytest.raises(SchemaMismatch, match=r"expects shape \[-1, 4\]"):
        loaded.predict(np.zeros((2, 5), dtype="float32"))
    module = mt.pytorch.load_model(str(pt2_dir))
    with torch.no_grad():
        np.testing.assert_allclose(
            module(torch.from_numpy(X)).numpy(), _expected(net, X), rtol=1e-5
        )


def test_pickle_without_example_and_dataframe_input(tmp_path: Path, net, X) -> None:
    mt.pytorch.save_model(net, tmp_path / "pk")
    data = tmp_path / "pk" / "data"
    assert (data / "model.pth").is_file()
    assert (data / "pickle_module_info.txt").read_text() == "jupyter_mltrack.models.torch_pickle"
    loaded = mt.models.load_model(tmp_path / "pk")
    frame = pd.DataFrame(X, index=range(10, 18))
    out = loaded.predict(frame)
    assert isinstance(out, pd.DataFrame) and list(out.index) == list(range(10, 18))
    np.testing.assert_allclose(out.to_numpy(), _expected(net, X), rtol=1e-5)
    assert isinstance(mt.pytorch.load_model(tmp_path / "pk"), Net)


def test_pytorch_validates(tmp_path: Path, net) -> None:
    with pytest.raises(InvalidParameter, match=r"needs a torch.nn.Module"):
        mt.pytorch.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameter, match="pass input_example"):
        mt.pytorch.save_model(net, tmp_path / "a", serialization_format="pt2")
    with pytest.raises(InvalidParameter, match="serialization_format 'onnx'"):
        mt.pytorch.save_model(net, tmp_path / "a", serialization_format="onnx")
    mt.pytorch.save_model(net, tmp_path / "b", serialization_format="pickle")
    with pytest.raises(InvalidParameter, match="DataFrame or numpy array"):
        mt.models.load_model(tmp_path / "b").predict([[1, 2, 3, 4]])
