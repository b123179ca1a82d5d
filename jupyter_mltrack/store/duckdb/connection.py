"""One DuckDB database file: the write connection, its transactions and a pool of read cursors.

DuckDB runs a read on one cursor while a write transaction is open on another cursor of
the same database (the read sees the last commit). So writes share one connection under
one lock (the client's flusher, the owner's ingest and the user's thread all write), and
reads take a cursor of their own from a small pool: a search never waits behind a metric
batch, and several reads run at once (DuckDB releases the GIL while it executes).

Example::

    db = Database(Path("/data/store.duckdb"))
    with db.transaction() as con:
        con.execute("UPDATE store.runs SET run_name = ? WHERE run_id = ?", ["a", rid])
    rows = db.read("SELECT count(*) FROM store.runs")
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ...errors import StoreLocked, StoreUnavailable

__all__ = ["CATALOG", "DEFAULT_READERS", "Database"]

#: The catalog the file is attached as: a file called ``store.duckdb`` would otherwise
#: become a catalog named ``store`` and clash with the ``store`` schema.
CATALOG = "mltrack_db"
#: Read cursors per database (each serves one read at a time).
DEFAULT_READERS = 4
#: WAL size that triggers a checkpoint. DuckDB's default (16 MB) checkpoints every few
#: seconds under a steady metric stream, and each checkpoint holds commits for hundreds of
#: milliseconds (batch commit p99 433 ms at 16 MB against 80 ms at 256 MB, 10,000-point
#: batches; see docs/service.md). Closing the store checkpoints whatever is left.
CHECKPOINT_THRESHOLD = "256MB"

Rows = list[tuple[Any, ...]]


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    quoted = str(path).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS {CATALOG}")
        con.execute(f"USE {CATALOG}")
        return con
    except duckdb.IOException as exc:
        con.close()
        text = str(exc)
        if "lock" in text.lower():
            raise StoreLocked(
                f"The store {path} is held by another process ({text.strip()}). Close the "
                "other program (a DuckDB shell, another Python process) or point "
                "MLTRACK_TRACKING_URI at another store.",
                path=str(path),
            ) from exc
        raise StoreUnavailable(f"Could not open the store {path}: {text}", path=str(path)) from exc


class Database:
    """The write connection of one store file (under a lock) and its read cursors."""

    def __init__(self, path: Path, *, readers: int = DEFAULT_READERS) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._con = _open(path)
        self._readers = max(1, readers)
        self._made = 0
        self._free: queue.LifoQueue[duckdb.DuckDBPyConnection] = queue.LifoQueue()
        self._pool_lock = threading.Lock()
        self._closed = False
        #: Bumped after every write (committed or not): a read result kept with the value
        #: read before the read ran is current while the value is the same (only this
        #: process writes the file). ``reads.OrderCache`` relies on it.
        self.writes = 0

    # ------------------------------------------------------------------ writes
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """One statement on the write connection (its own transaction); its rows."""
        with self.lock:
            try:
                return self._con.execute(sql, list(params)).fetchall()
            finally:
                self.writes += 1

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write connection inside ``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
        with self.lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            finally:
                self.writes += 1

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write connection under its lock, outside any transaction (migrations)."""
        with self.lock:
            try:
                yield self._con
            finally:
                self.writes += 1

    # ------------------------------------------------------------------- reads
    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read cursor for this thread's exclusive use until the block ends."""
        cursor = self._take()
        try:
            yield cursor
        finally:
            self._free.put(cursor)

    def read(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """One read-only statement on a read cursor; sees the last commit."""
        with self.reader() as cursor:
            return cursor.execute(sql, list(params)).fetchall()

    def _take(self) -> duckdb.DuckDBPyConnection:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._pool_lock:
            if self._closed:
                raise StoreUnavailable(f"The store {self.path} is closed.", path=str(self.path))
            if self._made < self._readers:
                self._made += 1
                with self.lock:
                    cursor = self._con.cursor()
                cursor.execute(f"USE {CATALOG}")  # a cursor starts in the default catalog
                return cursor
        return self._free.get()

    def warm_up(self) -> None:
        """Pay one-time costs now: the first Arrow scan (DuckDB imports pandas, ~0.5 s),
        pyarrow.compute (batch validation) and every read cursor."""
        import pyarrow as pa
        import pyarrow.compute

        with self.lock:
            self._con.register("_mt_warm", pa.table({"x": [1]}))
            try:
                self._con.execute("SELECT count(*) FROM _mt_warm").fetchall()
            finally:
                self._con.unregister("_mt_warm")
        cursors = [self._take() for _ in range(self._readers)]
        for cursor in cursors:
            self._free.put(cursor)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Close the read cursors (waiting for reads in progress), then the connection."""
        with self._pool_lock:
            if self._closed:
                return
            self._closed = True
            made = self._made
        for _ in range(made):
            self._free.get().close()
        with self.lock:
            self._con.close()
