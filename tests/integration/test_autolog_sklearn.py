"""sklearn autolog end to end: real estimators, a real DuckDB store, read back through mt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import jupyter_mltrack as mt
from jupyter_mltrack.autolog import sklearn as sk_autolog
from jupyter_mltrack.errors import InvalidParameter

#: MLflow 3's names (mlflow.sklearn autolog), plus our fit_time_seconds
CLASSIFIER_METRICS = {
    "fit_time_seconds",
    "training_score",
    "training_accuracy_score",
    "training_f1_score",
    "training_precision_score",
    "training_recall_score",
    "training_log_loss",
    "training_roc_auc",
}
REGRESSOR_METRICS = {
    "fit_time_seconds",
    "training_score",
    "training_mean_squared_error",
    "training_root_mean_squared_error",
    "training_mean_absolute_error",
    "training_r2_score",
}
TIMING_METRICS = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}


@pytest.fixture
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store; no model hook (the model flavor is tested on its own below)."""
    monkeypatch.setattr(sk_autolog, "_log_model_hook", None)
    path = tmp_path / "s.duckdb"
    mt.set_tracking_uri(path)
    yield path
    while mt.active_run() is not None:
        mt.end_run()
    mt.set_tracking_uri(None)


@pytest.fixture
def autologging(store: Path) -> Iterator[None]:
    sk_autolog.autolog()
    yield
    sk_autolog.autolog(disable=True)


def runs() -> pd.DataFrame:
    mt.flush()
    frame = mt.search_runs(output_format="pandas")
    assert isinstance(frame, pd.DataFrame)
    return frame


def only_run() -> Any:
    frame = runs()
    assert len(frame) == 1, frame[["run_id", "status"]]
    return mt.get_run(frame.run_id.iloc[0])


def artifacts(run_id: str) -> set[str]:
    """Top-level artifacts, less the environment files every run of ours captures."""
    return {f.path for f in mt.MlflowClient().list_artifacts(run_id)} - {"environment"}


def children(parent_id: str) -> list[Any]:
    frame = runs()
    return [
        mt.get_run(rid)
        for rid in frame.run_id
        if mt.get_run(rid).data.tags.get("mlflow.parentRunId") == parent_id
    ]


def logistic() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


@pytest.mark.usefixtures("autologging")
def test_fit_without_a_run_is_one_finished_run(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    model = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)

    assert mt.active_run() is None
    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5"
    assert run.data.params["max_iter"] == "1000"
    assert run.data.params["class_weight"] == "None"
    assert set(run.data.params) == set(model.get_params(deep=True))
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    metrics = run.data.metrics
    assert set(metrics) == CLASSIFIER_METRICS
    assert metrics["training_score"] == pytest.approx(model.score(X, y))
    assert metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
    predicted = model.predict(X)
    for key, scorer in [
        ("training_f1_score", f1_score),
        ("training_precision_score", precision_score),
        ("training_recall_score", recall_score),
    ]:
        assert metrics[key] == pytest.approx(scorer(y, predicted, average="weighted")), key
    proba = model.predict_proba(X)
    assert metrics["training_log_loss"] == pytest.approx(log_loss(y, proba))
    assert metrics["training_roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, average="weighted", multi_class="ovo")
    )
    assert metrics["fit_time_seconds"] > 0
    # a multiclass classifier gets the confusion matrix only (the curves are binary)
    assert artifacts(run.info.run_id) == {"estimator.html", "training_confusion_matrix.png"}
    # the training data is the run's dataset input, and the training metrics point at it
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "dataset"
    assert dataset_input.dataset.source_type == "code"
    assert dict(dataset_input.tags) == {"mlflow.data.context": "train"}
    assert json.loads(dataset_input.dataset.profile)["features_shape"] == [150, 4]
    (point,) = mt.get_metric_history(run.info.run_id, "training_score")
    assert (point.dataset_name, point.dataset_digest) == (
        dataset_input.dataset.name,
        dataset_input.dataset.digest,
    )


