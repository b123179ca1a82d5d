"""MLflow drop-in pieces of the fluent API against a real store: datasets as run inputs,
``get_artifact_uri``, ``ActiveRun._info``, ``MlflowClient``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.entities import Dataset
from jupyter_mltrack.errors import InvalidParameter


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})


def test_log_input_shows_on_the_run_as_in_mlflow(tracking_store):
    train = mt.data.from_pandas(_frame(), source="data/train.csv", targets="y", name="train")
    with mt.start_run() as run:
        mt.log_input(train, context="training", tags={"split": "a"})
        mt.log_input(mt.data.from_numpy(np.zeros((2, 3)), name="eval"))
    inputs = mt.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"train", "eval"}
    logged = by_name["train"]
    assert type(logged.dataset) is Dataset  # the record only, not the frame
    assert (logged.dataset.digest, logged.dataset.source_type) == (train.digest, "local")
    assert json.loads(logged.dataset.source) == {"uri": "data/train.csv"}
    assert json.loads(logged.dataset.profile or "")["num_rows"] == 3
    assert json.loads(logged.dataset.schema or "")["mlflow_colspec"][0]["name"] == "x"
    assert logged.tags == {"mlflow.data.context": "training", "split": "a"}
    assert logged.context == "training"
    assert by_name["eval"].tags == {}


def test_log_inputs_batch_and_errors(tracking_store):
    a = mt.data.from_pandas(_frame(), name="a")
    b = mt.data.from_pandas(_frame().head(2), name="b")
    with mt.start_run() as run:
        mt.log_inputs([a, b], ["training", None], [None, {"k": "v"}])
        mt.log_inputs()  # nothing to record
        with pytest.raises(InvalidParameter, match="2 datasets, 1 contexts and 2 tag dicts"):
            mt.log_inputs([a, b], ["training"])
        with pytest.raises(InvalidParameter, match="tags must be a dict"):
            mt.log_input(a, tags=["k"])  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match="needs a dataset"):
            mt.log_input(_frame())  # type: ignore[arg-type]
    tags = {i.dataset.name: i.tags for i in mt.get_run(run.info.run_id).inputs.dataset_inputs}
    assert tags == {"a": {"mlflow.data.context": "training"}, "b": {"k": "v"}}


def test_get_artifact_uri(tracking_store):
    with mt.start_run() as run:
        root = mt.get_artifact_uri()
        assert root == run.info.artifact_uri == mt.get_run(run.info.run_id).info.artifact_uri
        assert mt.get_artifact_uri("plots/loss.png") == root.rstrip("/") + "/plots/loss.png"
        assert mt.get_artifact_uri("./a//b.txt") == root.rstrip("/") + "/a/b.txt"
        with pytest.raises(InvalidParameter, match=r"'\.\.' segment"):
            mt.get_artifact_uri("../escape")
        mt.log_text("hi", "notes/a.txt")
    assert mt.active_run() is None
    # without an active run a run is started, as in MLflow
    started = mt.get_artifact_uri()
    assert mt.active_run() is not None and started == mt.active_run().info.artifact_uri
    mt.end_run()


def test_active_run_info_as_mlflows_sklearn_examples_read_it(tracking_store):
    with mt.start_run() as run:
        mt.log_param("alpha", 0.5)
    assert run._info.run_id == run.info.run_id
    assert mt.get_run(run._info.run_id).data.params == {"alpha": "0.5"}


def test_mlflow_client_is_exported(tracking_store):
    with mt.start_run() as run:
        mt.log_metric("m", 1.0, step=2)
    client = mt.MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "m")] == [
        (2, 1.0)
    ]
