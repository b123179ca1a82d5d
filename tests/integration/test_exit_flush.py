"""The last flush at interpreter exit: every point arrives, nothing is imported, stderr stays
clean.

A script that logs and exits at once leaves its points to the at-exit flush. Building that
batch with ``pa.array`` imported pandas (pyarrow does on first use), which at interpreter
shutdown failed ("can't register atexit after shutdown") and left the points in the spool
with a warning. The batch is now built from its buffers while pandas is not loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from service_support import (
    ServiceEnv,
    service_env_fixture,  # noqa: F401  (fixture 'service_env')
)

from jupyter_mltrack.store.arrow import METRIC_SCHEMA, _flat_to_table_from_buffers, flat_to_table
from jupyter_mltrack.store.duckdb.store import DuckDBStore

POINTS = 2_000

SCRIPT = f"""
import atexit, sys
# registered first, so it runs last: after jupyter-mltrack's own exit handlers
atexit.register(lambda: print("pandas-at-exit:", "pandas" in sys.modules, flush=True))
import jupyter_mltrack as mt
run = mt.start_run(run_name="exit")
for i in range({POINTS}):
    mt.log_metric("loss", 1.0 / (i + 1), step=i)
    mt.log_metric("ключ", float(i), step=i)  # a non-ASCII key
print("run:", run.info.run_id, flush=True)
"""


def _run_script(env: dict[str, str], cwd: Path) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"the exit flush wrote to stderr:\n{done.stderr}"
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert lines["pandas-at-exit"] == "False", "the exit path imported pandas"
    return lines["run"], done.stdout


def _check_store(path: Path, run_id: str) -> None:
    store = DuckDBStore("duckdb://" + str(path))
    try:
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED"
        for key in ("loss", "ключ"):
            history = store.get_metric_history(run_id, key)
            assert list(history.steps) == list(range(POINTS)), key
        assert run.data.metrics["loss"] == 1.0 / POINTS
    finally:
        store.close()
    assert not list((path.parent / "spool").glob("*/*.arrow")), "points were left in the spool"


def test_points_logged_just_before_exit_arrive_direct_mode(tmp_path: Path) -> None:
    import os

    path = tmp_path / "store" / "store.duckdb"
    env = {
        **os.environ,
        "MLTRACK_STORE_MODE": "direct",
        "MLTRACK_TRACKING_URI": "duckdb://" + str(path),
    }
    run_id, _ = _run_script(env, tmp_path)
    _check_store(path, run_id)


@pytest.mark.slow
def test_points_logged_just_before_exit_arrive_service_mode(service_env: ServiceEnv) -> None:
    run_id, _ = _run_script(service_env.env, service_env.root)
    service_env.stop_all()  # the owner holds the file; stop it to read the store directly
    _check_store(service_env.store, run_id)


def test_batches_built_without_pandas_equal_pyarrows() -> None:
    flat: list[object] = []
    for i in range(1_000):
        flat += [f"run-{i % 3}", "é" if i % 2 else "loss", float(i) / 7, 1_700_000_000_000 + i, i]
    expected = pa.Table.from_arrays(
        [pa.array(flat[i::5], f.type) for i, f in enumerate(METRIC_SCHEMA)], schema=METRIC_SCHEMA
    )
    built = _flat_to_table_from_buffers(flat)
    built.validate(full=True)
    assert built.equals(expected)
    one_run = ["r", "k", float("nan"), -1, 0] * 3
    assert _flat_to_table_from_buffers(one_run).to_pylist()[2]["run_id"] == "r"
    assert _flat_to_table_from_buffers([]).schema == METRIC_SCHEMA
    assert flat_to_table(flat).equals(expected)  # pandas is loaded here: pyarrow's path


def test_flat_to_table_does_not_import_pandas() -> None:
    code = (
        "import sys; from jupyter_mltrack.store.arrow import flat_to_table; "
        "t = flat_to_table(['r', 'k', 1.0, 2, 3] * 4); "
        "print(t.num_rows, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["4", "False"]
