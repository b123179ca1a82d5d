"""Four writer processes and a reader share one store through its owner."""

from __future__ import annotations

import json

from service_support import ServiceEnv, sql_rows

POINTS = 60_000


def test_four_writers_and_a_reader_every_point_exactly_once(service_env: ServiceEnv) -> None:
    writers = [
        service_env.worker("writer", "--run-name", f"w{i}", "--points", str(POINTS))
        for i in range(4)
    ]
    reader = service_env.worker("reader", "--seconds", "4")
    outputs = [w.communicate(timeout=90) for w in writers]
    for proc, (_, err) in zip(writers, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
        assert b"Traceback" not in err, err.decode()[-3000:]
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err.decode()[-3000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["n_errors"] == 0, report["errors"]
    assert report["calls"] > 10

    run_ids = [o.decode().split("done ")[1].split()[0] for o, _ in outputs]
    rows = sql_rows(
        service_env.store,
        "SELECT run_id, count(*), count(DISTINCT step), min(step), max(step) FROM metrics "
        "WHERE key = 'x' GROUP BY run_id",
    )
    per_run = {r[0]: r[1:] for r in rows}
    for run_id in run_ids:
        assert per_run[run_id] == (POINTS, POINTS, 0, POINTS - 1)
    statuses = sql_rows(service_env.store, "SELECT DISTINCT status FROM runs")
    assert statuses == [("FINISHED",)]
    # one owner served everyone: a single service process for the store
    assert len({service_env.lock_info()["pid"]}) == 1
