"""Every default metric of the evaluator against scikit-learn's function on the same fixed data,
the text metrics against the reference packages, the retriever metrics, judges and custom
metrics (no store: ``jupyter_mltrack.evaluation.evaluate.compute``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rouge_score import rouge_scorer
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.evaluation._inputs import resolve_data, resolve_model
from jupyter_mltrack.evaluation.evaluate import Computed, compute

textstat = pytest.importorskip("textstat")  # in the test extra; importorskip names it if not


def run(
    model: Any,
    df: pd.DataFrame,
    model_type: str,
    targets: str | None = "y",
    predictions: str | None = None,
    config: dict[str, Any] | None = None,
    extra: list[Any] | None = None,
) -> Computed:
    handle = resolve_model(model)
    data = resolve_data(df, targets, predictions, None, handle.predict is None)
    return compute(handle, data, model_type, config or {}, extra or [], predictions)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, LogisticRegression]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + 0.8 * X[:, 1] + rng.normal(scale=1.2, size=3000) > 0).astype(int)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)
    model = LogisticRegression().fit(df[["a", "b", "c", "d"]], y)
    return df, model


def test_binary_classifier_metrics_equal_sklearn(binary: tuple[pd.DataFrame, Any]) -> None:
    df, model = binary
    out = run(model, df, "classifier").metrics
    X, y = df[["a", "b", "c", "d"]], df["y"].to_numpy()
    pred, proba = model.predict(X), model.predict_proba(X)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    expected = {
        "true_negatives": tn,
        "false_positives": fp,
        "false_negatives": fn,
        "true_positives": tp,
        "example_count": len(y),
        "accuracy_score": skm.accuracy_score(y, pred),
        "recall_score": skm.recall_score(y, pred),
        "precision_score": skm.precision_score(y, pred),
        "f1_score": skm.f1_score(y, pred),
        "log_loss": skm.log_loss(y, proba),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "precision_recall_auc": skm.average_precision_score(y, proba[:, 1]),
        "score": model.score(X, y),
    }
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert close(out[key], float(value)), (key, out[key], value)


def test_ties_in_scores_and_string_labels_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 500) / 4  # many ties
    y = np.where(rng.random(500) < score * 0.8 + 0.1, "spam", "ham")
    pred = np.where(score >= 0.5, "spam", "ham")
    df = pd.DataFrame({"y": y, "pred": pred})
    out = run(None, df, "classifier", predictions="pred").metrics
    assert close(out["f1_score"], skm.f1_score(y, pred, pos_label="spam"))
    assert close(out["precision_score"], skm.precision_score(y, pred, pos_label="spam"))
    assert "roc_auc" not in out and "log_loss" not in out  # static predictions: no probabilities

    class Scored:
        classes_ = np.array(["ham", "spam"])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return pred

        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            return np.c_[1 - score, score]

    got = run(Scored(), df[["y"]].assign(x=1.0), "classifier").metrics
    is_spam = y == "spam"
    assert close(got["roc_auc"], skm.roc_auc_score(is_spam, score))
    assert close(got["precision_recall_auc"], skm.average_precision_score(is_spam, score))
    assert close(got["log_loss"], skm.log_loss(y, np.c_[1 - score, score]))


@pytest.mark.parametrize("average", ["weighted", "macro"])
def test_multiclass_metrics_equal_sklearn(average: str) -> None:
    rng = np.random.default_rng(11)
    X = rng.normal(size=(2400, 3))
    y = np.digitize(X[:, 0] + rng.normal(scale=0.7, size=2400), [-0.5, 0.5])
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    model = LogisticRegression().fit(df[["a", "b", "c"]], y)
    out = run(model, df, "classifier", config={"average": average})
    pred, proba = model.predict(df[["a", "b", "c"]]), model.predict_proba(df[["a", "b", "c"]])
    m = out.metrics
    assert close(m["accuracy_score"], skm.accuracy_score(y, pred))
    for name, fn in (("f1_score", skm.f1_score), ("precision_score", skm.precision_score)):
        assert close(m[name], fn(y, pred, average=average)), name
    assert close(m["recall_score"], skm.recall_score(y, pred, average=average))
    assert close(m["log_loss"], skm.log_loss(y, proba, labels=[0, 1, 2]))
    assert close(m["roc_auc"], skm.roc_auc_score(y, proba, average=average, multi_class="ovr"))
    table = out.csv_tables["per_class_metrics"]
    assert table["positive_class"].tolist() == [0, 1, 2]
    for j in range(3):
        row = table.iloc[j]
        assert close(row["recall_score"], skm.recall_score(y == j, pred == j))
        assert close(row["roc_auc"], skm.roc_auc_score(y == j, proba[:, j]))
        assert close(row["precision_recall_auc"], skm.average_precision_score(y == j, proba[:, j]))
    assert {"confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot"} <= set(out.figures)


def test_regressor_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1000, 3))
    y = 3 + X @ np.array([1.5, -2.0, 0.5]) + rng.normal(size=1000)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    model = LinearRegression().fit(df[["a", "b", "c"]][:500], y[:500])
    out = run(model, df, "regressor").metrics
    pred = model.predict(df[["a", "b", "c"]])
    expected = {
        "example_count": 1000,
        "mean_absolute_error": skm.mean_absolute_error(y, pred),
        "mean_squared_error": skm.mean_squared_error(y, pred),
        "root_mean_squared_error": skm.root_mean_squared_error(y, pred),
        "sum_on_target": float(np.sum(y)),
        "mean_on_target": float(np.sum(y)) / 1000,
        "r2_score": skm.r2_score(y, pred),
        "max_error": skm.max_error(y, pred),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(y, pred),
        "score": model.score(df[["a", "b", "c"]], y),
    }
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert close(out[key], float(value)), key


def test_callable_model_numpy_data_and_plots() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = X[:, 0] * 2
    handle = resolve_model(lambda features: features[:, 0] * 2 + 0.5)
    data = resolve_data(X, y, None, None, False)
    out = compute(handle, data, "regressor", {}, [], None)
    assert close(out.metrics["mean_absolute_error"], 0.5)
    assert set(out.figures) == {"residuals_plot", "predicted_vs_actual_plot"}
    fig = out.figures["residuals_plot"]
    assert fig["data"][0]["type"] == "scattergl" and len(fig["data"][0]["x"]) == 200


def test_curves_are_thinned_but_metrics_use_every_row() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    score = rng.random(n)
    y = (rng.random(n) < score).astype(int)
    df = pd.DataFrame({"y": y, "x": score})

    class Model:
        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return (X["x"].to_numpy() > 0.5).astype(int)

        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            s = X["x"].to_numpy()
            return np.c_[1 - s, s]

    out = run(Model(), df, "classifier")
    assert close(out.metrics["roc_auc"], skm.roc_auc_score(y, score))
    roc = out.figures["roc_curve_plot"]["data"][0]
    assert len(roc["x"]) <= 1000 and roc["x"][0] == 0.0 and roc["x"][-1] == 1.0
    cal = out.figures["calibration_curve_plot"]["data"][0]
    assert len(cal["x"]) == 10 and all(0 <= v <= 1 for v in cal["y"])


def test_text_metrics_equal_reference_packages() -> None:
    preds = ["the cat sat on the mat", "a quick brown fox", "hello world"]
    refs = ["the cat is on the mat", "the quick brown fox jumps", "hello world"]
    df = pd.DataFrame({"question": ["q1", "q2", "q3"], "answer": refs, "out": preds})
    out = run(None, df, "question-answering", targets="answer", predictions="out")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for kind in ("rouge1", "rouge2", "rougeL"):
        scores = [scorer.score(r, p)[kind].fmeasure for p, r in zip(preds, refs, strict=True)]
        assert out.row_columns[f"{kind}/v1/score"] == scores
        assert close(out.metrics[f"{kind}/v1/mean"], float(np.mean(scores)))
        assert close(out.metrics[f"{kind}/v1/p90"], float(np.percentile(scores, 90)))
    grades = [textstat.flesch_kincaid_grade(p) for p in preds]
    assert out.row_columns["flesch_kincaid_grade_level/v1/score"] == grades
    ari = [textstat.automated_readability_index(p) for p in preds]
    assert close(out.metrics["ari_grade_level/v1/mean"], float(np.mean(ari)))
    assert out.metrics["exact_match/v1"] == pytest.approx(1 / 3)
    assert out.row_columns["token_count"] == [6, 4, 2]


def test_text_model_records_latency_per_row() -> None:
    df = pd.DataFrame({"inputs": ["one two", "three"]})
    out = run(lambda frame: frame["inputs"].str.upper(), df, "text", targets=None)
    assert len(out.row_columns["latency"]) == 2
    assert out.metrics["latency/mean"] >= 0
    assert list(out.y_pred) == ["ONE TWO", "THREE"]
    assert "rouge1/v1/mean" not in out.metrics  # no targets, no ROUGE


def test_retriever_metrics() -> None:
    df = pd.DataFrame(
        {
            "q": ["a", "b", "c"],
            "relevant": [["d1", "d2"], ["d3"], []],
            "retrieved": [["d1", "d9", "d2", "d4"], ["d7", "d8", "d9"], []],
        }
    )
    out = run(None, df, "retriever", targets="relevant", predictions="retrieved")
    assert out.row_columns["precision_at_3/score"] == [2 / 3, 0.0, 1.0]
    assert out.row_columns["recall_at_3/score"] == [1.0, 0.0, 1.0]
    ndcg = out.row_columns["ndcg_at_3/score"]
    ideal = 1 + 1 / math.log2(3)
    assert ndcg[0] == pytest.approx((1 + 1 / math.log2(4)) / ideal) and ndcg[1:] == [0.0, 1.0]
    k5 = run(None, df, "retriever", "relevant", "retrieved", config={"retriever_k": 5})
    assert "precision_at_5/mean" in k5.metrics


def test_judge_scores_and_justifications_per_row() -> None:
    seen: list[str | None] = []

    def overlap(question: str, answer: str, reference: str, rubric: str) -> tuple[float, str]:
        seen.append(rubric)
        shared = set(answer.split()) & set(reference.split())
        return len(shared) / len(set(reference.split())), f"{len(shared)} shared words"

    judge = mt.metrics.make_judge(overlap, name="overlap", rubric="count shared words")
    df = pd.DataFrame({"question": ["q1", "q2"], "answer": ["a b", "c d"], "out": ["a b", "x d"]})
    out = run(None, df, "text", targets="answer", predictions="out", extra=[judge])
    assert out.row_columns["overlap/score"] == [1.0, 0.5]
    assert out.row_columns["overlap/justification"] == ["2 shared words", "1 shared words"]
    assert out.metrics["overlap/mean"] == 0.75 and seen == ["count shared words"] * 2
    assert out.directions["overlap/mean"] is True

    def broken(i: str, o: str, r: str) -> str:
        return "great"

    bad = mt.metrics.make_judge(broken, name="bad")
    with pytest.raises(InvalidParameter, match="Judge 'bad' gave score 'great' on row 0"):
        run(None, df, "text", targets="answer", predictions="out", extra=[bad])


def test_custom_metric_sees_builtins_and_columns(binary: tuple[pd.DataFrame, Any]) -> None:
    df, model = binary

    def twice_f1(predictions: pd.Series, targets: pd.Series, metrics: dict[str, float]) -> float:
        assert len(predictions) == len(targets) == len(df)
        return 2 * metrics["f1_score"]

    def mean_a(a: pd.Series) -> float:
        return float(a.mean())

    extra = [
        mt.metrics.make_metric(twice_f1, greater_is_better=True),
        mt.metrics.make_metric(mean_a, greater_is_better=False, name="mean_of_a"),
    ]
    out = run(model, df, "classifier", extra=extra)
    assert out.metrics["twice_f1"] == 2 * out.metrics["f1_score"]
    assert close(out.metrics["mean_of_a"], float(df["a"].mean()))
    assert out.directions["mean_of_a"] is False

    def needs_z(z: Any) -> float:
        return 0.0

    with pytest.raises(InvalidParameter, match="asks for 'z'"):
        run(model, df, "classifier", extra=[mt.metrics.make_metric(needs_z, True)])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mt.metrics.make_metric(lambda p, t: 0.0, True), "name=... for a lambda"),
        (lambda: mt.metrics.make_metric(len, "yes"), "greater_is_better=True or False"),
        (lambda: mt.metrics.make_metric(len, True, name="a/b"), "without '/'"),
        (lambda: mt.metrics.make_judge(42), "needs a function"),
        (lambda: mt.metrics.precision_at_k(0), "positive integer"),
    ],
)
def test_metric_constructors_validate(call: Any, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        call()


def test_bad_inputs_name_the_problem(binary: tuple[pd.DataFrame, Any]) -> None:
    df, model = binary
    with pytest.raises(InvalidParameter, match="'label' is not a column"):
        run(model, df, "classifier", targets="label")
    with pytest.raises(InvalidParameter, match="needs targets="):
        run(model, df.drop(columns=["y"]), "classifier", targets=None)
    with pytest.raises(InvalidParameter, match="predictions='<column>'"):
        run(None, df, "classifier")
    with pytest.raises(InvalidParameter, match="at least two labels"):
        run(None, df.assign(y=1, p=1), "classifier", predictions="p")
    with pytest.raises(InvalidParameter, match="pos_label 5"):
        run(model, df, "classifier", config={"pos_label": 5})
    with pytest.raises(InvalidParameter, match="must be numbers"):
        run(None, df.assign(y="a", p="b"), "regressor", predictions="p")
    with pytest.raises(InvalidParameter, match="model URI, a loaded model"):
        resolve_model(42)