@pytest.mark.usefixtures("autologging")
def test_sample_weight_is_used_for_training_metrics(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    weight = np.where(y == 2, 5.0, 1.0)
    model = LogisticRegression(C=0.01, max_iter=1000).fit(X, y, sample_weight=weight)

    metrics = only_run().data.metrics
    expected = accuracy_score(y, model.predict(X), sample_weight=weight)
    assert expected != pytest.approx(accuracy_score(y, model.predict(X)))  # weights matter here
    assert metrics["training_accuracy_score"] == pytest.approx(expected)
    assert metrics["training_score"] == pytest.approx(expected)


@pytest.mark.usefixtures("autologging")
def test_regressor_gets_regression_metrics() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X[:100], y[:100])

    metrics = only_run().data.metrics
    assert set(metrics) == REGRESSOR_METRICS
    assert metrics["training_r2_score"] == pytest.approx(model.score(X[:100], y[:100]))
    predicted = model.predict(X[:100])
    mse = mean_squared_error(y[:100], predicted)
    assert metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert metrics["training_root_mean_squared_error"] == pytest.approx(mse**0.5)
    assert metrics["training_mean_absolute_error"] == pytest.approx(
        mean_absolute_error(y[:100], predicted)
    )


@pytest.mark.usefixtures("autologging")
def test_pipeline_logs_only_the_outer_fit(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    Pipeline([("scale", StandardScaler()), ("clf", logistic())]).fit(X, y)

    run = only_run()
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["clf__C"] == "1.0"
    assert run.data.params["scale__with_mean"] == "True"
    assert set(run.data.metrics) == CLASSIFIER_METRICS


@pytest.mark.usefixtures("autologging")
def test_grid_search_logs_a_parent_and_one_child_per_candidate(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    search = GridSearchCV(logistic(), {"C": [0.01, 0.1, 1.0]}, cv=2).fit(X, y)

    frame = runs()
    assert len(frame) == 4  # the search and its 3 candidates, not one per fold
    (parent_id,) = frame.run_id[frame["tags.mlflow.parentRunId"].isna()]
    parent = mt.get_run(parent_id)
    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["estimator"] == "LogisticRegression(max_iter=1000)"
    assert "estimator__max_iter" not in parent.data.params  # a search logs shallow params
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert set(parent.data.metrics) == CLASSIFIER_METRICS | {"best_cv_score"}
    assert {"cv_results.csv", "estimator.html"} <= artifacts(parent_id)
    csv = mt.MlflowClient().download_artifacts(parent_id, "cv_results.csv")
    table = pd.read_csv(csv)
    assert list(table["param_C"]) == [0.01, 0.1, 1.0]

    kids = children(parent_id)
    assert len(kids) == 3
    by_c = {kid.data.params["C"]: kid for kid in kids}
    assert set(by_c) == {"0.01", "0.1", "1.0"}
    for index, c in enumerate(["0.01", "0.1", "1.0"]):
        kid = by_c[c]
        assert kid.info.status == "FINISHED"
        assert kid.info.start_time == parent.info.start_time
        assert kid.data.params["max_iter"] == "1000"  # the seed's params, the candidate's C
        assert kid.data.tags["estimator_name"] == "LogisticRegression"
        assert kid.data.tags["mlflow.autologging"] == "sklearn"
        assert set(kid.data.metrics) == TIMING_METRICS | {
            "mean_test_score",
            "std_test_score",
            "rank_test_score",
        }
        assert kid.data.metrics["mean_test_score"] == pytest.approx(
            search.cv_results_["mean_test_score"][index]
        )
        assert kid.data.metrics["rank_test_score"] == search.cv_results_["rank_test_score"][index]
        assert [i.dataset.digest for i in kid.inputs.dataset_inputs] == [
            i.dataset.digest for i in parent.inputs.dataset_inputs
        ]


@pytest.mark.usefixtures("store")
def test_max_tuning_runs_keeps_the_best_ranked_candidates() -> None:
    X, y = load_diabetes(return_X_y=True)
    alphas = {"alpha": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]}
    sk_autolog.autolog()
    try:
        search = RandomizedSearchCV(Ridge(), alphas, n_iter=7, cv=3, random_state=0).fit(X, y)
        first = mt.last_active_run()
        sk_autolog.autolog(max_tuning_runs=2)
        GridSearchCV(Ridge(), alphas, cv=3).fit(X, y)
        second = mt.last_active_run()
        sk_autolog.autolog(max_tuning_runs=None)
        GridSearchCV(Ridge(), alphas, cv=3).fit(X, y)
        third = mt.last_active_run()
        sk_autolog.autolog(max_tuning_runs=0)
        GridSearchCV(Ridge(), alphas, cv=3).fit(X, y)
        fourth = mt.last_active_run()
    finally:
        sk_autolog.autolog(disable=True)
    assert first is not None and second is not None and third is not None
    assert fourth is not None

    ranks = search.cv_results_["rank_test_score"]
    candidates = zip(search.cv_results_["params"], ranks, strict=True)
    best_five = sorted(str(p["alpha"]) for p, r in candidates if r <= 5)
    assert sorted(k.data.params["alpha"] for k in children(first.info.run_id)) == best_five
    assert sorted(k.data.metrics["rank_test_score"] for k in children(second.info.run_id)) == [
        1.0,
        2.0,
    ]
    assert len(children(third.info.run_id)) == 7
    assert children(fourth.info.run_id) == []
    assert "cv_results.csv" in artifacts(fourth.info.run_id)


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("bad", [-1, 1.5, "5", True])
def test_max_tuning_runs_is_validated(bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="max_tuning_runs must be None or a non-negative"):
        sk_autolog.autolog(max_tuning_runs=bad)


@pytest.mark.usefixtures("autologging")
def test_binary_classifier_plots_and_html() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    LogisticRegression().fit(X, y)

    run_id = only_run().info.run_id
    assert artifacts(run_id) == {
        "estimator.html",
        "training_confusion_matrix.png",
        "training_roc_curve.png",
        "training_precision_recall_curve.png",
    }
    client = mt.MlflowClient()
    for name in ("training_confusion_matrix.png", "training_roc_curve.png"):
        data = Path(client.download_artifacts(run_id, name)).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
    html = Path(client.download_artifacts(run_id, "estimator.html")).read_text()
    assert html.startswith("<!DOCTYPE html>") and "LogisticRegression" in html


@pytest.mark.usefixtures("autologging")
def test_pos_label_switches_to_binary_averages() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=80) > 0, "yes", "no")
    sk_autolog.autolog(pos_label="yes")
    model = LogisticRegression().fit(X, y)

    metrics = only_run().data.metrics
    predicted = model.predict(X)
    assert metrics["training_precision_score"] == pytest.approx(
        precision_score(y, predicted, pos_label="yes")
    )
    assert metrics["training_recall_score"] != pytest.approx(
        recall_score(y, predicted, average="weighted")
    )


