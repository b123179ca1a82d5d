"""Scoring inside query engines: a Spark pandas UDF and DuckDB functions.

``spark_udf(spark, uri, result_type=...)`` (also ``mt.models.spark_udf``) resolves the model
directory once on the driver, ships it to the executors with ``SparkContext.addFile`` when
the cluster is not local, and returns a callable that builds a pandas UDF; each Python worker
loads the model once (cached per process) and scores an Arrow batch at a time.
``duckdb_udf(con, uri)`` registers a vectorised (Arrow) scalar function on a DuckDB connection;
``score_relation(rel, uri)`` streams a relation through the model and returns a relation with
the predictions appended.

Also here, because the scoring server and batch prediction (``jupyter_mltrack.serving``, a
layer above) share them: :func:`input_columns` (a signature's named inputs) and
:func:`predictions_frame` (a model's output as one row per input row).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InvalidParameter
from .loading import load_model
from .uri import resolve_model_uri

__all__ = [
    "InputColumn",
    "SparkModelUDF",
    "duckdb_udf",
    "input_columns",
    "predictions_frame",
    "score_relation",
    "spark_udf",
]


@dataclass(frozen=True)
class InputColumn:
    """One named input of a model's signature: its name, type name and whether required."""

    name: str
    type: str
    required: bool = True


def input_columns(schema: Any) -> list[InputColumn] | None:
    """The named columns of an input schema (ours or MLflow's), or None for tensor/no schema."""
    if schema is None:
        return None
    specs = getattr(schema, "inputs", None)
    if not specs:
        return None
    is_tensor = getattr(schema, "is_tensor_spec", None)
    if callable(is_tensor) and is_tensor():
        return None
    columns = []
    for spec in specs:
        name = getattr(spec, "name", None)
        if name is None:
            return None
        kind = getattr(spec, "type", "")
        kind_name = getattr(kind, "name", None) or str(kind)
        required = bool(getattr(spec, "required", not getattr(spec, "optional", False)))
        columns.append(InputColumn(str(name), str(kind_name), required))
    return columns


def predictions_frame(predictions: Any, n_rows: int) -> pd.DataFrame:
    """A model's output for one chunk as a DataFrame with one row per input row."""
    if isinstance(predictions, pd.DataFrame):
        frame = predictions.reset_index(drop=True)
    elif isinstance(predictions, pd.Series):
        frame = pd.DataFrame({"prediction": predictions.to_numpy()})
    elif isinstance(predictions, dict):
        frame = pd.DataFrame(
            {
                str(k): np.asarray(v).tolist() if np.ndim(v) > 1 else v
                for k, v in predictions.items()
            }
        )
    else:
        array = np.asarray(predictions)
        if array.ndim == 1:
            frame = pd.DataFrame({"prediction": array})
        elif array.ndim == 2:
            frame = pd.DataFrame({f"prediction_{i}": array[:, i] for i in range(array.shape[1])})
        else:
            frame = pd.DataFrame({"prediction": list(array)})
    if len(frame) != n_rows:
        raise InvalidParameter(
            f"The model returned {len(frame)} predictions for {n_rows} input rows; batch "
            "prediction needs one prediction per row."
        )
    return frame


def _model_dir(model_uri: str) -> str:
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter("model_uri must be a model URI or path, e.g. models:/churn/1")
    return str(resolve_model_uri(model_uri))


_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()

#: signature type names -> DuckDB types
_DUCKDB_TYPES = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "long": "BIGINT",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
    "binary": "BLOB",
    "datetime": "TIMESTAMP",
}


def _cached_model(path: str) -> Any:
    with _CACHE_LOCK:
        model = _CACHE.get(path)
        if model is None:
            model = _CACHE[path] = load_model(path)
        return model


def _signature(model_dir: str) -> list[InputColumn] | None:
    model = _cached_model(model_dir)
    meta = getattr(model, "metadata", None)
    getter = getattr(meta, "get_input_schema", None)
    return input_columns(getter() if callable(getter) else None)


# ---------------------------------------------------------------------------- Spark


