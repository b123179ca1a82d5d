"""Store service benchmark: several writer processes and a reader on one store.

Run from the repository root::

    python benchmarks/bench_service.py            # ~1 minute on 2 cores
    python benchmarks/bench_service.py --quick    # ~30 s
    python benchmarks/bench_service.py --writers 8 --rate 400000 --tmp-dir /data/tmp

What it measures, in this order and on fresh stores (see docs/service.md):

1. direct ingest: one process opens the store itself (``MLTRACK_STORE_MODE=direct``) and
   logs ``--points`` points flat out; points/s from the first log call to the end of
   ``mt.flush()``. The baseline of the capacity ratio.
2. paced service ingest (the issue's scenario): ``--writers`` processes log at ``--rate``
   points/s in all for ``--seconds`` to one store through its owner (started beforehand,
   so its start-up is not counted), while one reader process searches runs, opens one
   and reads their downsampled series every ``--pause-ms`` (200 ms: a live plot polling at
   the flush interval, the fastest that can show anything new).
   Reported: the ingest rate achieved (all points / from the first writer's first call
   to the last writer's acknowledged flush), reader latency p50/p99, ack latency p50/p99
   (spool write + send + commit, per batch, in the writers), errors, and loss (points
   missing or duplicated, counted in the store afterwards).
3. flat-out service ingest: the same with every writer logging ``--points`` as fast as
   it can: the capacity of one owner (with writers and owner sharing the CPUs).
4. per-call cost of ``mt.log_metric`` in a client of the service and in direct mode (the
   median of per-call ``perf_counter_ns`` timings; both sides include the timer).

It prints figures, ratios and the targets of issue #3; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ worker roles
def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.001)


def role_writer(args: argparse.Namespace) -> None:
    import jupyter_mltrack as mt
    from jupyter_mltrack.store.remote.spool import spool_of
    from jupyter_mltrack.tracking.fluent import get_client

    errors: list[str] = []
    run = mt.start_run(run_name=args.name)
    spool = spool_of(get_client().store)
    log_metric = mt.log_metric
    print("ready", file=sys.stderr, flush=True)
    _wait_for(Path(args.go))
    t0 = time.time()
    try:
        if args.rate_each:  # paced: bursts of 1,000 points on a schedule
            start = time.perf_counter()
            for burst in range(0, args.points, 1000):
                for step in range(burst, min(burst + 1000, args.points)):
                    log_metric("x", float(step), step=step)
                ahead = start + (burst + 1000) / args.rate_each - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        else:
            for step in range(args.points):
                log_metric("x", float(step), step=step)
        mt.flush()
    except Exception:
        errors.append(traceback.format_exc(limit=4))
    t1 = time.time()
    mt.end_run()
    acks = sorted(spool.ack_seconds) if spool is not None else []
    _emit(
        {
            "run_id": run.run_id,
            "t0": t0,
            "t1": t1,
            "acks_s": acks,
            "errors": errors,
            "warnings": get_client().buffer._warned,
        }
    )


def role_reader(args: argparse.Namespace) -> None:
    """What the sidebar and a live plot do: search runs, open one, read downsampled series."""
    from jupyter_mltrack.store.base import RunQuery, SeriesRequest
    from jupyter_mltrack.tracking.fluent import get_client

    store = get_client().store
    latencies: dict[str, list[float]] = {"search": [], "get_run": [], "series": []}
    errors: list[str] = []
    print("ready", file=sys.stderr, flush=True)
    _wait_for(Path(args.go))
    stop = Path(args.stop)
    while not stop.exists():
        try:
            t = time.perf_counter()
            page = store.search_runs(
                RunQuery(("0",), "", "ACTIVE_ONLY", 100, ("metrics.x DESC",), None)
            )
            latencies["search"].append(time.perf_counter() - t)
            ids = [r.info.run_id for r in page.runs]
            if ids:
                t = time.perf_counter()
                store.get_run(ids[len(latencies["get_run"]) % len(ids)])
                latencies["get_run"].append(time.perf_counter() - t)
                t = time.perf_counter()
                store.get_metric_series(SeriesRequest(tuple(ids), "x", 1000))
                latencies["series"].append(time.perf_counter() - t)
        except Exception:
            errors.append(traceback.format_exc(limit=4))
        time.sleep(args.pause_ms / 1000)
    _emit({"latencies_s": latencies, "errors": errors})


def role_direct_ingest(args: argparse.Namespace) -> None:
    import jupyter_mltrack as mt

    run = mt.start_run(run_name="direct")
    log_metric = mt.log_metric
    t0 = time.perf_counter()
    for step in range(args.points):
        log_metric("x", float(step), step=step)
    mt.flush()
    elapsed = time.perf_counter() - t0
    mt.end_run()
    _emit({"run_id": run.run_id, "seconds": elapsed})


def role_per_call(args: argparse.Namespace) -> None:
    import jupyter_mltrack as mt

    with mt.start_run(run_name="per-call"):
        log_metric, clock = mt.log_metric, time.perf_counter_ns
        for i in range(20_000):  # warm-up: key cache, flusher thread
            log_metric("loss", 0.5, step=i)
        mt.flush()
        medians, everything = [], []
        for _ in range(5):
            samples = [0] * args.calls
            for i in range(args.calls):
                t0 = clock()
                log_metric("loss", 0.25, step=i)
                samples[i] = clock() - t0
            mt.flush()
            medians.append(statistics.median(samples))
            everything += samples
    _emit({"median_ns": statistics.median(everything), "rounds_ns": medians})


ROLES = {
    "writer": role_writer,
    "reader": role_reader,
    "direct-ingest": role_direct_ingest,
    "per-call": role_per_call,
}


# ---------------------------------------------------------------- orchestration
def _env(store: Path, mode: str) -> dict[str, str]:
    parts = [str(REPO), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "MLTRACK_TRACKING_URI": "duckdb://" + str(store),
        "MLTRACK_STORE_MODE": mode,
        "PYTHONPATH": os.pathsep.join(p for p in parts if p),
    }


def _start(role: str, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"worker failed to start: {line}{proc.stderr.read()[-3000:]}")


def _result(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"worker exited with {proc.returncode}:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _stop_services(root: Path) -> None:
    from jupyter_mltrack.service.owner import StorePaths, lock_is_held, read_lock_info

    for lock in root.rglob("*.duckdb.lock"):
        paths = StorePaths.for_store(lock.with_suffix(""))
        info = read_lock_info(paths)
        if info is None or info.kind != "service" or not info.pid or not lock_is_held(paths):
            continue
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while lock_is_held(paths) and time.monotonic() < deadline:
            time.sleep(0.02)


def _count(store: Path, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """``run_id -> (rows, distinct steps)``, read directly once no service runs."""
    from jupyter_mltrack.store.duckdb.store import DuckDBStore

    s = DuckDBStore("duckdb://" + str(store))
    try:
        rows = s.sql(
            "SELECT run_id, count(*), count(DISTINCT step) FROM metrics GROUP BY run_id"
        ).fetchall()
    finally:
        s.close()
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    return {rid: found.get(rid, (0, 0)) for rid in run_ids}


def bench_direct(root: Path, points: int) -> dict[str, Any]:
    store = root / "direct" / "store.duckdb"
    result = _result(_start("direct-ingest", _env(store, "direct"), "--points", str(points)))
    result["points_per_s"] = points / result["seconds"]
    return result


def bench_service(root: Path, label: str, writers: int, points: int, rate: float) -> dict[str, Any]:
    store = root / label / "store.duckdb"
    env = _env(store, "service")
    go, stop = root / f"{label}.go", root / f"{label}.stop"
    t = time.perf_counter()
    warm = subprocess.run(
        [sys.executable, "-c", "import jupyter_mltrack as mt; mt.search_experiments()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if warm.returncode != 0:
        raise RuntimeError(f"could not start the store service:\n{warm.stderr[-3000:]}")
    startup_s = time.perf_counter() - t
    procs = [
        _start(
            "writer",
            env,
            "--name",
            f"w{i}",
            "--points",
            str(points),
            "--go",
            str(go),
            "--writer-rate",
            str(rate / writers),
        )
        for i in range(writers)
    ]
    reader = _start("reader", env, "--go", str(go), "--stop", str(stop))
    for proc in [*procs, reader]:
        _ready(proc)
    go.touch()
    results = [_result(p) for p in procs]
    stop.touch()
    read = _result(reader)
    _stop_services(store.parent)
    counts = _count(store, [r["run_id"] for r in results])
    total = writers * points
    span = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    acks = [a for r in results for a in r["acks_s"]]
    reads = [v for vs in read["latencies_s"].values() for v in vs]
    missing = sum(points - c[0] for c in counts.values() if c[0] < points)
    duplicated = sum(c[0] - c[1] for c in counts.values())
    return {
        "startup_s": startup_s,
        "points_per_s": total / span,
        "seconds": span,
        "ack_p50_ms": _pct(acks, 0.5) * 1000,
        "ack_p99_ms": _pct(acks, 0.99) * 1000,
        "batches": len(acks),
        "read_p50_ms": _pct(reads, 0.5) * 1000,
        "read_p99_ms": _pct(reads, 0.99) * 1000,
        "reads": len(reads),
        "read_p99_by_kind_ms": {k: _pct(v, 0.99) * 1000 for k, v in read["latencies_s"].items()},
        "errors": sum(len(r["errors"]) for r in results) + len(read["errors"]),
        "error_samples": [e for r in results for e in r["errors"]][:2] + read["errors"][:2],
        "flush_warnings": sum(bool(r["warnings"]) for r in results),
        "missing": missing,
        "duplicated": duplicated,
    }


def bench_per_call(root: Path, calls: int) -> dict[str, Any]:
    out = {}
    for mode in ("direct", "service"):
        store = root / f"percall-{mode}" / "store.duckdb"
        out[mode] = _result(_start("per-call", _env(store, mode), "--calls", str(calls)))
        _stop_services(store.parent)
    return out


def _row(name: str, value: str, target: str = "", met: bool | None = None) -> str:
    mark = "" if met is None else ("yes" if met else "NO")
    return f"| {name:<46} | {value:>17} | {target:>11} | {mark:>4} |"


def _service_rows(svc: dict[str, Any], targets: bool) -> list[str]:
    def t(text: str) -> str:
        return text if targets else ""

    def met(ok: bool) -> bool | None:
        return ok if targets else None

    return [
        _row("  reader latency p50", f"{svc['read_p50_ms']:.1f} ms"),
        _row(
            "  reader latency p99",
            f"{svc['read_p99_ms']:.1f} ms",
            t("<= 100 ms"),
            met(svc["read_p99_ms"] <= 100),
        ),
        _row("  ack latency p50 (spool + send + commit)", f"{svc['ack_p50_ms']:.1f} ms"),
        _row(
            "  ack latency p99",
            f"{svc['ack_p99_ms']:.1f} ms",
            t("<= 250 ms"),
            met(svc["ack_p99_ms"] <= 250),
        ),
        _row("  errors (writers + reader)", str(svc["errors"]), "0", svc["errors"] == 0),
        _row(
            "  points lost / duplicated",
            f"{svc['missing']} / {svc['duplicated']}",
            "0 / 0",
            svc["missing"] == 0 and svc["duplicated"] == 0,
        ),
    ]


def report(
    direct: dict[str, Any],
    paced: dict[str, Any],
    flat: dict[str, Any],
    per_call: dict[str, Any],
    n: int,
    rate: float,
) -> str:
    pc_d, pc_s = per_call["direct"]["median_ns"], per_call["service"]["median_ns"]
    lines = [
        _row("measure", "figure", "target", "met?"),
        "|" + "-" * 48 + "|" + "-" * 19 + "|" + "-" * 13 + "|" + "-" * 6 + "|",
        _row(f"{n} writers at {rate:,.0f} pts/s in all + 1 reader", "", "", None),
        _row(
            "  ingest rate achieved (vs offered above)",
            f"{paced['points_per_s']:,.0f} pts/s",
        ),
        *_service_rows(paced, targets=True),
        _row(f"{n} writers flat out + 1 reader", "", "", None),
        _row(
            "  ingest rate (capacity)",
            f"{flat['points_per_s']:,.0f} pts/s",
            ">= 200,000",
            flat["points_per_s"] >= 200_000,
        ),
        *_service_rows(flat, targets=False),
        _row("direct ingest, 1 process flat out", f"{direct['points_per_s']:,.0f} pts/s"),
        _row(
            "service capacity / direct ingest",
            f"{flat['points_per_s'] / direct['points_per_s']:.2f}x",
        ),
        _row("log_metric per call, direct (median)", f"{pc_d:.0f} ns"),
        _row("log_metric per call, service client", f"{pc_s:.0f} ns"),
        _row("service / direct per call", f"{pc_s / pc_d:.2f}x", "<= 1.5x", pc_s / pc_d <= 1.5),
    ]
    details = ""
    for label, svc in (("paced", paced), ("flat out", flat)):
        details += (
            f"\n{label}: {svc['seconds']:.2f} s for all points, {svc['batches']} batches acked, "
            f"{svc['reads']} reads (p99 by kind, ms: "
            + ", ".join(f"{k} {v:.1f}" for k, v in svc["read_p99_by_kind_ms"].items())
            + f"); service start-up {svc['startup_s']:.2f} s (not counted); writers that "
            f"warned about a failed flush: {svc['flush_warnings']}."
        )
        if svc["error_samples"]:
            details += "\nerror samples:\n" + "\n".join(svc["error_samples"])
    details += (
        f"\nper-call rounds (ns): direct {per_call['direct']['rounds_ns']}, service "
        f"{per_call['service']['rounds_ns']}"
    )
    return "\n".join(lines) + details


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="smaller runs (~30 s)")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--points", type=int, default=None, help="points per writer (400,000)")
    p.add_argument("--rate", type=float, default=200_000, help="total points/s of the paced run")
    p.add_argument("--seconds", type=float, default=None, help="length of the paced run (8)")
    p.add_argument("--calls", type=int, default=100_000, help="per-call rounds size")
    p.add_argument("--tmp-dir", default=None, help="where the stores go (a real disk)")
    # worker options
    p.add_argument("--name", default="w")
    p.add_argument("--go", default="")
    p.add_argument("--stop", default="")
    p.add_argument("--pause-ms", type=float, default=200.0)
    p.add_argument("--writer-rate", dest="rate_each", type=float, default=0.0)
    args = p.parse_args(argv)
    if args.role:
        ROLES[args.role](args)
        return 0
    points = args.points or (100_000 if args.quick else 400_000)
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    import duckdb
    import pyarrow

    print(
        f"jupyter-mltrack store service benchmark: {args.writers} writers + 1 reader; Python "
        f"{platform.python_version()}, duckdb {duckdb.__version__}, "
        f"pyarrow {pyarrow.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="mltrack-bench-service-", dir=args.tmp_dir) as d:
        root = Path(d)
        try:
            print("direct ingest ...", file=sys.stderr, flush=True)
            direct = bench_direct(root, points)
            print("paced service ingest with a reader ...", file=sys.stderr, flush=True)
            paced_points = int(args.rate * seconds / args.writers)
            paced = bench_service(root, "paced", args.writers, paced_points, args.rate)
            print("flat-out service ingest with a reader ...", file=sys.stderr, flush=True)
            flat = bench_service(root, "flat", args.writers, points, 0.0)
            print("per-call cost ...", file=sys.stderr, flush=True)
            per_call = bench_per_call(root, args.calls)
        finally:
            _stop_services(root)
    print(report(direct, paced, flat, per_call, args.writers, args.rate))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
