"""Model signatures: what a model takes and returns, in MLflow's JSON form.

A :class:`ModelSignature` holds an input :class:`Schema`, an optional output schema and an
optional :class:`ParamSchema`. A schema is a list of :class:`ColSpec` (tabular columns, by name
or by position) or of :class:`TensorSpec` (numpy arrays with a dtype and a shape, ``-1`` for a
free dimension). ``to_dict()`` gives the three JSON strings MLflow writes into ``MLmodel``, so
signatures move both ways between MLflow and this project.

:func:`infer_signature` reads them off an input example, a prediction and params;
:func:`enforce_schema` and :func:`enforce_params` check (and safely convert) data at predict
time, raising :class:`~jupyter_mltrack.errors.SchemaMismatch` naming the column and what was
expected.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter, SchemaMismatch

__all__ = [
    "ColSpec",
    "DataType",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "infer_signature",
]


class DataType:
    """MLflow's column types (the strings of ``ColSpec.type``)."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"


#: column type -> numpy dtype name it is stored as.
_NUMPY_OF = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
_TYPES = tuple(_NUMPY_OF)


@dataclass(frozen=True)
class ColSpec:
    """One column: ``type`` (a :class:`DataType` string), ``name`` (None: by position)."""

    type: str
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise InvalidParameter(f"ColSpec type {self.type!r} is not one of {', '.join(_TYPES)}.")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """A numpy array: ``dtype`` (numpy name), ``shape`` (``-1`` = any size), ``name``."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        import numpy as np

        raw = self.dtype
        # numpy names sized strings "str96" / "bytes8"; MLflow writes "str"
        if isinstance(raw, str):
            raw = raw.rstrip("0123456789") if raw.startswith(("str", "bytes")) else raw
        try:
            dtype = np.dtype(raw)
            name = {"U": "str", "S": "bytes"}.get(dtype.kind, dtype.name)
            object.__setattr__(self, "dtype", name)
        except TypeError as exc:
            raise InvalidParameter(
                f"TensorSpec dtype {self.dtype!r} is not a numpy dtype."
            ) from exc
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


Spec = ColSpec | TensorSpec


class Schema:
    """An ordered list of :class:`ColSpec` or of :class:`TensorSpec` (not mixed)."""

    def __init__(self, inputs: Sequence[Spec]) -> None:
        specs = list(inputs)
        kinds = {type(s) for s in specs}
        if len(kinds) > 1:
            raise InvalidParameter("A Schema holds either ColSpecs or TensorSpecs, not both.")
        names = [s.name for s in specs]
        if any(n is None for n in names) and any(n is not None for n in names):
            raise InvalidParameter("A Schema's specs are all named or all unnamed.")
        self.inputs: list[Spec] = specs

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        return [s.name if s.name is not None else i for i, s in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        return [
            s.name if s.name is not None else i
            for i, s in enumerate(self.inputs)
            if not isinstance(s, ColSpec) or s.required
        ]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls([_spec_from_dict(d) for d in json.loads(text)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __repr__(self) -> str:
        return repr(self.inputs)


def _spec_from_dict(d: dict[str, Any]) -> Spec:
    if d.get("type") == "tensor":
        ts = d.get("tensor-spec") or {}
        return TensorSpec(ts["dtype"], tuple(ts["shape"]), d.get("name"))
    kind = d.get("type")
    if kind not in _TYPES:
        raise InvalidParameter(
            f"The signature has a column of type {kind!r}, which this version cannot enforce "
            f"(known: {', '.join(_TYPES)})."
        )
    return ColSpec(str(kind), d.get("name"), bool(d.get("required", True)))


@dataclass(frozen=True)
class ParamSpec:
    """One inference param: name, type (a :class:`DataType`), default, shape (None or (-1,))."""

    name: str
    dtype: str
    default: Any
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in _TYPES:
            raise InvalidParameter(f"ParamSpec {self.name!r}: type {self.dtype!r} is unknown.")
        if self.default is not None:
            _check_param_value(self, self.default)

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, dt.datetime):
            default = default.isoformat()
        return {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.dtype,
        }


class ParamSchema:
    """The params a model's ``predict`` accepts, with defaults."""

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        self.params = list(params)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(
            [
                ParamSpec(
                    d["name"],
                    d["type"],
                    d.get("default"),
                    tuple(d["shape"]) if d.get("shape") is not None else None,
                )
                for d in json.loads(text)
            ]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __repr__(self) -> str:
        return repr(self.params)


class ModelSignature:
    """Inputs, outputs and params of a model, stored in ``MLmodel`` as JSON strings."""

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        for name, value, kind in (
            ("inputs", inputs, Schema),
            ("outputs", outputs, Schema),
            ("params", params, ParamSchema),
        ):
            if value is not None and not isinstance(value, kind):
                raise InvalidParameter(
                    f"ModelSignature {name} must be a {kind.__name__} or None, "
                    f"got {type(value).__name__}; infer_signature builds one from data."
                )
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        inputs, outputs, params = d.get("inputs"), d.get("outputs"), d.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ModelSignature)
            and self.inputs == other.inputs
            and self.outputs == other.outputs
            and self.params == other.params
        )

    def __repr__(self) -> str:
        return (
            f"ModelSignature(inputs={self.inputs!r}, outputs={self.outputs!r}, "
            f"params={self.params!r})"
        )