class SparkModelUDF:
    """What :func:`spark_udf` returns: call it with column names or Columns.

    ``udf("a", "b")`` scores those columns (passed to the model under those names);
    ``udf()`` scores the signature's input columns by name.
    """

    def __init__(self, spark: Any, model_dir: str, result_type: Any, ship: bool) -> None:
        self._spark = spark
        self.model_dir = model_dir
        self.result_type = result_type
        self._ship = ship
        self.columns = _signature(model_dir)

    def __call__(self, *cols: Any) -> Any:
        from pyspark.sql.column import Column
        from pyspark.sql.functions import col as spark_col

        if not cols:
            if self.columns is None:
                raise InvalidParameter(
                    "The model has no input signature: pass the columns to score, "
                    "e.g. udf('a', 'b')."
                )
            cols = tuple(c.name for c in self.columns)
        names: list[str | None] = []
        exprs = []
        for c in cols:
            if isinstance(c, str):
                names.append(c)
                exprs.append(spark_col(c))
            elif isinstance(c, Column):
                names.append(None)
                exprs.append(c)
            else:
                raise InvalidParameter(
                    f"spark_udf columns must be names or Columns; got {type(c).__name__}."
                )
        if any(n is None for n in names):
            if self.columns is not None and len(self.columns) == len(names):
                names = [s.name for s in self.columns]
            else:
                names = [n if n is not None else str(i) for i, n in enumerate(names)]
        return self._build([str(n) for n in names])(*exprs)

    def _build(self, names: list[str]) -> Any:
        from pyspark.sql.functions import pandas_udf  # type: ignore[attr-defined]
        from pyspark.sql.types import ArrayType, StructType

        rtype = self.result_type
        base = os.path.basename(self.model_dir.rstrip("/"))
        model_dir = self.model_dir
        ship = self._ship
        is_struct = isinstance(rtype, StructType)
        is_array = isinstance(rtype, ArrayType)
        fields = [f.name for f in rtype.fields] if is_struct else []

        def score_any(*series: pd.Series) -> Any:
            if ship:
                from pyspark import SparkFiles

                path = SparkFiles.get(base)
                if not os.path.isdir(path):
                    path = model_dir
            else:
                path = model_dir
            model = _cached_model(path)
            frame = pd.concat([s.reset_index(drop=True) for s in series], axis=1)
            frame.columns = names
            out = predictions_frame(model.predict(frame), len(frame))
            if is_struct:
                missing = [f for f in fields if f not in out.columns]
                if missing and len(out.columns) == len(fields):
                    out.columns = fields
                elif missing:
                    raise InvalidParameter(
                        f"The model's output has columns {list(out.columns)}; the result_type "
                        f"struct asks for {fields}."
                    )
                return out[fields]
            if is_array:
                return pd.Series(list(out.to_numpy()))
            if out.shape[1] != 1:
                raise InvalidParameter(
                    f"The model returns {out.shape[1]} columns; pass a struct result_type "
                    "(e.g. 'y double, z double') or 'array<double>'."
                )
            return out.iloc[:, 0]

        # Spark reads the kind of pandas UDF from the annotations: a Series or a DataFrame out
        if is_struct:

            def score_frame(*series: pd.Series) -> pd.DataFrame:
                out: pd.DataFrame = score_any(*series)
                return out

            return pandas_udf(score_frame, returnType=rtype)

        def score(*series: pd.Series) -> pd.Series:
            out: pd.Series = score_any(*series)
            return out

        return pandas_udf(score, returnType=rtype)


def spark_udf(
    spark: Any, model_uri: str, result_type: Any = "double", env_manager: str = "local"
) -> SparkModelUDF:
    """A pandas UDF scoring ``model_uri`` in Spark (``result_type``: a Spark type or DDL)."""
    if env_manager != "local":
        raise InvalidParameter(
            f"spark_udf runs in the executors' Python: env_manager must be 'local'; got "
            f"{env_manager!r}."
        )
    try:
        from pyspark.sql.types import DataType, _parse_datatype_string
    except ImportError:
        raise InvalidParameter("spark_udf needs pyspark: pip install pyspark") from None
    if isinstance(result_type, str):
        try:
            rtype = _parse_datatype_string(result_type)
        except Exception as exc:
            raise InvalidParameter(
                f"result_type {result_type!r} is not a Spark type ({str(exc).splitlines()[0]}); "
                "use e.g. 'double', 'array<double>' or 'y double, z double'."
            ) from None
    elif isinstance(result_type, DataType):
        rtype = result_type
    else:
        raise InvalidParameter(
            "result_type must be a Spark DataType or a DDL string; got "
            f"{type(result_type).__name__}"
        )
    model_dir = _model_dir(model_uri)
    master = str(spark.sparkContext.master)
    ship = not master.startswith("local")
    if ship:
        spark.sparkContext.addFile(model_dir, recursive=True)
    return SparkModelUDF(spark, model_dir, rtype, ship)


