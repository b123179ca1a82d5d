"""``mltrack server`` against ``mlflow server``, both on the same PostgreSQL, side by side.

One PostgreSQL cluster (``tests/pg_support.py``: ``initdb`` into a temp dir, a free port,
stopped by PID) holds two databases, one per server. Each server runs with 1 and then 2
processes (``--workers``) on its database; rows, each with its ratio against MLflow in the
same run:

- ``ingest``: sustained points/s from ``--clients`` (8) client processes: ours through our
  client (buffered batches); MLflow's best case, ``log_batch`` of 1,000 metrics per request
  with the mlflow client, against MLflow and against ours; and the same log-batch requests
  encoded before the clock starts (``pre-encoded``: plain HTTP from 8 processes, so the
  servers' own work is what is measured; on a 2-core machine the mlflow client and ours
  leave the servers idle part of the time, and only this row shows what a second server
  process adds);
- ``search``: ``search_runs`` per second from 4 client processes with the mlflow client (a
  filter on a metric, ordered, ``--page`` results) over ``--runs`` (100,000) runs; the runs
  are written once before the servers start, straight into each database (ours with our
  client on the ``postgresql://`` URI, MLflow's by bulk inserts through its table models,
  ``bulk_seed.py``);
- ``history``: ``get_metric_history`` of one run with ``--history`` (100,000) points, the
  median of ``--repeat`` reads (the mlflow client against both, and our client).

Usage::

    python benchmarks/bench_postgres.py                      # the sizes of the issue
    python benchmarks/bench_postgres.py --runs 500 --ingest-points 5000 --seconds 5  # quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "tests"))

import bench_server  # noqa: E402  (its server helpers, ingest workers and row format)
from bulk_seed import seed_mlflow_runs, seed_mltrack_runs  # noqa: E402

QUERY = ("metrics.m > 0.5", ["metrics.m DESC"])


@contextlib.contextmanager
def mltrack_server(uri: str, workers: int, base: Path) -> Iterator[str]:
    port = bench_server._free_port()
    log = open(base / f"mltrack-{workers}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mltrack.cli", "server", "--port", str(port),
         "--backend-store-uri", uri, "--workers", str(workers),
         "--artifacts-destination", str(base / "mltrack-artifacts")],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        bench_server._wait_http(url + "/health", proc)
        yield url
    finally:
        bench_server._stop(proc)
        log.close()


@contextlib.contextmanager
def mlflow_server(uri: str, workers: int, base: Path) -> Iterator[str]:
    port = bench_server._free_port()
    log = open(base / f"mlflow-{workers}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", uri, "--workers", str(workers),
         "--artifacts-destination", str(base / "mlflow-artifacts")],
        stdout=log, stderr=log, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        bench_server._wait_http(url + "/health", proc)
        yield url
    finally:
        bench_server._stop(proc)
        log.close()


def seed(ours_uri: str, mlflow_uri: str, runs: int) -> dict[str, object]:
    """The search runs in each database (run in a child process); ids and seconds."""
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    exp = seed_mltrack_runs(ours_uri, runs, lambda i: (i % 1000) / 1000)
    out["ours"], out["ours_s"] = str(exp), time.perf_counter() - t0
    t0 = time.perf_counter()
    exp_m = seed_mlflow_runs(mlflow_uri, runs, lambda i: (i % 1000) / 1000)
    out["mlflow"], out["mlflow_s"] = str(exp_m), time.perf_counter() - t0
    return out


def search_worker(url: str, experiment_id: str, seconds: float, page: int) -> None:
    """One search client process: prints {"searches", "seconds"}."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    client.search_runs([experiment_id], QUERY[0], order_by=QUERY[1], max_results=page)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        client.search_runs([experiment_id], QUERY[0], order_by=QUERY[1], max_results=page)
        done += 1
    print(json.dumps({"searches": done, "seconds": time.perf_counter() - t0}), flush=True)


