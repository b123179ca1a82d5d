"""Helpers of ``benchmarks/bench_tracking.py``; see docs/benchmarks.md.

Modules: ``harness`` (sizes, process isolation, timers), ``fixtures`` (the 10,000-run
store), ``mltrack_side`` (jupyter-mltrack workloads and their in-kind baselines:
``list.append``, DuckDB's bulk Arrow insert), ``mlflow_side`` (the same workloads on
MLflow's SQLite store), ``report`` (the table). Benchmarks print figures; they never
pass or fail.
"""
