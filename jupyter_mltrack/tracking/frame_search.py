"""The search language over a runs DataFrame: filter and order rows as a store would.

A DataFrame (``mt.search_runs()``'s, or any frame with one row per run) is loaded into an
in-memory DuckDB laid out like the store (``store.runs``, ``store.params``,
``store.latest_metrics``, ``store.tags``), and the store's own parser and compiler run over
it, so a filter means exactly what it means in ``search_runs`` and errors carry the same
positions. There is no second parser.

Which column is which field (:func:`field_for_column`):

- ``metrics.<key>``, ``params.<key>``, ``tags.<key>``: that metric, param or tag; a NaN or
  empty cell is a run without the key (``IS NULL`` finds it);
- the run attributes (``run_id``, ``run_name``, ``status``, ``start_time``, ``end_time``,
  ``user_id``, ``artifact_uri``, ``experiment_id``, ``parent_run_id``,
  ``lifecycle_stage``) by their names; times as datetimes or epoch milliseconds;
- any other column: a numeric one is a metric of its name (``loss`` -> ``metrics.loss``),
  anything else a param holding its text.

Example::

    searcher = FrameSearch(df, ids=df["run_id"])
    rows = searcher.positions("metrics.loss < 0.3 AND params.opt = 'adam'", ["loss DESC"])
    df.iloc[rows]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..errors import InvalidFilter, InvalidParameter
from ..store.search import compile_filter, compile_order_by, parse_filter, parse_order_by

__all__ = ["FrameSearch", "field_for_column", "quote_key"]

#: attribute name -> (store column, is a time)
_ATTRIBUTES = {
    "run_id": ("run_id", False),
    "run_name": ("run_name", False),
    "status": ("status", False),
    "start_time": ("start_time_ms", True),
    "end_time": ("end_time_ms", True),
    "user_id": ("user_id", False),
    "artifact_uri": ("artifact_uri", False),
    "experiment_id": ("experiment_id", False),
    "parent_run_id": ("parent_run_id", False),
    "lifecycle_stage": ("lifecycle_stage", False),
}
_PREFIXES = {"metrics.": "metric", "params.": "param", "tags.": "tag"}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def quote_key(key: str) -> str:
    """``key`` as the filter language writes it: bare when plain, else in backticks."""
    if _PLAIN_KEY.fullmatch(key):
        return key
    return "`" + key.replace("`", "``") + "`"


def _kind(column: str, values: pd.Series | None) -> tuple[str, str]:
    """``(entity, key)`` of a column: entity is attribute, metric, param or tag."""
    for prefix, entity in _PREFIXES.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            return entity, column[len(prefix) :]
    if column in _ATTRIBUTES:
        return "attribute", column
    numeric = values is not None and (
        pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values)
    )
    return ("metric" if numeric else "param"), column


def field_for_column(column: str, values: pd.Series | None = None) -> str:
    """The filter-language field of a table column (``loss`` -> ``metrics.loss`` when
    ``values`` are numeric; ``metrics.train/loss`` -> ``metrics.`train/loss```)."""
    entity, key = _kind(column, values)
    if entity == "attribute":
        return key
    return f"{entity}s.{quote_key(key)}"


def _time_ms(values: pd.Series) -> np.ndarray:
    """Epoch milliseconds as float64 (NaN for missing) of datetimes or numbers."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        as_utc = values.dt.tz_convert("UTC") if values.dt.tz is not None else values
        ms = as_utc.to_numpy(dtype="datetime64[ms]").astype(np.int64).astype(np.float64)
        ms[values.isna().to_numpy()] = np.nan
        return ms
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def _texts(values: pd.Series) -> np.ndarray:
    """Values as text (object array), missing as None."""
    missing = values.isna().to_numpy()
    out = values.astype(str).to_numpy(dtype=object)
    out[missing] = None
    return out


