"""Request bodies in, predictions out: MLflow's scoring protocol, without MLflow.

``POST /invocations`` accepts what ``mlflow models serve`` accepts:

* ``application/json`` with exactly one of ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs``, and optionally ``params`` (a JSON object);
* ``text/csv`` (a header row, then one row per record);
* ``application/vnd.apache.parquet`` (a Parquet file in the body).

:func:`parse_request` turns a body into the model's input (a pandas DataFrame, a dict of
numpy arrays or a numpy array) and the params; :func:`encode_predictions` turns what the
model returned into ``{"predictions": ...}`` in MLflow's shape (records for a DataFrame).
Every malformed body raises :class:`PayloadError` with the HTTP status to answer and one
message naming the field or column that was wrong and what was expected.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import InvalidParameter
from ..models.scoring import InputColumn, input_columns

__all__ = [
    "CONTENT_TYPES",
    "INPUT_FIELDS",
    "InputColumn",
    "PayloadError",
    "encode_predictions",
    "input_columns",
    "parse_request",
    "to_jsonable",
]

CSV = "text/csv"
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
#: the content types /invocations accepts (anything else is a 415)
CONTENT_TYPES = (JSON, CSV, PARQUET)
#: the JSON input fields; a body names exactly one of them
INPUT_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_FIELDS_TEXT = ", ".join(f"'{f}'" for f in INPUT_FIELDS)


class PayloadError(InvalidParameter):
    """A request body the server cannot score; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _mime(content_type: str) -> tuple[str, str]:
    parts = [p.strip() for p in content_type.split(";")]
    mime = parts[0].lower()
    charset = "utf-8"
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return mime, charset


def parse_request(
    body: bytes, content_type: str, columns: list[InputColumn] | None = None
) -> tuple[Any, dict[str, Any] | None]:
    """The model input and the params (or None) of one ``/invocations`` body.

    ``columns`` (from :func:`input_columns`) lets CSV take the signature's column names
    and lets a missing column be named before the model sees the data.
    """
    mime, charset = _mime(content_type or "")
    if mime not in CONTENT_TYPES:
        shown = content_type or "(none)"
        raise PayloadError(
            f"Unsupported Content-Type {shown!r}; send one of {', '.join(CONTENT_TYPES)}.",
            status=415,
        )
    if charset not in ("utf-8", "utf8"):
        raise PayloadError(f"Unsupported charset {charset!r}; send the body as utf-8.", 415)
    if mime == CSV:
        return _check_columns(_parse_csv(body), columns), None
    if mime == PARQUET:
        return _check_columns(_parse_parquet(body), columns), None
    return _parse_json(body, columns)


def _parse_csv(body: bytes) -> pd.DataFrame:
    if not body.strip():
        raise PayloadError("The CSV body is empty; send a header row and one row per record.")
    try:
        return pd.read_csv(io.BytesIO(body))
    except Exception as exc:  # pandas raises several parser error types
        raise PayloadError(
            f"The body is not valid CSV ({str(exc).splitlines()[0]}); send a header row "
            "and one row per record, as DataFrame.to_csv(index=False) writes."
        ) from None


