"""Entities construct and read as MLflow's do: ``Metric(key, value, timestamp, step)``,
``Param(key, value)``, ``RunTag(key, value)``, ``run._info``."""

from __future__ import annotations

import dataclasses

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.entities import (
    Metric,
    MetricHistory,
    Param,
    Run,
    RunData,
    RunInfo,
    RunOutputs,
    RunTag,
)


def test_metric_positional_as_in_mlflow() -> None:
    m = Metric("loss", 0.5, 1_700_000_000_000, 3)
    assert (m.key, m.value, m.timestamp, m.step) == ("loss", 0.5, 1_700_000_000_000, 3)
    assert m.timestamp_ms == m.timestamp


def test_metric_keywords_mlflow_and_ours() -> None:
    mlflow_style = Metric(key="loss", value=0.5, timestamp=10, step=3)
    ours = Metric(key="loss", value=0.5, timestamp_ms=10, step=3)
    assert mlflow_style == ours == Metric("loss", 0.5, 10, 3)
    assert hash(mlflow_style) == hash(ours)
    assert [f.name for f in dataclasses.fields(Metric)] == [
        "key",
        "value",
        "timestamp_ms",
        "step",
        "model_id",
        "dataset_name",
        "dataset_digest",
        "run_id",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.value = 1.0  # type: ignore[misc]


def test_metric_links_as_in_mlflow_3() -> None:
    """MLflow 3's ``Metric(key, value, timestamp, step, model_id, dataset_name,
    dataset_digest, run_id)``; the dataset is named by both name and digest or not at all."""
    plain = Metric("loss", 0.5, 10, 3)
    assert (plain.model_id, plain.dataset_name, plain.dataset_digest, plain.run_id) == (
        None,
        None,
        None,
        None,
    )
    linked = Metric("loss", 0.5, 10, 3, "m-1", "train", "abc123", "r1")
    assert linked == Metric(
        key="loss",
        value=0.5,
        timestamp=10,
        step=3,
        model_id="m-1",
        dataset_name="train",
        dataset_digest="abc123",
        run_id="r1",
    )
    assert linked != plain
    with pytest.raises(mt.errors.InvalidParameter, match="give both"):
        Metric("loss", 0.5, 10, 3, dataset_name="train")
    with pytest.raises(mt.errors.InvalidParameter, match="give both"):
        Metric("loss", 0.5, 10, 3, dataset_digest="abc123")


def test_metric_needs_one_timestamp_and_a_step() -> None:
    with pytest.raises(TypeError, match="exactly one of timestamp"):
        Metric("loss", 0.5, step=1)
    with pytest.raises(TypeError, match="exactly one of timestamp"):
        Metric("loss", 0.5, 1, 1, timestamp_ms=1)
    with pytest.raises(TypeError, match="missing required argument: 'step'"):
        Metric("loss", 0.5, 10)


def test_metric_history_items_are_metrics() -> None:
    import numpy as np

    history = MetricHistory("loss", np.array([0, 1]), np.array([0.5, 0.25]), np.array([7, 8]))
    assert list(history) == [Metric("loss", 0.5, 7, 0), Metric("loss", 0.25, 8, 1)]
    assert history[1].timestamp == 8
    assert history.links is None
    assert list(history.to_pandas().columns) == ["step", "value", "timestamp_ms"]


def test_metric_history_with_links_carries_them_per_point() -> None:
    import numpy as np

    links = (["train", None], ["abc", None], [None, "m-1"])
    history = MetricHistory("acc", np.array([0, 1]), np.array([0.5, 0.6]), np.array([7, 8]), links)
    assert list(history) == [
        Metric("acc", 0.5, 7, 0, None, "train", "abc"),
        Metric("acc", 0.6, 8, 1, "m-1"),
    ]
    assert history[0].dataset_name == "train" and history[1].model_id == "m-1"
    frame = history.to_pandas()
    assert frame["dataset_digest"][0] == "abc" and frame["dataset_digest"].isna().tolist() == [
        False,
        True,
    ]
    assert frame["model_id"][1] == "m-1" and frame["model_id"].isna()[0]


def test_param_and_tag_positional_and_keyword() -> None:
    assert Param("lr", "0.1") == Param(key="lr", value="0.1")
    assert RunTag("team", "a") == RunTag(key="team", value="a")
    assert (Param("lr", "0.1").key, RunTag("team", "a").value) == ("lr", "a")


def test_run_exposes_mlflows_private_parts_and_outputs() -> None:
    info = RunInfo("r1", "0", "name", "RUNNING", 1, None, "me", "active", "file:///a")
    run = Run(info, RunData(params={"p": "1"}))
    assert run._info is run.info and run._info.run_id == "r1"
    assert run._data is run.data and run._inputs is run.inputs
    assert run.outputs == run._outputs == RunOutputs() and run.outputs.model_outputs == []


def test_batch_of_mlflow_style_entities_is_logged(tracking_store: str) -> None:
    with mt.start_run() as run:
        mt.log_batch(
            metrics=[Metric("loss", 0.5, 1_700_000_000_000, 0), Metric("loss", 0.25, 1, 1)],
            params=[Param("lr", "0.1")],
            tags=[RunTag("team", "a")],
        )
    got = mt.get_run(run.info.run_id)
    assert got.data.metrics == {"loss": 0.25}
    assert got.data.params == {"lr": "0.1"} and got.data.tags["team"] == "a"
    history = mt.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1_700_000_000_000), (1, 1)]
