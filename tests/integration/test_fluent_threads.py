"""Active runs are per thread, as in MLflow: a training thread and the main thread each log to
the run they started, and neither ends the other's run."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.entities import Run


def _in_thread(target: Callable[[], Any]) -> Any:
    """Run ``target`` in a new thread; return its result or re-raise its exception."""
    out: dict[str, Any] = {}

    def body() -> None:
        try:
            out["result"] = target()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "worker thread hung"
    if "error" in out:
        raise out["error"]
    return out["result"]


def test_two_threads_each_log_to_their_own_run(tracking_store):
    both_started = threading.Barrier(2, timeout=30)
    both_logged = threading.Barrier(2, timeout=30)
    seen: dict[str, tuple[str, str | None]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with mt.start_run(run_name=name) as run:
                both_started.wait()  # both runs are active at once
                for step in range(50):
                    mt.log_metric("loss", float(step), step=step)
                    mt.log_metrics({f"only_{name}": 1.0}, step=step)
                mt.log_param("who", name)
                mt.set_tag("thread", name)
                active = mt.active_run()
                seen[name] = (run.info.run_id, active.info.run_id if active else None)
                both_logged.wait()  # neither has ended its run yet
        except BaseException as exc:
            errors.append(exc)
            both_started.abort()
            both_logged.abort()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert mt.active_run() is None  # the main thread never had a run

    run_ids = {name: own for name, (own, _) in seen.items()}
    assert len(set(run_ids.values())) == 2
    for name, (own, active) in seen.items():
        assert active == own, f"thread {name} saw another thread's run"
        got = mt.get_run(own)
        other = "b" if name == "a" else "a"
        assert got.info.status == "FINISHED"
        assert got.data.params == {"who": name}
        assert got.data.tags["thread"] == name
        assert f"only_{name}" in got.data.metrics and f"only_{other}" not in got.data.metrics
        assert len(mt.get_metric_history(own, "loss")) == 50


def test_a_thread_does_not_see_or_end_the_main_threads_run(tracking_store):
    with mt.start_run(run_name="main") as main_run:

        def worker() -> tuple[Any, Run | None]:
            before = mt.active_run()
            mt.end_run()  # nothing active in this thread: a no-op, not main's run
            return before, mt.last_active_run()

        before, last = _in_thread(worker)
        assert before is None and last is None
        assert mt.active_run() is main_run
        assert mt.get_run(main_run.info.run_id).info.status == "RUNNING"
        mt.log_metric("still", 1.0)
    assert mt.get_run(main_run.info.run_id).data.metrics == {"still": 1.0}


def test_a_run_started_in_a_thread_is_not_ended_by_the_main_thread(tracking_store):
    started = threading.Event()
    may_end = threading.Event()
    ids: list[str] = []

    def worker() -> str:
        with mt.start_run(run_name="worker") as run:
            ids.append(run.info.run_id)
            started.set()
            assert may_end.wait(timeout=30)
            mt.log_metric("after_main_end", 1.0)  # still this thread's active run
        return mt.last_active_run().info.run_id

    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(worker()))
    thread.start()
    assert started.wait(timeout=30)
    assert mt.active_run() is None
    mt.end_run()  # no-op in the main thread
    assert mt.get_run(ids[0]).info.status == "RUNNING"
    # The main thread may start its own top-level run meanwhile (no nested=True needed).
    with mt.start_run(run_name="main") as main_run:
        mt.log_metric("main_only", 1.0)
    may_end.set()
    thread.join(timeout=60)
    assert result == ids  # last_active_run is per thread too
    assert mt.last_active_run().info.run_id == main_run.info.run_id
    worker_run = mt.get_run(ids[0])
    assert worker_run.info.status == "FINISHED"
    assert worker_run.data.metrics == {"after_main_end": 1.0}
    assert "mlflow.parentRunId" not in worker_run.data.tags


def test_logging_in_a_thread_without_a_run_starts_that_threads_own_run(tracking_store):
    with mt.start_run() as main_run:
        worker_run_id = _in_thread(lambda: (mt.log_metric("x", 1.0), mt.active_run().run_id)[1])
        assert worker_run_id != main_run.info.run_id
    assert "x" not in mt.get_run(main_run.info.run_id).data.metrics
    assert mt.get_run(worker_run_id).data.metrics == {"x": 1.0}
    assert mt.get_run(worker_run_id).info.status == "RUNNING"  # left running, as in MLflow


def test_nested_runs_nest_within_their_own_thread(tracking_store):
    with mt.start_run() as main_parent:

        def worker() -> tuple[str, str | None]:
            with mt.start_run() as parent, mt.start_run(nested=True) as child:
                return parent.info.run_id, mt.get_run(child.info.run_id).info.parent_run_id

        parent_id, child_parent = _in_thread(worker)
    assert child_parent == parent_id != main_parent.info.run_id


def test_active_run_is_a_run_snapshot_like_mlflows(tracking_store):
    with mt.start_run(run_name="snap", tags={"k": "v"}) as run:
        assert isinstance(run, Run)
        assert run._info is run.info and run._info.run_id == run.info.run_id == run.run_id
        assert run._data is run.data and run.data.tags["k"] == "v"
        assert run.inputs.dataset_inputs == [] and run.outputs.model_outputs == []
        with pytest.raises(dataclasses.FrozenInstanceError):
            run.info = run.info  # type: ignore[misc]
        assert run == run and run != mt.get_run(run.info.run_id)  # a handle, by identity
        assert {run: 1}[run] == 1
        assert repr(run).startswith("<ActiveRun run_id=")


def test_at_exit_ends_the_main_threads_runs(tracking_store):
    """The at-exit handler ends the main thread's runs; a finished thread's left-over run
    stays RUNNING (MLflow does the same)."""
    script = textwrap.dedent(
        """
        import threading
        import jupyter_mltrack as mt

        outer = mt.start_run(run_name="outer")
        inner = mt.start_run(run_name="inner", nested=True)
        mt.log_metric("m", 1.0)
        # Flushed now: a first flush inside the at-exit handler fails today (pyarrow imports
        # pandas lazily, which cannot register its own atexit hook at shutdown).
        mt.flush()
        ids = []
        worker = threading.Thread(target=lambda: ids.append(mt.start_run().run_id))
        worker.start()
        worker.join()
        print(outer.run_id, inner.run_id, ids[0])
        """
    )
    # This process has not opened the store yet, so the script may open it directly.
    env = {**os.environ, "MLTRACK_TRACKING_URI": tracking_store, "MLTRACK_STORE_MODE": "direct"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    outer, inner, worker = out.stdout.split()
    assert mt.get_run(outer).info.status == "FINISHED"
    assert mt.get_run(inner).info.status == "FINISHED"
    assert mt.get_run(inner).data.metrics == {"m": 1.0}
    assert mt.get_run(worker).info.status == "RUNNING"
