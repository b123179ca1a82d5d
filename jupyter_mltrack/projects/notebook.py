"""Notebooks as entry points: parameters injected papermill-style, executed with nbclient.

The parameters go into a new cell (tagged ``injected-parameters``) right after the cell
tagged ``parameters``, or first when no cell has that tag, so the notebook's own values are
the defaults. A value takes the type the parameter declares in ``MLproject``, else the type
of the default assigned in the ``parameters`` cell (``int``, ``float``, ``bool``, ``str``).

``python -m jupyter_mltrack.projects.notebook IN.ipynb OUT.ipynb VALUES.json RESULT.json``
executes the notebook in the interpreter that runs it (the project's environment): one
progress line per cell on stderr, the cells' printed output echoed, the executed notebook
written to OUT (also after a failure), and RESULT saying which cell failed, if one did.
"""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter

__all__ = [
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "inject_parameters",
    "main",
    "notebook_defaults",
    "typed_values",
]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def _nbformat() -> Any:
    import importlib

    return importlib.import_module("nbformat")  # untyped: used through Any


def _read(path: Path) -> Any:
    nbformat = _nbformat()
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:
        raise InvalidParameter(f"{path} is not a readable notebook: {exc}") from None


def _parameters_cell(nb: Any) -> int | None:
    for index, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The names the ``parameters`` cell assigns literals to, with their values."""
    nb = _read(path)
    index = _parameters_cell(nb)
    if index is None:
        return {}
    try:
        tree = ast.parse(nb.cells[index].source)
    except SyntaxError:
        return {}
    found: dict[str, Any] = {}
    for stmt in tree.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else getattr(stmt, "target", None)
        value = getattr(stmt, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


def typed_values(
    values: dict[str, str], declared: dict[str, str], defaults: dict[str, Any], where: str
) -> dict[str, Any]:
    """``values`` converted to Python values (declared MLproject type, else the default's)."""
    out: dict[str, Any] = {}
    for name, text in values.items():
        kind = declared.get(name)
        default = defaults.get(name)
        try:
            if kind == "float" or (kind is None and isinstance(default, float)):
                out[name] = float(text)
            elif kind == "int" or (kind is None and type(default) is int):
                out[name] = int(text)
            elif kind is None and isinstance(default, bool):
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                out[name] = lowered in ("true", "1")
            else:
                out[name] = text
        except ValueError:
            expected = kind or type(default).__name__
            raise InvalidParameter(
                f"Parameter {name!r} of {where} must be {expected} (its default is "
                f"{default!r}), got {text!r}."
            ) from None
    return out


def inject_parameters(nb: Any, values: dict[str, Any]) -> Any:
    """Insert the ``injected-parameters`` cell after the ``parameters`` cell (or first)."""
    nbformat = _nbformat()
    if not values:
        return nb
    lines = ["# Parameters"] + [f"{name} = {value!r}" for name, value in values.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = [INJECTED_TAG]
    index = _parameters_cell(nb)
    nb.cells.insert(0 if index is None else index + 1, cell)
    return nb


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:60]
    return "(empty)"


def execute(source: Path, output: Path, values: dict[str, Any], result: Path) -> int:
    """Execute ``source`` with ``values``; returns the exit code (0, or 1 for a failed cell)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = inject_parameters(_read(source), values)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    total = len(code_cells)
    started: dict[int, float] = {}

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.perf_counter()
        number = code_cells.index(cell_index) + 1 if cell_index in code_cells else 0
        print(f"[notebook] cell {number}/{total}: {_first_line(cell.source)}", file=sys.stderr,
              flush=True)  # fmt: skip

    def on_done(cell: Any, cell_index: int, **_: Any) -> None:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                stream = sys.stderr if out.get("name") == "stderr" else sys.stdout
                stream.write(out.get("text", ""))
                stream.flush()

    client = NotebookClient(
        nb,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_done,
    )
    failed: dict[str, Any] | None = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = _failed_cell(nb, code_cells, exc)
    finally:
        _nbformat().write(nb, str(output))
    result.write_text(json.dumps({"failed_cell": failed, "cells": total}))
    if failed is not None:
        print(
            f"[notebook] cell {failed['number']}/{total} ({failed['first_line']}) failed: "
            f"{failed['ename']}: {failed['evalue']}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


def _failed_cell(nb: Any, code_cells: list[int], exc: Any) -> dict[str, Any]:
    for index in code_cells:
        for out in nb.cells[index].get("outputs", []):
            if out.get("output_type") == "error":
                cell = nb.cells[index]
                return {
                    "index": index,
                    "number": code_cells.index(index) + 1,
                    "id": cell.get("id"),
                    "first_line": _first_line(cell.source),
                    "ename": out.get("ename", ""),
                    "evalue": out.get("evalue", ""),
                }
    return {"index": None, "number": None, "id": None, "first_line": "?",
            "ename": type(exc).__name__, "evalue": str(exc).splitlines()[0]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m jupyter_mltrack.projects.notebook IN OUT VALUES RESULT",
              file=sys.stderr)  # fmt: skip
        return 2
    source, output, values, result = (Path(a) for a in args)
    return execute(source, output, json.loads(values.read_text()), result)


if __name__ == "__main__":
    sys.exit(main())
