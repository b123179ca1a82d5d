"""The metric buffer: bounded, loses nothing under races, retries failed flushes."""

import threading
import time
import warnings

import pytest

from jupyter_mltrack.tracking.buffer import MetricBuffer


def _rows(flat):
    return [tuple(flat[i : i + 5]) for i in range(0, len(flat), 5)]


def test_concurrent_appends_during_flushes_lose_nothing():
    committed = []
    buf = MetricBuffer(committed.extend, interval_s=0.001, batch_rows=1000)
    buf.start()

    def produce(tag):
        for i in range(50_000):
            buf.append((tag, "k", float(i), 0, i))

    threads = [threading.Thread(target=produce, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert buf.close()
    rows = _rows(committed)
    assert len(rows) == 100_000
    for tag in ("a", "b"):
        assert [r[4] for r in rows if r[0] == tag] == list(range(50_000))


def test_full_buffer_makes_the_producer_wait_instead_of_growing():
    release = threading.Event()
    committed = []

    def slow_commit(rows):
        release.wait(5)
        committed.extend(rows)

    buf = MetricBuffer(slow_commit, interval_s=0.001, max_rows=100, batch_rows=100)
    buf.start()
    for i in range(100):
        buf.flat.extend(("r", "k", 1.0, 0, i))
    deadline = time.monotonic() + 5
    while buf.flat and time.monotonic() < deadline:  # the flusher takes a batch and blocks
        time.sleep(0.01)
    for i in range(100, 200):
        buf.flat.extend(("r", "k", 1.0, 0, i))
    started = time.monotonic()
    threading.Timer(0.3, release.set).start()
    buf.wait_for_room()  # what log_metric calls when the buffer is full
    assert time.monotonic() - started >= 0.25
    assert len(buf.flat) < 500
    assert buf.close()
    assert len(_rows(committed)) == 200


def test_failed_flush_keeps_rows_warns_once_and_retries():
    calls = {"n": 0}
    committed = []

    def flaky(rows):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise OSError("disk full")
        committed.extend(rows)

    buf = MetricBuffer(flaky, interval_s=3600)
    for i in range(10):
        buf.append(("r", "k", 1.0, 0, i))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not buf.flush()
        assert not buf.flush()
        assert not buf.flush()
    assert len(caught) == 1 and "disk full" in str(caught[0].message)
    assert buf.pending_count() == 10
    assert buf.flush()
    assert [r[4] for r in _rows(committed)] == list(range(10))


def test_client_flush_raises_clear_error_when_store_fails(tracking_store, monkeypatch):
    import jupyter_mltrack as mt
    from jupyter_mltrack.errors import InvalidState
    from jupyter_mltrack.tracking.fluent import get_client

    client = get_client()
    client.buffer.interval_s = 3600  # only explicit flushes from here on (after one tick)
    time.sleep(0.3)
    with mt.start_run() as run:
        mt.log_metric("m", 1.0)

        def broken(*args, **kwargs):
            raise OSError("store gone")

        monkeypatch.setattr(client.store, "log_metric_table", broken)
        with (
            pytest.warns(RuntimeWarning, match="store gone"),
            pytest.raises(InvalidState, match="kept in memory"),
        ):
            mt.flush()
        monkeypatch.undo()
        mt.flush()
    assert mt.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_flush_returns_while_another_thread_keeps_logging():
    """flush() commits what was buffered when it began; a logging thread cannot hold it."""
    committed = []

    def slow_commit(flat):  # each batch takes a while, as a spool + send does
        time.sleep(0.01)
        committed.extend(flat)

    buf = MetricBuffer(slow_commit, interval_s=3600, batch_rows=100)
    stop = threading.Event()

    def produce():
        i = 0
        while not stop.is_set():
            buf.append(("r", "k", float(i), 0, i))
            i += 1
            if i % 50 == 0:
                time.sleep(0.001)

    producer = threading.Thread(target=produce)
    for i in range(500):
        buf.append(("r", "k", -1.0, 0, i))
    producer.start()
    try:
        done = threading.Event()
        flusher = threading.Thread(target=lambda: (buf.flush(), done.set()))
        flusher.start()
        assert done.wait(10), "flush() did not return while another thread logged"
        # everything buffered before the call is committed
        assert [r[4] for r in _rows(committed) if r[2] == -1.0] == list(range(500))
    finally:
        stop.set()
        producer.join()
    assert buf.close()
    steps = [r[4] for r in _rows(committed) if r[2] != -1.0]
    assert steps == list(range(len(steps)))  # and nothing logged meanwhile is lost
