"""``mltrack models predict``: score CSV, JSON lines or Parquet in chunks, larger than memory.

The input (a file, or a directory of part files) is read as a pyarrow dataset one record
batch at a time (``chunk_rows`` rows at most); each batch is scored and appended to the
output before the next is read, so memory stays flat whatever the input's size. The output
format follows the output file's extension (``.parquet``, ``.csv``, ``.jsonl``) unless
given. Predictions are one column ``prediction`` for a 1-D result, ``prediction_0..k`` for
a 2-D array, and the model's own columns for a DataFrame or dict result; ``keep_input``
puts the input's columns in front.

``env_manager="virtualenv"`` runs the same job in a virtual environment made from the
model's ``requirements.txt`` (see :mod:`.envs`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import InvalidParameter
from ..models.scoring import predictions_frame

__all__ = ["FORMATS", "BatchResult", "predict_files", "predictions_frame"]

#: file formats by extension
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclasses.dataclass
class BatchResult:
    """What a batch job scored."""

    rows: int
    chunks: int
    seconds: float
    output: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _format_of(path: Path, given: str | None, role: str) -> str:
    if given:
        if given not in ("parquet", "csv", "jsonl"):
            raise InvalidParameter(f"--{role}-format must be parquet, csv or jsonl; got {given!r}.")
        return given
    candidates = (
        [path]
        if path.is_file() or role == "output"
        else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    )
    for p in candidates:
        fmt = FORMATS.get(p.suffix.lower())
        if fmt:
            return fmt
    raise InvalidParameter(
        f"Cannot tell the {role} format of {str(path)!r} from its extension; name it "
        f".parquet, .csv or .jsonl, or pass --{role}-format."
    )


class _Writer:
    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._pq: Any = None
        self._csv: Any = None
        self._schema: pa.Schema | None = None
        self._text: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "jsonl":
            if self._text is None:
                self._text = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            if len(frame):
                text = frame.to_json(orient="records", lines=True)
                self._text.write(text if text.endswith("\n") else text + "\n")
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._pq = pq.ParquetWriter(self.path, self._schema)
            else:
                import pyarrow.csv as pcsv

                self._csv = pcsv.CSVWriter(self.path, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, ValueError):
                raise InvalidParameter(
                    f"The model's output changed type between chunks ({table.schema} after "
                    f"{self._schema}); it must return the same columns for every chunk."
                ) from None
        (self._pq or self._csv).write_table(table)

    def close(self) -> None:
        for handle in (self._pq, self._csv, self._text):
            if handle is not None:
                handle.close()
        if self._schema is None and self._text is None:
            self.path.write_bytes(b"")  # no rows: an empty output, not a missing one


def _files(path: Path, fmt: str) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not p.name.startswith((".", "_"))
        and FORMATS.get(p.suffix.lower()) == fmt
    )
    if not files:
        raise InvalidParameter(f"The directory {str(path)!r} holds no {fmt} files.")
    return files


def _batches(path: Path, fmt: str, chunk_rows: int) -> tuple[Iterator[pa.RecordBatch], int | None]:
    """Record batches of at most ``chunk_rows`` rows, read one at a time (no read-ahead)."""
    files = _files(path, fmt)
    if fmt == "jsonl":
        return _jsonl_batches(files, chunk_rows), None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)

        def parquet() -> Iterator[pa.RecordBatch]:
            for f in files:
                # pre_buffer (pyarrow's default) caches the column chunks of every row
                # group the iteration will read, i.e. the whole file: memory would grow
                # with the input
                with pq.ParquetFile(f, pre_buffer=False) as pf:
                    yield from pf.iter_batches(batch_size=chunk_rows)

        return parquet(), total

    def csv() -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv

        for f in files:
            # a block of ~64 bytes per row keeps a block near chunk_rows rows
            opts = pcsv.ReadOptions(block_size=max(1 << 20, min(chunk_rows * 64, 1 << 28)))
            with pcsv.open_csv(f, read_options=opts) as reader:
                pending: list[pa.RecordBatch] = []
                size = 0
                for batch in reader:
                    pending.append(batch)
                    size += batch.num_rows
                    if size >= chunk_rows:
                        table = pa.Table.from_batches(pending)
                        yield from table.to_batches(max_chunksize=chunk_rows)
                        pending, size = [], 0
                if pending:
                    yield from pa.Table.from_batches(pending).to_batches(max_chunksize=chunk_rows)

    return csv(), None


def _jsonl_batches(files: list[Path], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    for f in files:
        for frame in pd.read_json(f, lines=True, chunksize=chunk_rows):
            yield pa.RecordBatch.from_pandas(frame, preserve_index=False)


class _Progress:
    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.started = time.perf_counter()
        self._last = 0.0

    def update(self, rows: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.5:
            return
        self._last = now
        rate = rows / max(now - self.started, 1e-9)
        if self.total:
            pct = 100.0 * rows / self.total
            line = f"\r{rows:,}/{self.total:,} rows ({pct:5.1f}%) {rate:,.0f} rows/s"
        else:
            line = f"\r{rows:,} rows {rate:,.0f} rows/s"
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def predict_files(
    model_uri: str,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_rows: int = 100_000,
    keep_input: bool = False,
    progress: bool | None = None,
    model: Any = None,
    on_chunk: Callable[[int], None] | None = None,
) -> BatchResult:
    """Score every row of ``input_path`` into ``output_path``, one chunk at a time."""
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise InvalidParameter(f"No input at {str(src)!r}: pass an existing file or directory.")
    if chunk_rows <= 0:
        raise InvalidParameter(f"--chunk-rows must be > 0; got {chunk_rows}")
    if dst.exists() and dst.is_dir():
        raise InvalidParameter(f"The output {str(dst)!r} is a directory; name an output file.")
    if dst.resolve() == src.resolve():
        raise InvalidParameter("The output must not be the input file.")
    in_fmt = _format_of(src, input_format, "input")
    out_fmt = _format_of(dst, output_format, "output")
    if model is None:
        from .loader import load_pyfunc

        model = load_pyfunc(model_uri)
    batches, total = _batches(src, in_fmt, chunk_rows)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(total, show)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.partial")
    writer = _Writer(tmp, out_fmt)
    rows = chunks = 0
    started = time.perf_counter()
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = batch.to_pandas()
            out = predictions_frame(model.predict(frame), len(frame))
            if keep_input:
                out = pd.concat([frame.reset_index(drop=True), out], axis=1)
            writer.write(out)
            rows += len(frame)
            chunks += 1
            bar.update(rows)
            if on_chunk is not None:
                on_chunk(rows)
        writer.close()
        os.replace(tmp, dst)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    bar.update(rows, final=True)
    return BatchResult(rows, chunks, time.perf_counter() - started, str(dst))
