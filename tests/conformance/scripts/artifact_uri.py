"""get_artifact_uri and the ActiveRun attributes MLflow's examples read (run._info)."""

import os
import tempfile

import mlflow
from _summary import print_summary

mlflow.set_experiment("conformance-artifact-uri")

checks = {}
with mlflow.start_run(run_name="with-uri") as run:
    root = mlflow.get_artifact_uri()
    checks["root_is_run_artifact_uri"] = root == run.info.artifact_uri
    checks["root_is_stored_uri"] = root == mlflow.get_run(run.info.run_id).info.artifact_uri
    checks["joined"] = mlflow.get_artifact_uri("features/features.txt") == (
        root.rstrip("/") + "/features/features.txt"
    )
    checks["private_info"] = run._info.run_id == run.info.run_id
    checks["private_data_type"] = type(run._data).__name__
    checks["is_a_run"] = isinstance(run, mlflow.entities.Run)
    checks["has_inputs"] = run.inputs is not None
    checks["has_outputs_attr"] = hasattr(run, "outputs")
    checks["active_is_this_run"] = mlflow.active_run().info.run_id == run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.txt")
        with open(path, "w") as f:
            f.write("rooms, zipcode, median_price")
        mlflow.log_artifact(path, artifact_path="features")
        mlflow.log_artifact(path)
    mlflow.log_param("alpha", 0.5)

checks["ended"] = mlflow.get_run(run._info.run_id).info.status

# no active run: get_artifact_uri starts one (its name is generated, so it is checked here
# and deleted rather than compared by name in the summary)
started_uri = mlflow.get_artifact_uri()
started = mlflow.active_run()
checks["started_a_run"] = started is not None and started.info.run_id != run.info.run_id
checks["started_uri"] = started_uri == started.info.artifact_uri
mlflow.end_run()
checks["started_run_status"] = mlflow.get_run(started.info.run_id).info.status
mlflow.delete_run(started.info.run_id)

print_summary(mlflow, "conformance-artifact-uri", checks)
