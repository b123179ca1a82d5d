"""Scoring server and batch prediction against MLflow, side by side in one run.

Serving: the same scikit-learn model directory (saved by MLflow) served by ``mltrack models
serve`` and by ``mlflow models serve --env-manager local``, each with ``--workers`` worker
processes on 127.0.0.1; a keep-alive asyncio load generator (one connection per concurrent
client, in this process) sends MLflow ``dataframe_split`` bodies of 1 and 1,000 rows at
concurrency 1 and 16 for ``--seconds`` each and prints requests/s, p50 and p99.

Batch: ``mltrack models predict`` on a Parquet file of ``--rows`` rows against
``mlflow.pyfunc`` over pandas chunks of the same size (read with pyarrow, scored, written
with a ParquetWriter), each in its own process; rows/s and peak RSS (sampled).

    python benchmarks/bench_serving.py                      # full size: 10,000,000 rows
    python benchmarks/bench_serving.py --rows 1000000 --seconds 5

Figures, not a pass/fail test: results go to stdout (and --json FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_model(root: Path) -> tuple[Path, pd.DataFrame]:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({f"f{i}": rng.random(5000) for i in range(8)})
    y = (x["f0"] + x["f1"] > 1).astype("int64")
    model = LogisticRegression().fit(x, y)
    path = root / "model"
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(x, model.predict(x)))
    return path, x


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}")
        try:
            if httpx.get(url + "/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not start")


def start(kind: str, model: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    if kind == "mltrack":
        cmd = [
            sys.executable,
            "-m",
            "jupyter_mltrack.cli",
            "models",
            "serve",
            "-m",
            str(model),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(model),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--env-manager",
            "local",
            "--workers",
            str(workers),
        ]
    fh = open(log, "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _client(
    port: int, request: bytes, until: float, lat: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            else:  # chunked (uvicorn under a framework may chunk): read to the last chunk
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            lat.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


def load(url: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    port = int(url.rsplit(":", 1)[1])
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    lat: list[float] = []
    errors: list[int] = []

    async def run() -> None:
        await asyncio.gather(
            *[_client(port, request, time.perf_counter() + 0.5, [], []) for _ in range(concurrency)]
        )  # warm-up
        until = time.perf_counter() + seconds
        await asyncio.gather(
            *[_client(port, request, until, lat, errors) for _ in range(concurrency)]
        )

    t0 = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - t0 - 0.5
    arr = np.array(lat) * 1000
    return {
        "rps": len(lat) / wall,
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "errors": len(errors),
    }


def bench_serving(
    root: Path, model: Path, x: pd.DataFrame, workers: int, seconds: float
) -> list[dict[str, Any]]:
    results = []
    bodies = {
        rows: json.dumps(
            {"dataframe_split": {"columns": list(x.columns), "data": x.iloc[:rows].values.tolist()}}
        ).encode()
        for rows in (1, 1000)
    }
    for kind in ("mlflow", "mltrack"):
        proc, url = start(kind, model, workers, root / f"{kind}.log")
        try:
            for rows, body in bodies.items():
                for conc in (1, 16):
                    r = load(url, body, conc, seconds)
                    r.update(server=kind, rows=rows, concurrency=conc)
                    results.append(r)
                    print(
                        f"{kind:8s} rows={rows:5d} c={conc:2d}  {r['rps']:8.1f} req/s  "
                        f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                        f"errors {r['errors']}",
                        flush=True,
                    )
        finally:
            stop(proc)
    print("\nratios (mltrack / mlflow):")
    for rows in (1, 1000):
        for conc in (1, 16):
            a = next(
                r
                for r in results
                if r["server"] == "mltrack" and r["rows"] == rows and r["concurrency"] == conc
            )
            b = next(
                r
                for r in results
                if r["server"] == "mlflow" and r["rows"] == rows and r["concurrency"] == conc
            )
            print(
                f"  rows={rows:5d} c={conc:2d}: throughput x{a['rps'] / b['rps']:.2f}, "
                f"p99 {a['p99_ms']:.2f} vs {b['p99_ms']:.2f} ms"
            )
    return results


_MLFLOW_BATCH = """
import sys, time
import mlflow.pyfunc, pyarrow as pa, pyarrow.parquet as pq
model = mlflow.pyfunc.load_model(sys.argv[1])
t0 = time.perf_counter(); writer = None; rows = 0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=int(sys.argv[4])):
    frame = batch.to_pandas()
    out = pa.table({"prediction": model.predict(frame)})
    writer = writer or pq.ParquetWriter(sys.argv[3], out.schema)
    writer.write_table(out); rows += len(frame)
writer.close()
print(rows, time.perf_counter() - t0)
"""


def _measure(cmd: list[str]) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    return time.perf_counter() - t0, peak / 2**20, out.decode() + err.decode()


def bench_batch(root: Path, model: Path, x: pd.DataFrame, rows: int, chunk: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = root / "big.parquet"
    writer = None
    rng = np.random.default_rng(1)
    step = 1_000_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        table = pa.table({c: rng.random(n) for c in x.columns})
        writer = writer or pq.ParquetWriter(src, table.schema)
        writer.write_table(table, row_group_size=100_000)
    assert writer is not None
    writer.close()
    print(
        f"\nbatch: {rows:,} rows ({src.stat().st_size / 2**20:.0f} MiB Parquet), "
        f"chunks of {chunk:,}"
    )
    ours_s, ours_mb, _ = _measure(
        [
            sys.executable,
            "-m",
            "jupyter_mltrack.cli",
            "models",
            "predict",
            "-m",
            str(model),
            "-i",
            str(src),
            "-o",
            str(root / "ours.parquet"),
            "--chunk-rows",
            str(chunk),
            "--no-progress",
        ]
    )
    theirs_s, theirs_mb, _ = _measure(
        [
            sys.executable,
            "-c",
            _MLFLOW_BATCH,
            str(model),
            str(src),
            str(root / "theirs.parquet"),
            str(chunk),
        ]
    )
    assert pq.ParquetFile(root / "ours.parquet").metadata.num_rows == rows
    res = {
        "rows": rows,
        "mltrack_rows_s": rows / ours_s,
        "mltrack_peak_mb": ours_mb,
        "mlflow_rows_s": rows / theirs_s,
        "mlflow_peak_mb": theirs_mb,
    }
    for label, rate, mb, wall in (
        ("mltrack models predict", res["mltrack_rows_s"], ours_mb, ours_s),
        ("mlflow.pyfunc chunks  ", res["mlflow_rows_s"], theirs_mb, theirs_s),
    ):
        print(f"  {label}: {rate:12,.0f} rows/s  peak RSS {mb:6.0f} MiB  (wall {wall:.1f} s)")
    print(f"  ratio: x{res['mltrack_rows_s'] / res['mlflow_rows_s']:.2f} rows/s")
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="batch input rows")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load point")
    parser.add_argument("--workers", type=int, default=2, help="for both servers")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out: dict[str, Any] = {"cpus": os.cpu_count(), "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        root = Path(tmp)
        model, x = make_model(root)
        print(
            f"model: LogisticRegression, 8 features; {os.cpu_count()} CPUs; "
            f"{args.workers} workers each\n"
        )
        if not args.skip_serving:
            out["serving"] = bench_serving(root, model, x, args.workers, args.seconds)
        if not args.skip_batch:
            out["batch"] = bench_batch(root, model, x, args.rows, args.chunk_rows)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
