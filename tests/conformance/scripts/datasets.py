"""Datasets: from_pandas and from_numpy, log_input with contexts and tags."""

import mlflow
import numpy as np
import pandas as pd
from _summary import print_summary

mlflow.set_experiment("conformance-datasets")

df = pd.DataFrame(
    {
        "alcohol": [9.4, 9.8, 10.1, 11.0],
        "acidity": np.array([3, 4, 3, 5], dtype=np.int64),
        "color": ["red", "red", "white", "white"],
        "quality": np.array([5, 6, 5, 7], dtype=np.int64),
    }
)
df["predicted"] = df["quality"]

train = mlflow.data.from_pandas(
    df, source="data/wine.csv", targets="quality", name="wine-train", predictions="predicted"
)
test = mlflow.data.from_pandas(df.tail(2), source="https://example.com/wine.csv", name="wine-test")
features = np.arange(12, dtype=np.float64).reshape(4, 3)
labels = np.array([0, 1, 0, 1])
arrays = mlflow.data.from_numpy(features, targets=labels, name="arrays")
unnamed = mlflow.data.from_numpy(features)

with mlflow.start_run(run_name="train"):
    mlflow.log_input(train, context="training")
    mlflow.log_input(test, context="evaluation", tags={"split": "holdout"})
    mlflow.log_input(arrays, context="training")
    mlflow.log_input(unnamed)

print_summary(
    mlflow,
    "conformance-datasets",
    {
        "df_shape": list(train.df.shape),
        "df_is_the_frame": train.df is df,
        "targets": train.targets,
        "predictions": train.predictions,
        "name": train.name,
        "test_targets": test.targets,
        "digest_is_text": isinstance(train.digest, str) and len(train.digest) > 0,
        "numpy_features_shape": list(arrays.features.shape),
        "numpy_targets": arrays.targets.tolist(),
        "numpy_default_name": unnamed.name,
        "numpy_no_targets": unnamed.targets is None,
    },
)
