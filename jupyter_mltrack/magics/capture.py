"""What ``%%track`` records about a cell besides the run context ``start_run`` captures.

- :func:`literal_assignments`: the names a cell assigns simple literals to at top level
  (``lr = 0.01``, ``layers = [64, 32]``, ``a, b = 1, "x"``), the default params of a run.
- :func:`history_text`: the cells run before this one in the kernel, capped with a note.
- :func:`param_value`: whether a name's final value is a setting worth logging as a param.

Tag and artifact names are documented in docs/notebooks.md; the JupyterLab views use them to
open a run's notebook and cell.
"""

from __future__ import annotations

import ast
import numbers
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ARTIFACT_CELL",
    "ARTIFACT_HISTORY",
    "MAX_HISTORY_BYTES",
    "TAG_CELL_EXECUTION_COUNT",
    "TAG_CELL_ID",
    "TAG_NOTEBOOK_PATH",
    "history_text",
    "literal_assignments",
    "param_value",
]

TAG_NOTEBOOK_PATH = "mltrack.notebook.path"
TAG_CELL_EXECUTION_COUNT = "mltrack.cell.execution_count"
TAG_CELL_ID = "mltrack.cell.id"
ARTIFACT_CELL = "code/cell.py"
ARTIFACT_HISTORY = "code/history.py"
MAX_HISTORY_BYTES = 100_000

_SCALARS = (int, float, str, bool, type(None))


def _is_literal_scalar(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, _SCALARS)
    # -1, +0.5: a number with a sign is an UnaryOp around a Constant
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    )


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Tuple | ast.List):
        return all(_is_literal_scalar(e) for e in node.elts)
    return _is_literal_scalar(node)


def _assigned(target: ast.expr, value: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id] if _is_literal(value) else []
    # a, b = 1, 2: each name gets a scalar of the same position
    if (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
    ):
        return [
            t.id
            for t, v in zip(target.elts, value.elts, strict=True)
            if isinstance(t, ast.Name) and _is_literal_scalar(v)
        ]
    return []


def literal_assignments(tree: ast.Module) -> list[str]:
    """Names the module assigns a simple literal at top level, in order, without repeats.

    Literals are int, float, str, bool and None (signed numbers included), or tuples and
    lists of them. Assignments inside functions, loops or conditions do not count, nor do
    names starting with ``_``.

    Example::

        literal_assignments(ast.parse("lr = 0.1\\nmodel = fit(lr)\\nsizes = (64, 32)"))
        # ['lr', 'sizes']
    """
    names: dict[str, None] = {}
    for stmt in tree.body:
        found: list[str] = []
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                found += _assigned(target, stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            found += _assigned(stmt.target, stmt.value)
        names.update(dict.fromkeys(n for n in found if not n.startswith("_")))
    return list(names)


def param_value(value: Any) -> bool:
    """True for values a literal assignment can produce (numbers, str, None, and flat
    tuples/lists of them): a name rebound to a model or an array is not logged."""
    if isinstance(value, tuple | list):
        return all(param_value(v) and not isinstance(v, tuple | list) for v in value)
    return value is None or isinstance(value, str | numbers.Number)


def history_text(
    cells: Sequence[str], first_count: int = 1, max_bytes: int = MAX_HISTORY_BYTES
) -> str:
    """The given cell sources as one file, each under an ``# In[n]:`` header.

    ``cells[0]`` is execution count ``first_count``. When the text is over ``max_bytes``
    (UTF-8), the oldest cells are left out (whole cells; the newest one is cut at a line
    start if it alone is too long) and a first line says how many and the full size, as
    ``environment/git_diff.patch`` does.
    """
    parts = [f"# In[{first_count + i}]:\n{src.rstrip(chr(10))}\n\n" for i, src in enumerate(cells)]
    sizes = [len(p.encode()) for p in parts]
    total = sum(sizes)
    if total <= max_bytes:
        return "".join(parts)
    kept, used = 0, 0
    while kept < len(parts) and used + sizes[-1 - kept] <= max_bytes:
        used += sizes[-1 - kept]
        kept += 1
    if kept:
        body = "".join(parts[len(parts) - kept :])
        what = f"the {len(parts) - kept} oldest of {len(parts)} cells were left out"
    else:  # the newest cell alone is over the cap: keep its end, from a line start
        tail = parts[-1].encode()[-max_bytes:].decode("utf-8", "ignore")
        body = tail[tail.find("\n") + 1 :]
        what = f"only the end of the last cell, In[{first_count + len(parts) - 1}], is kept"
    return (
        f"# mltrack: history truncated to max {max_bytes} bytes ({total} in all): {what}; "
        "the rest was not stored.\n" + body
    )
