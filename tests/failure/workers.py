"""Worker processes for the store service tests: ``python workers.py ROLE [options]``.

Roles (all use the store named by ``MLTRACK_TRACKING_URI`` in service mode):

- ``writer``: one run, ``--points`` points of key ``x`` (value = step); ``mt.flush()``
  every ``--flush-every`` points, printing ``acked STEP`` once the owner acknowledged
  everything up to STEP, and stopping early once ``--stop-file`` exists; ``done RUN_ID
  N_POINTS`` at the end.
- ``hanging-writer``: like ``writer`` for ``--points``, then logs ``--extra`` points whose
  batch is spooled but never sent (the send blocks: failure injection), prints
  ``spooled STEP`` and waits to be killed.
- ``reader``: for ``--seconds``, searches runs and reads their series and histories;
  prints one JSON line with call count, errors and latency percentiles.
- ``hold-duckdb PATH``: opens the DuckDB file like a DuckDB shell would, prints ``ready``
  and holds it until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from pathlib import Path


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def writer(args: argparse.Namespace) -> int:
    import jupyter_mltrack as mt

    stop = Path(args.stop_file) if args.stop_file else None
    logged = 0
    with mt.start_run(run_name=args.run_name) as run:
        _say(f"run {run.run_id}")
        for step in range(args.points):
            mt.log_metric("x", float(step), step=step)
            logged += 1
            if args.flush_every and (step + 1) % args.flush_every == 0:
                mt.flush()
                _say(f"acked {step}")
                if stop is not None and stop.exists():
                    break
                if args.pause_ms:
                    time.sleep(args.pause_ms / 1000)
    _say(f"done {run.run_id} {logged}")
    return 0


def hanging_writer(args: argparse.Namespace) -> int:
    import jupyter_mltrack as mt
    from jupyter_mltrack.tracking.fluent import get_client

    run = mt.start_run(run_name=args.run_name)
    _say(f"run {run.run_id}")
    for step in range(args.points):
        mt.log_metric("x", float(step), step=step)
    mt.flush()
    _say(f"acked {args.points - 1}")
    store = get_client().store
    spool = store.spool  # type: ignore[attr-defined]
    blocked = threading.Event()

    def never_acknowledged(*_: object) -> None:  # failure injection: the send hangs
        blocked.set()
        time.sleep(3600)

    spool._send = never_acknowledged
    last = args.points + args.extra - 1
    for step in range(args.points, args.points + args.extra):
        mt.log_metric("x", float(step), step=step)
    threading.Thread(target=get_client().buffer.flush, daemon=True).start()
    blocked.wait(30)
    assert spool.pending_files(), "the batch should be spooled before it is sent"
    _say(f"spooled {last}")
    time.sleep(3600)
    return 0


def reader(args: argparse.Namespace) -> int:
    import jupyter_mltrack as mt

    client = mt.tracking.fluent.get_client()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            started = time.perf_counter()
            runs = client.search_runs(["0"], max_results=100)
            latencies.append(time.perf_counter() - started)
            for run in runs[:4]:
                started = time.perf_counter()
                client.store.get_metric_history(run.info.run_id, "x")
                latencies.append(time.perf_counter() - started)
            if runs:
                started = time.perf_counter()
                from jupyter_mltrack.store.base import SeriesRequest

                client.store.get_metric_series(
                    SeriesRequest(tuple(r.info.run_id for r in runs[:4]), "x", 500)
                )
                latencies.append(time.perf_counter() - started)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        time.sleep(args.pause_ms / 1000)
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    _say(
        json.dumps(
            {
                "calls": len(latencies),
                "errors": errors[:5],
                "n_errors": len(errors),
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
                "max_ms": latencies[-1] * 1000 if latencies else 0,
            }
        )
    )
    return 0


def hold_duckdb(args: argparse.Namespace) -> int:
    import duckdb

    con = duckdb.connect(args.path)
    _say("ready")
    sys.stdin.readline()
    con.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    for name in ("writer", "hanging-writer"):
        p = roles.add_parser(name)
        p.add_argument("--run-name", default=name)
        p.add_argument("--points", type=int, default=10_000)
        p.add_argument("--flush-every", type=int, default=0)
        p.add_argument("--pause-ms", type=float, default=0)
        p.add_argument("--extra", type=int, default=1000)
        p.add_argument("--stop-file", default="")
    p = roles.add_parser("reader")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--pause-ms", type=float, default=20)
    p = roles.add_parser("hold-duckdb")
    p.add_argument("path")
    args = parser.parse_args()
    role = {
        "writer": writer,
        "hanging-writer": hanging_writer,
        "reader": reader,
        "hold-duckdb": hold_duckdb,
    }[args.role]
    return role(args)


if __name__ == "__main__":
    sys.exit(main())
