"""sklearn autolog of hyperparameter searches: MLflow's GridSearchCV example (one child run per
candidate, best_* params, cv_results.csv), RandomizedSearchCV beyond max_tuning_runs, and
max_tuning_runs set lower."""

import mlflow
from _autolog import name_children, name_last_run, print_autolog_summary
from sklearn import datasets, svm
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

mlflow.set_experiment("conformance-autolog-search")
mlflow.sklearn.autolog()

iris = datasets.load_iris()
parameters = {"kernel": ("linear", "rbf"), "C": [1, 10]}
clf = GridSearchCV(svm.SVC(), parameters)
clf.fit(iris.data, iris.target)
grid = name_last_run(mlflow, "grid")
grid_children = name_children(mlflow, grid, ["kernel", "C"])

diabetes = datasets.load_diabetes()
alphas = {"alpha": [0.001, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]}
search = RandomizedSearchCV(Ridge(), alphas, n_iter=7, cv=3, random_state=0)
search.fit(diabetes.data, diabetes.target)
randomized = name_last_run(mlflow, "randomized")
randomized_children = name_children(mlflow, randomized, ["alpha"])

mlflow.sklearn.autolog(max_tuning_runs=2)
GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3, return_train_score=True).fit(
    diabetes.data, diabetes.target
)
two = name_last_run(mlflow, "two-children")
two_children = name_children(mlflow, two, ["alpha"])

print_autolog_summary(
    mlflow,
    "conformance-autolog-search",
    {
        "grid_children": len(grid_children),
        "randomized_children": len(randomized_children),
        "two_children": len(two_children),
    },
)