# ---------------------------------------------------------------------------------------------
# inference


def _type_of_dtype(dtype: Any, values: Any = None) -> str:
    """The ColSpec type of a numpy/pandas dtype (object columns are looked into)."""
    import numpy as np

    kind = np.dtype(dtype).kind if not _is_pandas_ext(dtype) else None
    name = str(dtype).lower()
    if kind == "b" or name == "boolean":
        return "boolean"
    if kind in ("i", "u") or name.startswith(("int", "uint")):
        size = np.dtype(dtype).itemsize if kind else 8
        return "integer" if size <= 4 and kind != "u" else "long"
    if kind == "f" or name.startswith("float"):
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    if kind == "M" or name.startswith("datetime"):
        return "datetime"
    if kind in ("U", "S") or name in ("string", "str"):
        return "string" if kind != "S" else "binary"
    if values is not None:
        return _type_of_values(values)
    return "string"


def _is_pandas_ext(dtype: Any) -> bool:
    import numpy as np

    return not isinstance(dtype, np.dtype) and not isinstance(dtype, type)


def _type_of_values(values: Any) -> str:
    found: set[str] = set()
    for v in values:
        if v is None:
            continue
        found.add(_type_of_scalar(v))
    if not found:
        return "string"
    if found <= {"integer", "long"}:
        return "long"
    if found <= {"integer", "long", "double", "float"}:
        return "double"
    if len(found) == 1:
        return found.pop()
    raise InvalidParameter(
        f"Cannot infer one column type from mixed values of types {sorted(found)}; "
        "pass a signature= or clean the example."
    )


def _type_of_scalar(v: Any) -> str:
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return "boolean"
    if isinstance(v, np.integer):
        return _type_of_dtype(v.dtype)
    if isinstance(v, int):
        return "long"
    if isinstance(v, np.floating):
        return _type_of_dtype(v.dtype)
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "binary"
    if isinstance(v, (dt.datetime, dt.date, np.datetime64)):
        return "datetime"
    raise InvalidParameter(
        f"Cannot infer a column type for a value of type {type(v).__name__}; "
        "use numbers, strings, bytes, booleans or datetimes, or pass signature=."
    )


