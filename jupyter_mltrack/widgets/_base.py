"""``MltrackWidget``: the base of every jupyter-mltrack widget.

It adds two things to :class:`anywidget.AnyWidget`:

- **Its bundle by name.** ``class LivePlot(MltrackWidget, bundle="livePlot")`` loads
  ``static/livePlot.js`` (built from ``src/widgets/livePlot.ts``) and ``static/livePlot.css``
  when that exists; creating an instance without the built bundle raises the explanatory
  ``FileNotFoundError`` of :func:`._bundle.bundle_path`.
- **Data on request.** Traitlets carry small UI state only; bulk data (series, tables) is asked
  for by the frontend with a custom message and answered with binary buffers::

      frontend -> kernel  {"type": "request", "id": 7, "method": "series", "params": {...}}
      kernel -> frontend  {"type": "response", "id": 7, "result": {...}}      + buffers
                      or  {"type": "response", "id": 7, "error": {"code": ..., "message": ...}}

  A handler is a method marked with :func:`handles`; it receives the params as keyword
  arguments and returns a JSON-able result, or a :class:`Reply` to attach buffers (see
  :func:`encode_columns`). Whatever it raises goes back as one error message, never a
  traceback; unexpected errors are also logged with their traceback on the kernel's logger.
  ``src/widgets/lib/request.ts`` is the frontend half.

Example::

    class Curve(MltrackWidget, bundle="curve"):
        @handles("points")
        def _points(self, *, n: int) -> Reply:
            buffers: list[memoryview] = []
            columns = encode_columns({"x": np.arange(n), "y": np.arange(n) ** 2}, buffers)
            return Reply({"columns": columns}, buffers)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import anywidget
import numpy as np

from ..errors import MltrackError
from . import _bundle

__all__ = ["MltrackWidget", "Reply", "encode_columns", "handles"]

_F = TypeVar("_F", bound=Callable[..., Any])
_METHOD_ATTR = "_mltrack_request_method"

#: Column dtypes that travel as raw little-endian buffers; the frontend maps each to a typed
#: array (``src/widgets/lib/request.ts``, ``decodeColumns``). bool travels as uint8.
BUFFER_DTYPES = frozenset(
    ["float64", "float32", "int64", "uint64", "int32", "uint32", "int16", "uint16", "int8", "uint8"]
)


def handles(method: str) -> Callable[[_F], _F]:
    """Mark a widget method as the handler of the frontend's ``method`` requests."""

    def mark(func: _F) -> _F:
        setattr(func, _METHOD_ATTR, method)
        return func

    return mark


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer with binary buffers: ``result`` (JSON) refers to them by index."""

    result: Any
    buffers: Sequence[bytes | memoryview] = field(default_factory=list)


class MltrackWidget(anywidget.AnyWidget):
    """An anywidget with its ESM found by bundle name and a request/response data channel.

    Subclasses name their bundle with the ``bundle=`` class keyword and mark request
    handlers with :func:`handles`; inherited handlers are kept, and a subclass may override
    one by defining a method of the same name.
    """

    #: The bundle's name: ``static/<name>.js`` built from ``src/widgets/<name>.ts``.
    bundle_name: ClassVar[str] = ""
    #: request method -> name of the handler attribute (looked up per call, so overriding
    #: the handler by name in a subclass works without marking it again).
    _request_handlers: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, bundle: str | None = None, **kwargs: Any) -> None:
        if bundle is not None:
            cls.bundle_name = bundle
            # Set before AnyWidget.__init_subclass__, which turns paths into FileContents
            # (and watches them under ANYWIDGET_HMR=1). "" keeps an unbuilt checkout importable.
            cls._esm = _bundle.bundle_or_empty(f"{bundle}.js")
            cls._css = _bundle.bundle_or_empty(f"{bundle}.css")
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        for base in reversed(cls.__mro__):
            for name, attr in vars(base).items():
                method = getattr(attr, _METHOD_ATTR, None)
                if isinstance(method, str):
                    handlers[method] = name
        cls._request_handlers = handlers

    def __new__(cls, *args: Any, **kwargs: Any) -> MltrackWidget:
        # Checked before the subclass's __init__ does any work: a clear error instead of an
        # empty widget.
        if not cls.bundle_name:
            raise TypeError(
                f"{cls.__name__} names no bundle; declare it as "
                f"`class {cls.__name__}(MltrackWidget, bundle='<name>')`."
            )
        _bundle.bundle_path(f"{cls.bundle_name}.js")
        instance: MltrackWidget = super().__new__(cls, *args, **kwargs)
        return instance

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(_on_custom_msg)

    def _answer_request(self, content: Mapping[str, Any]) -> None:
        """Run the handler of one request and send its response (or its error)."""
        request_id = content.get("id")
        method = content.get("method")
        params = content.get("params") or {}
        buffers: Sequence[bytes | memoryview] = []
        try:
            if not isinstance(method, str) or not isinstance(params, dict):
                raise TypeError(
                    "A request needs a method name and a params object, "
                    f"got {dict(content)!r:.200}."
                )
            handler = self._request_handlers.get(method)
            if handler is None:
                known = ", ".join(sorted(self._request_handlers)) or "none"
                raise LookupError(
                    f"{type(self).__name__} has no request method {method!r}; it answers: {known}."
                )
            answer = getattr(self, handler)(**params)
            if isinstance(answer, Reply):
                answer, buffers = answer.result, answer.buffers
            _check_json(answer, type(self).__name__, method)
            response: dict[str, Any] = {"type": "response", "id": request_id, "result": answer}
        except Exception as exc:
            response = {"type": "response", "id": request_id, "error": self._error(method, exc)}
            buffers = []
        self.send(response, list(buffers))

    def _error(self, method: object, exc: Exception) -> dict[str, str]:
        """The one-message form of a handler's exception; unexpected ones are also logged."""
        if isinstance(exc, MltrackError):
            return {"code": exc.code, "message": exc.message}
        if isinstance(exc, ValueError | TypeError | LookupError):
            return {"code": "INVALID_PARAMETER_VALUE", "message": str(exc)}
        self.log.error("%s request %r failed", type(self).__name__, method, exc_info=exc)
        return {
            "code": "INTERNAL_ERROR",
            "message": f"{type(self).__name__} could not answer {method!r}: "
            f"{type(exc).__name__}: {exc} (the kernel log has the traceback).",
        }


