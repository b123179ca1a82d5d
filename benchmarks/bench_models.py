"""Model benchmark: ``log_model`` and ``load_model`` of a ~100 MB scikit-learn model,
jupyter-mltrack against MLflow in one run, each on its local store.

Run from the repository root::

    python benchmarks/bench_models.py              # a RandomForest of ~100 MB, 3 repeats
    python benchmarks/bench_models.py --quick      # ~10 MB, 2 repeats
    python benchmarks/bench_models.py --mb 250 --repeat 5

The model is a ``RandomForestRegressor`` grown until its pickle is about ``--mb`` megabytes.
Each side logs it inside a run of its own store (jupyter-mltrack: ``duckdb:///`` in direct
mode, files under the store's artifact root; MLflow: ``sqlite:///`` with a local artifact
root) and loads it back by the URI ``log_model`` returned, then predicts 100 rows (the same
predictions are checked). Two formats are timed: skops (our default; MLflow needs
``skops_trusted_types=["sklearn.tree._tree.Tree"]`` for a forest) and cloudpickle (MLflow's
autolog default). The table shows the median seconds and the ratio MLflow / ours (above 1:
we are faster). The target of issue 12 is no slower than MLflow. This prints figures; it
never fails on a missed target.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="~10 MB model, 2 repeats")
    p.add_argument("--mb", type=float, default=None, help="model size in MB (default 100)")
    p.add_argument("--repeat", type=int, default=None, help="timed rounds (default 3)")
    p.add_argument("--tmp-dir", default=None, help="where the stores are created")
    return p.parse_args(argv)


def _model(mb: float) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    y = X @ rng.normal(size=10) + rng.normal(size=20_000)
    probe = RandomForestRegressor(n_estimators=2, random_state=0, n_jobs=1).fit(X, y)
    per_tree = len(pickle.dumps(probe)) / 2
    trees = max(2, round(mb * 1e6 / per_tree))
    model = RandomForestRegressor(n_estimators=trees, random_state=0, n_jobs=2).fit(X, y)
    model.n_jobs = 1
    return model, X[:100]


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def _ours(root: Path, model: Any, fmt: str) -> Callable[[], tuple[float, float, Any]]:
    import jupyter_mltrack as mt

    os.environ["MLTRACK_STORE_MODE"] = "direct"
    mt.set_tracking_uri("duckdb://" + str(root / "mltrack" / "store.duckdb"))
    mt.set_experiment("bench-models")

    def one(X: Any) -> tuple[float, float, Any]:
        with mt.start_run():
            t_log, info = _time(
                lambda: mt.sklearn.log_model(model, name="model", serialization_format=fmt)
            )
        t_load, loaded = _time(lambda: mt.models.load_model(info.model_uri))
        return t_log, t_load, loaded.predict(X)

    return one  # type: ignore[return-value]


def _mlflow(root: Path, model: Any, fmt: str) -> Callable[[Any], tuple[float, float, Any]]:
    import mlflow

    mlflow.set_tracking_uri("sqlite:///" + str(root / "mlflow" / "mlflow.db"))
    if mlflow.get_experiment_by_name("bench-models") is None:
        mlflow.create_experiment(
            "bench-models", artifact_location=(root / "mlflow" / "artifacts").as_uri()
        )
    mlflow.set_experiment("bench-models")
    extra = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if fmt == "skops" else {}

    def one(X: Any) -> tuple[float, float, Any]:
        with mlflow.start_run():
            t_log, info = _time(
                lambda: mlflow.sklearn.log_model(
                    model, name="model", serialization_format=fmt, **extra
                )
            )
        t_load, loaded = _time(lambda: mlflow.pyfunc.load_model(info.model_uri))
        return t_log, t_load, loaded.predict(X)

    return one


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    mb = args.mb if args.mb is not None else (10.0 if args.quick else 100.0)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 3)
    warnings.simplefilter("ignore")
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # MLflow 3.17 refuses otherwise
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import sklearn

    import jupyter_mltrack as mt

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its pickle and +cpu notices
    build_s, (model, X) = _time(lambda: _model(mb))
    size = len(pickle.dumps(model)) / 1e6
    print(
        f"bench_models: RandomForestRegressor, {model.n_estimators} trees, pickle {size:.1f} MB "
        f"(built in {build_s:.0f} s); {repeat} rounds; Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, mlflow {mlflow.__version__}, "
        f"jupyter-mltrack {mt.__version__}, {os.cpu_count()} cores"
    )
    expected = model.predict(X)
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir, prefix="bench-models-") as tmp:
        root = Path(tmp)
        for fmt in ("skops", "cloudpickle"):
            sides = {"mltrack": _ours(root, model, fmt), "mlflow": _mlflow(root, model, fmt)}
            times: dict[str, dict[str, list[float]]] = {s: {"log": [], "load": []} for s in sides}
            for _ in range(repeat):
                for side, fn in sides.items():  # alternate, so load drifts hit both
                    t_log, t_load, pred = fn(X)
                    np.testing.assert_allclose(pred, expected)
                    times[side]["log"].append(t_log)
                    times[side]["load"].append(t_load)
            for op in ("log", "load"):
                ours = statistics.median(times["mltrack"][op])
                theirs = statistics.median(times["mlflow"][op])
                rows.append((f"{op}_model ({fmt})", ours, theirs))
    print(f"{'operation':<28}{'mltrack s':>12}{'mlflow s':>12}{'mlflow/ours':>14}")
    for name, ours, theirs in rows:
        print(f"{name:<28}{ours:>12.2f}{theirs:>12.2f}{theirs / ours:>13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