def _parse_parquet(body: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        frame: pd.DataFrame = pq.read_table(io.BytesIO(body)).to_pandas()
    except Exception as exc:
        raise PayloadError(
            f"The body is not a valid Parquet file ({str(exc).splitlines()[0]}); send what "
            "DataFrame.to_parquet() writes."
        ) from None
    return frame


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(
            f"The body is not valid JSON ({exc}); send an object with one of {_FIELDS_TEXT}."
        ) from None


def _parse_json(
    body: bytes, columns: list[InputColumn] | None
) -> tuple[Any, dict[str, Any] | None]:
    doc = _loads(body)
    if not isinstance(doc, dict):
        got = "a list" if isinstance(doc, list) else f"a JSON {type(doc).__name__}"
        raise PayloadError(
            f"The JSON body must be an object with exactly one of {_FIELDS_TEXT}; got {got}."
        )
    fields = [f for f in INPUT_FIELDS if f in doc]
    if len(fields) != 1:
        found = ", ".join(repr(k) for k in doc) or "no fields"
        raise PayloadError(
            f"The JSON body must have exactly one of {_FIELDS_TEXT}; it has {found}."
        )
    unknown = [k for k in doc if k not in INPUT_FIELDS and k != "params"]
    if unknown:
        raise PayloadError(
            f"Unknown field {unknown[0]!r} in the JSON body; allowed are {_FIELDS_TEXT} "
            "and 'params'."
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError(
            f"'params' must be a JSON object of parameter names to values; got "
            f"{type(params).__name__}."
        )
    field = fields[0]
    value = doc[field]
    if field == "dataframe_split":
        data: Any = _dataframe_split(value)
    elif field == "dataframe_records":
        data = _dataframe_records(value)
    else:
        data = _tensor_input(field, value, columns)
    if isinstance(data, pd.DataFrame):
        data = _check_columns(data, columns)
    return data, params


def _dataframe_split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict):
        raise PayloadError(
            "'dataframe_split' must be an object with 'columns' and 'data' (as "
            f"DataFrame.to_dict(orient='split') writes); got {type(value).__name__}."
        )
    extra = [k for k in value if k not in ("columns", "data", "index")]
    if extra:
        raise PayloadError(
            f"Unknown key {extra[0]!r} in 'dataframe_split'; expected 'columns', 'data' "
            "and optionally 'index'."
        )
    if "data" not in value:
        raise PayloadError("'dataframe_split' has no 'data': send a list of rows.")
    rows = value["data"]
    if not isinstance(rows, list):
        raise PayloadError("'dataframe_split.data' must be a list of rows.")
    cols = value.get("columns")
    if cols is not None and not isinstance(cols, list):
        raise PayloadError("'dataframe_split.columns' must be a list of column names.")
    if cols is not None:
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(cols):
                n = len(row) if isinstance(row, list) else "not a list"
                raise PayloadError(
                    f"'dataframe_split.data[{i}]' has {n} values; expected {len(cols)} "
                    f"(one per column in 'columns')."
                )
    try:
        return pd.DataFrame(rows, columns=cols, index=value.get("index"))
    except Exception as exc:
        raise PayloadError(f"'dataframe_split' is not a table: {exc}") from None


def _dataframe_records(value: Any) -> pd.DataFrame:
    if not isinstance(value, list):
        raise PayloadError(
            "'dataframe_records' must be a list of objects, one per row (as "
            f"DataFrame.to_dict(orient='records') writes); got {type(value).__name__}."
        )
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise PayloadError(
                f"'dataframe_records[{i}]' must be an object of column names to values; "
                f"got {type(row).__name__}."
            )
    return pd.DataFrame.from_records(value) if value else pd.DataFrame()


def _tensor_input(field: str, value: Any, columns: list[InputColumn] | None) -> Any:
    """``instances`` / ``inputs`` in TF-serving style: rows, columns or one tensor."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        frame = pd.DataFrame.from_records(value)
        if columns is not None:
            return frame
        return {c: frame[c].to_numpy() for c in frame.columns}
    if isinstance(value, dict):
        lengths = {k: len(v) for k, v in value.items() if isinstance(v, list)}
        if columns is not None:
            if len(set(lengths.values())) > 1:
                raise PayloadError(
                    f"The columns of '{field}' have different lengths ({lengths}); every "
                    "column needs one value per row."
                )
            try:
                return pd.DataFrame(value)
            except ValueError as exc:
                raise PayloadError(f"'{field}' is not a table: {exc}") from None
        return {k: np.asarray(v) for k, v in value.items()}
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except ValueError:
            raise PayloadError(
                f"'{field}' must be a rectangular array (every row the same length)."
            ) from None
        if array.dtype == object and array.ndim == 1 and any(isinstance(v, list) for v in value):
            raise PayloadError(
                f"'{field}' must be a rectangular array (every row the same length)."
            )
        if columns is not None and array.ndim == 2:
            if array.shape[1] != len(columns):
                raise PayloadError(
                    f"Each row of '{field}' has {array.shape[1]} values; the model's signature "
                    f"has {len(columns)} columns ({', '.join(c.name for c in columns)})."
                )
            return pd.DataFrame(array, columns=[c.name for c in columns])
        return array
    raise PayloadError(
        f"'{field}' must be a list (rows or a tensor) or an object of column names to "
        f"lists; got {type(value).__name__}."
    )


def _check_columns(frame: pd.DataFrame, columns: list[InputColumn] | None) -> pd.DataFrame:
    """Name the first required column the signature has and the body lacks."""
    if columns is None or (frame.empty and not len(frame.columns)):
        return frame
    if all(isinstance(c, int) for c in frame.columns) and len(frame.columns) == len(columns):
        frame.columns = [c.name for c in columns]  # a header-less split body
        return frame
    present = {str(c) for c in frame.columns}
    for col in columns:
        if col.required and col.name not in present:
            expected = ", ".join(f"{c.name} ({c.type})" for c in columns)
            raise PayloadError(
                f"Missing column {col.name!r} ({col.type}): the model's signature expects "
                f"{expected}."
            )
    return frame


def to_jsonable(predictions: Any) -> Any:
    """MLflow's shape: a DataFrame as records, a Series or array as a list, else as is."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return predictions.to_frame().to_dict(orient="records")
    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, Mapping):
        return {k: to_jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, np.generic):
        return predictions.item()
    return predictions


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, float):
        return None
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def encode_predictions(predictions: Any) -> bytes:
    """``{"predictions": ...}`` as UTF-8 JSON bytes (NaN becomes null, as pandas writes)."""
    option = orjson.OPT_SERIALIZE_NUMPY
    if isinstance(predictions, np.ndarray) and predictions.dtype != object:
        try:
            return orjson.dumps({"predictions": predictions}, option=option)
        except TypeError:
            pass  # a dtype orjson does not take (float16, non-contiguous): the general path
    doc = {"predictions": to_jsonable(predictions)}
    try:
        return orjson.dumps(doc, default=_default, option=option)
    except TypeError:
        return json.dumps(doc, default=_default).encode()
