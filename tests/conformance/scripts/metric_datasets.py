"""Metrics tied to datasets: log_metric/log_metrics(dataset=...), MlflowClient.log_metric with
dataset_name/dataset_digest, Metric entities with links in log_batch."""

import mlflow
import numpy as np
import pandas as pd
from _summary import print_summary

mlflow.set_experiment("conformance-metric-datasets")

df = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "y": np.array([0, 1, 0, 1], dtype=np.int64)})
train = mlflow.data.from_pandas(df, source="data/train.csv", targets="y", name="train")
val = mlflow.data.from_pandas(df.tail(2), source="data/val.csv", targets="y", name="val")
arrays = mlflow.data.from_numpy(np.arange(6, dtype=np.float64).reshape(3, 2), name="arrays")

with mlflow.start_run(run_name="fit") as run:
    run_id = run.info.run_id
    mlflow.log_input(train, context="training")  # logged already: not logged again
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch, dataset=train)
        mlflow.log_metric("loss_plain", 1.0 / (epoch + 2), step=epoch)
        mlflow.log_metrics(
            {"val_loss": 0.5 + epoch, "val_acc": 0.1 * epoch}, step=epoch, dataset=val
        )
    mlflow.log_metric("score", 7.0, synchronous=True, dataset=arrays)
    client = mlflow.MlflowClient()
    client.log_metric(run_id, "client_metric", 3.5, step=1, dataset_name="ext", dataset_digest="e1")
    client.log_batch(
        run_id,
        metrics=[
            mlflow.entities.Metric("batch_metric", 0.25, 1_700_000_000_000, 2, None, "ext", "e1"),
        ],
    )
    try:
        client.log_metric(run_id, "half", 1.0, dataset_name="ext")
        half_refused = False
    except Exception:
        half_refused = True

entity = mlflow.entities.Metric(
    "m", 1.0, 5, 1, model_id=None, dataset_name="train", dataset_digest=train.digest
)
history = mlflow.MlflowClient().get_metric_history(run_id, "loss")
print_summary(
    mlflow,
    "conformance-metric-datasets",
    {
        "half_pair_refused": half_refused,
        "entity_links": [
            entity.dataset_name,
            entity.dataset_digest == train.digest,
            entity.model_id,
        ],
        "history_has_link_attributes": all(
            hasattr(m, "dataset_name") and hasattr(m, "dataset_digest") and hasattr(m, "model_id")
            for m in history
        ),
        "history_steps": [m.step for m in history],
    },
)