def _schema_of(data: Any) -> Schema:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Schema([ColSpec(_type_of_dtype(t, data[c]), str(c)) for c, t in data.dtypes.items()])
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema([ColSpec(_type_of_dtype(data.dtype, data), name)])
    if isinstance(data, np.ndarray):
        return Schema([TensorSpec(data.dtype.name, (-1, *data.shape[1:]))])
    if _is_torch_tensor(data):
        arr = data.detach().cpu().numpy()
        return Schema([TensorSpec(arr.dtype.name, (-1, *arr.shape[1:]))])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(
                [TensorSpec(v.dtype.name, (-1, *v.shape[1:]), str(k)) for k, v in data.items()]
            )
        return Schema(
            [
                ColSpec(
                    _type_of_values(v if isinstance(v, (list, tuple)) else [v]),
                    str(k),
                )
                for k, v in data.items()
            ]
        )
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):
            return _schema_of(pd.DataFrame(list(data)))
        if data and all(isinstance(r, (list, tuple)) for r in data):
            return _schema_of(np.asarray(data))
        return Schema([ColSpec(_type_of_values(data))])
    if isinstance(data, (str, bytes, int, float, bool, dt.datetime)):
        return Schema([ColSpec(_type_of_scalar(data))])
    raise InvalidParameter(
        f"infer_signature cannot read a schema from a {type(data).__name__}; pass a pandas "
        "DataFrame or Series, a numpy array, a dict of columns or arrays, a list of records, "
        "or a scalar."
    )


def _is_torch_tensor(data: Any) -> bool:
    return type(data).__module__.startswith("torch") and hasattr(data, "detach")


def _param_spec(name: str, value: Any) -> ParamSpec:
    if isinstance(value, (list, tuple)):
        return ParamSpec(name, _type_of_values(value), list(value), (-1,))
    import numpy as np

    if isinstance(value, np.ndarray):
        return ParamSpec(name, _type_of_values(value.tolist()), value.tolist(), (-1,))
    return ParamSpec(
        name, _type_of_scalar(value), value.item() if hasattr(value, "item") else value
    )


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """A signature read off example data.

    Args:
        model_input: a DataFrame, Series, numpy array, dict of columns (or of arrays), list of
            records, list of values or a scalar.
        model_output: the model's prediction on it (same kinds), or None.
        params: inference params with their default values (``{"top_k": 3}``).

    Example::

        sig = infer_signature(X_train, model.predict(X_train), params={"threshold": 0.5})
    """
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParameter(
            f"infer_signature params must be a dict of name -> default value, "
            f"got {type(params).__name__}."
        )
    inputs = _schema_of(model_input) if model_input is not None else None
    outputs = _schema_of(model_output) if model_output is not None else None
    param_schema = None
    if params:
        for key in params:
            if not isinstance(key, str) or not key:
                raise InvalidParameter(
                    f"infer_signature: param names must be strings, got {key!r}."
                )
        param_schema = ParamSchema([_param_spec(k, v) for k, v in params.items()])
    return ModelSignature(inputs, outputs, param_schema)


# ---------------------------------------------------------------------------------------------
# enforcement


def _describe(spec_type: str) -> str:
    return f"{spec_type} ({_NUMPY_OF[spec_type]})"


def _convert_column(values: Any, spec: ColSpec, label: str) -> Any:
    """Return the column converted to the spec's type, or raise SchemaMismatch."""
    import numpy as np
    import pandas as pd

    series: Any = values if isinstance(values, pd.Series) else pd.Series(values)
    have = _safe_type(series)
    want = spec.type
    if have == want:
        return series
    if want == "double" and have in ("integer", "long", "float", "boolean_num"):
        return series.astype("float64")
    if want == "float" and have in ("integer",):
        return series.astype("float32")
    if want == "long" and have in ("integer",):
        return series.astype("int64")
    if want in ("long", "integer") and have in ("double", "float"):
        # MLflow refuses this unless it is lossless; so do we
        floats = series.to_numpy(dtype="float64")
        if not np.isnan(floats).any() and np.all(np.mod(floats, 1) == 0):
            return series.astype(_NUMPY_OF[want])
    if want == "float" and have == "double":
        # MLflow: double -> float only where values fit exactly
        as32 = series.astype("float32")
        if np.allclose(
            as32.to_numpy(dtype="float64"), series.to_numpy(dtype="float64"), equal_nan=True
        ):
            return as32
    if want == "datetime" and have == "string":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError):
            pass
    if want == "string" and have == "empty":
        return series
    if have == "empty":
        return series
    raise SchemaMismatch(
        f"Column {label} expects {_describe(want)}, got {have} values "
        f"(dtype {series.dtype}); convert the column or fix the model's signature.",
        column=label,
        expected=want,
        got=have,
    )


