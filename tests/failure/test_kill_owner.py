"""``kill -9`` of the owner mid-ingest, again and again: a new owner takes over, no loss,
no duplicates."""

from __future__ import annotations

import signal
import time

from service_support import ServiceEnv, kill_pid, sql_rows, wait_gone


def test_owner_killed_repeatedly_loses_nothing_and_duplicates_nothing(
    service_env: ServiceEnv,
) -> None:
    stop = service_env.root / "stop"
    writers = [
        service_env.worker(
            "writer",
            "--run-name",
            f"w{i}",
            "--points",
            "10000000",
            "--flush-every",
            "500",
            "--pause-ms",
            "2",
            "--stop-file",
            str(stop),
        )
        for i in range(3)
    ]
    owners = [service_env.wait_owner(timeout=20)]
    for w in writers:  # every run exists before the first kill (a busy machine is slow)
        first = w.stdout.readline()
        assert first.startswith(b"run "), (first, w.stderr.read().decode()[-3000:])
    for _ in range(3):
        time.sleep(0.8)  # let batches flow to this owner
        kill_pid(owners[-1], signal.SIGKILL)
        assert wait_gone(owners[-1], 10)
        owners.append(service_env.wait_owner(timeout=20, not_pid=owners[-1]))
    time.sleep(0.5)
    stop.touch()

    outputs = [w.communicate(timeout=120) for w in writers]
    logged = {}
    for proc, (out, err) in zip(writers, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
        _, run_id, count = out.decode().strip().splitlines()[-1].split()
        logged[run_id] = int(count)
    assert len(set(owners)) == 4, "the writers outlived three owners"

    rows = sql_rows(
        service_env.store,
        "SELECT run_id, count(*), count(DISTINCT step) FROM metrics GROUP BY run_id",
    )
    assert {r[0]: (r[1], r[2]) for r in rows} == {r: (n, n) for r, n in logged.items()}
    assert min(logged.values()) > 1000
    statuses = sql_rows(service_env.store, "SELECT DISTINCT status FROM runs")
    assert statuses == [("FINISHED",)], "no live run was mistaken for a dead one"
