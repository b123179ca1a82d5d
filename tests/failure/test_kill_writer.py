"""``kill -9`` of a writer mid-run: what it flushed or spooled is ingested; its run ends KILLED."""

from __future__ import annotations

import signal
import time

from service_support import ServiceEnv, sql_rows

from jupyter_mltrack.store.remote.spool import parse_client_id


def _read_until(proc, prefix: bytes, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} from the worker; stderr: {proc.stderr.read()[-3000:]!r}")


def _wait_status(store, run_id: str, status: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        rows = sql_rows(store, f"SELECT status FROM runs WHERE run_id = '{run_id}'")
        if rows and rows[0][0] == status:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not become {status} within {timeout} s: {rows}")


def test_killed_writer_keeps_flushed_points_and_its_run_ends_killed(
    service_env: ServiceEnv,
) -> None:
    proc = service_env.worker(
        "writer", "--points", "1000000", "--flush-every", "2000", "--pause-ms", "5"
    )
    run_id = _read_until(proc, b"run ").split()[1].decode()
    acked = 0
    for _ in range(5):
        acked = int(_read_until(proc, b"acked ").split()[1])
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    waited = _wait_status(service_env.store, run_id, "KILLED", timeout=15)
    assert waited < 10
    ((count, distinct, top),) = sql_rows(
        service_env.store,
        f"SELECT count(*), count(DISTINCT step), max(step) FROM metrics WHERE run_id = '{run_id}'",
    )
    assert count == distinct, "a point was ingested twice"
    assert top >= acked and count == top + 1, "every acknowledged point is in, none missing"
    ((reason,),) = sql_rows(
        service_env.store,
        f"SELECT value FROM tags WHERE run_id = '{run_id}' AND key = 'mltrack.killed_reason'",
    )
    assert reason.startswith("no heartbeat from its process for ")
    assert f"pid {proc.pid})" in reason


def test_killed_writer_with_a_spooled_unsent_batch_gets_it_ingested(
    service_env: ServiceEnv,
) -> None:
    proc = service_env.worker("hanging-writer", "--points", "3000", "--extra", "1500")
    run_id = _read_until(proc, b"run ").split()[1].decode()
    spooled = int(_read_until(proc, b"spooled ").split()[1])
    files = list(service_env.spool.glob("*/*.arrow"))
    assert len(files) == 1
    assert parse_client_id(files[0].parent.name)[1] == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    _wait_status(service_env.store, run_id, "KILLED", timeout=15)
    ((count, distinct, top),) = sql_rows(
        service_env.store,
        f"SELECT count(*), count(DISTINCT step), max(step) FROM metrics WHERE run_id = '{run_id}'",
    )
    assert (count, distinct, top) == (spooled + 1, spooled + 1, spooled)
    assert not list(service_env.spool.glob("*/*.arrow")), "the spool file was ingested and removed"
