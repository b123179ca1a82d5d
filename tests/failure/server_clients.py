"""Client processes of a real ``mltrack server`` for the fault and load tests (and the
load benchmark): ``python server_clients.py MODE URL [options]``, one JSON line on stdout.

Modes:

- ``log``: one run in experiment ``--experiment``; ``--points`` points of metric ``x``
  at steps 0..N-1 (value = step), ``--per-step`` metrics per step, paced to ``--rate``
  points/s or for ``--seconds``; the run ends FINISHED, or FAILED with ``--fail`` (an
  exception inside ``with mt.start_run()``). Prints ``{"run_id", "points", "steps",
  "log_call_p50_us", "log_call_p99_us", "flush_s"}``.
- ``search``: ``search_runs`` over ``--experiment`` in a loop for ``--seconds``; prints
  ``{"searches", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"}``.
- ``orphan``: like ``log`` but leaves the run open and returns: the interpreter's exit
  ends the run and commits the buffer, and what the server does not take (it is down)
  is kept in the spool for the next client.

Every mode first prints ``{"started": run_id}`` once its run exists; with
``--wait-file PATH`` it then waits for PATH to exist before logging.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _started(run_id: str, wait_file: str | None) -> None:
    print(json.dumps({"started": run_id}), flush=True)
    while wait_file and not os.path.exists(wait_file):
        time.sleep(0.01)


def _log_points(mt: object, args: argparse.Namespace, keys: list[str], calls: list[float]) -> int:
    log_metric = mt.log_metric  # type: ignore[attr-defined]
    for step in range(args.points):
        for key in keys:
            t0 = time.perf_counter_ns()
            log_metric(key, float(step), step=step)
            calls.append((time.perf_counter_ns() - t0) / 1000)
    return int(args.points)


def log_mode(args: argparse.Namespace) -> dict[str, object]:
    import jupyter_mltrack as mt

    mt.set_tracking_uri(args.url)
    mt.set_experiment(args.experiment)
    calls: list[float] = []
    steps = 0
    run_id = ""
    started = time.monotonic()
    interval = 1.0 / args.rate if args.rate else 0.0
    keys = [f"x{i}" if i else "x" for i in range(args.per_step)]
    if args.mode == "orphan":
        run_id = mt.start_run(run_name=args.name).info.run_id
        _started(run_id, args.wait_file)
        steps = _log_points(mt, args, keys, calls)
        print(json.dumps({"run_id": run_id, "steps": steps}), flush=True)
        return {"run_id": run_id, "steps": steps}  # the run stays open: see the docstring
    try:
        with mt.start_run(run_name=args.name) as run:
            run_id = run.info.run_id
            mt.log_param("client_pid", str(os.getpid()))
            _started(run_id, args.wait_file)
            started = time.monotonic()
            step = 0
            while True:
                if args.points and step >= args.points:
                    break
                if args.seconds and time.monotonic() - started >= args.seconds:
                    break
                for key in keys:
                    t0 = time.perf_counter_ns()
                    mt.log_metric(key, float(step), step=step)
                    calls.append((time.perf_counter_ns() - t0) / 1000)
                step += 1
                if interval:
                    due = started + step * interval * len(keys)
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            steps = step
            if args.fail:
                raise RuntimeError("the training failed on purpose")
    except RuntimeError:
        pass
    t0 = time.monotonic()
    mt.flush()
    return {
        "run_id": run_id,
        "steps": steps,
        "points": steps * len(keys),
        "log_call_p50_us": _percentile(calls, 0.5),
        "log_call_p99_us": _percentile(calls, 0.99),
        "flush_s": time.monotonic() - t0,
    }


def search_mode(args: argparse.Namespace) -> dict[str, object]:
    import jupyter_mltrack as mt

    client = mt.MlflowClient(args.url)
    latencies: list[float] = []
    errors = 0
    started = time.monotonic()
    experiment = None
    while time.monotonic() - started < args.seconds:
        t0 = time.perf_counter()
        try:
            if experiment is None:
                experiment = client.get_experiment_by_name(args.experiment)
            if experiment is not None:
                client.search_runs(
                    [experiment.experiment_id],
                    "metrics.x >= 0",
                    order_by=["metrics.x DESC"],
                    max_results=100,
                )
        except Exception as exc:  # counted and shown: the test asserts there are none
            errors += 1
            print(f"search error: {exc}", file=sys.stderr)
        latencies.append((time.perf_counter() - t0) * 1000)
        time.sleep(args.pause)
    return {
        "searches": len(latencies),
        "errors": errors,
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["log", "search", "orphan"])
    parser.add_argument("url")
    parser.add_argument("--experiment", default="load")
    parser.add_argument("--name", default=None)
    parser.add_argument("--points", type=int, default=0)
    parser.add_argument("--per-step", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0, help="points per second")
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--wait-file", default=None)
    args = parser.parse_args()
    result = search_mode(args) if args.mode == "search" else log_mode(args)
    if args.mode != "orphan":
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
