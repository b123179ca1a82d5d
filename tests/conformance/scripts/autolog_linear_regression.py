"""sklearn autolog, MLflow's linear regression example: a run autolog starts for one fit."""

import mlflow
import numpy as np
from _autolog import name_last_run, print_autolog_summary
from sklearn.linear_model import LinearRegression

mlflow.set_experiment("conformance-autolog-linear")
mlflow.sklearn.autolog()

X = np.array([[1, 1], [1, 2], [2, 2], [2, 3]])
y = np.dot(X, np.array([1, 2])) + 3
model = LinearRegression()
model.fit(X, y)
active_after_fit = mlflow.active_run() is not None
run_id = name_last_run(mlflow, "linear")

# A second fit inside a run of ours, with a DataFrame: logged into that run.
import pandas as pd  # noqa: E402

frame = pd.DataFrame(X, columns=["a", "b"])
with mlflow.start_run(run_name="in-user-run"):
    LinearRegression(fit_intercept=False).fit(frame, y)

print_autolog_summary(
    mlflow,
    "conformance-autolog-linear",
    {
        "active_after_fit": active_after_fit,
        "status": mlflow.get_run(run_id).info.status,
        "autologging_tag": mlflow.get_run(run_id).data.tags.get("mlflow.autologging"),
    },
)
