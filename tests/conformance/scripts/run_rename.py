"""Renaming a run: the mlflow.runName tag and the run name are one value in MLflow."""

import mlflow
from _summary import print_summary

mlflow.set_experiment("conformance-rename")

with mlflow.start_run(run_name="before") as run:
    mlflow.set_tag("mlflow.runName", "renamed-by-tag")
    mlflow.log_param("p", 1)

client = mlflow.MlflowClient()
experiment_id = client.get_experiment_by_name("conformance-rename").experiment_id
other = client.create_run(experiment_id, run_name="client-before")
client.set_tag(other.info.run_id, "mlflow.runName", "renamed-by-client")
third = client.create_run(experiment_id, run_name="batch-before")
client.log_batch(third.info.run_id, tags=[mlflow.entities.RunTag("mlflow.runName", "by-batch")])
client.set_terminated(other.info.run_id)
client.set_terminated(third.info.run_id)

print_summary(
    mlflow,
    "conformance-rename",
    {
        "info_name": mlflow.get_run(run.info.run_id).info.run_name,
        "client_name": client.get_run(other.info.run_id).info.run_name,
        "batch_name": client.get_run(third.info.run_id).info.run_name,
    },
)
