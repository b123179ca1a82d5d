"""Renaming a run: the mlflow.runName tag and the run name are one value in MLflow."""

import mlflow
from _summary import print_summary

mlflow.set_experiment("conformance-rename")

with mlflow.start_run(run_name="before") as run:
    mlflow.set_tag("mlflow.runName", "renamed-by-tag")
    mlflow.log_param("p", 1)

print_summary(
    mlflow,
    "conformance-rename",
    {"info_name": mlflow.get_run(run.info.run_id).info.run_name},
)
