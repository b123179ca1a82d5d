"""Tracking benchmarks: logging cost, ingest rate, search and history reads, vs baselines.

Run from the repository root::

    python benchmarks/bench_tracking.py                       # full: 2-5 minutes on 2 cores
    python benchmarks/bench_tracking.py --quick               # under a minute
    python benchmarks/bench_tracking.py --no-mlflow
    python benchmarks/bench_tracking.py --store-mode service  # or direct; default both

Every workload runs in a fresh process and a fresh temp dir, and every baseline is
measured in the same run, so the ratios compare like with like on this machine now.
Absolute figures from different runs or machines are not comparable. This prints
figures; it never fails on a missed target. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `trackbench` when run by path

from trackbench import mlflow_side, mltrack_side
from trackbench.harness import FULL, QUICK, STORE_MODES, Sizes, isolated
from trackbench.report import MODE_TITLES, NOTES, build_rows, format_details, format_table


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller workloads, under a minute")
    p.add_argument("--no-mlflow", action="store_true", help="skip the MLflow comparison rows")
    p.add_argument(
        "--store-mode",
        choices=("both", *STORE_MODES),
        default="both",
        help="how jupyter-mltrack opens the store: 'service' (the default users get: a "
        "store-service process owns the file), 'direct' (in the logging process), or both "
        "(one table each; default)",
    )
    p.add_argument(
        "--tmp-dir",
        default=None,
        help="where the fresh stores are created (default: the system temp dir); use a disk "
        "like the one your notebooks write to, not tmpfs",
    )
    return p.parse_args(argv)


def _header(sizes: Sizes, tmp_dir: str | None) -> str:
    import tempfile

    import duckdb
    import pyarrow

    import jupyter_mltrack

    return (
        f"jupyter-mltrack tracking benchmarks ({sizes.name}) - jupyter-mltrack "
        f"{jupyter_mltrack.__version__} from {Path(jupyter_mltrack.__file__).parent}\n"
        f"Python {platform.python_version()}, duckdb {duckdb.__version__}, pyarrow "
        f"{pyarrow.__version__}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at start; stores under {tmp_dir or tempfile.gettempdir()}"
    )


def _steps(
    sizes: Sizes, tmp_dir: str | None, modes: list[str], with_mlflow: bool
) -> Iterator[tuple[str, str, Callable[..., Any], tuple[Any, ...]]]:
    """``(group, name, worker, args)`` of every workload, in the order they run."""
    for mode in modes:
        yield mode, "per_call", mltrack_side.per_call, (sizes, tmp_dir, mode)
        for how in ("log_metric", "log_metrics"):
            yield mode, f"ingest_{how}", mltrack_side.ingest, (sizes, tmp_dir, mode, how)
        yield mode, "reads", mltrack_side.reads, (sizes, tmp_dir, mode)
    if with_mlflow:
        yield "mlflow", "all", mlflow_side.run_all, (sizes, tmp_dir)


def run(sizes: Sizes, tmp_dir: str | None, modes: list[str], with_mlflow: bool) -> dict[str, Any]:
    """Every workload, each in a fresh process; progress goes to stderr.

    Returns ``{mode: {workload: numbers}}`` for each store mode, plus ``"mlflow"``.
    """
    steps = list(_steps(sizes, tmp_dir, modes, with_mlflow))
    results: dict[str, Any] = {mode: {} for mode in modes}
    for i, (group, name, worker, args) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {group}: {name} ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        out = isolated(worker, *args)
        print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        if group == "mlflow":
            results["mlflow"] = out
        else:
            results[group][name] = out
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = QUICK if args.quick else FULL
    with_mlflow = not args.no_mlflow
    if with_mlflow and not mlflow_side.available():
        print(
            "mlflow is not installed, so the MLflow comparison rows are skipped. Install it "
            "with `pip install mlflow` (or `pip install -e .[bench]`), or pass --no-mlflow to "
            "silence this message.",
            file=sys.stderr,
        )
        with_mlflow = False
    modes = list(STORE_MODES) if args.store_mode == "both" else [args.store_mode]
    header = _header(sizes, args.tmp_dir)
    t0 = time.perf_counter()
    results = run(sizes, args.tmp_dir, modes, with_mlflow)
    elapsed = time.perf_counter() - t0
    print(header)
    print(f"Finished in {elapsed:.0f} s; load average {os.getloadavg()[0]:.1f} at the end.")
    if not with_mlflow:
        print("MLflow comparison skipped (--no-mlflow or mlflow not installed).")
    mlflow = results.get("mlflow")
    for mode in modes:
        print()
        print(MODE_TITLES[mode])
        print()
        print(format_table(build_rows(sizes, results[mode], mlflow)))
        print()
        print(format_details(sizes, results[mode], mlflow if mode == modes[-1] else None))
    print()
    print(NOTES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
