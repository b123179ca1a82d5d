"""``mltrack server`` against ``mlflow server`` (SQLite backend), side by side in one run.

Both servers run as real processes on 127.0.0.1 on this machine. Rows:

- ``log_metric``: cost of one call in the client: our client against ours (buffered, the
  call returns at once; the final flush is timed separately), the official mlflow client
  against MLflow and against ours (one synchronous request per call);
- ``ingest``: sustained points/s from 4 client processes: ours flat out through our client;
  MLflow's best case, ``log_batch`` of 1,000 metrics per request (the mlflow client) against
  MLflow and against ours;
- ``search_runs`` over ``--runs`` runs (a filter on a metric, ordered, 1,000 results); the
  runs are written before the servers start by bulk inserts into each store's tables
  (``bulk_seed.py``), so 10,000 of them take seconds;
- ``history``: ``get_metric_history`` of one run with ``--history`` points;
- ``artifacts``: upload and download of a ``--artifact-mb`` file through each server's
  ``mlflow-artifacts`` proxy with the mlflow client, and with our client through ours.

Each figure is the median of ``--repeat`` timings; ratios are against MLflow measured in the
same run. Usage::

    python benchmarks/bench_server.py                    # the sizes of the issue
    python benchmarks/bench_server.py --runs 2000 --history 20000 --artifact-mb 32   # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from bulk_seed import seed_mlflow_runs, seed_mltrack_runs  # noqa: E402


# ------------------------------------------------------------------ servers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout:g} s")


@contextlib.contextmanager
def mltrack_server(base: Path) -> Iterator[str]:
    port = _free_port()
    log = open(base / "mltrack-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mltrack.cli", "server", "--port", str(port),
         "--backend-store-uri", f"duckdb://{base / 'mltrack' / 'store.duckdb'}",
         "--artifacts-destination", str(base / "mltrack" / "artifacts")],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/mltrack/api/v1/info", proc)
        yield url
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def mlflow_server(base: Path) -> Iterator[str]:
    port = _free_port()
    (base / "mlflow").mkdir(exist_ok=True)
    log = open(base / "mlflow-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{base / 'mlflow' / 'mlflow.db'}",
         "--artifacts-destination", str(base / "mlflow" / "artifacts"), "--workers", "1"],
        stdout=log, stderr=log, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/health", proc)
        yield url
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ------------------------------------------------------------------ helpers
def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _mlflow_client(url: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(url)


def _ours(url: str) -> Any:
    from jupyter_mltrack.tracking.client import TrackingClient

    return TrackingClient(url)


# ------------------------------------------------------------------ workers
def worker(kind: str, url: str, points: int) -> None:
    """One ingest client process; prints {"points", "seconds"} (first call to last ack)."""
    if kind == "ours":
        client = _ours(url)
        run_id = client.create_run("0").info.run_id
        t0 = time.perf_counter()
        for step in range(points):
            client.log_metric(run_id, "x", float(step), step=step)
        client.flush()
    elif kind == "wire":
        conn, run_id = _wire_run(url)
        now = int(time.time() * 1000)
        bodies = [
            json.dumps({"run_id": run_id, "metrics": [
                {"key": "x", "value": float(s), "timestamp": now, "step": s}
                for s in range(start, min(points, start + 1000))
            ]}).encode()
            for start in range(0, points, 1000)
        ]  # fmt: skip
        t0 = time.perf_counter()
        for body in bodies:
            _wire_post(conn, "runs/log-batch", body)
    else:
        from mlflow.entities import Metric

        client = _mlflow_client(url)
        run_id = client.create_run("0").info.run_id
        now = int(time.time() * 1000)
        t0 = time.perf_counter()
        for start in range(0, points, 1000):
            batch = [Metric("x", float(s), now, s) for s in range(start, min(points, start + 1000))]
            client.log_batch(run_id, metrics=batch)
    print(json.dumps({"points": points, "seconds": time.perf_counter() - t0}), flush=True)


def _wire_run(url: str) -> tuple[http.client.HTTPConnection, str]:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    body = json.dumps({"experiment_id": "0", "start_time": int(time.time() * 1000)}).encode()
    return conn, _wire_post(conn, "runs/create", body)["run"]["info"]["run_id"]


def _wire_post(conn: http.client.HTTPConnection, route: str, body: bytes) -> Any:
    """One MLflow REST call on a kept-alive connection: the ``wire`` ingest kind sends
    log-batch bodies encoded before the clock starts, so the servers' own work is what the
    row measures (the mlflow client spends most of a batch building and encoding it)."""
    headers = {"Content-Type": "application/json"}
    conn.request("POST", f"/api/2.0/mlflow/{route}", body, headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{route}: HTTP {response.status}: {data[:300]!r}")
    return json.loads(data)


def ingest(kind: str, url: str, points: int, clients: int = 4) -> float:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE), "--worker", kind, url, str(points)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "MLTRACK_SPOOL_DIR": tempfile.mkdtemp(prefix="bench-spool-")},
        )
        for _ in range(clients)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} ingest worker failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return sum(r["points"] for r in results) / max(r["seconds"] for r in results)


# ------------------------------------------------------------------ parts
def part_log_metric(ours: str, mlflow: str, n_ours: int, n_mlflow: int) -> dict[str, float]:
    out: dict[str, float] = {}
    client = _ours(ours)
    run_id = client.create_run("0").info.run_id
    t0 = time.perf_counter()
    for step in range(n_ours):
        client.log_metric(run_id, "x", float(step), step=step)
    out["ours/ours"] = (time.perf_counter() - t0) / n_ours
    t0 = time.perf_counter()
    client.flush()
    out["ours/ours flush"] = time.perf_counter() - t0
    client.close()
    for name, url in (("mlflow/mlflow", mlflow), ("mlflow/ours", ours)):
        mc = _mlflow_client(url)
        rid = mc.create_run("0").info.run_id
        t0 = time.perf_counter()
        for step in range(n_mlflow):
            mc.log_metric(rid, "x", float(step), step=step)
        out[name] = (time.perf_counter() - t0) / n_mlflow
    return out


def seed_search(base: Path, runs: int) -> tuple[str, str, dict[str, float]]:
    """``runs`` runs with a param and a metric in a new experiment of each store, written
    before the servers start, by bulk inserts into each store's tables (``bulk_seed.py``: ours
    into the DuckDB file, MLflow's into its SQLite file; either client's one ``log_batch`` per
    run would take longer than the search).
    Returns both experiment ids and the seconds each took (not a figure of the benchmark:
    going through HTTP one run at a time would take longer than the search it prepares)."""
    seconds: dict[str, float] = {}
    (base / "mltrack").mkdir(exist_ok=True)
    (base / "mlflow").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    exp_ours = seed_mltrack_runs(
        f"duckdb://{base / 'mltrack' / 'store.duckdb'}", runs, lambda i: (i % 1000) / 1000
    )
    seconds["ours"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    exp_mlflow = seed_mlflow_runs(
        f"sqlite:///{base / 'mlflow' / 'mlflow.db'}",
        runs,
        lambda i: (i % 1000) / 1000,
        artifact_location=(base / "mlflow" / "artifacts").as_uri(),
    )
    seconds["mlflow"] = time.perf_counter() - t0
    return str(exp_ours), str(exp_mlflow), seconds


def part_search(
    ours: str, mlflow: str, exp_ours: str, exp_mlflow: str, runs: int, repeat: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    query = ("metrics.m > 0.5", ["metrics.m DESC"])
    expected = min(1000, sum(1 for i in range(runs) if (i % 1000) / 1000 > 0.5))
    ours_client = _ours(ours)
    found = ours_client.search_runs([exp_ours], query[0], order_by=query[1], max_results=1000)
    assert len(found) == expected, (len(found), expected)
    out["ours/ours"] = median_time(
        lambda: ours_client.search_runs([exp_ours], query[0], order_by=query[1], max_results=1000),
        repeat,
    )
    ours_client.close()
    for name, url, exp in (("mlflow/mlflow", mlflow, exp_mlflow), ("mlflow/ours", ours, exp_ours)):
        mc = _mlflow_client(url)
        got = mc.search_runs([exp], query[0], order_by=query[1], max_results=1000)
        assert len(got) == expected, (name, len(got), expected)
        out[name] = median_time(
            lambda mc=mc, exp=exp: mc.search_runs(
                [exp], query[0], order_by=query[1], max_results=1000
            ),
            repeat,
        )
    return out


def part_history(ours: str, mlflow: str, points: int, repeat: int) -> dict[str, float]:
    from mlflow.entities import Metric

    out: dict[str, float] = {}
    client = _ours(ours)
    rid_ours = client.create_run("0").info.run_id
    for step in range(points):
        client.log_metric(rid_ours, "h", float(step), step=step)
    client.flush()
    mc = _mlflow_client(mlflow)
    rid_ml = mc.create_run("0").info.run_id
    now = int(time.time() * 1000)
    for start in range(0, points, 1000):
        mc.log_batch(
            rid_ml,
            metrics=[
                Metric("h", float(s), now, s) for s in range(start, min(points, start + 1000))
            ],
        )
    got = len(client.get_metric_history(rid_ours, "h"))
    assert got == points, f"ours returned {got} points"
    out["ours/ours"] = median_time(lambda: client.get_metric_history(rid_ours, "h"), repeat)
    client.close()
    out["mlflow/mlflow"] = median_time(lambda: mc.get_metric_history(rid_ml, "h"), repeat)
    mco = _mlflow_client(ours)
    assert len(mco.get_metric_history(rid_ours, "h")) == points
    out["mlflow/ours"] = median_time(lambda: mco.get_metric_history(rid_ours, "h"), repeat)
    return out


def part_artifacts(
    ours: str, mlflow: str, mb: int, base: Path, repeat: int = 3
) -> dict[str, float]:
    """MB/s of an upload and a download of an ``mb`` MB file, the median of ``repeat`` of
    each (a new run per upload, the download into a new directory)."""
    src = base / "blob.bin"
    with open(src, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))
    size = src.stat().st_size
    out: dict[str, float] = {}
    count = iter(range(1_000_000))

    def rate(name: str, upload: Callable[[], Any], download: Callable[[str], str]) -> None:
        ups, downs = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            upload()
            ups.append(mb / (time.perf_counter() - t0))
            dst = base / f"dl-{next(count)}"
            dst.mkdir()
            t0 = time.perf_counter()
            path = download(str(dst))
            downs.append(mb / (time.perf_counter() - t0))
            assert Path(path).stat().st_size == size
            shutil.rmtree(dst)
        out[f"{name} upload"] = statistics.median(ups)
        out[f"{name} download"] = statistics.median(downs)

    for name, url in (("mlflow/mlflow", mlflow), ("mlflow/ours", ours)):
        mc = _mlflow_client(url)
        runs: list[str] = []

        def up(mc: Any = mc, runs: list[str] = runs) -> None:
            runs.append(mc.create_run("0").info.run_id)
            mc.log_artifact(runs[-1], str(src))

        rate(
            name, up, lambda dst, mc=mc, runs=runs: mc.download_artifacts(runs[-1], "blob.bin", dst)
        )
    # Our client on our server: mlflow-artifacts:/ run URIs, ProxiedArtifactRepository.
    client = _ours(ours)
    ours_runs: list[str] = []

    def up_ours() -> None:
        ours_runs.append(client.create_run("0").info.run_id)
        assert client.get_run(ours_runs[-1]).info.artifact_uri.startswith("mlflow-artifacts:/")
        client.log_artifact(ours_runs[-1], str(src))

    rate(
        "ours/ours", up_ours, lambda dst: client.download_artifacts(ours_runs[-1], "blob.bin", dst)
    )
    client.close()
    return out


# ------------------------------------------------------------------ main
def _row(label: str, ours: float, theirs: float, unit: str, higher_better: bool) -> str:
    ratio = ours / theirs if higher_better else theirs / ours
    return f"{label:<44} {ours:>14,.4g} {theirs:>14,.4g} {unit:<8} {ratio:>8.1f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "URL", "POINTS"))
    parser.add_argument("--seed", nargs=2, metavar=("BASE", "RUNS"), help=argparse.SUPPRESS)
    parser.add_argument("--log-calls", type=int, default=100_000)
    parser.add_argument("--mlflow-log-calls", type=int, default=300)
    parser.add_argument("--ingest-points", type=int, default=200_000, help="per ours client")
    parser.add_argument("--mlflow-ingest-points", type=int, default=20_000, help="per client")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--artifact-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--parts", default="log_metric,ingest,search,history,artifacts")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    if args.seed:
        print(json.dumps(seed_search(Path(args.seed[0]), int(args.seed[1]))), flush=True)
        return 0
    parts = set(args.parts.split(","))
    lines = [f"{'':<44} {'ours':>14} {'mlflow':>14} {'unit':<8} {'vs mlflow':>9}"]
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        base = Path(tmp)
        if "search" in parts:  # in a child process: it must let go of both store files
            out = subprocess.run(
                [sys.executable, str(HERE), "--seed", str(base), str(args.runs)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            seeded = json.loads(out.strip().splitlines()[-1])
            print(
                f"(seeded {args.runs:,} runs directly: ours {seeded[2]['ours']:.1f} s, "
                f"mlflow's SQLite store {seeded[2]['mlflow']:.1f} s)",
                flush=True,
            )
        with mltrack_server(base) as ours, mlflow_server(base) as mlflow:
            os.environ["MLTRACK_SPOOL_DIR"] = str(base / "spool")
            if "log_metric" in parts:
                r = part_log_metric(ours, mlflow, args.log_calls, args.mlflow_log_calls)
                us = 1e6
                lines.append(
                    _row(
                        "log_metric per call, our client / mlflow",
                        r["ours/ours"] * us,
                        r["mlflow/mlflow"] * us,
                        "us",
                        False,
                    )
                )
                lines.append(
                    _row(
                        "log_metric per call, mlflow client on ours",
                        r["mlflow/ours"] * us,
                        r["mlflow/mlflow"] * us,
                        "us",
                        False,
                    )
                )
                lines.append(
                    f"  (our client's final flush of {args.log_calls:,} points: "
                    f"{r['ours/ours flush']:.3f} s)"
                )
                print(lines[-3], lines[-2], lines[-1], sep="\n", flush=True)
            if "ingest" in parts:
                o = ingest("ours", ours, args.ingest_points)
                m = ingest("mlflow", mlflow, args.mlflow_ingest_points)
                mo = ingest("mlflow", ours, args.mlflow_ingest_points)
                lines.append(_row("ingest, 4 clients, our client / mlflow", o, m, "points/s", True))
                lines.append(
                    _row("ingest, 4 clients, mlflow client on ours", mo, m, "points/s", True)
                )
                print(*lines[-2:], sep="\n", flush=True)
            if "search" in parts:
                r = part_search(ours, mlflow, seeded[0], seeded[1], args.runs, args.repeat)
                lines.append(
                    _row(
                        f"search_runs over {args.runs:,} runs, our client",
                        r["ours/ours"] * 1e3,
                        r["mlflow/mlflow"] * 1e3,
                        "ms",
                        False,
                    )
                )
                lines.append(
                    _row(
                        f"search_runs over {args.runs:,} runs, mlflow client",
                        r["mlflow/ours"] * 1e3,
                        r["mlflow/mlflow"] * 1e3,
                        "ms",
                        False,
                    )
                )
                print(*lines[-2:], sep="\n", flush=True)
            if "history" in parts:
                r = part_history(ours, mlflow, args.history, args.repeat)
                lines.append(
                    _row(
                        f"metric history of {args.history:,} points, our client",
                        r["ours/ours"] * 1e3,
                        r["mlflow/mlflow"] * 1e3,
                        "ms",
                        False,
                    )
                )
                lines.append(
                    _row(
                        f"metric history of {args.history:,} points, mlflow client",
                        r["mlflow/ours"] * 1e3,
                        r["mlflow/mlflow"] * 1e3,
                        "ms",
                        False,
                    )
                )
                print(*lines[-2:], sep="\n", flush=True)
            if "artifacts" in parts:
                r = part_artifacts(ours, mlflow, args.artifact_mb, base, args.repeat)
                for way in ("upload", "download"):
                    lines.append(
                        _row(
                            f"artifact {way} {args.artifact_mb} MB (mlflow client)",
                            r[f"mlflow/ours {way}"],
                            r[f"mlflow/mlflow {way}"],
                            "MB/s",
                            True,
                        )
                    )
                    lines.append(
                        _row(
                            f"artifact {way} {args.artifact_mb} MB (our client, proxy)",
                            r[f"ours/ours {way}"],
                            r[f"mlflow/mlflow {way}"],
                            "MB/s",
                            True,
                        )
                    )
                print(*lines[-4:], sep="\n", flush=True)
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
