"""``mt.evaluate`` against a real DuckDB store: what lands in the run (metrics tied to the
dataset, the dataset input, every plot loadable, per-row tables through ``mt.load_table``),
baselines and thresholds, the data kinds it takes, and model URIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.evaluation import ModelValidationFailed

pytestmark = pytest.mark.usefixtures("tracking_store")

FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 3))
    y = (X[:, 0] - X[:, 1] + rng.normal(scale=0.8, size=1500) > 0).astype(int)
    return pd.DataFrame(X, columns=FEATURES).assign(label=y)


@pytest.fixture(scope="module")
def models(frame: pd.DataFrame) -> tuple[LogisticRegression, LogisticRegression]:
    good = LogisticRegression().fit(frame[FEATURES], frame["label"])
    weak = LogisticRegression().fit(frame[["c"]].rename(columns={"c": "c"}), frame["label"])
    return good, weak


def _artifact(run_id: str, path: str, tmp_path: Path) -> bytes:
    local = mt.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(tmp_path))
    return Path(local).read_bytes()


def test_classifier_evaluation_lands_in_a_new_run(
    frame: pd.DataFrame, models: tuple[Any, Any], tmp_path: Path
) -> None:
    good, _ = models
    mt.set_experiment("eval")
    result = mt.evaluate(good, frame, targets="label", model_type="classifier")
    assert mt.active_run() is None  # the run evaluate started is ended
    run = mt.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    pred = good.predict(frame[FEATURES])
    assert run.data.metrics["f1_score"] == pytest.approx(skm.f1_score(frame["label"], pred), 1e-12)
    assert set(result.metrics) <= set(run.data.metrics)
    # the metrics are tied to the dataset, which is a run input
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == result.dataset_digest
    history = mt.MlflowClient().get_metric_history(result.run_id, "roc_auc")
    assert history[0].dataset_digest == result.dataset_digest
    # every plot: a PNG under MLflow's name and a plotly figure that loads
    names = {f.path for f in mt.list_artifacts(result.run_id)}
    for plot in (
        "confusion_matrix",
        "roc_curve_plot",
        "precision_recall_curve_plot",
        "lift_curve_plot",
        "calibration_curve_plot",
    ):
        assert f"{plot}.png" in names and f"{plot}.plotly.json" in names
        assert _artifact(result.run_id, f"{plot}.png", tmp_path)[:8] == b"\x89PNG\r\n\x1a\n"
        figure = json.loads(_artifact(result.run_id, f"{plot}.plotly.json", tmp_path))
        assert figure["data"] and "layout" in figure
        assert result.artifacts[plot].path == f"{plot}.png"
        assert result.artifacts[plot].uri.endswith(f"/{plot}.png")
    cm = json.loads(_artifact(result.run_id, "confusion_matrix.plotly.json", tmp_path))
    counts = np.array(cm["data"][0]["text"])
    assert counts.tolist() == skm.confusion_matrix(frame["label"], pred).tolist()


def test_active_run_is_reused_and_model_id_links_metrics(frame: pd.DataFrame, models: Any) -> None:
    good, _ = models
    with mt.start_run() as run:
        result = mt.evaluate(
            good, frame, targets="label", model_type="classifier", model_id="m-" + "0" * 32
        )
    assert result.run_id == run.info.run_id
    assert result.model_id == "m-" + "0" * 32
    history = mt.MlflowClient().get_metric_history(run.info.run_id, "accuracy_score")
    assert history[0].model_id == "m-" + "0" * 32


def test_regressor_on_a_duckdb_relation_and_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 2))
    y = 1 + X @ np.array([2.0, -1.0]) + rng.normal(scale=0.3, size=800)
    df = pd.DataFrame(X, columns=["x1", "x2"]).assign(y=y)
    model = LinearRegression().fit(df[["x1", "x2"]], y)
    con = duckdb.connect()
    con.register("frame", df)
    relation = con.sql("SELECT * FROM frame")
    result = mt.evaluate(model, relation, targets="y", model_type="regressor")
    pred = model.predict(df[["x1", "x2"]])
    assert result.metrics["r2_score"] == pytest.approx(skm.r2_score(y, pred), 1e-12)
    assert {"residuals_plot", "predicted_vs_actual_plot"} <= set(result.artifacts)
    arrays = mt.evaluate(
        lambda a: a @ np.array([2.0, -1.0]) + 1, X, targets=y, model_type="regressor"
    )
    assert arrays.metrics["mean_absolute_error"] == pytest.approx(
        skm.mean_absolute_error(y, X @ np.array([2.0, -1.0]) + 1), 1e-12
    )


def test_logged_dataset_with_static_predictions(frame: pd.DataFrame) -> None:
    data = frame.assign(pred=(frame["a"] > frame["b"]).astype(int))
    dataset = mt.data.from_pandas(data, targets="label", predictions="pred", name="holdout")
    result = mt.evaluate(data=dataset, model_type="classifier")
    assert result.metrics["accuracy_score"] == pytest.approx(
        skm.accuracy_score(data["label"], data["pred"]), 1e-12
    )
    (dataset_input,) = mt.get_run(result.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.name == "holdout"


def test_baseline_deltas_and_thresholds(frame: pd.DataFrame, models: Any) -> None:
    good, weak = models

    def weak_model(features: pd.DataFrame) -> Any:
        return weak.predict(features[["c"]])

    result = mt.evaluate(
        good, frame, targets="label", model_type="classifier", baseline_model=weak_model
    )
    assert result.baseline is not None
    metrics = mt.get_run(result.run_id).data.metrics
    delta = result.metrics["f1_score"] - result.baseline.metrics["f1_score"]
    assert metrics["delta/f1_score"] == pytest.approx(delta)
    assert metrics["baseline/f1_score"] == pytest.approx(result.baseline.metrics["f1_score"])
    # passes silently
    mt.validate(result, thresholds={"f1_score": mt.Threshold(min=0.5, min_relative_change=0.01)})
    # one error listing every failure with its values
    with pytest.raises(ModelValidationFailed) as info:
        mt.validate(
            result,
            thresholds={
                "f1_score": mt.Threshold(min=0.99),
                "log_loss": mt.MetricThreshold(threshold=0.01),
                "accuracy_score": mt.Threshold(min_absolute_change=0.9),
            },
        )
    message = str(info.value)
    assert "3 threshold(s)" in message
    assert f"f1_score: {result.metrics['f1_score']:.6g} is not >= the threshold 0.99" in message
    assert "log_loss" in message and "<= the threshold 0.01" in message
    assert "less than min_absolute_change 0.9" in message
    assert len(info.value.failures) == 3
    with pytest.raises(ModelValidationFailed, match="f1_score"):
        mt.evaluate(
            good,
            frame,
            targets="label",
            model_type="classifier",
            validation_thresholds={"f1_score": mt.Threshold(min=0.999)},
        )
    with pytest.raises(InvalidParameter, match="direction of metric 'custom' is unknown"):
        mt.validate({"custom": 1.0}, thresholds={"custom": mt.Threshold(threshold=0.5)})


def test_text_evaluation_with_judge_and_load_table() -> None:
    df = pd.DataFrame(
        {
            "question": ["What is 2+2?", "Capital of France?", "Color of the sky?"],
            "answer": ["4", "Paris is the capital", "blue"],
        }
    )

    def model(frame: pd.DataFrame) -> list[str]:
        canned = {"What is 2+2?": "4", "Capital of France?": "Paris", "Color of the sky?": "grey"}
        return [canned[q] for q in frame["question"]]

    def judge_fn(question: str, output: str, reference: str) -> dict[str, Any]:
        hit = output.split()[0] == reference.split()[0]
        return {
            "score": 1.0 if hit else 0.0,
            "justification": f"first word {'matches' if hit else 'differs'}",
        }

    judge = mt.metrics.make_judge(judge_fn, name="first_word")
    result = mt.evaluate(
        model, df, targets="answer", model_type="question-answering", extra_metrics=[judge]
    )
    assert result.metrics["exact_match/v1"] == pytest.approx(1 / 3)
    assert result.metrics["first_word/mean"] == pytest.approx(2 / 3)
    assert "rouge1/v1/mean" in result.metrics and "latency/mean" in result.metrics
    table = mt.load_table(
        "eval_results_table.json", run_ids=[result.run_id], extra_columns=["run_id"]
    )
    assert table["first_word/justification"].tolist() == [
        "first word matches",
        "first word matches",
        "first word differs",
    ]
    assert table["outputs"].tolist() == ["4", "Paris", "grey"]
    assert set(table["run_id"]) == {result.run_id}
    pd.testing.assert_frame_equal(
        result.tables["eval_results_table"].reset_index(drop=True),
        table.drop(columns=["run_id"]),
        check_dtype=False,
    )
    with pytest.raises(InvalidParameter, match="No run among 1 has the table"):
        mt.load_table("nope.json", run_ids=[result.run_id])


def test_model_uri_from_a_logged_model(frame: pd.DataFrame, models: Any) -> None:
    good, _ = models
    with mt.start_run():
        info = mt.sklearn.log_model(good, name="clf")
        result = mt.evaluate(info.model_uri, frame, targets="label", model_type="classifier")
    assert result.model_id == info.model_id
    assert result.metrics["score"] == pytest.approx(good.score(frame[FEATURES], frame["label"]))
    assert "roc_auc" in result.metrics  # the native estimator's predict_proba was used


def test_evaluate_rejects_bad_arguments(frame: pd.DataFrame, models: Any) -> None:
    good, _ = models
    with pytest.raises(InvalidParameter, match="model_type= one of classifier"):
        mt.evaluate(good, frame, targets="label", model_type="clasifier")
    with pytest.raises(InvalidParameter, match="only the 'default' evaluator"):
        mt.evaluate(good, frame, targets="label", model_type="classifier", evaluators=["shap"])
    with pytest.raises(InvalidParameter, match="Unknown evaluator_config keys"):
        mt.evaluate(
            good, frame, targets="label", model_type="classifier", evaluator_config={"x": 1}
        )
    with pytest.raises(InvalidParameter, match="data must be a pandas DataFrame"):
        mt.evaluate(good, {"a": [1]}, targets="label", model_type="classifier")
