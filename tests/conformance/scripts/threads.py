"""Per-thread active runs: a training thread and the main thread each log to their own run."""

import threading

import mlflow
from _summary import print_summary

mlflow.set_experiment("conformance-threads")

both_active = threading.Barrier(2, timeout=60)
seen = {}


def train(name):
    with mlflow.start_run(run_name=name) as run:
        both_active.wait()
        for step in range(5):
            mlflow.log_metric("loss", step / 10, step=step)
        mlflow.log_param("thread", name)
        seen[name] = mlflow.active_run().info.run_id == run.info.run_id


with mlflow.start_run(run_name="main"):
    worker = threading.Thread(target=train, args=("worker",))
    worker.start()
    both_active.wait()
    mlflow.log_param("thread", "main")
    worker.join()
    seen["main"] = mlflow.active_run().info.run_name == "main"

print_summary(mlflow, "conformance-threads", {"each_saw_its_own": seen})
