"""The owner's building blocks in one process: lock, socket paths, spool, ingest, reaper."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from jupyter_mltrack.errors import StoreUnavailable
from jupyter_mltrack.service import liveness
from jupyter_mltrack.service.ingest import Ingestor
from jupyter_mltrack.service.liveness import Reaper
from jupyter_mltrack.service.owner import (
    SOCKET_PATH_MAX,
    OwnerLock,
    StorePaths,
    lock_is_held,
    read_lock_info,
)
from jupyter_mltrack.store import schemes
from jupyter_mltrack.store.arrow import METRIC_SCHEMA, rows_to_table
from jupyter_mltrack.store.base import RunQuery
from jupyter_mltrack.store.duckdb import service_ops
from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.remote.heartbeats import HeartbeatSender
from jupyter_mltrack.store.remote.spool import (
    CORRUPT_DIR,
    ClientSpool,
    ingest_spool,
    parse_client_id,
    read_spool_file,
)

V1 = Path(__file__).parent.parent / "data" / "store_v1.duckdb.gz"


@pytest.fixture
def store(tmp_path: Path):
    s = DuckDBStore("duckdb://" + str(tmp_path / "store.duckdb"))
    yield s
    s.close()


def _flat(run_id: str, steps: range) -> list[object]:
    flat: list[object] = []
    for step in steps:
        flat.extend((run_id, "x", float(step), 1_700_000_000_000 + step, step))
    return flat


# ------------------------------------------------------------------ socket paths
def test_socket_lives_beside_a_store_with_a_short_path(tmp_path: Path) -> None:
    paths = StorePaths.for_store(tmp_path / "s" / "store.duckdb")
    assert paths.socket == tmp_path / "s" / "store.duckdb.sock"
    assert paths.lock == tmp_path / "s" / "store.duckdb.lock"
    assert paths.spool == tmp_path / "s" / "spool"


def test_too_long_socket_path_moves_to_a_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # as TMPDIR would
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "store.duckdb"
    paths = StorePaths.for_store(deep)
    assert len(str(deep) + ".sock") > SOCKET_PATH_MAX
    assert paths.socket.parent == tmp_path / f"mltrack-{os.getuid()}"
    assert len(str(paths.socket)) <= SOCKET_PATH_MAX
    assert paths.socket.parent.stat().st_mode & 0o777 == 0o700
    assert StorePaths.for_store(deep).socket == paths.socket  # stable per store


def test_runtime_dir_is_preferred_for_a_long_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    paths = StorePaths.for_store(tmp_path / ("d" * 120) / "store.duckdb")
    assert paths.socket.parent == runtime and paths.socket.name.startswith("mltrack-")


def test_socket_path_too_long_everywhere_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    long_tmp = tmp_path / ("t" * 100)
    long_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_tmp))
    with pytest.raises(StoreUnavailable, match="longer than the 107 bytes") as caught:
        StorePaths.for_store(long_tmp / "store.duckdb")
    assert "TMPDIR" in str(caught.value) and "shorter path" in str(caught.value)


# ---------------------------------------------------------------------- the lock
def test_lock_is_exclusive_and_carries_the_owner_info(tmp_path: Path) -> None:
    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    assert not lock_is_held(paths)
    lock = OwnerLock.try_acquire(paths, "service")
    assert lock is not None and lock_is_held(paths)
    assert OwnerLock.try_acquire(paths, "service") is None  # a second owner loses
    lock.write_info(paths.socket)
    info = read_lock_info(paths)
    assert info is not None
    assert (info.pid, info.kind, info.socket) == (os.getpid(), "service", str(paths.socket))
    assert info.describe() == f"the store service (pid {os.getpid()})"
    assert paths.lock.stat().st_mode & 0o777 == 0o600
    lock.release()
    assert not lock_is_held(paths) and read_lock_info(paths) is None
    lock.release()  # idempotent


def test_stale_lock_info_of_a_dead_owner_is_taken_over(tmp_path: Path) -> None:
    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    dead = {"pid": 2**22 + 12345, "kind": "service", "socket": str(paths.socket)}
    paths.lock.write_text(json.dumps(dead))
    assert not lock_is_held(paths)
    lock = OwnerLock.try_acquire(paths, "service")
    assert lock is not None
    lock.write_info(None)
    info = read_lock_info(paths)
    assert info is not None and info.pid == os.getpid()
    lock.release()


@pytest.mark.filterwarnings(
    # Python 3.12+ warns about fork() in a process with threads; the child only sleeps.
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)
def test_a_forked_child_does_not_keep_the_lock_alive(tmp_path: Path) -> None:
    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    lock = OwnerLock.try_acquire(paths, "direct")
    assert lock is not None
    pid = os.fork()
    if pid == 0:  # the child: hold whatever it inherited for a while
        time.sleep(5)
        os._exit(0)
    try:
        lock.release()
        assert not lock_is_held(paths), "the child's copy of the descriptor was closed"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# -------------------------------------------------------------------- migration 2
def test_migration_2_adds_the_service_tables_to_a_v1_store(tmp_path: Path) -> None:
    target = tmp_path / "store.duckdb"
    with gzip.open(V1, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    s = DuckDBStore("duckdb://" + str(target))
    try:
        tables = {r[0] for r in s.db.read("SELECT table_name FROM duckdb_tables()")}
        assert {"ingested_batches", "run_heartbeats"} <= tables
    finally:
        s.close()


# ------------------------------------------------------------------------- ingest
def test_ingest_is_idempotent_per_client_and_seq(store: DuckDBStore) -> None:
    run_id = store.create_run("0", "r", 0, "u", {}, None).info.run_id
    table = rows_to_table([(run_id, "x", float(i), i, i) for i in range(10)])
    ingestor = Ingestor(store, Path("/nonexistent"))
    assert ingestor(table, "c-1-aa", 1) == {"committed": 10, "duplicate": False}
    assert ingestor(table, "c-1-aa", 1) == {"committed": 0, "duplicate": True}
    assert ingestor(table, "c-1-aa", 2) == {"committed": 10, "duplicate": False}
    assert ingestor(table, "c-2-bb", 1) == {"committed": 10, "duplicate": False}
    assert store.db.read("SELECT count(*) FROM store.metrics")[0][0] == 30
    assert service_ops.is_ingested(store, "c-1-aa", 2)
    assert ingestor.stats.as_dict()["duplicates"] == 1
    assert store.get_run(run_id).data.metrics == {"x": 9.0}


def test_ingest_many_commits_consecutive_seqs_once(store: DuckDBStore) -> None:
    run_id = store.create_run("0", "r", 0, "u", {}, None).info.run_id
    tables = [rows_to_table([(run_id, "x", float(i), i, i)] * 2) for i in range(3)]
    ingestor = Ingestor(store, Path("/nonexistent"))
    assert ingestor(tables[0], "c-1-aa", 2) == {"committed": 2, "duplicate": False}
    # a replay of seqs 1..3 after seq 2 went in alone: only 1 and 3 are inserted
    answer = ingestor.many(tables, "c-1-aa", 1)
    assert answer == {"committed": 4, "duplicate": False, "duplicates": 1}
    assert ingestor.many(tables, "c-1-aa", 1)["duplicate"]
    assert store.db.read("SELECT count(*) FROM store.metrics")[0][0] == 6
    assert all(service_ops.is_ingested(store, "c-1-aa", s) for s in (1, 2, 3))


def test_a_failed_ingest_records_nothing(store: DuckDBStore) -> None:
    bad = pa.table({"run_id": ["r"], "key": ["x"]})
    with pytest.raises(Exception, match="columns"):
        Ingestor(store, Path("/nonexistent"))(bad, "c-1-aa", 1)
    assert not service_ops.is_ingested(store, "c-1-aa", 1)


# -------------------------------------------------------------------------- spool
def test_spool_file_is_written_before_the_send_and_removed_after_the_ack(
    tmp_path: Path,
) -> None:
    seen: list[tuple[int, str, int, list[Path]]] = []
    spool = ClientSpool(tmp_path / "spool", lambda t, c, s: None)

    def send(table: pa.Table, client_id: str, seq: int) -> None:
        seen.append((table.num_rows, client_id, seq, spool.pending_files()))

    spool._send = send
    spool.commit(_flat("r", range(5)))
    ((rows, client_id, seq, files),) = seen
    assert (rows, seq) == (5, 1) and client_id == spool.client_id
    assert [f.name for f in files] == ["1.arrow"]
    assert not files[0].exists(), "removed after the acknowledgement"
    assert spool.pending_files() == []
    assert parse_client_id(client_id)[1] == os.getpid()
    assert len(spool.ack_seconds) == 1


def test_a_failed_send_keeps_the_file_and_the_retry_reuses_its_seq(tmp_path: Path) -> None:
    sent: list[int] = []
    fail = [True]

    def send(table: pa.Table, client_id: str, seq: int) -> None:
        sent.append(seq)
        if fail[0]:
            raise StoreUnavailable("owner gone (failure injection)")

    spool = ClientSpool(tmp_path / "spool", send)
    batch = _flat("r", range(3))
    with pytest.raises(StoreUnavailable):
        spool.commit(batch)
    (path,) = spool.pending_files()
    table, client_id, seq = read_spool_file(path)
    assert (table.num_rows, client_id, seq) == (3, spool.client_id, 1)
    assert table.schema.equals(METRIC_SCHEMA)
    with pytest.raises(StoreUnavailable):
        spool.commit(batch)  # the same pending list: same seq, same file
    fail[0] = False
    spool.commit(batch)
    spool.commit(_flat("r", range(3, 6)))  # a new batch: the next seq
    assert sent == [1, 1, 1, 2]
    assert spool.pending_files() == []


def test_a_big_flush_goes_as_several_batches_and_a_retry_resumes(tmp_path: Path) -> None:
    sent: list[tuple[int, list[int]]] = []
    fail_at = [2]

    def send(table: pa.Table, client_id: str, seq: int) -> None:
        if seq == fail_at[0]:
            fail_at[0] = 0
            raise StoreUnavailable("owner gone (failure injection)")
        sent.append((seq, table.column("step").to_pylist()))

    spool = ClientSpool(tmp_path / "spool", send, max_rows=2)
    batch = _flat("r", range(5))
    with pytest.raises(StoreUnavailable):
        spool.commit(batch)
    assert [f.name for f in spool.pending_files()] == ["2.arrow", "3.arrow"]
    spool.commit(batch)
    assert sent == [(1, [0, 1]), (2, [2, 3]), (3, [4])]
    assert spool.pending_files() == [] and len(spool.ack_seconds) == 3


def test_batches_go_several_to_a_request_and_a_retry_resumes(tmp_path: Path) -> None:
    requests: list[tuple[int, list[list[int]]]] = []
    fail = [True]

    def send_many(tables: list[pa.Table], client_id: str, seq: int) -> None:
        assert client_id == spool.client_id
        if seq == 3 and fail[0]:
            fail[0] = False
            raise StoreUnavailable("owner gone (failure injection)")
        requests.append((seq, [t.column("step").to_pylist() for t in tables]))

    def send(table: pa.Table, client_id: str, seq: int) -> None:
        requests.append((seq, [table.column("step").to_pylist()]))

    spool = ClientSpool(tmp_path / "spool", send, send_many=send_many, max_rows=2, max_request=2)
    batch = _flat("r", range(9))
    with pytest.raises(StoreUnavailable):
        spool.commit(batch)
    # the first request was acknowledged; the second failed, and its files stay, as does
    # the last batch's (spooled while the second request was in flight)
    assert requests == [(1, [[0, 1], [2, 3]])]
    assert [f.name for f in spool.pending_files()] == ["3.arrow", "4.arrow", "5.arrow"]
    spool.commit(batch)
    assert requests == [(1, [[0, 1], [2, 3]]), (3, [[4, 5], [6, 7]]), (5, [[8]])]
    assert spool.pending_files() == [] and len(spool.ack_seconds) == 5


def test_a_failed_spool_write_leaves_no_partial_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = ClientSpool(tmp_path / "spool", lambda t, c, s: None, max_rows=2)
    real_replace = os.replace
    calls = [0]

    def full_disk(src: object, dst: object) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(StoreUnavailable, match="No space left on device"):
        spool.commit(_flat("r", range(5)))
    assert spool.pending_files() == []


def test_a_forked_client_gets_its_own_client_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = ClientSpool(tmp_path / "spool", lambda t, c, s: None)
    parent = spool.client_id
    monkeypatch.setattr(os, "getpid", lambda: 424242)  # the subprocess boundary
    child = spool.client_id
    assert child != parent and parse_client_id(child)[1] == 424242


def test_spool_write_failure_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    spool = ClientSpool(blocker, lambda t, c, s: None)
    with pytest.raises(StoreUnavailable, match="Could not write the metric spool file"):
        spool.commit(_flat("r", range(2)))


def test_ingest_spool_takes_every_file_once_and_quarantines_bad_ones(
    store: DuckDBStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "spool"

    def unreachable(*_: object) -> None:
        raise StoreUnavailable("failure injection")

    spool = ClientSpool(root, unreachable)
    for start in (0, 10, 20):
        with pytest.raises(StoreUnavailable):
            spool.commit(_flat("r", range(start, start + 10)))
    good1, bad, _ = spool.pending_files()
    bad.write_bytes(bad.read_bytes()[:100])
    ingestor = Ingestor(store, root)
    ingestor.ingest(read_spool_file(good1)[0], spool.client_id, 1)  # acked, not yet removed

    with caplog.at_level("WARNING", logger="jupyter_mltrack.store.remote.spool"):
        report = ingestor.ingest_spool()
    assert (report.files, report.rows, report.duplicates) == (2, 10, 1)
    assert [r.getMessage().count(str(bad)) for r in caplog.records] == [1]
    assert (root / CORRUPT_DIR / f"{spool.client_id}-2.arrow").is_file()
    steps = sorted(r[0] for r in store.db.read("SELECT step FROM store.metrics"))
    assert steps == [*range(10), *range(20, 30)]
    assert ingest_spool(root, ingestor.ingest).files == 0


def test_ingest_spool_leaves_fresh_files_of_other_clients(
    store: DuckDBStore, tmp_path: Path
) -> None:
    def unreachable(*_: object) -> None:
        raise StoreUnavailable("failure injection")

    spool = ClientSpool(tmp_path / "spool", unreachable)
    with pytest.raises(StoreUnavailable):
        spool.commit(_flat("r", range(3)))
    ingestor = Ingestor(store, tmp_path / "spool")
    assert ingestor.ingest_spool(older_than_s=60).files == 0
    assert ingestor.ingest_spool(client_ids={"someone-else-1-aa"}).files == 0
    assert ingestor.ingest_spool(client_ids={spool.client_id}).files == 1


# --------------------------------------------------------------------- liveness
def test_reaper_kills_runs_whose_heartbeats_stopped(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(liveness, "_now_ms", lambda: clock[0])
    live = store.create_run("0", "live", 0, "u", {}, None).info.run_id
    quiet = store.create_run("0", "quiet", 0, "u", {}, None).info.run_id
    done = store.create_run("0", "done", 0, "u", {}, None).info.run_id
    reaped: list[str] = []
    reaper = Reaper(store, run_timeout_s=2.0, before_kill=reaped.append)
    reaper.record({"client_id": "h-7-aa", "pid": 7, "run_ids": [live, quiet, done]})
    store.update_run(done, "FINISHED", 1, None)
    assert reaper.tick() == [] and reaper.live_runs == 2

    clock[0] += 1500
    reaper.record({"client_id": "h-7-aa", "pid": 7, "run_ids": [live]})
    assert reaper.tick() == []
    clock[0] += 1500  # quiet: 3 s without a beat; live: 1.5 s
    assert reaper.tick() == [quiet]
    assert reaped == ["h-7-aa"]
    run = store.get_run(quiet)
    assert run.info.status == "KILLED"
    assert run.data.tags[service_ops.KILLED_REASON_TAG] == (
        "no heartbeat from its process for 3.0 s (client h-7-aa, pid 7)"
    )
    assert store.get_run(live).info.status == "RUNNING"
    assert store.get_run(done).info.status == "FINISHED"
    # a late heartbeat does not revive the run
    reaper.record({"client_id": "h-7-aa", "pid": 7, "run_ids": [quiet]})
    reaper.tick()
    assert store.get_run(quiet).info.status == "KILLED" and reaper.live_runs == 1


def test_a_new_owner_waits_one_timeout_before_reaping(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(liveness, "_now_ms", lambda: clock[0])
    run_id = store.create_run("0", "r", 0, "u", {}, None).info.run_id
    service_ops.record_heartbeat(store, "h-7-aa", 7, [run_id], clock[0] - 60_000)
    reaper = Reaper(store, run_timeout_s=2.0)  # started now: the old beat is not enough
    assert reaper.tick() == []
    clock[0] += 2500
    assert reaper.tick() == [run_id]


def test_heartbeat_sender_beats_for_its_runs_only(tmp_path: Path) -> None:
    beats: list[tuple[str, int, list[str]]] = []
    sender = HeartbeatSender(lambda c, p, r: beats.append((c, p, list(r))), lambda: "me", 0.05)
    sender.add_run("a")
    deadline = time.monotonic() + 5
    while len(beats) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sender.remove_run("a")
    sender.stop()
    assert beats[0] == ("me", os.getpid(), ["a"])
    assert sender.send_now()  # nothing to send: no request, no failure


def test_local_store_registry(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    marker = object()
    schemes.register_local_store(path, marker)
    assert schemes.local_store(path) is marker
    schemes.unregister_local_store(path, object())  # not the registered one: kept
    assert schemes.local_store(path) is marker
    schemes.unregister_local_store(path, marker)
    assert schemes.local_store(path) is None


# ------------------------------------------------- permission errors (injected)
def test_an_unwritable_store_directory_names_the_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    real_open = os.open

    def denied(path: object, *args: object, **kw: object) -> int:
        if str(path) == str(paths.lock):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StoreUnavailable) as caught:
        OwnerLock.try_acquire(paths, "service")
    message = str(caught.value)
    assert message.startswith(f"Permission denied: cannot open the lock file {paths.lock}")
    assert "EACCES" in message and "write access" in message


def test_another_users_lock_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_mltrack.service import discovery

    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    paths.lock.write_text("{}")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(StoreUnavailable, match="Permission denied: cannot use the lock file"):
        discovery.OwnerConnector(paths).resolve()


def test_another_users_socket_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_mltrack.service import discovery
    from jupyter_mltrack.store.remote import transport

    paths = StorePaths.for_store(tmp_path / "store.duckdb")
    lock = OwnerLock.try_acquire(paths, "service")
    assert lock is not None
    lock.write_info(paths.socket)

    def denied(self: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(transport.UnixHTTPConnection, "connect", denied)
    try:
        with pytest.raises(StoreUnavailable, match="runs as another user"):
            discovery.OwnerConnector(paths).find()
    finally:
        lock.release()


# ----------------------------------------------------------- reads beside writes
def test_reads_do_not_wait_for_an_open_write_transaction(store: DuckDBStore) -> None:
    run_id = store.create_run("0", "r", 0, "u", {}, None).info.run_id
    entered, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.db.transaction() as con:  # a commit in progress holds the write lock
            con.execute("UPDATE store.runs SET run_name = 'renamed'")
            entered.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        assert store.get_run(run_id).info.run_name == "r"  # the last commit
        assert store.search_runs(RunQuery(("0",), max_results=10)).runs
        assert store.sql("SELECT count(*) AS n FROM runs").fetchall() == [(1,)]
        assert time.monotonic() - started < 5, "reads did not wait for the write"
    finally:
        release.set()
        writer.join()
    assert store.get_run(run_id).info.run_name == "renamed"
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.get_run(run_id)


def test_an_older_owner_gets_the_batches_one_by_one() -> None:
    from types import SimpleNamespace

    from jupyter_mltrack.errors import InvalidParameter
    from jupyter_mltrack.store.remote.service_store import ServiceStore

    sent: list[int] = []

    def framed(tables: object, *, client_id: str, seq: int) -> None:
        raise InvalidParameter("The body is not an Arrow IPC stream")

    fake = SimpleNamespace(post_metric_chunks=framed, _send_batch=lambda t, c, s: sent.append(s))
    ServiceStore._send_chunks(fake, [pa.table({}), pa.table({})], "h-1-aa", 7)  # type: ignore[arg-type]
    assert sent == [7, 8]
