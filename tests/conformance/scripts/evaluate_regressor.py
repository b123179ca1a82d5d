"""Evaluation of a logged regressor, as MLflow's regressor evaluation example does it."""

import mlflow
from _summary import print_summary
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

mlflow.set_experiment("conformance-evaluate-regressor")

X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42)
model = LinearRegression().fit(X_train, y_train)
eval_data = X_test.assign(target=y_test)

with mlflow.start_run(run_name="regressor") as run:
    info = mlflow.sklearn.log_model(model, name="model", input_example=X_train.iloc[:3])
    result = mlflow.evaluate(
        info.model_uri, eval_data, targets="target", model_type="regressor", evaluators=["default"]
    )

# a function instead of a model, in a run that evaluate starts itself
fn_result = mlflow.evaluate(
    lambda frame: model.predict(frame) * 1.1, eval_data, targets="target", model_type="regressor"
)
mlflow.MlflowClient().set_tag(fn_result.run_id, "mlflow.runName", "function")

print_summary(
    mlflow,
    "conformance-evaluate-regressor",
    {
        "metric_names": sorted(result.metrics),
        "function_metric_names": sorted(fn_result.metrics),
        "r2": result.metrics["r2_score"],
        "run_reused": fn_result.run_id != run.info.run_id,
    },
)
