"""mt.evaluate against mlflow.evaluate: a logged scikit-learn classifier on the same rows.

    python benchmarks/bench_evaluate.py [--rows 1000000] [--features 10] [--repeat 1]

Each side runs in its own subprocess (so peak memory is its own): the same seeded data (a
DataFrame of ``--rows`` x ``--features`` floats and a 0/1 label), a LogisticRegression fitted
on the first 20,000 rows and logged with the side's sklearn flavor, then one timed
``evaluate(model_uri, df, targets="label", model_type="classifier")`` in an active run, which
loads the model from its URI, predicts, computes the default metrics and logs the plots. MLflow
runs on SQLite (its default local backend), jupyter-mltrack on DuckDB in direct mode.

Printed: the evaluate time, the process's peak RSS and its RSS before the call for each side,
the ratios, and the largest difference between the metrics both logged. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MARK = "BENCH-RESULT "


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(rows: int, features: int) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(42)
    X = rng.normal(size=(rows, features))
    logit = X[:, 0] - 0.7 * X[:, 1] + 0.3 * X[:, 2]
    y = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(np.int64)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(features)])
    df["label"] = y
    del X
    model = LogisticRegression(max_iter=300).fit(df.iloc[:20_000, :features], y[:20_000])
    return df, model


def worker(side: str, rows: int, features: int) -> None:
    df, model = _data(rows, features)
    if side == "mlflow":
        import mlflow

        mt: Any = mlflow
    else:
        import jupyter_mltrack as mt  # type: ignore[no-redef]
    mt.set_experiment("bench-evaluate")
    with mt.start_run():
        info = mt.sklearn.log_model(model, name="clf", input_example=df.iloc[:5, :features])
        base_rss, base_peak = _rss_mb(), _peak_mb()
        start = time.perf_counter()
        result = mt.evaluate(info.model_uri, df, targets="label", model_type="classifier")
        seconds = time.perf_counter() - start
    out = {
        "side": side,
        "seconds": seconds,
        "rss_before_mb": base_rss,
        "peak_before_mb": base_peak,
        "peak_mb": _peak_mb(),
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "artifacts": sorted(result.artifacts),
    }
    print(MARK + json.dumps(out))


def _run(side: str, rows: int, features: int, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    env["PYTHONWARNINGS"] = "ignore"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    side_dir = workdir / side
    side_dir.mkdir()
    if side == "mlflow":
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{side_dir / 'mlflow.db'}"
    else:
        env["MLTRACK_TRACKING_URI"] = f"duckdb:///{side_dir / 'store.duckdb'}"
        env["MLTRACK_STORE_MODE"] = "direct"
    cmd = [sys.executable, __file__, "--worker", side, "--rows", str(rows)]
    cmd += ["--features", str(features)]
    proc = subprocess.run(cmd, cwd=side_dir, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[0][len(MARK) :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--worker", choices=["mlflow", "mltrack"])
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.features)
        return
    print(f"evaluate a logged LogisticRegression on {args.rows:,} rows x {args.features} features")
    runs: dict[str, list[dict[str, Any]]] = {"mlflow": [], "mltrack": []}
    for _ in range(args.repeat):
        for side in ("mlflow", "mltrack"):
            with tempfile.TemporaryDirectory() as tmp:
                runs[side].append(_run(side, args.rows, args.features, Path(tmp)))
    best = {side: min(rs, key=lambda r: r["seconds"]) for side, rs in runs.items()}
    print(f"{'':24}{'mlflow.evaluate':>18}{'mt.evaluate':>14}{'ratio':>9}")
    rows = [
        ("evaluate time (s)", "seconds"),
        ("peak RSS (MB)", "peak_mb"),
        ("RSS before call (MB)", "rss_before_mb"),
    ]
    for label, key in rows:
        theirs, ours = best["mlflow"][key], best["mltrack"][key]
        print(f"{label:24}{theirs:>18.2f}{ours:>14.2f}{theirs / ours:>8.2f}x")
    growth = {s: best[s]["peak_mb"] - best[s]["rss_before_mb"] for s in best}
    print(
        f"{'peak - RSS before (MB)':24}{growth['mlflow']:>18.1f}{growth['mltrack']:>14.1f}"
        f"{growth['mlflow'] / max(growth['mltrack'], 1e-9):>8.2f}x"
    )
    shared = sorted(set(best["mlflow"]["metrics"]) & set(best["mltrack"]["metrics"]))
    diffs = {
        k: abs(best["mlflow"]["metrics"][k] - best["mltrack"]["metrics"][k])
        / max(abs(best["mlflow"]["metrics"][k]), 1e-300)
        for k in shared
    }
    worst = max(diffs, key=lambda k: diffs[k]) if diffs else None
    print(
        f"metrics both logged: {len(shared)}; largest relative difference: "
        f"{diffs[worst]:.2e} ({worst})"
        if worst
        else "no shared metrics"
    )
    missing = sorted(set(best["mlflow"]["metrics"]) - set(best["mltrack"]["metrics"]))
    print(f"mlflow metrics missing in ours: {missing or 'none'}")
    print(f"artifacts mlflow: {best['mlflow']['artifacts']}")
    print(f"artifacts ours:   {best['mltrack']['artifacts']}")
    if args.repeat > 1:
        for side, rs in runs.items():
            times = ", ".join(f"{r['seconds']:.2f}" for r in rs)
            print(f"{side} times: {times}")


if __name__ == "__main__":
    main()