@pytest.mark.usefixtures("autologging")
def test_dataframe_training_data_is_a_pandas_dataset(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    logistic().fit(frame, y)

    (dataset_input,) = only_run().inputs.dataset_inputs
    schema = json.loads(dataset_input.dataset.schema)
    assert [col["name"] for col in schema["mlflow_colspec"]] == ["a", "b", "c", "d"]
    assert dataset_input.dataset.digest == mt.data.from_pandas(frame).digest


@pytest.mark.usefixtures("store")
def test_log_datasets_false_records_no_input(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    sk_autolog.autolog(log_datasets=False)
    try:
        logistic().fit(X, y)
    finally:
        sk_autolog.autolog(disable=True)
    run = only_run()
    assert run.inputs.dataset_inputs == []
    assert "training_score" in run.data.metrics


@pytest.mark.usefixtures("autologging")
def test_preprocessing_alone_starts_no_run_but_fit_transform_of_a_model_does(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = iris
    StandardScaler().fit(X)
    StandardScaler().fit_transform(X)
    assert runs().empty

    PCA(n_components=2).fit_transform(X)  # PCA.fit_transform does not call fit
    run = only_run()
    assert run.data.tags["estimator_name"] == "PCA"
    assert run.data.params["n_components"] == "2"
    assert set(run.data.metrics) == {"fit_time_seconds"}  # no labels, no training metrics


@pytest.mark.usefixtures("autologging")
def test_fit_inside_a_run_logs_into_it_and_leaves_it_open(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    with mt.start_run() as active:
        logistic().fit(X, y)
        current = mt.active_run()
        assert current is not None
        assert current.info.run_id == active.info.run_id
        assert mt.get_run(active.info.run_id).info.status == "RUNNING"

    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "1.0"
    assert "mlflow.autologging" not in run.data.tags  # the user's run, not autolog's
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert set(run.data.metrics) == CLASSIFIER_METRICS


@pytest.mark.usefixtures("autologging")
def test_failing_fit_marks_the_run_failed_and_reraises(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = iris
    with pytest.raises(ValueError, match="class"):
        logistic().fit(X, np.zeros(len(X)))  # a single class

    assert mt.active_run() is None
    run = only_run()
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "1.0"  # params are logged before fitting
    assert len(run.inputs.dataset_inputs) == 1  # so is the training data
    assert run.data.metrics == {}


@pytest.mark.usefixtures("autologging")
def test_no_training_score_without_y(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = iris
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)

    assert set(only_run().data.metrics) == {"fit_time_seconds"}


@pytest.mark.usefixtures("autologging")
def test_overlong_param_value_is_truncated_with_a_warning(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    with pytest.warns(UserWarning, match=r"truncated param\(s\) 'constant' \(7000 characters\)"):
        DummyClassifier(strategy="most_frequent", constant="x" * 7000).fit(X, y)

    params = only_run().data.params
    assert params["constant"] == "x" * 5997 + "..."  # MLflow's autolog truncation
    assert params["strategy"] == "most_frequent"


@pytest.mark.usefixtures("autologging")
def test_param_conflict_in_a_user_run_warns_and_the_fit_still_works(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    with mt.start_run():
        LogisticRegression(C=0.1, max_iter=1000).fit(X, y)
        with pytest.warns(UserWarning, match="could not log params"):
            model = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)

    assert model.score(X, y) > 0.9
    assert only_run().data.params["C"] == "0.1"


@pytest.mark.usefixtures("autologging")
def test_unusable_store_warns_and_returns_the_fitted_model(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    mt.set_tracking_uri("bogus://nowhere")

    with pytest.warns(UserWarning, match="could not start or find a run"):
        model = logistic().fit(X, y)

    assert model.score(X, y) > 0.9


@pytest.mark.usefixtures("store")
def test_extra_tags_and_exclusive(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    sk_autolog.autolog(exclusive=True, extra_tags={"team": "vision"})
    try:
        logistic().fit(X, y)
        with mt.start_run() as user_run:
            logistic().fit(X, y)
    finally:
        sk_autolog.autolog(disable=True)

    frame = runs()
    assert len(frame) == 2
    auto = frame[frame.run_id != user_run.info.run_id].iloc[0]
    assert auto["tags.team"] == "vision"
    assert mt.get_run(user_run.info.run_id).data.params == {}


@pytest.mark.usefixtures("autologging")
def test_model_hook_is_called_once_per_logged_fit(
    iris: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = iris
    calls: list[tuple[Any, str]] = []
    monkeypatch.setattr(
        sk_autolog, "_log_model_hook", lambda est, run_id: calls.append((est, run_id))
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", logistic())]).fit(X, y)

    assert calls == [(pipeline, only_run().info.run_id)]

    sk_autolog.autolog(log_models=False)
    logistic().fit(X, y)
    assert len(calls) == 1


@pytest.mark.usefixtures("store")
def test_model_hook_gets_name_example_signature_params_and_links_metrics(
    iris: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = iris
    calls: list[dict[str, Any]] = []

    class Info:
        def __init__(self, model_id: str) -> None:
            self.model_id = model_id

    def hook(estimator: Any, run_id: str, **options: Any) -> Info:
        calls.append({"estimator": estimator, "run_id": run_id, **options})
        return Info(f"m-{len(calls):032x}")

    monkeypatch.setattr(sk_autolog, "_log_model_hook", hook)
    sk_autolog.autolog(log_input_examples=True, registered_model_name="iris-model")
    try:
        X_train = X.copy()
        search = GridSearchCV(logistic(), {"C": [0.1, 1.0]}, cv=2).fit(X_train, y)
    finally:
        sk_autolog.autolog(disable=True)

    assert [c["name"] for c in calls] == ["model", "best_estimator"]
    model_call, best_call = calls
    assert model_call["estimator"] is search
    assert best_call["estimator"] is search.best_estimator_
    np.testing.assert_array_equal(model_call["input_example"], X[:5])
    assert model_call["input_example"] is not X_train  # a copy taken before fit
    assert model_call["registered_model_name"] == "iris-model"
    assert best_call["registered_model_name"] is None
    assert model_call["params"]["best_C"] == search.best_params_["C"]
    assert best_call["params"]["C"] == search.best_params_["C"]
    assert model_call["serialization_format"] == "cloudpickle"
    signature = model_call["signature"]
    assert signature is not None and signature.inputs is not None
    parent_id = model_call["run_id"]
    (point,) = mt.get_metric_history(parent_id, "training_accuracy_score")
    assert point.model_id == f"m-{1:032x}"


@pytest.mark.usefixtures("store")
def test_disable_restores_the_original_fit(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    originals = {
        cls: cls.__dict__["fit"] for cls in (LogisticRegression, Pipeline, BaseSearchCV, KMeans)
    }

    sk_autolog.autolog()
    sk_autolog.autolog()  # idempotent: the wrapper is not wrapped again
    try:
        for cls, original in originals.items():
            assert cls.__dict__["fit"] is not original
            assert cls.__dict__["fit"].__wrapped__ is original
    finally:
        sk_autolog.autolog(disable=True)

    for cls, original in originals.items():
        assert cls.__dict__["fit"] is original
    assert GridSearchCV.fit is originals[BaseSearchCV]
    logistic().fit(X, y)
    assert runs().empty


@pytest.mark.usefixtures("store")
def test_mt_autolog_enables_and_disables(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    original = LogisticRegression.__dict__["fit"]

    mt.autolog()
    try:
        logistic().fit(X, y)
    finally:
        mt.autolog(disable=True)
    logistic().fit(X, y)

    assert len(runs()) == 1
    assert LogisticRegression.__dict__["fit"] is original


@pytest.mark.usefixtures("store")
def test_the_sklearn_flavor_logs_the_model_and_the_best_estimator(
    iris: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_mltrack.models._sklearn import autolog_model_hook

    X, y = iris
    monkeypatch.setattr(sk_autolog, "_log_model_hook", autolog_model_hook)
    sk_autolog.autolog(log_input_examples=True)
    try:
        search = GridSearchCV(logistic(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    finally:
        sk_autolog.autolog(disable=True)

    frame = runs()
    (parent_id,) = frame.run_id[frame["tags.mlflow.parentRunId"].isna()]
    models = {m.name: m for m in mt.search_logged_models(output_format="list")}
    assert set(models) == {"model", "best_estimator"}
    assert {m.source_run_id for m in models.values()} == {parent_id}
    assert models["model"].params["best_C"] == str(search.best_params_["C"])
    (point,) = mt.get_metric_history(parent_id, "training_accuracy_score")
    assert point.model_id == models["model"].model_id
    loaded = mt.sklearn.load_model(models["best_estimator"].model_uri)
    np.testing.assert_array_equal(loaded.predict(X), search.best_estimator_.predict(X))
