"""Evaluation of a logged binary classifier and of static predictions (MLflow's classifier
evaluation example, on a dataset scikit-learn ships instead of a download)."""

import mlflow
from _summary import print_summary
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

mlflow.set_experiment("conformance-evaluate-classifier")

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
eval_data = X_test.assign(label=y_test)

with mlflow.start_run(run_name="classifier"):
    info = mlflow.sklearn.log_model(model, name="model", input_example=X_train.iloc[:3])
    result = mlflow.evaluate(
        info.model_uri,
        eval_data,
        targets="label",
        model_type="classifier",
        evaluators=["default"],
    )

static = eval_data.assign(predicted=model.predict(X_test))
with mlflow.start_run(run_name="static"):
    static_result = mlflow.evaluate(
        data=static, targets="label", predictions="predicted", model_type="classifier"
    )

print_summary(
    mlflow,
    "conformance-evaluate-classifier",
    {
        "metric_names": sorted(result.metrics),
        "artifact_names": sorted(result.artifacts),
        "static_metric_names": sorted(static_result.metrics),
        "static_artifact_names": sorted(static_result.artifacts),
        "f1": result.metrics["f1_score"],
    },
)
