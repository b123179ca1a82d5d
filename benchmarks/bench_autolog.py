"""sklearn autolog overhead: jupyter-mltrack against MLflow 3 on the same fits.

    python benchmarks/bench_autolog.py [--fits 10] [--rows 2000] [--log-models]

Each side runs in its own subprocess with the same seeded data (``--rows`` x 10 floats, a 0/1
label): ``--fits`` plain ``LogisticRegression().fit`` calls with autolog off (the baseline,
measured in the same process), then the same fits with ``<side>.sklearn.autolog()`` on, each
starting and ending its own run, then one ``GridSearchCV`` over 6 candidates (6 child runs).
MLflow runs on SQLite (its default local backend), jupyter-mltrack on DuckDB in direct mode.
Models are not logged unless ``--log-models`` (their cost is the flavors', not autolog's).

Printed per side: the time of autolog()'s first call, the median time per fit without and
with autolog, the autolog overhead per fit, the search's time, and ours / MLflow's ratios.
Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MARK = "BENCH-RESULT "


def _child(side: str, fits: int, rows: int, log_models: bool) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    if side == "mlflow":
        import mlflow as lib
    else:
        import jupyter_mltrack as lib  # type: ignore[no-redef]

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 10))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    lib.set_experiment("bench-autolog")

    def timed(fn: Any) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    baseline = [timed(lambda: LogisticRegression().fit(X, y)) for _ in range(fits)]
    enable_s = timed(lambda: lib.sklearn.autolog(log_models=log_models, silent=True))
    logged = [timed(lambda: LogisticRegression().fit(X, y)) for _ in range(fits)]
    grid = {"C": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]}
    search_s = timed(lambda: GridSearchCV(LogisticRegression(), grid, cv=3).fit(X, y))
    result = {
        "enable_s": enable_s,
        "baseline_s": statistics.median(baseline),
        "logged_s": statistics.median(logged),
        "search_s": search_s,
    }
    print(MARK + json.dumps(result), flush=True)


def _run(side: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["PYTHONWARNINGS"] = "ignore"
    if side == "mlflow":
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    else:
        env["MLTRACK_TRACKING_URI"] = f"duckdb:///{workdir / 'store.duckdb'}"
        env["MLTRACK_STORE_MODE"] = "direct"
    command = [sys.executable, __file__, "--child", side, "--fits", str(args.fits)]
    command += ["--rows", str(args.rows)] + (["--log-models"] if args.log_models else [])
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(lines[0][len(MARK) :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--log-models", action="store_true")
    parser.add_argument("--child", choices=["mlflow", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.fits, args.rows, args.log_models)
        return
    results = {}
    for side in ("mlflow", "ours"):
        with tempfile.TemporaryDirectory() as tmp:
            results[side] = _run(side, args, Path(tmp))
    print(
        f"{args.fits} fits of LogisticRegression on {args.rows} x 10, log_models={args.log_models}"
    )
    print(f"{'':28}{'MLflow':>10}{'ours':>10}{'ours/MLflow':>13}")
    rows = [
        ("autolog() first call (s)", "enable_s"),
        ("fit without autolog (ms)", "baseline_s"),
        ("fit with autolog (ms)", "logged_s"),
        ("GridSearchCV, 6 cands (s)", "search_s"),
    ]
    for label, key in rows:
        scale = 1000 if key.endswith(("baseline_s", "logged_s")) else 1
        theirs, ours = results["mlflow"][key] * scale, results["ours"][key] * scale
        print(f"{label:28}{theirs:>10.2f}{ours:>10.2f}{ours / theirs:>13.2f}")
    overhead = {s: (r["logged_s"] - r["baseline_s"]) * 1000 for s, r in results.items()}
    ratio = overhead["ours"] / overhead["mlflow"] if overhead["mlflow"] else float("nan")
    print(
        f"{'autolog overhead/fit (ms)':28}{overhead['mlflow']:>10.1f}{overhead['ours']:>10.1f}"
        f"{ratio:>13.2f}"
    )


if __name__ == "__main__":
    main()
