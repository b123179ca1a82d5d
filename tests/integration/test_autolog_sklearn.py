"""sklearn autolog end to end: real estimators, a real DuckDB store, read back through mt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import jupyter_mltrack as mt
from jupyter_mltrack.autolog import sklearn as sk_autolog

CLASSIFIER_METRICS = {
    "fit_time_seconds",
    "training_score",
    "training_accuracy_score",
    "training_f1_score",
    "training_precision_score",
    "training_recall_score",
}
REGRESSOR_METRICS = {
    "fit_time_seconds",
    "training_score",
    "training_mse",
    "training_r2_score",
    "training_mae",
}


@pytest.fixture
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
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
    assert metrics["fit_time_seconds"] > 0


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
    assert metrics["training_mse"] > metrics["training_mae"] > 0


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
def test_grid_search_logs_one_run_with_best_params(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    search = GridSearchCV(logistic(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)

    run = only_run()  # not one per candidate and fold
    assert run.data.tags["estimator_name"] == "GridSearchCV"
    assert run.data.params["best_C"] == str(search.best_params_["C"])
    assert run.data.params["estimator__max_iter"] == "1000"
    assert run.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert set(run.data.metrics) == CLASSIFIER_METRICS | {"best_cv_score"}


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
    assert run.data.metrics == {}


@pytest.mark.usefixtures("autologging")
def test_no_training_score_without_y(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = iris
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)

    assert set(only_run().data.metrics) == {"fit_time_seconds"}


@pytest.mark.usefixtures("autologging")
def test_overlong_param_value_is_skipped_with_a_warning(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = iris
    with pytest.warns(UserWarning, match=r"'constant' \(7000 characters\)"):
        DummyClassifier(strategy="most_frequent", constant="x" * 7000).fit(X, y)

    params = only_run().data.params
    assert "constant" not in params
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
