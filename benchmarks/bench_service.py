"""Store service benchmark: the targets of issue #7, each as a ratio or figure of one run.

Run from the repository root::

    python benchmarks/bench_service.py            # ~3-4 minutes on 2 cores
    python benchmarks/bench_service.py --quick    # ~1-2 minutes
    python benchmarks/bench_service.py --writers 8 --rate 400000 --tmp-dir /data/tmp
    python benchmarks/bench_service.py --only ingest,series   # some parts only

Parts, in this order, each on fresh stores (see docs/benchmarks.md):

1. ``ingest``: end-to-end ingest from one process against the bare ``log_metric`` loop,
   in direct mode (``MLTRACK_STORE_MODE=direct``) and in service mode, each in its own
   process. Rounds interleave: a *bare* loop of ``--ingest-points`` calls of
   ``mt.log_metric`` while the background flusher is held off (nothing is converted,
   spooled or committed while it runs: what the calls alone cost), then the same loop
   timed until ``mt.flush()`` returns (every point committed). Target: end-to-end rate
   >= 0.7x the bare loop's rate, in each mode.
2. ``paced``: ``--writers`` processes log at ``--rate`` points/s in all for ``--seconds``
   to one store through its owner (started beforehand, its start-up not counted), while a
   reader process, through ``mt.TrackingClient``, searches the runs, opens one and reads
   their downsampled series (full range, width 1000) every ``--pause-ms``. Targets: p99
   of each read kind <= 100 ms, acknowledgement p99 (spool + send + commit per batch,
   measured in the writers) <= 250 ms, zero errors, zero points lost or duplicated
   (counted in the store afterwards).
3. ``series``: a downsampled series of the last 1,000 steps (``x_min = last_step -
   1000``, width 800) of a run with 10,000 points and of one with 10,000,000 points (each
   in its own store; the histories are written as Arrow tables through the direct store
   before the timed part), read through ``mt.TrackingClient`` in direct mode, calls
   interleaved. Target: the 10M figure within 2x of the 10k one.
4. ``flat`` (context): the paced scenario with every writer logging flat out: the
   capacity of one owner with writers and owner sharing the CPUs.
5. ``percall`` (context): the median per-call cost of ``mt.log_metric`` in a client of
   the service and in direct mode.
6. ``stages`` (the profile behind part 1): the cost per point of each stage a point goes
   through after ``mt.log_metric`` returns, timed one at a time in this process on batches
   of the ingest size: the Arrow conversion (``flat_to_table``, holds the GIL), the spool
   file (Arrow IPC write + fsync, service mode only), the store commit (``INSERT`` of the
   points, the latest-metric upsert and the commit, in DuckDB's threads without the GIL),
   each as a fraction of the bare loop's per-call cost.

It prints figures, ratios and targets; it never fails on a missed target. Absolute
figures from different runs are not comparable (the machine is shared): read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
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
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PARTS = ("ingest", "stages", "paced", "series", "flat", "percall")

# targets of issue #7
E2E_RATIO_TARGET = 0.7
READ_P99_TARGET_MS = 100.0
ACK_P99_TARGET_MS = 250.0
SERIES_FLAT_TARGET = 2.0
SERIES_SPAN, SERIES_WIDTH = 1000, 800
SERIES_SMALL, SERIES_BIG = 10_000, 10_000_000
# what the paced reader does each round (the full-history series is context: its cost grows
# with the history by nature; a live plot asks for the newest steps)
READ_KINDS = {
    "search": "search",
    "get_run": "get_run",
    "series": f"series, last {SERIES_SPAN:,} steps (live tick)",
    "series_full": "series, whole history (context)",
}


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


def _fluent_client() -> Any:
    """The client behind ``mt.log_metric`` (the one whose buffer and spool we look at)."""
    try:
        from jupyter_mltrack.tracking.fluent import get_client
    except ImportError:  # moved: the active run knows its client
        import jupyter_mltrack as mt

        run = mt.active_run()
        client = getattr(run, "client", None)
        if client is None:
            raise
        return client
    return get_client()


def _ack_seconds(client: Any) -> list[float]:
    """Per-batch acknowledgement latencies the client spool recorded (service mode)."""
    spool = getattr(getattr(client, "store", None), "spool", None)
    return sorted(getattr(spool, "ack_seconds", ()) or ())


@contextlib.contextmanager
def _flusher_held(client: Any) -> Iterator[bool]:
    """Keep the background flusher from committing while the block runs.

    Holds the buffer's flush lock (a flush in progress finishes first, before the block).
    Yields False, holding nothing, when the buffer has no such lock (then the bare loop
    runs with the flusher active, and the report says so).
    """
    lock = getattr(getattr(client, "buffer", None), "_io", None)
    if lock is None or not hasattr(lock, "acquire"):
        yield False
        return
    with lock:
        yield True


def _log_loop(key: str, start: int, n: int) -> None:
    import jupyter_mltrack as mt

    log_metric = mt.log_metric
    for step in range(start, start + n):
        log_metric(key, float(step), step=step)


def role_writer(args: argparse.Namespace) -> None:
    import jupyter_mltrack as mt

    errors: list[str] = []
    run = mt.start_run(run_name=args.name)
    client = _fluent_client()
    log_metric = mt.log_metric
    print("ready", file=sys.stderr, flush=True)
    _wait_for(Path(args.go))
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
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
    _emit(
        {
            "run_id": run.info.run_id,
            "t0": t0,
            "t1": t1,
            "acks_s": _ack_seconds(client),
            "errors": errors,
            "warnings": len(caught),
        }
    )


def role_reader(args: argparse.Namespace) -> None:
    """What the sidebar and a live plot do: search runs, open one, read downsampled series."""
    import pyarrow as pa

    import jupyter_mltrack as mt

    client = mt.TrackingClient()
    pa.table({"a": [1]}).to_pandas()  # import pandas now: series answers are DataFrames
    latencies: dict[str, list[float]] = {k: [] for k in READ_KINDS}
    last_step = 0.0
    errors: list[str] = []
    print("ready", file=sys.stderr, flush=True)
    _wait_for(Path(args.go))
    stop = Path(args.stop)
    cold: dict[str, float] = {}
    while not stop.exists():
        if not cold and all(latencies.values()):  # the first complete round: warm-up
            cold = {k: v.pop() for k, v in latencies.items()}
        try:
            t = time.perf_counter()
            runs = client.search_runs(["0"], "", "ACTIVE_ONLY", 100, ["metrics.x DESC"])
            latencies["search"].append(time.perf_counter() - t)
            ids = [r.info.run_id for r in runs]
            if ids:
                t = time.perf_counter()
                client.get_run(ids[len(latencies["get_run"]) % len(ids)])
                latencies["get_run"].append(time.perf_counter() - t)
                t = time.perf_counter()  # a live plot's tick: the newest steps only
                client.get_metric_series(ids, "x", width=1000, x_min=last_step - SERIES_SPAN)
                latencies["series"].append(time.perf_counter() - t)
                t = time.perf_counter()  # a chart opened on the whole history
                whole = client.get_metric_series(ids, "x", width=1000)
                latencies["series_full"].append(time.perf_counter() - t)
                last_step = float(whole["last_x"].max()) if len(whole) else 0.0
        except Exception:
            errors.append(traceback.format_exc(limit=4))
        time.sleep(args.pause_ms / 1000)
    _emit({"latencies_s": latencies, "cold_s": cold, "errors": errors})


def role_ingest(args: argparse.Namespace) -> None:
    """Interleaved rounds: bare log_metric loop (flusher held) vs end to end (until flushed)."""
    import jupyter_mltrack as mt

    n = args.points
    run = mt.start_run(run_name="ingest")
    client = _fluent_client()
    _log_loop("warm", 0, 20_000)  # key cache, flusher thread, first batch
    mt.flush()
    rounds: list[dict[str, float]] = []
    held_all = True
    for r in range(args.rounds):
        with _flusher_held(client) as held:
            t0 = time.perf_counter()
            _log_loop("bare", r * n, n)
            bare_s = time.perf_counter() - t0
        held_all = held_all and held
        mt.flush()  # commit the bare round's points outside the timings
        t0 = time.perf_counter()
        _log_loop("x", r * n, n)
        loop_s = time.perf_counter() - t0
        mt.flush()
        e2e_s = time.perf_counter() - t0
        rounds.append({"bare_s": bare_s, "loop_s": loop_s, "e2e_s": e2e_s})
    rid = run.info.run_id
    counts = dict(
        mt.sql(f"SELECT key, count(*) FROM metrics WHERE run_id = '{rid}' GROUP BY key").fetchall()
    )
    mt.end_run()
    _emit(
        {
            "run_id": rid,
            "rounds": rounds,
            "flusher_held": held_all,
            "rows": {k: int(v) for k, v in counts.items()},
            "expected": n * args.rounds,
            "points": n,
        }
    )


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


def _history_table(run_id: str, start: int, n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    step = np.arange(start, start + n, dtype=np.int64)
    value = 1.0 / np.sqrt(step + 1.0) + 0.05 * np.sin(step * 0.37)
    return pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "key": pa.array(["x"] * n, pa.string()),
            "value": pa.array(value, pa.float64()),
            "timestamp_ms": pa.array(1_700_000_000_000 + step * 10, pa.int64()),
            "step": pa.array(step, pa.int64()),
        }
    )


def role_build_history(args: argparse.Namespace) -> None:
    """A store with one run of ``--points`` points of metric ``x`` (direct mode).

    Not the logging path: the rows go in as Arrow tables of 1M rows through the store's
    bulk metric insert (which also maintains the latest values).
    """
    import jupyter_mltrack as mt

    client = mt.TrackingClient()
    exp = client.create_experiment("history")
    run_id = client.create_run(exp, run_name=f"h{args.points}").info.run_id
    t0 = time.perf_counter()
    chunk = 1_000_000
    for start in range(0, args.points, chunk):
        client.store.log_metric_table(
            _history_table(run_id, start, min(chunk, args.points - start))
        )
    build_s = time.perf_counter() - t0
    client.set_terminated(run_id)
    with contextlib.suppress(Exception):
        client.close()
    _emit({"run_id": run_id, "points": args.points, "build_s": build_s})


def role_series(args: argparse.Namespace) -> None:
    """Series of the last SERIES_SPAN steps in the small and the big store, interleaved."""
    import jupyter_mltrack as mt

    targets = json.loads(args.targets)  # [[label, store path, run_id, points], ...]
    clients = {label: mt.TrackingClient("duckdb://" + path) for label, path, _, _ in targets}

    def call(label: str, run_id: str, points: int, full: bool) -> float:
        x_min = None if full else float(points - 1 - SERIES_SPAN)
        t = time.perf_counter()
        frame = clients[label].get_metric_series([run_id], "x", width=SERIES_WIDTH, x_min=x_min)
        elapsed = time.perf_counter() - t
        if len(frame) == 0:
            raise RuntimeError(f"empty series for {label}")
        return elapsed

    cold = {label: call(label, rid, n, False) for label, _, rid, n in targets}
    times: dict[str, list[float]] = {label: [] for label, _, _, _ in targets}
    for _ in range(args.rounds):
        for label, _, rid, n in targets:
            times[label].append(call(label, rid, n, False))
    full = {
        label: statistics.median(call(label, rid, n, True) for _ in range(3))
        for label, _, rid, n in targets
    }
    _emit({"cold_s": cold, "times_s": times, "full_range_s": full})


ROLES = {
    "writer": role_writer,
    "reader": role_reader,
    "ingest": role_ingest,
    "per-call": role_per_call,
    "build-history": role_build_history,
    "series": role_series,
}


# ---------------------------------------------------------------- orchestration
def _env(store: Path, mode: str) -> dict[str, str]:
    parts = [str(REPO), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "MLTRACK_TRACKING_URI": "duckdb://" + str(store),
        "MLTRACK_STORE_MODE": mode,
        "PYTHONPATH": os.pathsep.join(p for p in parts if p),
        # a busy machine can take longer than the default 10 s to start an owner; its
        # start-up is not what this benchmark measures
        "MLTRACK_SERVICE_START_TIMEOUT_S": os.environ.get("MLTRACK_SERVICE_START_TIMEOUT_S", "60"),
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


def _result(proc: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_services(root: Path) -> None:
    """SIGTERM the store services started for stores under ``root`` (our temp dir).

    Reads the owner's lock file (``<store>.lock``, JSON with ``pid`` and ``kind``; see
    docs/service-design.md) instead of importing the service package, which moves.
    """
    for lock in root.rglob("*.duckdb.lock"):
        try:
            info = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            continue
        pid = info.get("pid")
        if info.get("kind") != "service" or not isinstance(pid, int) or not _pid_alive(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _count(store: Path, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """``run_id -> (rows, distinct steps)``, read in direct mode once no service runs."""
    code = (
        "import json, jupyter_mltrack as mt\n"
        "rows = mt.sql('SELECT run_id, count(*), count(DISTINCT step) FROM metrics "
        "GROUP BY run_id').fetchall()\n"
        "print(json.dumps({r[0]: [int(r[1]), int(r[2])] for r in rows}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(store, "direct"),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"could not count the rows:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return {rid: tuple(found.get(rid, (0, 0))) for rid in run_ids}  # type: ignore[misc]


def bench_ingest(root: Path, points: int, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("direct", "service"):
        store = root / f"ingest-{mode}" / "store.duckdb"
        res = _result(
            _start("ingest", _env(store, mode), "--points", str(points), "--rounds", str(rounds))
        )
        _stop_services(store.parent)
        bare = statistics.median(r["bare_s"] for r in res["rounds"])
        e2e = statistics.median(r["e2e_s"] for r in res["rounds"])
        mid = sorted(res["rounds"], key=lambda r: r["e2e_s"])[len(res["rounds"]) // 2]
        res.update(
            bare_rate=points / bare,
            e2e_rate=points / e2e,
            ratio=bare / e2e,
            median_round=mid,
            complete=all(res["rows"].get(k, 0) == res["expected"] for k in ("bare", "x")),
        )
        out[mode] = res
    return out


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
    by_kind = read["latencies_s"]
    return {
        "startup_s": startup_s,
        "offered": rate,
        "points_per_s": total / span,
        "seconds": span,
        "ack_p50_ms": _pct(acks, 0.5) * 1000,
        "ack_p99_ms": _pct(acks, 0.99) * 1000,
        "ack_max_ms": max(acks, default=float("nan")) * 1000,
        "batches": len(acks),
        "read_p50_ms": _pct(reads, 0.5) * 1000,
        "read_p99_ms": _pct(reads, 0.99) * 1000,
        "reads": len(reads),
        "p50_ms": {k: _pct(v, 0.5) * 1000 for k, v in by_kind.items()},
        "p99_ms": {k: _pct(v, 0.99) * 1000 for k, v in by_kind.items()},
        "max_ms": {k: max(v, default=float("nan")) * 1000 for k, v in by_kind.items()},
        "n_by_kind": {k: len(v) for k, v in by_kind.items()},
        "cold_ms": {k: v * 1000 for k, v in read.get("cold_s", {}).items()},
        "errors": sum(len(r["errors"]) for r in results) + len(read["errors"]),
        "error_samples": [e for r in results for e in r["errors"]][:2] + read["errors"][:2],
        "flush_warnings": sum(r["warnings"] for r in results),
        "missing": missing,
        "duplicated": duplicated,
    }


def bench_series(root: Path, rounds: int, big: int) -> dict[str, Any]:
    built = {}
    for label, points in (("small", SERIES_SMALL), ("big", big)):
        store = root / f"series-{label}" / "store.duckdb"
        built[label] = (
            store,
            _result(_start("build-history", _env(store, "direct"), "--points", str(points))),
        )
    targets = [
        [label, str(store), res["run_id"], res["points"]] for label, (store, res) in built.items()
    ]
    res = _result(
        _start(
            "series",
            _env(root / "series-small" / "store.duckdb", "direct"),
            "--targets",
            json.dumps(targets),
            "--rounds",
            str(rounds),
        )
    )
    med = {k: statistics.median(v) for k, v in res["times_s"].items()}
    return {
        "small_ms": med["small"] * 1000,
        "big_ms": med["big"] * 1000,
        "ratio": med["big"] / med["small"],
        "cold_ms": {k: v * 1000 for k, v in res["cold_s"].items()},
        "full_ms": {k: v * 1000 for k, v in res["full_range_s"].items()},
        "build_s": {k: r["build_s"] for k, (_, r) in built.items()},
        "big_points": big,
        "rounds": rounds,
    }


def bench_per_call(root: Path, calls: int) -> dict[str, Any]:
    out = {}
    for mode in ("direct", "service"):
        store = root / f"percall-{mode}" / "store.duckdb"
        out[mode] = _result(_start("per-call", _env(store, mode), "--calls", str(calls)))
        _stop_services(store.parent)
    return out


# ---------------------------------------------------------------------- report
def _row(name: str, value: str, target: str = "", ratio: str = "", met: bool | None = None) -> str:
    mark = "" if met is None else ("yes" if met else "NO")
    return f"| {name:<56} | {value:>16} | {target:>10} | {ratio:>10} | {mark:>4} |"


_RULE = "|" + "-" * 58 + "|" + "-" * 18 + "|" + "-" * 12 + "|" + "-" * 12 + "|" + "-" * 6 + "|"


def _ingest_rows(ingest: dict[str, Any]) -> list[str]:
    rows = [_row("1. end-to-end ingest, 1 process (calls until committed)", "", "", "", None)]
    for mode in ("direct", "service"):
        r = ingest[mode]
        rows += [
            _row(f"  {mode}: bare log_metric loop", f"{r['bare_rate']:,.0f} pts/s"),
            _row(f"  {mode}: end to end (loop + mt.flush())", f"{r['e2e_rate']:,.0f} pts/s"),
            _row(
                f"  {mode}: end to end / bare loop",
                f"{r['ratio']:.2f}x",
                f">= {E2E_RATIO_TARGET}x",
                f"{r['ratio'] / E2E_RATIO_TARGET:.2f}x tgt",
                r["ratio"] >= E2E_RATIO_TARGET and r["complete"],
            ),
        ]
    return rows


def _service_rows(svc: dict[str, Any], targets: bool) -> list[str]:
    def met(ok: bool) -> bool | None:
        return ok if targets else None

    def vs(figure: float, target: float) -> str:
        return f"{figure / target:.2f}x tgt" if targets else ""

    rows = [
        _row(
            "  ingest rate achieved / offered" if svc["offered"] else "  ingest rate (capacity)",
            f"{svc['points_per_s']:,.0f} pts/s",
            f"{svc['offered']:,.0f}" if svc["offered"] else "",
            f"{svc['points_per_s'] / svc['offered']:.2f}x" if svc["offered"] else "",
        )
    ]
    for kind, label in READ_KINDS.items():
        p99 = svc["p99_ms"].get(kind, float("nan"))
        aim = targets and kind != "series_full"
        rows.append(
            _row(
                f"  reader p99: {label}",
                f"{p99:.1f} ms",
                f"<= {READ_P99_TARGET_MS:.0f} ms" if aim else "",
                vs(p99, READ_P99_TARGET_MS) if aim else "",
                met(p99 <= READ_P99_TARGET_MS) if aim else None,
            )
        )
    rows += [
        _row(
            "  ack p99 (spool + send + commit, per batch)",
            f"{svc['ack_p99_ms']:.1f} ms",
            f"<= {ACK_P99_TARGET_MS:.0f} ms" if targets else "",
            vs(svc["ack_p99_ms"], ACK_P99_TARGET_MS),
            met(svc["ack_p99_ms"] <= ACK_P99_TARGET_MS),
        ),
        _row("  errors (writers + reader)", str(svc["errors"]), "0", "", svc["errors"] == 0),
        _row(
            "  points lost / duplicated",
            f"{svc['missing']} / {svc['duplicated']}",
            "0 / 0",
            "",
            svc["missing"] == 0 and svc["duplicated"] == 0,
        ),
    ]
    return rows


def _series_rows(series: dict[str, Any]) -> list[str]:
    big = series["big_points"]
    return [
        _row(f"3. series, last {SERIES_SPAN:,} steps, width {SERIES_WIDTH}", "", "", "", None),
        _row(f"  history of {SERIES_SMALL:,} points", f"{series['small_ms']:.1f} ms"),
        _row(f"  history of {big:,} points", f"{series['big_ms']:.1f} ms"),
        _row(
            f"  {big // 1_000_000}M / 10k history",
            f"{series['ratio']:.2f}x",
            f"<= {SERIES_FLAT_TARGET:.0f}x",
            f"{series['ratio'] / SERIES_FLAT_TARGET:.2f}x tgt",
            series["ratio"] <= SERIES_FLAT_TARGET,
        ),
    ]


# ------------------------------------------------------------------ stages (profile)
def bench_stages(root: Path, points: int, rounds: int) -> dict[str, Any]:
    """Per-point cost of each stage behind one committed point (see part 6)."""
    sys.path.insert(0, str(REPO))
    from jupyter_mltrack.store.arrow import flat_to_table
    from jupyter_mltrack.store.duckdb.store import DuckDBStore
    from jupyter_mltrack.store.remote.spool import ClientSpool

    def send(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the stages part never sends")

    store = DuckDBStore(str(root / "stages.duckdb"))
    run_id = store.create_run("0", "stages", int(time.time() * 1000), "bench", {}, None).info.run_id
    spool = ClientSpool(root / "stages-spool", send=send)
    keys = ("loss", "acc", "lr")
    loop_ns, convert_ns, spool_ns, commit_ns = [], [], [], []
    for r in range(rounds + 1):  # round 0 warms allocators and DuckDB up; not counted
        flat: list[Any] = []
        ts = int(time.time() * 1000)
        started = time.perf_counter_ns()
        for i in range(points):  # the buffer's hot path: one extend per point
            flat.extend((run_id, keys[i % 3], float(i), ts, r * points + i))
        loop_ns.append((time.perf_counter_ns() - started) / points)
        started = time.perf_counter_ns()
        table = flat_to_table(flat)
        convert_ns.append((time.perf_counter_ns() - started) / points)
        started = time.perf_counter_ns()
        spool.keep(flat)  # conversion + IPC write + fsync
        spool_ns.append((time.perf_counter_ns() - started) / points - convert_ns[-1])
        started = time.perf_counter_ns()
        store.log_metric_table(table)
        commit_ns.append((time.perf_counter_ns() - started) / points)
        if r == 0:
            loop_ns, convert_ns, spool_ns, commit_ns = [], [], [], []
    store.close()
    med = statistics.median
    return {
        "points": points,
        "append_ns": med(loop_ns),
        "convert_ns": med(convert_ns),
        "spool_ns": med(spool_ns),
        "commit_ns": med(commit_ns),
    }


def _stages_rows(st: dict[str, Any], bare_ns: float | None) -> list[str]:
    base = bare_ns or st["append_ns"]
    label = "bare log_metric call" if bare_ns else "buffer append (no bare loop measured)"
    rows = [
        _row(f"6. profile: cost per point after the call ({st['points']:,} a batch)", ""),
        _row(f"  {label}", f"{base:.0f} ns", "", "1.00x"),
    ]
    for name, key in (
        ("Arrow conversion (GIL held)", "convert_ns"),
        ("spool write + fsync (service)", "spool_ns"),
        ("store insert + latest upsert + commit", "commit_ns"),
    ):
        rows.append(_row(f"  {name}", f"{st[key]:.0f} ns", "", f"{st[key] / base:.2f}x"))
    return rows


def report(res: dict[str, Any], n: int, rate: float) -> str:
    header = f"| {'measure':<56} | {'figure':>16} | {'target':>10} | {'ratio':>10} | met? |"
    lines = [header, _RULE]
    if "ingest" in res:
        lines += _ingest_rows(res["ingest"])
    if "paced" in res:
        lines.append(_row(f"2. {n} writers paced at {rate:,.0f} pts/s in all + 1 reader", ""))
        lines += _service_rows(res["paced"], targets=True)
    if "series" in res:
        lines += _series_rows(res["series"])
    if "flat" in res:
        lines.append(_row(f"4. context: {n} writers flat out + 1 reader", ""))
        lines += _service_rows(res["flat"], targets=False)
        if "ingest" in res:
            lines.append(
                _row(
                    "  capacity / direct end-to-end ingest",
                    f"{res['flat']['points_per_s'] / res['ingest']['direct']['e2e_rate']:.2f}x",
                )
            )
    if "stages" in res:
        bare = None
        if "ingest" in res:
            bare = 1e9 / res["ingest"]["direct"]["bare_rate"]
        lines += _stages_rows(res["stages"], bare)
    if "percall" in res:
        pc_d = res["percall"]["direct"]["median_ns"]
        pc_s = res["percall"]["service"]["median_ns"]
        lines += [
            _row("5. context: log_metric per call (median)", ""),
            _row("  direct", f"{pc_d:.0f} ns"),
            _row("  service client", f"{pc_s:.0f} ns"),
            _row("  service / direct", f"{pc_s / pc_d:.2f}x", "<= 1.5x", "", pc_s / pc_d <= 1.5),
        ]
    return "\n".join(lines) + "\n" + details(res)


def details(res: dict[str, Any]) -> str:
    out: list[str] = ["", "details:"]
    if "ingest" in res:
        for mode, r in res["ingest"].items():
            mid = r["median_round"]
            rounds = ", ".join(
                f"bare {x['bare_s']:.2f} s / loop {x['loop_s']:.2f} s + flush "
                f"{x['e2e_s'] - x['loop_s']:.2f} s"
                for x in r["rounds"]
            )
            held = "yes" if r["flusher_held"] else "NO (the bare loops ran with the flusher)"
            out.append(
                f"  ingest {mode}: {r['points']:,} points a round; median end-to-end round: "
                f"loop {mid['loop_s']:.2f} s (its bare loop took {mid['bare_s']:.2f} s) "
                f"+ wait in mt.flush() {mid['e2e_s'] - mid['loop_s']:.2f} s; rounds: {rounds}; "
                f"flusher held during the bare loops: {held}; rows in the store {r['rows']} "
                f"(expected {r['expected']:,} per key over the rounds"
                f"{'' if r['complete'] else ', INCOMPLETE'})."
            )
    for label in ("paced", "flat"):
        if label not in res:
            continue
        svc = res[label]
        kinds = ", ".join(
            f"{k} {svc['p50_ms'][k]:.1f}/{svc['p99_ms'][k]:.1f}/{svc['max_ms'][k]:.1f} "
            f"(n={svc['n_by_kind'][k]})"
            for k in svc["p50_ms"]
        )
        out.append(
            f"  {label}: {svc['seconds']:.2f} s for all points; reads p50/p99/max ms: {kinds}; "
            f"ack p50/p99/max {svc['ack_p50_ms']:.1f}/{svc['ack_p99_ms']:.1f}/"
            f"{svc['ack_max_ms']:.1f} ms over {svc['batches']} batches; service start-up "
            f"{svc['startup_s']:.2f} s (not counted); flush warnings: {svc['flush_warnings']}; "
            "first (warm-up) read round, not counted, ms: "
            + ", ".join(f"{k} {v:.1f}" for k, v in svc["cold_ms"].items())
            + "."
        )
        if svc["error_samples"]:
            out.append("  error samples:\n" + "\n".join(svc["error_samples"]))
    if "series" in res:
        s = res["series"]
        out.append(
            f"  series: medians of {s['rounds']} interleaved calls; cold first call ms: "
            + ", ".join(f"{k} {v:.1f}" for k, v in s["cold_ms"].items())
            + "; full range (width 800) ms: "
            + ", ".join(f"{k} {v:.1f}" for k, v in s["full_ms"].items())
            + "; history build s (not timed): "
            + ", ".join(f"{k} {v:.1f}" for k, v in s["build_s"].items())
            + "."
        )
    if "percall" in res:
        out.append(
            f"  per-call rounds (ns): direct {res['percall']['direct']['rounds_ns']}, service "
            f"{res['percall']['service']['rounds_ns']}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="smaller runs (~1-2 minutes)")
    p.add_argument("--only", default=",".join(PARTS), help=f"parts to run ({','.join(PARTS)})")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--points", type=int, default=None, help="points per flat-out writer (400,000)")
    p.add_argument("--ingest-points", type=int, default=None, help="points a round (1,000,000)")
    p.add_argument("--rounds", type=int, default=None, help="ingest rounds per mode (3)")
    p.add_argument("--rate", type=float, default=200_000, help="total points/s of the paced run")
    p.add_argument(
        "--seconds", type=float, default=None, help="length of the paced run (20; --quick 6)"
    )
    p.add_argument(
        "--big-history", type=int, default=SERIES_BIG, help="points of the long series (10M)"
    )
    p.add_argument("--calls", type=int, default=100_000, help="per-call rounds size")
    p.add_argument("--tmp-dir", default=None, help="where the stores go (a real disk)")
    # worker options
    p.add_argument("--name", default="w")
    p.add_argument("--go", default="")
    p.add_argument("--stop", default="")
    p.add_argument("--targets", default="[]")
    p.add_argument("--pause-ms", type=float, default=200.0)
    p.add_argument("--writer-rate", dest="rate_each", type=float, default=0.0)
    args = p.parse_args(argv)
    if args.role:
        if args.role == "ingest":
            args.points = args.points or 1_000_000
            args.rounds = args.rounds or 3
        if args.role == "series":
            args.rounds = args.rounds or 9
        ROLES[args.role](args)
        return 0
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    points = args.points or (100_000 if args.quick else 400_000)
    ingest_points = args.ingest_points or (300_000 if args.quick else 1_000_000)
    rounds = args.rounds or (2 if args.quick else 3)
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    import duckdb
    import pyarrow

    sys.path.insert(0, str(REPO))  # report the package the workers import (PYTHONPATH)
    import jupyter_mltrack

    print(
        f"jupyter-mltrack store service benchmark ({'quick' if args.quick else 'full'}) - "
        f"jupyter-mltrack from {Path(jupyter_mltrack.__file__).parent}; Python "
        f"{platform.python_version()}, duckdb {duckdb.__version__}, "
        f"pyarrow {pyarrow.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mltrack-bench-service-", dir=args.tmp_dir) as d:
        root = Path(d)
        try:
            if "ingest" in parts:
                print("end-to-end ingest vs bare loop ...", file=sys.stderr, flush=True)
                res["ingest"] = bench_ingest(root, ingest_points, rounds)
            if "stages" in parts:
                print("cost of each stage per point ...", file=sys.stderr, flush=True)
                res["stages"] = bench_stages(root, ingest_points, max(rounds, 3))
            if "paced" in parts:
                print("paced service ingest with a reader ...", file=sys.stderr, flush=True)
                paced_points = int(args.rate * seconds / args.writers)
                res["paced"] = bench_service(root, "paced", args.writers, paced_points, args.rate)
            if "series" in parts:
                print("series reads vs history size ...", file=sys.stderr, flush=True)
                res["series"] = bench_series(root, 5 if args.quick else 9, args.big_history)
            if "flat" in parts:
                print("flat-out service ingest with a reader ...", file=sys.stderr, flush=True)
                res["flat"] = bench_service(root, "flat", args.writers, points, 0.0)
            if "percall" in parts:
                print("per-call cost ...", file=sys.stderr, flush=True)
                res["percall"] = bench_per_call(root, args.calls)
        finally:
            _stop_services(root)
    print(report(res, args.writers, args.rate))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
