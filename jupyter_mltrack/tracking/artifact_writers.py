"""Turn user objects into artifact bytes for ``log_text``, ``log_dict``, ``log_figure``,
``log_image`` and ``log_table``.

Pure functions: no I/O and no run state. Each validates the artifact file name
(:func:`~jupyter_mltrack.artifacts.base.validate_artifact_path`) and picks the
encoding from its extension, as MLflow does. matplotlib, plotly, Pillow and
pandas are imported only when the object handed in already comes from them, so
importing this module costs nothing. Every failure is an ``InvalidParameter``
that says what was wrong and what to do.
"""

from __future__ import annotations

import importlib.util
import io
import json
import operator
import posixpath
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, SupportsIndex

from ..artifacts.base import validate_artifact_path
from ..errors import InvalidParameter

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "dict_bytes",
    "figure_bytes",
    "image_bytes",
    "image_series_file",
    "merge_table_json",
    "table_bytes",
    "text_bytes",
]

_PLOTLY_IMAGE_FORMATS = ("png", "jpg", "jpeg", "webp", "svg", "pdf")
_IMAGE_KEY = re.compile(r"^[A-Za-z0-9_\-. /]+$")
_MAX_KEY_LENGTH = 250


def text_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``text`` (``log_text``).

    Raises:
        InvalidParameter: ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise InvalidParameter(
            f"log_text expects a str; got {_type_name(text)}. "
            "Use log_dict for dicts, or convert the value with str() first."
        )
    return text.encode("utf-8")


# log_dict


def dict_bytes(dictionary: Mapping[Any, Any], artifact_file: str) -> bytes:
    """``dictionary`` as YAML for ``.yaml``/``.yml`` files, else as JSON (indent 2).

    NaN and infinities are kept (``NaN`` in JSON, ``.nan`` in YAML, as MLflow
    writes them); tuples become lists; numpy scalars and arrays become
    numbers and lists.

    Raises:
        InvalidParameter: ``dictionary`` is not a mapping, or a value or key
            cannot be serialized; the message names its place, e.g.
            ``dictionary['optimizer']['betas']``, and its type.

    Example::

        dict_bytes({"lr": 0.01, "layers": [64, 32]}, "config.yaml")
        # b'lr: 0.01\\nlayers:\\n- 64\\n- 32\\n'
    """
    name = validate_artifact_path(artifact_file)
    is_yaml = _extension(name) in (".yaml", ".yml")
    if not isinstance(dictionary, Mapping):
        raise InvalidParameter(
            f"log_dict expects a dict; got {_type_name(dictionary)}. "
            "Use log_text for strings, or wrap the value in a dict."
        )
    plain = _plain(dictionary, "dictionary", "YAML" if is_yaml else "JSON", set())
    if is_yaml:
        import yaml

        return yaml.safe_dump(
            plain, indent=2, default_flow_style=False, sort_keys=False, allow_unicode=True
        ).encode("utf-8")
    return json.dumps(plain, indent=2, ensure_ascii=False).encode("utf-8")


def _plain(value: Any, where: str, fmt: str, active: set[int]) -> Any:
    """``value`` as plain str/int/float/bool/None/list/dict, or an error naming ``where``."""
    scalar = _plain_scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    if _is_instance(value, "numpy", "ndarray"):
        return _plain(value.tolist(), where, fmt, active)
    if not isinstance(value, (Mapping, list, tuple)):
        raise _unserializable(value, where, fmt)
    if id(value) in active:
        raise InvalidParameter(
            f"log_dict cannot serialize {where}: it contains itself (a reference cycle). "
            "Break the cycle before logging."
        )
    active.add(id(value))
    try:
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                plain_key = _plain_scalar(key)
                if plain_key is _NOT_SCALAR:
                    raise InvalidParameter(
                        f"log_dict cannot serialize a key of {where}: {key!r} is a "
                        f"{type(key).__name__}; {fmt} keys must be str, int, float, bool or "
                        "None. Convert the key with str() first."
                    )
                out[plain_key] = _plain(item, f"{where}[{key!r}]", fmt, active)
            return out
        return [_plain(item, f"{where}[{i}]", fmt, active) for i, item in enumerate(value)]
    finally:
        active.discard(id(value))


