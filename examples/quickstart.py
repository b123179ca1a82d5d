"""Quickstart: train a small scikit-learn model over a grid, log every run, rank them.

Run it with ``python examples/quickstart.py``. Runs go to the default store
(``./mltrack/store.duckdb``) unless ``MLTRACK_TRACKING_URI`` points elsewhere.
"""

from __future__ import annotations

import itertools
import time

import jupyter_mltrack as mt


def main() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    train_ds = mt.data.from_pandas(
        X_train.assign(target=y_train), name="breast_cancer_train", targets="target"
    )

    experiment = mt.set_experiment("quickstart")
    grid = {"C": [0.01, 0.1, 1.0, 10.0], "class_weight": [None, "balanced"]}
    total = len(list(itertools.product(*grid.values())))
    print(f"Training {total} models into experiment {experiment.name!r} at {mt.get_tracking_uri()}")
    for i, values in enumerate(itertools.product(*grid.values()), 1):
        params = dict(zip(grid, values, strict=True))
        with mt.start_run(run_name=f"logreg-C{params['C']}-{params['class_weight'] or 'plain'}"):
            mt.log_params(params)
            mt.log_input(train_ds, context="training")
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, **params))
            started = time.perf_counter()
            model.fit(X_train, y_train)
            mt.log_metric("fit_time_s", time.perf_counter() - started)
            proba = model.predict_proba(X_test)[:, 1]
            pred = (proba > 0.5).astype(int)
            mt.log_metrics(
                {
                    "accuracy": accuracy_score(y_test, pred),
                    "f1": f1_score(y_test, pred),
                    "log_loss": log_loss(y_test, proba),
                }
            )
            # a short curve so there is a series to plot
            for step, threshold in enumerate((0.3, 0.4, 0.5, 0.6, 0.7)):
                mt.log_metric(
                    "accuracy_at_threshold", accuracy_score(y_test, proba > threshold), step=step
                )
        print(f"  [{i}/{total}] {params}")

    ranked = mt.search_runs(
        experiment_names=["quickstart"],
        order_by=["metrics.accuracy DESC", "metrics.log_loss ASC"],
    )
    columns = [
        "run_name",
        "params.C",
        "params.class_weight",
        "metrics.accuracy",
        "metrics.f1",
        "metrics.log_loss",
    ]
    print("\nRuns ranked by accuracy:")
    print(ranked[columns].head(10).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    best = ranked.iloc[0]
    print(
        f"\nBest run: {best['run_name']} ({best['run_id']}), "
        f"accuracy {best['metrics.accuracy']:.4f}"
    )
    print('Query the store with SQL: mltrack sql "SELECT count(*) FROM runs"')


if __name__ == "__main__":
    main()