def _check_json(result: Any, widget: str, method: str) -> None:
    """Raise ``TypeError`` unless ``result`` is strict JSON (results are small: bulk data is in
    buffers), so the frontend gets an error instead of a result the comm would mangle."""
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{widget}'s answer to {method!r} is not JSON ({exc}); send arrays and non-finite "
            "floats as buffers (encode_columns), other values as plain lists, str, int, float."
        ) from exc


def _on_custom_msg(widget: MltrackWidget, content: Any, buffers: list[bytes]) -> None:
    # Other custom messages (a subclass's own) pass through untouched.
    if isinstance(content, dict) and content.get("type") == "request":
        widget._answer_request(content)


def encode_columns(data: Any, buffers: list[bytes | memoryview]) -> dict[str, Any]:
    """Describe the columns of ``data`` and append their numeric values to ``buffers``.

    Args:
        data: a ``pyarrow.Table``, a pandas ``DataFrame`` or a mapping of name -> array-like.
        buffers: the reply's buffer list; each numeric column appends one buffer.

    Returns:
        ``{"length": n, "columns": [{"name", "dtype", "buffer"}, ...]}``: numeric and bool
        columns name their buffer's index (bool as ``uint8``; int columns with nulls arrive as
        float64 with NaN); string columns carry ``"values"`` (a JSON list, nulls as null)
        instead. ``decodeColumns`` in ``request.ts`` turns this back into typed arrays.

    Raises:
        TypeError: a column of another dtype (e.g. timestamps: send them as int64 ms).
        ValueError: the columns differ in length.
    """
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow.Table
        items = [(name, data.column(name).to_numpy()) for name in data.column_names]
    else:
        items = [(str(name), np.asarray(values)) for name, values in data.items()]
    lengths = {len(values) for _, values in items}
    if len(lengths) > 1:
        raise ValueError(f"Columns must have one length, got lengths {sorted(lengths)}.")
    columns = []
    for name, values in items:
        if values.dtype == np.bool_:
            values = values.astype(np.uint8)
        if values.dtype.name in BUFFER_DTYPES:
            little = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
            columns.append({"name": name, "dtype": values.dtype.name, "buffer": len(buffers)})
            buffers.append(little.data.cast("B"))
        elif values.dtype.kind in "OUT" and all(v is None or isinstance(v, str) for v in values):
            columns.append({"name": name, "dtype": "string", "values": values.tolist()})
        else:
            raise TypeError(
                f"Column {name!r} has dtype {values.dtype}, which cannot be sent; send numbers "
                "(times as int64 milliseconds), bools or strings."
            )
    return {"length": lengths.pop() if lengths else 0, "columns": columns}
