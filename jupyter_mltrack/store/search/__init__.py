"""The run search language: MLflow's ``search_runs`` filter grammar and more, compiled to SQL.

Parse, then compile; user text only ever reaches the database as bound parameters::

    from jupyter_mltrack.store.search import (
        compile_filter, compile_order_by, parse_filter, parse_order_by,
    )

    where, where_params = compile_filter(parse_filter("metrics.acc > 0.9 OR tags.best = 'y'"))
    order, order_params = compile_order_by(parse_order_by(["metrics.acc DESC"]))
    con.execute(
        f"SELECT r.run_id FROM store.runs r WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        where_params + order_params + [limit, offset],
    )

Modules: ``_lexer`` (tokens and the caret error format), ``_ast`` (frozen dataclasses),
``_parser`` (grammar and type rules), ``_compiler`` (SQL for DuckDB and PostgreSQL;
``_dialect`` where they differ; its docstring records the
NaN, missing-key and ordering semantics and the measured SQL shape), ``_paging`` (page
tokens). The grammar for users is in docs/search.md. Every parse error is
:class:`~jupyter_mltrack.errors.InvalidFilter` with ``details['position']`` (0-based).
"""

from __future__ import annotations

from ._ast import (
    ATTRIBUTES,
    DATASET_FIELDS,
    NUMERIC_ATTRIBUTES,
    And,
    Comparison,
    Field,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    OrderKey,
)
from ._compiler import compile_filter, compile_order_by, compile_search
from ._dialect import DUCKDB, POSTGRES, SearchDialect
from ._paging import decode_page_token, encode_page_token, search_fingerprint
from ._parser import parse_filter, parse_order_by

__all__ = [
    "ATTRIBUTES",
    "DATASET_FIELDS",
    "DUCKDB",
    "NUMERIC_ATTRIBUTES",
    "POSTGRES",
    "And",
    "Comparison",
    "Field",
    "InList",
    "IsNull",
    "Like",
    "Node",
    "Not",
    "Or",
    "OrderKey",
    "SearchDialect",
    "compile_filter",
    "compile_order_by",
    "compile_search",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
    "search_fingerprint",
]
