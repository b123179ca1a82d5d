"""The metric spool: every batch is on disk before it is sent, until the owner has it.

Client side, :class:`ClientSpool` writes ``DIR/spool/<client_id>/<seq>.arrow`` (an Arrow
IPC file whose schema metadata carries ``client_id`` and ``seq``; written to a ``.tmp``
name, fsynced, then renamed, so a reader never sees half a file), sends the batch, and
removes the file once the owner acknowledged it. A failed send keeps the file and the
same ``seq``: the buffer retries the very same rows, and the owner's idempotent ingest
(:mod:`.ingest`) turns a replay of a batch it already committed into a no-op.

Owner side, :func:`ingest_spool` ingests leftover files (at start-up, and for clients
that went quiet) and deletes them; a file that cannot be read is moved to
``DIR/spool/corrupt/`` with one warning naming it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import StoreUnavailable
from ..arrow import LINKED_METRIC_SCHEMA, METRIC_SCHEMA, flat_to_table

__all__ = [
    "CORRUPT_DIR",
    "MAX_BATCH_ROWS",
    "MAX_REQUEST_BATCHES",
    "ClientSpool",
    "SpoolReport",
    "ingest_spool",
    "new_client_id",
    "parse_client_id",
    "read_spool_file",
    "spool_of",
]

log = logging.getLogger("jupyter_mltrack.store.remote.spool")

CORRUPT_DIR = "corrupt"
_SUFFIX = ".arrow"

#: ``send(table, client_id, seq)``: post one batch; returns once the owner committed it.
Send = Callable[[pa.Table, str, int], None]
#: ``send_many(tables, client_id, seq)``: post consecutive batches ``seq``, ``seq + 1``, ...
#: in one request; returns once the owner committed all of them.
SendMany = Callable[[list[pa.Table], str, int], None]
#: ``ingest(table, client_id, seq) -> duplicate``: the owner's idempotent ingest.
Ingest = Callable[[pa.Table, str, int], bool]


def new_client_id() -> str:
    """``<hostname>-<pid>-<random8>``: unique per process and store connection."""
    host = socket.gethostname().replace("/", "_") or "localhost"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


def parse_client_id(client_id: str) -> tuple[str, int] | None:
    """``(hostname, pid)`` of a client id, or ``None`` when it is not one of ours."""
    parts = client_id.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


@dataclass
class _Chunk:
    table: pa.Table
    seq: int
    path: Path
    write_s: float  # time it took to spool, counted in its acknowledgement latency


@dataclass
class _InFlight:
    flat: list[Any]  # the buffer's pending list: a retry passes the very same object
    client_id: str
    chunks: list[_Chunk] = field(default_factory=list)
    spooled: int = 0  # flat[:spooled] is in chunks
    acked: int = 0  # chunks[:acked] are committed and unspooled


#: Rows per batch sent to the owner: a flush of a big buffer goes as several batches, so
#: that no single commit holds the store long (reads wait behind it) and each is acked soon.
MAX_BATCH_ROWS = 10_000
#: Most batches sent in one request (with ``send_many``): the owner commits them together,
#: so a big flush pays one round trip and a few commits instead of one of each per batch.
MAX_REQUEST_BATCHES = 32


# zstd-compressed buffers: a batch of 300,000 points is 2.5 MB instead of 20 MB on disk, and
# compressing plus writing and fsyncing it takes less than half the time of the raw bytes
# (benchmarks/bench_service.py, part "stages"). Readers decompress transparently.
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


class ClientSpool:
    """Spool-then-send for one process's metric batches to one store.

    A flush of more than ``max_rows`` points is cut into batches of at most that many,
    each with its own file and ``seq``. With ``send_many``, up to ``max_request`` batches
    are spooled, then sent in one request; while it is in flight (on a helper thread) the
    next ones are spooled, so the client's conversion and fsyncs overlap the owner's
    commit. Every batch is on disk before it is sent and stays there until acknowledged.

    Example::

        spool = ClientSpool(paths.spool, send=store_send)
        spool.commit(flat)   # raises when the owner did not acknowledge; the files stay
    """

    def __init__(
        self,
        root: Path,
        send: Send,
        *,
        send_many: SendMany | None = None,
        fsync: bool = True,
        max_rows: int = MAX_BATCH_ROWS,
        max_request: int = MAX_REQUEST_BATCHES,
    ) -> None:
        self.root = root
        self._send = send
        self._send_many = send_many
        self.max_request = max_request
        self._fsync = fsync
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._pid = 0
        self._client_id = ""
        self._seq = 0
        self._inflight: dict[int, _InFlight] = {}
        #: Seconds from the start of each of the last commits to its acknowledgement.
        self.ack_seconds: deque[float] = deque(maxlen=10_000)

    @property
    def client_id(self) -> str:
        """This process's id (a forked child gets its own, so its ``seq`` never collides)."""
        with self._lock:
            self._check_pid()
            return self._client_id

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._client_id = new_client_id()
            self._seq = 0
            self._inflight.clear()

    def commit(self, flat: list[Any]) -> None:
        """Spool, send and unspool the points ``flat`` (five items a point, see the buffer).

        Raises what the send raised; the unacknowledged files then stay, and a retry with
        the same list re-sends them under the same ``seq`` numbers.
        """
        with self._lock:
            self._check_pid()
            entry = self._inflight.get(id(flat))
            if entry is None or entry.flat is not flat:
                entry = _InFlight(flat, self._client_id)
                self._inflight[id(flat)] = entry
        per_request = self.max_request if self._send_many is not None else 1
        step = self.max_rows * per_request * 5  # flat items spooled at a time
        background: _Background | None = None
        try:
            while True:
                if entry.spooled < len(flat) or not entry.chunks:
                    part = flat[entry.spooled : entry.spooled + step]
                    with self._lock:
                        entry.chunks.extend(self._spool(part))
                    entry.spooled += len(part)
                if background is not None:
                    group, background = background.join(), None
                    entry.acked += len(group)
                group = entry.chunks[entry.acked : entry.acked + per_request]
                if not group:
                    break
                if entry.spooled < len(flat):  # send while the next part is spooled
                    background = _Background(self._send_group, entry.client_id, group)
                else:
                    self._send_group(entry.client_id, group)
                    entry.acked += len(group)
        finally:
            if background is not None:  # the spool failed: account for the send anyway
                with contextlib.suppress(Exception):
                    entry.acked += len(background.join())
        with self._lock:
            self._inflight.pop(id(flat), None)

    def keep(self, flat: list[Any]) -> Path:
        """Spool the points ``flat`` without sending them (the store is gone); their directory.

        Points of a ``commit`` of the same list that were spooled already are not spooled
        twice. The owner (or the next direct-mode process) ingests the files.
        """
        with self._lock:
            self._check_pid()
            entry = self._inflight.pop(id(flat), None)
            start = entry.spooled if entry is not None and entry.flat is flat else 0
            if start < len(flat):
                self._spool(flat[start:])
            return self.root / self._client_id

    def _send_group(self, client_id: str, group: list[_Chunk]) -> list[_Chunk]:
        started = time.perf_counter()
        if len(group) == 1:
            self._send(group[0].table, client_id, group[0].seq)
        else:
            assert self._send_many is not None
            self._send_many([c.table for c in group], client_id, group[0].seq)
        sent_s = time.perf_counter() - started
        for chunk in group:
            with contextlib.suppress(FileNotFoundError):  # the owner may have ingested it
                chunk.path.unlink()
            self.ack_seconds.append(chunk.write_s + sent_s)
        return group

    def _spool(self, flat: list[Any]) -> list[_Chunk]:
        started = time.perf_counter()
        whole = flat_to_table(flat)
        convert_s = (time.perf_counter() - started) / max(1, -(-whole.num_rows // self.max_rows))
        chunks: list[_Chunk] = []
        try:
            for start in range(0, max(whole.num_rows, 1), self.max_rows):
                started = time.perf_counter() - convert_s
                table = whole.slice(start, self.max_rows)  # zero-copy
                self._seq += 1
                path = self._write(table, self._client_id, self._seq)
                chunks.append(_Chunk(table, self._seq, path, time.perf_counter() - started))
        except BaseException:
            # all or nothing: a retry spools these points again under new seq numbers
            for chunk in chunks:
                with contextlib.suppress(OSError):
                    chunk.path.unlink()
            raise
        return chunks

    def pending_files(self) -> list[Path]:
        """This client's spool files not yet acknowledged."""
        directory = self.root / self.client_id
        return sorted(directory.glob("*" + _SUFFIX)) if directory.is_dir() else []

    def _write(self, table: pa.Table, client_id: str, seq: int) -> Path:
        directory = self.root / client_id
        path = directory / f"{seq}{_SUFFIX}"
        tmp = directory / f"{seq}{_SUFFIX}.tmp"
        meta = {b"client_id": client_id.encode(), b"seq": str(seq).encode()}
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema.with_metadata(meta), options=_WRITE_OPTIONS) as w:
            w.write_table(table)
        data = sink.getvalue()
        try:
            directory.mkdir(parents=True, exist_ok=True)  # the owner removes empty ones
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
            raise StoreUnavailable(
                f"Could not write the metric spool file {path} ({why}). Metrics are spooled "
                f"beside the store before they are sent: make {self.root} writable (or free "
                "disk space); the buffered metrics are kept in memory meanwhile.",
                path=str(path),
            ) from exc
        return path


class _Background:
    """``fn(*args)`` on a daemon thread (a stuck send must not hold the interpreter's exit)."""

    def __init__(self, fn: Callable[..., list[_Chunk]], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._result: list[_Chunk] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mltrack-send", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._fn(*self._args)
        except BaseException as exc:
            self._error = exc

    def join(self) -> list[_Chunk]:
        """The result, or raises what ``fn`` raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def spool_dir_for_store_file(store_file: Path) -> Path:
    """Where the spool of the DuckDB file ``store_file`` lives (beside it)."""
    return store_file.parent / "spool"


def spool_dir_for(store: Any) -> Path | None:
    """The spool directory of a store on a local DuckDB file, ``None`` for other stores."""
    path = getattr(store, "path", None)
    uri = getattr(store, "uri", "")
    if isinstance(path, Path) and isinstance(uri, str) and uri.startswith("duckdb:"):
        return spool_dir_for_store_file(path)
    return None


def spool_of(store: Any) -> ClientSpool | None:
    """The spool of a store served by an owner process, ``None`` for a direct store."""
    spool = getattr(store, "spool", None)
    return spool if isinstance(spool, ClientSpool) else None


# ---------------------------------------------------------------- owner side
def read_spool_file(path: Path) -> tuple[pa.Table, str, int]:
    """``(table, client_id, seq)`` of a spool file; raises ``ValueError`` when unreadable."""
    try:
        data = path.read_bytes()
        reader = pa.ipc.open_file(pa.py_buffer(data))
        table = reader.read_all()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"not a complete Arrow IPC file ({exc})") from exc
    meta = table.schema.metadata or {}
    client_id = meta.get(b"client_id", path.parent.name.encode()).decode(errors="replace")
    seq_text = meta.get(b"seq", path.name.removesuffix(_SUFFIX).encode()).decode(errors="replace")
    if not seq_text.isdigit():
        raise ValueError(f"no batch sequence number (got {seq_text!r})")
    schema = table.schema.remove_metadata()
    if not (schema.equals(METRIC_SCHEMA) or schema.equals(LINKED_METRIC_SCHEMA)):
        raise ValueError(f"unexpected columns {table.schema.names}")
    return table.replace_schema_metadata(None), client_id, int(seq_text)


@dataclass
class SpoolReport:
    """What one pass over the spool did."""

    files: int = 0
    rows: int = 0
    duplicates: int = 0
    corrupt: list[Path] = field(default_factory=list)

    def add(self, other: SpoolReport) -> None:
        self.files += other.files
        self.rows += other.rows
        self.duplicates += other.duplicates
        self.corrupt.extend(other.corrupt)


def _client_dirs(root: Path, client_ids: set[str] | None) -> Iterator[Path]:
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name == CORRUPT_DIR or not entry.is_dir():
            continue
        if client_ids is None or entry.name in client_ids:
            yield entry


def _seq_of(path: Path) -> int:
    stem = path.name.removesuffix(_SUFFIX)
    return int(stem) if stem.isdigit() else -1


def ingest_spool(
    root: Path,
    ingest: Ingest,
    *,
    client_ids: set[str] | None = None,
    older_than_s: float = 0.0,
) -> SpoolReport:
    """Ingest and delete the spool files under ``root`` (all clients, or ``client_ids``).

    Only files last written more than ``older_than_s`` ago are taken (a live client
    removes its own within milliseconds). Empty directories of clients that are gone
    are removed. Errors from ``ingest`` propagate (the file stays for the next pass).
    """
    report = SpoolReport()
    now = time.time()
    for directory in _client_dirs(root, client_ids):
        for path in sorted(directory.glob("*" + _SUFFIX), key=_seq_of):
            try:
                if older_than_s and now - path.stat().st_mtime < older_than_s:
                    continue
                table, client_id, seq = read_spool_file(path)
            except FileNotFoundError:
                continue  # its client got the acknowledgement meanwhile
            except ValueError as exc:
                report.corrupt.append(_quarantine(root, path, str(exc)))
                continue
            duplicate = ingest(table, client_id, seq)
            report.files += 1
            report.duplicates += int(duplicate)
            report.rows += 0 if duplicate else table.num_rows
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        _remove_if_gone(directory)
    return report


def _quarantine(root: Path, path: Path, why: str) -> Path:
    target = root / CORRUPT_DIR / f"{path.parent.name}-{path.name}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except OSError as exc:
        log.warning(
            "Skipped the unreadable spool file %s (%s); it could not be moved to %s (%s).",
            path,
            why,
            target.parent,
            exc,
        )
        return path
    log.warning(
        "Skipped the unreadable spool file %s (%s); moved it to %s. Its rows were not "
        "ingested; every other spool file was.",
        path,
        why,
        target,
    )
    return target


def _remove_if_gone(directory: Path) -> None:
    parsed = parse_client_id(directory.name)
    if parsed is not None and parsed[0] == socket.gethostname():
        from ..._proc import pid_alive

        if pid_alive(parsed[1]):
            return  # a live client writes here again
    with contextlib.suppress(OSError):
        directory.rmdir()  # fails while files remain (the client races us): fine
