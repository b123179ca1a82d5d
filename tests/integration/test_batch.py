"""``mltrack models predict`` over real files, DuckDB scoring, the virtualenv env manager and
the Docker build context (its entrypoint run in a fresh virtual environment)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_support import save_sklearn_model, training_frame

# pip and large files on a loaded 2-core machine take minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("batch")
    est = save_sklearn_model(root / "sk")
    return root / "sk", est


def _predict(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", "models", "predict", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _write_parquet(path: Path, rows: int, chunk: int = 500_000) -> None:
    writer = None
    for start in range(0, rows, chunk):
        x, _ = training_frame(min(chunk, rows - start), seed=start)
        table = pa.Table.from_pandas(x, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    assert writer is not None
    writer.close()


def _peak_rss_mb(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd``, sampling its resident memory; (exit code, peak MiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    proc.communicate()
    return int(proc.returncode), peak / 2**20


def test_parquet_is_scored_in_chunks_with_flat_memory(
    model: tuple[Path, object], tmp_path: Path
) -> None:
    """Three times the rows, the same memory: the input is never held whole.

    Both inputs are past the point where the allocator's pools stop growing (a few chunks),
    so the difference is what holding rows would cost."""
    path, est = model
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    _write_parquet(small, 1_000_000)
    _write_parquet(big, 3_000_000)
    base = [sys.executable, "-m", "jupyter_mltrack.cli", "models", "predict", "-m", str(path)]
    args = ["--chunk-rows", "50000", "--no-progress"]
    code, small_mb = _peak_rss_mb(
        [*base, "-i", str(small), "-o", str(tmp_path / "s.parquet"), *args]
    )
    assert code == 0
    code, big_mb = _peak_rss_mb([*base, "-i", str(big), "-o", str(tmp_path / "b.parquet"), *args])
    assert code == 0
    # the extra 2e6 rows as a DataFrame alone are 2e6 x 3 x 8 B = 46 MiB, plus predictions
    # and the Arrow copies; scored in chunks, the peak does not move
    assert big_mb - small_mb < 40, (small_mb, big_mb)
    out = pq.read_table(tmp_path / "b.parquet")
    assert out.num_rows == 3_000_000 and out.column_names == ["prediction"]
    head = pq.ParquetFile(big).read_row_group(0).to_pandas()
    want = est.predict(head)  # type: ignore[attr-defined]
    assert out.column("prediction").to_numpy()[: len(head)].tolist() == want.tolist()


def test_csv_jsonl_and_directories(model: tuple[Path, object], tmp_path: Path) -> None:
    path, est = model
    x, _ = training_frame(1000, seed=9)
    want = est.predict(x).tolist()  # type: ignore[attr-defined]
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(4):
        x.iloc[i * 250 : (i + 1) * 250].to_csv(parts / f"part-{i}.csv", index=False)
    done = _predict(
        "-m",
        str(path),
        "-i",
        str(parts),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--chunk-rows",
        "100",
        "--keep-input",
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"Scored 1,000 rows", done.stderr)
    lines = [json.loads(ln) for ln in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [ln["prediction"] for ln in lines] == want
    assert set(lines[0]) == {"a", "b", "c", "prediction"}

    x.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    done = _predict(
        "-m", str(path), "-i", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.csv")
    )
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "o.csv")["prediction"].tolist() == want


def test_batch_errors_are_one_line(model: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = model
    done = _predict(
        "-m", str(path), "-i", str(tmp_path / "nope.parquet"), "-o", str(tmp_path / "o.parquet")
    )
    assert done.returncode == 1 and "No input at" in done.stderr
    pd.DataFrame({"a": [0.1], "b": [0.2]}).to_parquet(tmp_path / "short.parquet")
    done = _predict(
        "-m", str(path), "-i", str(tmp_path / "short.parquet"), "-o", str(tmp_path / "o.parquet")
    )
    assert done.returncode == 1
    assert "'c'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.parquet").exists()  # no half-written output
    (tmp_path / "x.txt").write_text("a,b\n")
    done = _predict(
        "-m", str(path), "-i", str(tmp_path / "x.txt"), "-o", str(tmp_path / "o.parquet")
    )
    assert done.returncode == 1 and "--input-format" in done.stderr


def test_duckdb_function_and_relation(model: tuple[Path, object], tmp_path: Path) -> None:
    from jupyter_mltrack.serving.udf import duckdb_udf, score_relation

    path, est = model
    x, _ = training_frame(5000, seed=5)
    for i in range(3):
        x.iloc[i::3].to_parquet(tmp_path / f"p{i}.parquet")
    glob = str(tmp_path / "p*.parquet")
    con = duckdb.connect()
    duckdb_udf(con, str(path), name="churn", return_type="BIGINT")
    got = con.sql(f"SELECT a, b, c, churn(a, b, c) AS p FROM '{glob}'").df()
    assert got["p"].tolist() == est.predict(got[["a", "b", "c"]]).tolist()  # type: ignore[attr-defined]
    rel = score_relation(con.sql(f"FROM '{glob}'"), str(path), chunk_rows=1000)
    rel.write_parquet(str(tmp_path / "scored.parquet"))
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == 5000
    assert scored["prediction"].tolist() == est.predict(scored[["a", "b", "c"]]).tolist()  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="SQL identifier"):
        duckdb_udf(con, str(path), name="drop table")


def test_env_manager_virtualenv(model: tuple[Path, object], tmp_path: Path) -> None:
    path, est = model
    x, _ = training_frame(300, seed=2)
    x.to_parquet(tmp_path / "in.parquet")
    env = {**os.environ, "MLTRACK_ENV_ROOT": str(tmp_path / "envs")}
    done = _predict(
        "-m",
        str(path),
        "-i",
        str(tmp_path / "in.parquet"),
        "-o",
        str(tmp_path / "o.parquet"),
        "--env-manager",
        "virtualenv",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    envs = list((tmp_path / "envs").iterdir())
    assert len(envs) == 1 and (envs[0] / "bin" / "python").exists()
    assert (envs[0] / ".mltrack-ready").read_text() == (path / "requirements.txt").read_text()
    got = pd.read_parquet(tmp_path / "o.parquet")["prediction"].tolist()
    assert got == est.predict(x).tolist()  # type: ignore[attr-defined]


def test_docker_context_entrypoint_serves(model: tuple[Path, object], tmp_path: Path) -> None:
    """No Docker engine: build the context, make a fresh virtual environment, install the
    context's requirements.txt into it, and run the Dockerfile's ENTRYPOINT with its ENV in
    the context directory (the image's WORKDIR)."""
    path, est = model
    ctx = tmp_path / "ctx"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mltrack.cli",
            "models",
            "generate-dockerfile",
            "-m",
            str(path),
            "-d",
            str(ctx),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    dockerfile = (ctx / "Dockerfile").read_text()
    assert (ctx / "model" / "MLmodel").is_file()
    reqs = (ctx / "requirements.txt").read_text().splitlines()
    assert reqs[0].startswith("jupyter-mltrack==") and any(
        r.startswith("scikit-learn==") for r in reqs
    )
    assert "EXPOSE 8080" in dockerfile and "COPY model/ model/" in dockerfile
    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    env_line = re.search(r"^ENV (MLTRACK_SERVE_PORT.*)$", dockerfile, re.M).group(1)  # type: ignore[union-attr]
    image_env = dict(kv.split("=", 1) for kv in shlex.split(env_line))
    assert image_env["MLTRACK_SERVE_PORT"] == "8080"

    venv = tmp_path / "venv"
    # --system-site-packages: the pins this machine already has are not downloaded again
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            str(ctx / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr
    assert entry[0] == "mltrack"
    # the console script of this checkout's editable install lives outside the venv: run the
    # same command through the venv's interpreter
    # ... and, as every server in a test, on 127.0.0.1 (the image binds 0.0.0.0: the last
    # --host given wins)
    assert entry[-2:] == ["--host", "0.0.0.0"]
    cmd = [
        str(venv / "bin" / "python"),
        "-m",
        "jupyter_mltrack.cli",
        *entry[1:],
        "--host",
        "127.0.0.1",
    ]
    with socket.socket() as sock:  # a free port on 127.0.0.1
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, **image_env, "MLTRACK_SERVE_PORT": str(port)}
    log = tmp_path / "entry.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ctx, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        x, _ = training_frame(4, seed=8)
        r = httpx.post(
            f"http://127.0.0.1:{port}/invocations",
            json={"dataframe_split": {"columns": list(x.columns), "data": x.values.tolist()}},
        )
        assert r.status_code == 200
        assert r.json()["predictions"] == est.predict(x).tolist()  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.wait(60)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mltrack.cli",
            "models",
            "generate-dockerfile",
            "-m",
            str(path),
            "-d",
            str(ctx),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "not empty" in bad.stderr