class FrameSearch:
    """Filter and order the rows of one DataFrame with the search language.

    Args:
        frame: one row per run.
        ids: the row ids (unique strings), in frame order; they are the runs' ``run_id``.

    The frame is loaded into DuckDB once, on construction (10,000 rows x 20 columns take
    tens of milliseconds); :meth:`positions` then answers each filter/order.
    """

    def __init__(self, frame: pd.DataFrame, ids: Sequence[str]) -> None:
        self._columns = {str(c): frame[c] for c in frame.columns}
        self._con = duckdb.connect(":memory:")
        self._con.execute("CREATE SCHEMA store")
        n = len(frame)
        runs: dict[str, Any] = {"_pos": np.arange(n, dtype=np.int64), "run_id": list(ids)}
        for name, (store_column, is_time) in _ATTRIBUTES.items():
            if name == "run_id":
                continue
            if name in self._columns:
                values = self._columns[name]
                runs[store_column] = _time_ms(values) if is_time else _texts(values)
            else:
                runs[store_column] = np.full(n, np.nan) if is_time else np.full(n, None)
        self._load("runs", pd.DataFrame(runs))
        longs: dict[str, list[pd.DataFrame]] = {"metric": [], "param": [], "tag": []}
        id_array = np.asarray(list(ids), dtype=object)
        for name, values in self._columns.items():
            entity, key = _kind(name, values)
            if entity == "attribute":
                continue
            if entity == "metric":
                data = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
                present = ~np.isnan(data)
            else:
                data = _texts(values)
                present = np.array([v is not None for v in data], dtype=bool)
            longs[entity].append(
                pd.DataFrame({"run_id": id_array[present], "key": key, "value": data[present]})
            )
        for entity, table in (("metric", "latest_metrics"), ("param", "params"), ("tag", "tags")):
            empty = pd.DataFrame(
                {
                    "run_id": pd.Series(dtype=object),
                    "key": pd.Series(dtype=object),
                    "value": pd.Series(dtype=np.float64 if entity == "metric" else object),
                }
            )
            self._load(table, pd.concat([empty, *longs[entity]], ignore_index=True))
        # datasets.* filters: a DataFrame has no inputs, so they match nothing
        self._con.execute(
            "CREATE TABLE store.datasets (dataset_id VARCHAR, name VARCHAR, digest VARCHAR)"
        )
        self._con.execute(
            "CREATE TABLE store.run_inputs (run_id VARCHAR, dataset_id VARCHAR, tags VARCHAR)"
        )

    def _load(self, table: str, data: pd.DataFrame) -> None:
        self._con.register("_mt_in", data)
        try:
            self._con.execute(f"CREATE TABLE store.{table} AS SELECT * FROM _mt_in")
        finally:
            self._con.unregister("_mt_in")

    def positions(self, filter_string: str = "", order_by: Sequence[str] = ()) -> np.ndarray:
        """Row positions of the frame that match ``filter_string``, in ``order_by`` order
        (frame order when ``order_by`` is empty).

        ``order_by`` items are ``"<column> [ASC|DESC]"`` with a column of the frame.

        Raises:
            InvalidFilter: the filter does not parse (``details['position']``).
            InvalidParameter: an order-by column is not a column of the frame.
        """
        try:
            where, where_params = compile_filter(parse_filter(filter_string))
        except InvalidFilter as exc:
            raise self._with_hint(exc) from None
        keys = [self.order_item(item) for item in order_by]
        if keys:
            order, order_params = compile_order_by(parse_order_by(keys))
        else:
            order, order_params = "r._pos", []
        rows = self._con.execute(
            f"SELECT r._pos FROM store.runs r WHERE {where} ORDER BY {order}",
            [*where_params, *order_params],
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def _with_hint(self, exc: InvalidFilter) -> InvalidFilter:
        """``exc``, naming the field to write when the unknown field is a column's name."""
        match = re.match(r"Unknown field '([^']*)'", exc.message)
        if match is None or match.group(1) not in self._columns:
            return exc
        column = match.group(1)
        field = field_for_column(column, self._columns[column])
        head, sep, rest = exc.message.partition(" at position ")
        hint = f"{head}; the table's column {column!r} is written {field}"
        return InvalidFilter(hint + sep + rest, **exc.details)

    def order_item(self, item: str) -> str:
        """``"<column> DESC"`` as a search-language order-by item."""
        column, direction = split_order_item(item)
        if column not in self._columns:
            raise InvalidParameter(
                f"Cannot order by {column!r}: it is not a column of the table; "
                f"use one of {', '.join(sorted(self._columns))}."
            )
        return f"{field_for_column(column, self._columns[column])} {direction}"

    def close(self) -> None:
        self._con.close()


def split_order_item(item: Any) -> tuple[str, str]:
    """``"metrics.f1 score DESC"`` -> ``("metrics.f1 score", "DESC")`` (ASC by default)."""
    if not isinstance(item, str) or not item.strip():
        raise InvalidParameter(f"An order-by item is '<column> [ASC|DESC]', got {item!r}.")
    text = item.strip()
    head, _, last = text.rpartition(" ")
    if head and last.upper() in ("ASC", "DESC"):
        return head.strip(), last.upper()
    return text, "ASC"
