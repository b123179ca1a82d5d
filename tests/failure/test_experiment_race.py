"""Many creators of one experiment name at the same moment: every one gets the winner's
experiment, nobody sees an internal error (issue 7: a ``ConstraintException ... Duplicate
key name`` once surfaced from ``mt.set_experiment`` under four racing processes)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from service_support import ServiceEnv, sql_rows

from jupyter_mltrack.errors import AlreadyExists
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.tracking.core import TrackingCore

PROCESSES = 6
ROUNDS = 3

# Every process waits for the same start file, then calls set_experiment at once.
RACER = """
import os, sys, time
start = sys.argv[1]
while not os.path.exists(start):
    time.sleep(0.001)
import jupyter_mltrack as mt
exp = mt.set_experiment(sys.argv[2])
with mt.start_run():
    mt.log_metric("x", 1.0)
print(exp.experiment_id)
"""


@pytest.mark.timeout(240)
def test_racing_processes_share_one_experiment_in_service_mode(service_env: ServiceEnv) -> None:
    for round_ in range(ROUNDS):
        start = service_env.root / f"start-{round_}"
        name = f"load-{round_}"
        procs = [
            service_env.popen([sys.executable, "-c", RACER, str(start), name])
            for _ in range(PROCESSES)
        ]
        start.touch()  # the racers poll for it, so they call set_experiment together
        outputs = [p.communicate(timeout=180) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()[-2000:]
            assert b"ConstraintException" not in err and b"Unexpected" not in err
        ids = {out.decode().strip().splitlines()[-1] for out, _ in outputs}
        assert len(ids) == 1, f"round {round_}: racers got different experiments {ids}"
    names = sql_rows(service_env.store, "SELECT name, count(*) FROM experiments GROUP BY name")
    assert {n: c for n, c in names if n.startswith("load-")} == {
        f"load-{r}": 1 for r in range(ROUNDS)
    }
    runs = sql_rows(service_env.store, "SELECT count(*) FROM runs WHERE status = 'FINISHED'")
    assert runs == [(PROCESSES * ROUNDS,)]


def test_racing_threads_share_one_experiment_in_direct_mode(tmp_path: Path) -> None:
    """A direct-mode store belongs to one process: its threads race on the store instead."""
    store = DuckDBStore("duckdb://" + str(tmp_path / "store.duckdb"))
    core = TrackingCore(store)
    try:
        winners: list[str] = []
        for round_ in range(ROUNDS):
            gun = threading.Barrier(8)
            got: list[str] = []
            errors: list[BaseException] = []

            def racer(
                name: str = f"load-{round_}",
                gun: threading.Barrier = gun,
                got: list[str] = got,
                errors: list[BaseException] = errors,
            ) -> None:
                try:
                    gun.wait()
                    got.append(core.get_or_create_experiment(name).experiment_id)
                except BaseException as exc:  # collected for the assertion below
                    errors.append(exc)

            threads = [threading.Thread(target=racer) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors and len(got) == 8 and len(set(got)) == 1
            winners.append(got[0])
        # a plain create of a taken name is AlreadyExists naming the winner, never internal
        with pytest.raises(AlreadyExists) as info:
            core.create_experiment("load-0")
        assert info.value.details["experiment_id"] == winners[0]
    finally:
        store.close()