def _safe_type(series: Any) -> str:
    if len(series) == 0:
        return "empty"
    if series.dtype == object:
        try:
            return _type_of_values(series.tolist())
        except InvalidParameter:
            return "mixed"
    return _type_of_dtype(series.dtype)


def _to_frame(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        if schema.has_input_names() and len(schema.inputs) == 1:
            return pd.DataFrame({schema.inputs[0].name: data})
        return data.to_frame()
    if isinstance(data, Mapping):
        return pd.DataFrame(
            {k: (v if isinstance(v, (list, tuple, np.ndarray)) else [v]) for k, v in data.items()}
        )
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(list(data))
    arr = np.asarray(data)
    if arr.ndim == 1 and not isinstance(data, np.ndarray) and len(schema.inputs) > 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise SchemaMismatch(
            f"The model takes a table of {len(schema.inputs)} column(s); got an array of "
            f"shape {arr.shape}.",
        )
    if arr.shape[1] != len(schema.inputs):
        raise SchemaMismatch(
            f"The model takes {len(schema.inputs)} column(s) "
            f"({', '.join(map(str, schema.input_names()))}); got {arr.shape[1]}.",
        )
    columns = [s.name if s.name is not None else i for i, s in enumerate(schema.inputs)]
    return pd.DataFrame(arr, columns=columns)


def _enforce_columns(data: Any, schema: Schema) -> Any:
    import pandas as pd

    frame = _to_frame(data, schema)
    specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
    if schema.has_input_names():
        have = {str(c): c for c in frame.columns}
        missing = [s.name for s in specs if s.required and s.name not in have]
        if missing:
            expected = ", ".join(f"{s.name!r}: {s.type}" for s in specs)
            raise SchemaMismatch(
                f"Model input is missing column(s) {', '.join(repr(m) for m in missing)}; "
                f"the signature expects {{{expected}}}.",
                missing=missing,
            )
        out = {}
        for s in specs:
            assert s.name is not None
            if s.name not in have:
                continue
            out[s.name] = _convert_column(frame[have[s.name]], s, repr(s.name)).to_numpy()
        return pd.DataFrame(out, index=frame.index)
    if frame.shape[1] != len(specs):
        raise SchemaMismatch(
            f"The model takes {len(specs)} unnamed column(s); got {frame.shape[1]}.",
        )
    converted = [
        _convert_column(frame.iloc[:, i], s, f"#{i} (by position)").to_numpy()
        for i, s in enumerate(specs)
    ]
    result = pd.DataFrame(dict(zip(frame.columns, converted, strict=True)), index=frame.index)
    return result


def _enforce_tensor(value: Any, spec: TensorSpec, label: str) -> Any:
    import numpy as np

    arr = value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)
    want = np.dtype(spec.dtype)
    if arr.dtype != want and not (want.kind in "US" and arr.dtype.kind == want.kind):
        if (arr.dtype.kind in "iub" and want.kind == "f") or np.can_cast(arr.dtype, want, "safe"):
            arr = arr.astype(want)
        else:
            raise SchemaMismatch(
                f"Tensor {label} expects dtype {want.name}, got {arr.dtype.name}; "
                "cast the input or fix the model's signature.",
                expected=want.name,
                got=arr.dtype.name,
            )
    if len(spec.shape) != arr.ndim or any(
        d != -1 and d != a for d, a in zip(spec.shape, arr.shape, strict=False)
    ):
        raise SchemaMismatch(
            f"Tensor {label} expects shape {list(spec.shape)} (-1 = any size), got "
            f"{list(arr.shape)}.",
            expected=list(spec.shape),
            got=list(arr.shape),
        )
    return arr


