"""Fluent tracking: params, metrics with steps, tags, nested runs, text and dict artifacts."""

import mlflow
from _summary import print_summary

mlflow.set_experiment("conformance-fluent")

with mlflow.start_run(run_name="parent", tags={"team": "vision"}, description="a sweep"):
    mlflow.log_param("optimizer", "adam")
    mlflow.log_params({"lr": 0.01, "epochs": 3, "layers": [64, 32], "dropout": None})
    mlflow.set_tag("stage", "dev")
    mlflow.set_tags({"priority": 1, "owner": "ana"})
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        mlflow.log_metrics({"acc": 0.5 + epoch / 10, "f1": 0.4 + epoch / 10}, step=epoch)
    mlflow.log_metric("no_step", 7.5)
    mlflow.log_metric("nan", float("nan"))
    mlflow.log_text("hello\n", "notes.txt")
    mlflow.log_text("deep", "texts/deeper/readme.md")
    mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
    mlflow.log_dict({"a": 1}, "configs/config.yaml")
    for lr in (0.1, 0.2):
        with mlflow.start_run(run_name=f"child-{lr}", nested=True):
            mlflow.log_param("lr", lr)
            mlflow.log_metric("val_loss", lr * 2, step=1)
            if lr == 0.2:
                with mlflow.start_run(run_name="grandchild", nested=True):
                    mlflow.set_tag("depth", 2)
    mlflow.delete_tag("priority")

with mlflow.start_run(run_name="failed"):
    mlflow.log_param("will_fail", True)
    mlflow.end_run(status="FAILED")

try:
    with mlflow.start_run(run_name="raised"):
        raise ValueError("boom")
except ValueError:
    pass

run = mlflow.start_run(run_name="manual")
mlflow.log_metric("m", 1)
mlflow.end_run()

print_summary(
    mlflow,
    "conformance-fluent",
    {
        "active_after_end": mlflow.active_run() is None,
        "last_active_run_name": mlflow.last_active_run().info.run_name,
    },
)
