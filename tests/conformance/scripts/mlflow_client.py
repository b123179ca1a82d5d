"""The explicit client: MlflowClient with entities, log_batch and set_terminated."""

import time

import mlflow
from _summary import print_summary

client = mlflow.MlflowClient()
experiment_id = client.create_experiment("conformance-client", tags={"kind": "client"})
parent = client.create_run(experiment_id, run_name="client-parent", tags={"source": "api"})
run_id = parent.info.run_id
client.log_param(run_id, "lr", 0.1)
client.log_metric(run_id, "loss", 0.5, step=1)
client.log_metric(run_id, "loss", 0.25, step=2)
now = int(time.time() * 1000)
client.log_batch(
    run_id,
    metrics=[
        mlflow.entities.Metric("acc", 0.9, now, 3),
        mlflow.entities.Metric("acc", 0.95, now, 4),
    ],
    params=[mlflow.entities.Param("depth", "3")],
    tags=[mlflow.entities.RunTag("team", "a")],
)
client.set_tag(run_id, "stage", "dev")
client.log_text(run_id, "hello", "notes.txt")
client.log_dict(run_id, {"a": 1}, "config.json")
child = client.create_run(
    experiment_id, run_name="client-child", tags={"mlflow.parentRunId": run_id}
)
client.set_terminated(child.info.run_id)
client.set_terminated(run_id, status="KILLED")
print_summary(
    mlflow,
    "conformance-client",
    {
        "experiment_tags": {
            k: v for k, v in client.get_experiment(experiment_id).tags.items() if "mlflow." not in k
        }
    },
)
