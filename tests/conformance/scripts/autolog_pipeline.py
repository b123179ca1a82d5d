"""sklearn autolog, MLflow's pipeline example: one run for a Pipeline with its steps' params;
preprocessing estimators fitted alone start no run."""

import mlflow
import numpy as np
from _autolog import name_last_run, print_autolog_summary
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

mlflow.set_experiment("conformance-autolog-pipeline")
mlflow.sklearn.autolog()

X = np.array([[1, 1], [1, 2], [2, 2], [2, 3]])
y = np.dot(X, np.array([1, 2])) + 3
pipe = Pipeline([("scaler", StandardScaler()), ("lr", LinearRegression())])
pipe.fit(X, y)
pipeline_run_id = name_last_run(mlflow, "regression-pipeline")

StandardScaler().fit(X)  # sklearn.preprocessing alone: no run
scaler_started_a_run = mlflow.last_active_run().info.run_id != pipeline_run_id

rng = np.random.default_rng(0)
Xc = rng.normal(size=(60, 3))
yc = (Xc[:, 0] + 0.5 * Xc[:, 1] > 0).astype(int)
Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())]).fit(Xc, yc)
name_last_run(mlflow, "classifier-pipeline")

print_autolog_summary(
    mlflow, "conformance-autolog-pipeline", {"scaler_started_a_run": scaler_started_a_run}
)
