"""Load on a real ``mltrack server``: 8 client processes log while 2 others search.

The short CI version of ``benchmarks/bench_server_load.py`` (which runs 60 s):
``MLTRACK_LOAD_TEST_S`` sets the duration (default 15 s). Asserted: zero errors, zero
loss (every point of every client is in the store exactly once), every run FINISHED.
Latency percentiles are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from server_support import start_mltrack_server
from test_server_kill import _check_runs, _client, _result

pytestmark = pytest.mark.timeout(900)

SECONDS = float(os.environ.get("MLTRACK_LOAD_TEST_S", "15"))
LOGGERS = 8
SEARCHERS = 2


def test_eight_loggers_and_two_searchers(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with start_mltrack_server(tmp_path) as server:
        seconds = str(SECONDS)
        loggers = [
            _client(server.url, spool, "--seconds", seconds, "--rate", "1500", "--name", f"l{i}")
            for i in range(LOGGERS)
        ]
        searchers = [
            _client(server.url, spool, "--seconds", seconds, "--pause", "0.02", mode="search")
            for _ in range(SEARCHERS)
        ]
        logged = [_result(p, timeout=SECONDS * 10 + 120) for p in loggers]
        searched = [_result(p, timeout=SECONDS * 10 + 120) for p in searchers]
        _check_runs(server, logged, {str(r["run_id"]): "FINISHED" for r in logged})
        info = json.loads(server.get("/mltrack/api/v1/info"))
        total = sum(int(str(r["points"])) for r in logged)
        assert info["ingest"]["rows"] == total  # nothing lost, nothing twice
        assert all(s["errors"] == 0 for s in searched)
        assert sum(int(str(s["searches"])) for s in searched) > 0
        metrics = server.get("/metrics").decode()
        assert 'status="5' not in metrics  # no 5xx on any route
    p99 = max(float(str(r["log_call_p99_us"])) for r in logged)
    print(
        f"\n{LOGGERS} loggers x {SECONDS:g} s: {total} points ({total / SECONDS:,.0f}/s); "
        f"log_metric p50 {max(float(str(r['log_call_p50_us'])) for r in logged):.1f} us, "
        f"p99 {p99:.1f} us; final flush max {max(float(str(r['flush_s'])) for r in logged):.2f} s"
    )
    for i, s in enumerate(searched):
        print(
            f"searcher {i}: {s['searches']} searches, p50 {s['p50_ms']:.1f} ms, "
            f"p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
        )