# ---------------------------------------------------------------------------- DuckDB


def duckdb_udf(
    con: Any,
    model_uri: str,
    *,
    name: str = "predict",
    parameters: list[str] | None = None,
    return_type: str = "DOUBLE",
) -> str:
    """Register ``name(col, ...)`` on a DuckDB connection scoring ``model_uri``; returns name.

    Parameter types come from the model's signature unless ``parameters`` gives DuckDB types.
    The function is vectorised: DuckDB hands it Arrow arrays of up to 2,048 rows.
    """
    import duckdb

    if not name.isidentifier():
        raise InvalidParameter(f"name must be an SQL identifier; got {name!r}")
    model_dir = _model_dir(model_uri)
    model = _cached_model(model_dir)
    columns = _signature(model_dir)
    if parameters is None:
        if columns is None:
            raise InvalidParameter(
                "The model has no input signature: pass parameters=[DuckDB types], one per "
                "argument."
            )
        unknown = [c for c in columns if c.type not in _DUCKDB_TYPES]
        if unknown:
            raise InvalidParameter(
                f"Column {unknown[0].name!r} has type {unknown[0].type}, which has no DuckDB "
                "scalar type; pass parameters=[...]"
            )
        parameters = [_DUCKDB_TYPES[c.type] for c in columns]
        names = [c.name for c in columns]
    else:
        names = (
            [c.name for c in columns]
            if columns is not None and len(columns) == len(parameters)
            else [str(i) for i in range(len(parameters))]
        )

    def score(*arrays: pa.Array) -> pa.Array:
        frame = pd.DataFrame({n: a.to_pandas() for n, a in zip(names, arrays, strict=True)})
        out = predictions_frame(model.predict(frame), len(frame))
        if out.shape[1] != 1:
            raise InvalidParameter(
                f"The model returns {out.shape[1]} columns; a DuckDB function returns one. "
                "Use score_relation() for several."
            )
        return pa.array(np.asarray(out.iloc[:, 0]))

    # DuckDB counts the Python function's parameters: give it one per argument
    args = ", ".join(f"a{i}" for i in range(len(parameters)))
    namespace: dict[str, Any] = {"_score": score}
    exec(f"def fixed({args}):\n    return _score({args})\n", namespace)
    with_types = [duckdb.sqltype(t) for t in parameters]
    con.create_function(
        name,
        namespace["fixed"],
        with_types,
        duckdb.sqltype(return_type),
        type="arrow",
        side_effects=False,
    )
    return name


def score_relation(
    rel: Any, model_uri: str, *, chunk_rows: int = 100_000, keep_input: bool = True
) -> Any:
    """A DuckDB relation: ``rel``'s rows (if ``keep_input``) with the model's predictions.

    Streams: ``rel`` is read ``chunk_rows`` at a time and the result is an Arrow stream, so a
    Parquet glob larger than memory can be scored and written with ``.write_parquet()``.
    """
    import duckdb

    if chunk_rows <= 0:
        raise InvalidParameter(f"chunk_rows must be > 0; got {chunk_rows}")
    model = _cached_model(_model_dir(model_uri))
    # to_arrow_reader replaced fetch_record_batch (deprecated) in recent DuckDB releases
    reader = (
        rel.to_arrow_reader(chunk_rows)
        if hasattr(rel, "to_arrow_reader")
        else rel.fetch_record_batch(chunk_rows)
    )

    def scored() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            frame = batch.to_pandas()
            out = predictions_frame(model.predict(frame), len(frame))
            if keep_input:
                out = pd.concat([frame.reset_index(drop=True), out], axis=1)
            yield pa.RecordBatch.from_pandas(out, preserve_index=False)

    stream = scored()
    try:
        first = next(stream)
    except StopIteration:
        return duckdb.from_arrow(pa.table({"prediction": pa.array([], pa.float64())}))

    def chained() -> Iterator[pa.RecordBatch]:
        yield first
        for b in stream:
            yield b.cast(first.schema) if b.schema != first.schema else b

    out_reader = pa.RecordBatchReader.from_batches(first.schema, chained())
    return duckdb.from_arrow(out_reader)