def search(url: str, experiment_id: str, seconds: float, page: int, clients: int = 4) -> float:
    cmd = [sys.executable, str(HERE), "--search-worker", url, experiment_id, str(seconds)]
    procs = [
        subprocess.Popen([*cmd, str(page)], stdout=subprocess.PIPE, text=True)
        for _ in range(clients)
    ]
    total = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds * 20 + 600)
        if proc.returncode != 0:
            raise RuntimeError(f"search worker failed ({proc.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        total += result["searches"] / result["seconds"]
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--search-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--seed", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8, help="ingest client processes")
    parser.add_argument("--history", type=int, default=100_000, help="points, 0 to skip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page", type=int, default=100, help="results per search")
    parser.add_argument("--ingest-points", type=int, default=100_000, help="per ours client")
    parser.add_argument("--mlflow-ingest-points", type=int, default=20_000, help="per client")
    parser.add_argument(
        "--wire-ingest-points", type=int, default=50_000, help="per pre-encoding client, ours"
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="of search per round")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    if args.search_worker:
        url, exp, seconds, page = args.search_worker
        search_worker(url, exp, float(seconds), int(page))
        return 0
    if args.seed:
        print(json.dumps(seed(args.seed[0], args.seed[1], int(args.seed[2]))), flush=True)
        return 0

    from pg_support import start_postgres

    pg = start_postgres()
    scaling: dict[str, list[float]] = {}
    lines = [f"{'':<52} {'ours':>12} {'mlflow':>12} {'unit':<10} {'vs mlflow':>9}"]
    try:
        ours_uri = pg.create_database("ours")
        mlflow_db = pg.create_database("mlflow")
        mlflow_uri = mlflow_db.replace("postgresql://", "postgresql+psycopg://", 1)
        done = subprocess.run(
            [sys.executable, str(HERE), "--seed", ours_uri, mlflow_uri, str(args.runs)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"seeding the databases failed:\n{done.stderr[-3000:]}")
        seeded = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"(seeded {args.runs:,} runs: ours {seeded['ours_s']:.1f} s, "
            f"mlflow {seeded['mlflow_s']:.1f} s)",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
            base = Path(tmp)
            os.environ["MLTRACK_SPOOL_DIR"] = str(base / "spool")
            for workers in (int(w) for w in args.workers.split(",")):
                with (
                    mltrack_server(ours_uri, workers, base) as ours,
                    mlflow_server(mlflow_uri, workers, base) as theirs,
                ):
                    n = args.clients
                    o = bench_server.ingest("ours", ours, args.ingest_points, n)
                    m = bench_server.ingest("mlflow", theirs, args.mlflow_ingest_points, n)
                    mo = bench_server.ingest("mlflow", ours, args.mlflow_ingest_points, n)
                    wo = bench_server.ingest("wire", ours, args.wire_ingest_points, n)
                    wm = bench_server.ingest("wire", theirs, args.mlflow_ingest_points, n)
                    scaling.setdefault("our client", []).append(o)
                    scaling.setdefault("pre-encoded MLflow log-batch", []).append(wo)
                    so = search(ours, str(seeded["ours"]), args.seconds, args.page)
                    sm = search(theirs, str(seeded["mlflow"]), args.seconds, args.page)
                    w = f"{workers} process{'es' if workers > 1 else ''}"
                    pts = "points/s"
                    label = f"search_runs ({args.runs:,} runs, {args.page}/page), {w}"
                    row = bench_server._row
                    new = [
                        row(f"ingest, {w}, {n} clients, our client", o, m, pts, True),
                        row(f"ingest, {w}, {n} clients, mlflow client", mo, m, pts, True),
                        row(f"ingest, {w}, {n} clients, pre-encoded", wo, wm, pts, True),
                        row(label, so, sm, "searches/s", True),
                    ]
                    if args.history:
                        h = bench_server.part_history(ours, theirs, args.history, args.repeat)
                        what = f"metric history ({args.history:,} points), {w}"
                        ms = {k: v * 1000 for k, v in h.items()}
                        new += [
                            row(f"{what}, our client", ms["ours/ours"], ms["mlflow/mlflow"],
                                "ms", False),
                            row(f"{what}, mlflow client", ms["mlflow/ours"], ms["mlflow/mlflow"],
                                "ms", False),
                        ]  # fmt: skip
                    lines += new
                    print(*new, sep="\n", flush=True)
    finally:
        pg.stop("immediate")
        import shutil

        shutil.rmtree(pg.base, ignore_errors=True)
    print("\n" + "\n".join(lines))
    for kind, (one, two, *_) in ((k, v) for k, v in scaling.items() if len(v) > 1):
        print(f"ingest, 2 processes against 1, {kind}: {two / one:.2f}x (target 1.6x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