def enforce_schema(data: Any, schema: Schema | None) -> Any:
    """Check ``data`` against ``schema`` and return it converted (MLflow's safe conversions:
    integers to floats, exact floats to integers, ISO strings to datetimes)."""
    if schema is None or not schema.inputs:
        return data
    if schema.is_tensor_spec():
        specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
        if schema.has_input_names():
            if not isinstance(data, Mapping):
                import pandas as pd

                if isinstance(data, pd.DataFrame):
                    data = {c: data[c].to_numpy() for c in data.columns}
                else:
                    raise SchemaMismatch(
                        "The model takes named tensors "
                        f"({', '.join(str(s.name) for s in specs)}); pass a dict of arrays."
                    )
            missing = [s.name for s in specs if s.name not in data]
            if missing:
                raise SchemaMismatch(
                    f"Model input is missing tensor(s) {missing}.", missing=missing
                )
            return {s.name: _enforce_tensor(data[s.name], s, repr(s.name)) for s in specs}
        if _is_torch_tensor(data):
            data = data.detach().cpu().numpy()
        return _enforce_tensor(data, specs[0], "input")
    return _enforce_columns(data, schema)


def _check_param_value(spec: ParamSpec, value: Any) -> Any:
    values = value if spec.shape is not None else [value]
    if spec.shape is not None and not isinstance(value, (list, tuple)):
        raise SchemaMismatch(
            f"Param {spec.name!r} expects a list of {spec.dtype}, got {type(value).__name__}.",
            param=spec.name,
        )
    out = []
    for v in values:
        try:
            have = _type_of_scalar(v)
        except InvalidParameter:
            have = type(v).__name__
        if have == spec.dtype or (
            spec.dtype in ("double", "float") and have in ("integer", "long")
        ):
            out.append(float(v) if spec.dtype in ("double", "float") else v)
        elif spec.dtype in ("long", "integer") and have == "integer":
            out.append(int(v))
        elif spec.dtype == "datetime" and isinstance(v, str):
            try:
                out.append(dt.datetime.fromisoformat(v))
            except ValueError as exc:
                raise SchemaMismatch(
                    f"Param {spec.name!r} expects a datetime, got {v!r}.", param=spec.name
                ) from exc
        else:
            raise SchemaMismatch(
                f"Param {spec.name!r} expects {spec.dtype}, got {v!r} ({have}).",
                param=spec.name,
                expected=spec.dtype,
            )
    return out if spec.shape is not None else out[0]


def enforce_params(
    params: Mapping[str, Any] | None, schema: ParamSchema | None
) -> dict[str, Any] | None:
    """Params checked against the schema, with its defaults filled in; unknown ones are
    dropped with a warning (as MLflow does). Without a schema, params pass through."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParameter(f"predict params must be a dict, got {type(params).__name__}.")
    if schema is None:
        if params:
            warnings.warn(
                "The model's signature declares no params; ignoring params "
                f"{sorted(params)}. Save the model with infer_signature(..., params=...) to "
                "accept them.",
                UserWarning,
                stacklevel=3,
            )
        return None
    given = dict(params or {})
    out: dict[str, Any] = {}
    for spec in schema.params:
        if spec.name in given:
            out[spec.name] = _check_param_value(spec, given.pop(spec.name))
        else:
            out[spec.name] = spec.default
    if given:
        warnings.warn(
            f"Ignoring params the signature does not declare: {sorted(given)} "
            f"(declared: {[p.name for p in schema.params]}).",
            UserWarning,
            stacklevel=3,
        )
    return out
