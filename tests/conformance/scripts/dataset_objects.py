"""The dataset objects themselves, as MLflow's examples read them before logging."""

import mlflow
import numpy as np
import pandas as pd
from _summary import print_summary

df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": np.array([0, 1, 0], dtype=np.int64)})
ds = mlflow.data.from_pandas(df, source="data/train.csv", targets="y", name="train")
arrays = mlflow.data.from_numpy(np.zeros((3, 2)), targets=np.arange(3), name="arrays")

mlflow.set_experiment("conformance-dataset-objects")
with mlflow.start_run(run_name="objects"):
    mlflow.log_input(ds, context="training")

print_summary(
    mlflow,
    "conformance-dataset-objects",
    {
        "profile": ds.profile,  # a dict in MLflow
        "num_rows": ds.profile["num_rows"],
        "source_uri": ds.source.uri,  # a DatasetSource in MLflow
        "schema_names": ds.schema.input_names(),  # an mlflow.types.Schema
        "numpy_profile": arrays.profile,
    },
)
