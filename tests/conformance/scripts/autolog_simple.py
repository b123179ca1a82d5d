"""sklearn autolog of classifiers: training metrics and plots (binary and multiclass), the
training data as a dataset input, a failing fit, extra_tags, log_models=False."""

import mlflow
import numpy as np
import pandas as pd
from _autolog import name_last_run, print_autolog_summary
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

mlflow.set_experiment("conformance-autolog-simple")
mlflow.sklearn.autolog(extra_tags={"team": "conformance"})

rng = np.random.default_rng(1)
X = rng.normal(size=(80, 4))
y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
LogisticRegression().fit(X, y)
name_last_run(mlflow, "binary")

iris = load_iris(as_frame=True)
DecisionTreeClassifier(max_depth=2, random_state=0).fit(iris.data, iris.target)
name_last_run(mlflow, "multiclass-frame")

weights = np.where(y == 1, 3.0, 1.0)
SVC(C=0.5).fit(X, y, sample_weight=weights)
name_last_run(mlflow, "weighted-svc")

failed = ""
try:
    LogisticRegression().fit(X, np.zeros(len(X)))
except ValueError as exc:
    failed = type(exc).__name__
name_last_run(mlflow, "failing")

mlflow.sklearn.autolog(log_models=False, log_datasets=False)
LogisticRegression(C=2.0).fit(pd.DataFrame(X, columns=list("abcd")), y)
name_last_run(mlflow, "no-datasets")

print_autolog_summary(mlflow, "conformance-autolog-simple", {"failed": failed})