_NOT_SCALAR = object()


def _plain_scalar(value: Any) -> Any:
    """The built-in scalar equal to ``value`` (also for subclasses and numpy), or a sentinel."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    for kind in (bool, int, float, str):  # bool before int: bool subclasses int
        if isinstance(value, kind):
            return kind(value)
    if _is_instance(value, "numpy", "generic"):
        item = value.item()
        if item is None or type(item) in (str, int, float, bool):
            return item
    return _NOT_SCALAR


def _unserializable(value: Any, where: str, fmt: str) -> InvalidParameter:
    hint = " (use a list: sets have no order)" if isinstance(value, (set, frozenset)) else ""
    return InvalidParameter(
        f"log_dict cannot serialize {where}: a {_type_name(value)} cannot be written as "
        f"{fmt}{hint}. Convert it to a str, number, bool, None, list or "
        "dict first.",
        key_path=where,
    )


# log_figure


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """A matplotlib or plotly figure encoded by the file's extension.

    matplotlib: any format its canvas supports (``.png``, ``.svg``, ``.pdf``,
    ``.jpg``, ...). plotly: ``.html`` (plotly.js from its CDN), ``.json``, and
    image formats only when ``kaleido`` is installed.

    Raises:
        InvalidParameter: the object is not a supported figure, the extension
            is missing or unsupported, or kaleido is needed and missing.
    """
    name = validate_artifact_path(artifact_file)
    ext = _extension(name).lstrip(".")
    if _is_instance(figure, "matplotlib.figure", "Figure"):
        return _matplotlib_bytes(figure, name, ext)
    if _is_instance(figure, "plotly.basedatatypes", "BaseFigure"):
        return _plotly_bytes(figure, name, ext)
    hint = ""
    if _is_instance(figure, "matplotlib.axes", "Axes"):
        hint = " For matplotlib Axes, pass ax.figure."
    raise InvalidParameter(
        "log_figure supports matplotlib.figure.Figure and plotly Figure objects; got "
        f"{_type_name(figure)}.{hint}"
    )


def _matplotlib_bytes(figure: Any, name: str, ext: str) -> bytes:
    supported = sorted(figure.canvas.get_supported_filetypes())
    if ext not in supported:
        raise InvalidParameter(
            f"Cannot save a matplotlib figure as {name!r}: the extension must be one of "
            f"{', '.join('.' + s for s in supported)}."
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format=ext)
    return buffer.getvalue()


def _plotly_bytes(figure: Any, name: str, ext: str) -> bytes:
    if ext == "html":
        return str(figure.to_html(include_plotlyjs="cdn", full_html=True)).encode("utf-8")
    if ext == "json":
        return str(figure.to_json()).encode("utf-8")
    if ext not in _PLOTLY_IMAGE_FORMATS:
        raise InvalidParameter(
            f"Cannot save a plotly figure as {name!r}: use .html or .json, or an image "
            f"format ({', '.join('.' + f for f in _PLOTLY_IMAGE_FORMATS)}) with kaleido."
        )
    if importlib.util.find_spec("kaleido") is None:
        raise InvalidParameter(
            f"Saving a plotly figure as .{ext} needs the 'kaleido' package, which is not "
            f"installed; pip install kaleido, or log {name!r} as .html or .json instead."
        )
    try:
        return bytes(figure.to_image(format=ext))
    except (ValueError, RuntimeError) as exc:
        raise InvalidParameter(
            f"kaleido could not render the plotly figure as .{ext}: {exc}. "
            "Log it as .html or .json instead."
        ) from exc


# log_image


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """A numpy array or PIL image encoded by the file's extension (PNG if it has none).

    Arrays may be ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB) or ``(H, W, 4)``
    (RGBA), of bools, integers in [0, 255] or floats in [0, 1] (scaled to
    0-255 and rounded). Encoding needs Pillow, for arrays too.

    Raises:
        InvalidParameter: unsupported type, shape, dtype or pixel range, an
            unknown extension, Pillow missing, or a mode the format cannot hold
            (e.g. RGBA as JPEG).
    """
    name = validate_artifact_path(artifact_file)
    if _is_instance(image, "numpy", "ndarray"):
        pil_module = _pillow()
        pil_image = pil_module.fromarray(_uint8_pixels(image))
    elif _is_instance(image, "PIL.Image", "Image"):
        pil_module = _pillow()
        pil_image = image
    else:
        raise InvalidParameter(
            f"log_image supports numpy arrays and PIL images; got {_type_name(image)}."
        )
    ext = _extension(name)
    image_format = pil_module.registered_extensions().get(ext) if ext else "PNG"
    if image_format is None:
        raise InvalidParameter(
            f"Cannot save an image as {name!r}: Pillow knows no {ext!r} format. "
            "Use .png (lossless), .jpg or .webp."
        )
    buffer = io.BytesIO()
    try:
        pil_image.save(buffer, format=image_format)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidParameter(
            f"Cannot save a {pil_image.mode} image as {image_format} ({name!r}): {exc}. "
            "Use .png, which holds every mode."
        ) from exc
    return buffer.getvalue()


def _pillow() -> Any:
    """The ``PIL.Image`` module, or an error saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise InvalidParameter(
            "log_image needs Pillow to encode images; pip install Pillow."
        ) from None
    return Image


def _uint8_pixels(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array as 8-bit pixels ready for ``PIL.Image.fromarray``."""
    import numpy as np

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or not array.size:
        raise InvalidParameter(
            f"Image array has shape {array.shape}; expected (H, W), (H, W, 1), (H, W, 3) or "
            "(H, W, 4) with H, W > 0. For channels-first (C, H, W) data use "
            "array.transpose(1, 2, 0)."
        )
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8) * 255
    if kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise InvalidParameter(
                f"Integer pixel values must be in [0, 255]; got values from {low} to {high}. "
                "Clip or rescale the array first."
            )
        return array.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(array).all():
            raise InvalidParameter("Float pixel values must be finite; the image has NaN or inf.")
        low_f, high_f = float(array.min()), float(array.max())
        if low_f < 0.0 or high_f > 1.0:
            raise InvalidParameter(
                f"Float pixel values must be in [0, 1]; got values from {low_f:g} to "
                f"{high_f:g}. Divide 0-255 data by 255, or clip the array first."
            )
        return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    raise InvalidParameter(
        f"Image array has dtype {array.dtype}; use bool, integers in [0, 255] or floats in [0, 1]."
    )


def image_series_file(key: str, step: SupportsIndex, timestamp_ms: SupportsIndex) -> str:
    """The artifact path of one image of a ``log_image(image, key=..., step=...)`` series.

    ``images/<key>/step_<step, 12 digits>_<timestamp_ms>.png``; a ``/`` in the
    key nests directories. Names sort by step.

    Raises:
        InvalidParameter: the key is empty, too long, has characters other than
            letters, digits, ``_ - . /`` and space, or empty, ``.`` or ``..``
            segments; or step/timestamp_ms is not a non-negative int.

    Example::

        >>> image_series_file("val/sample", 3, 1700000000000)
        'images/val/sample/step_000000000003_1700000000000.png'
    """
    if not isinstance(key, str) or not _IMAGE_KEY.match(key) or len(key) > _MAX_KEY_LENGTH:
        raise InvalidParameter(
            f"Image key {key!r} is invalid: use 1-{_MAX_KEY_LENGTH} letters, digits, "
            "underscores, dashes, periods, spaces and slashes, e.g. 'val/sample'."
        )
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidParameter(
            f"Image key {key!r} has an empty, '.' or '..' segment; write it like 'val/sample'."
        )
    step_n, time_ms = _count("step", step), _count("timestamp_ms", timestamp_ms)
    return validate_artifact_path(f"images/{key}/step_{step_n:012d}_{time_ms}.png")


def _count(label: str, number: SupportsIndex) -> int:
    """``number`` as a non-negative int (numpy integers accepted, bools refused)."""
    try:
        value = -1 if isinstance(number, bool) else operator.index(number)
    except TypeError:
        value = -1
    if value < 0:
        raise InvalidParameter(f"Image {label} must be a non-negative int; got {number!r}.")
    return value


# log_table


def table_bytes(data: Any, artifact_file: str) -> bytes:
    """A dict of columns or a DataFrame as MLflow's table JSON or as Parquet.

    ``.json`` gives ``{"columns": [...], "data": [[...], ...]}`` (pandas'
    ``orient="split"`` without the index, ISO dates, NaN as null);
    ``.parquet`` gives a Parquet file without the index.

    Raises:
        InvalidParameter: another extension, unequal column lengths, a value
            that is neither a DataFrame nor a dict of columns, or data the
            format cannot hold.
    """
    name = validate_artifact_path(artifact_file)
    ext = _extension(name)
    if ext not in (".json", ".parquet"):
        raise InvalidParameter(
            f"log_table writes .json (MLflow's table format) or .parquet; got {name!r}."
        )
    frame = _table_frame(data)
    try:
        if ext == ".json":
            return frame.to_json(orient="split", index=False, date_format="iso").encode("utf-8")
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidParameter(
            f"Cannot write the table as {name!r}: {exc}. Make each column one type "
            "(numbers, strings, bools or datetimes) with string column names."
        ) from exc


def _table_frame(data: Any) -> pd.DataFrame:
    """The table as a DataFrame: a DataFrame as is, a dict of equal-length columns converted."""
    if _is_instance(data, "pandas", "DataFrame"):
        frame: pd.DataFrame = data
        return frame
    if not isinstance(data, Mapping) or not data:
        raise InvalidParameter(
            f"log_table expects a pandas DataFrame or a non-empty dict of columns "
            f"({{'col': [values...]}}); got {_type_name(data)}."
        )
    lengths: dict[str, int] = {}
    for column, values in data.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise InvalidParameter(
                f"log_table column {column!r} is a {type(values).__name__}, not a list of "
                "values; pass {'col': [v1, v2, ...]}."
            )
        lengths[str(column)] = len(values)
    if len(set(lengths.values())) > 1:
        raise InvalidParameter(
            f"log_table columns must have the same length; got {lengths}. "
            "Pad or trim the columns first."
        )
    import pandas as pd

    return pd.DataFrame(dict(data))


def merge_table_json(existing: bytes, new: bytes) -> bytes:
    """Append the rows of table JSON ``new`` to table JSON ``existing`` (MLflow's log_table).

    Columns are the existing ones followed by new ones in order of appearance;
    a row lacking a column gets ``null`` there. Values are kept exactly (no
    round trip through pandas dtypes).

    Raises:
        InvalidParameter: either side is not ``{"columns": [...], "data": [[...]]}``.
    """
    old_columns, old_rows = _parse_table(existing, "existing")
    new_columns, new_rows = _parse_table(new, "new")
    columns = old_columns + [c for c in new_columns if c not in old_columns]
    rows = _align(old_rows, old_columns, columns) + _align(new_rows, new_columns, columns)
    merged = {"columns": columns, "data": rows}
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_table(raw: bytes, which: str) -> tuple[list[Any], list[list[Any]]]:
    try:
        table = json.loads(raw)
        columns, rows = table["columns"], table["data"]
        if not isinstance(columns, list) or not all(
            isinstance(row, list) and len(row) == len(columns) for row in rows
        ):
            raise ValueError("rows do not match the columns")
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidParameter(
            f"The {which} table is not in MLflow's table format "
            '({"columns": [...], "data": [[...], ...]}): ' + str(exc) + ". "
            "Log the table to a new artifact file instead."
        ) from exc
    return columns, rows


def _align(rows: list[list[Any]], columns: list[Any], target: list[Any]) -> list[list[Any]]:
    if columns == target:
        return rows
    index = {column: i for i, column in enumerate(columns)}
    return [[row[index[c]] if c in index else None for c in target] for row in rows]


# shared


def _extension(name: str) -> str:
    """The lower-case extension of an artifact file name, with its dot (``""`` if none)."""
    return posixpath.splitext(name)[1].lower()


def _type_name(obj: Any) -> str:
    """``int`` for built-ins, ``package.module.Class`` for everything else."""
    cls = type(obj)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _is_instance(obj: Any, module: str, class_name: str) -> bool:
    """``isinstance(obj, module.class_name)`` without importing ``module``.

    If the module was never imported, ``obj`` cannot be one of its instances.
    """
    cls = getattr(sys.modules.get(module), class_name, None)
    return isinstance(cls, type) and isinstance(obj, cls)
