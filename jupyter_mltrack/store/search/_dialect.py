"""Where the search SQL of DuckDB and PostgreSQL differ, as small named parts of a dialect.

The compiler (:mod:`._compiler`) writes one SQL text for both databases with ``?``
placeholders (the PostgreSQL store rewrites them for psycopg); what each database spells
its own way is a field here:

- :attr:`SearchDialect.json_text`: one field of a JSON document stored as text, as text,
  ``NULL`` when the field is missing (DuckDB: ``TRY(json_extract_string(...))``, which
  also survives a malformed document; PostgreSQL: ``(col::jsonb ->> 'field')``, the store
  only ever writes ``json.dumps`` output there);
- :attr:`SearchDialect.like_escape`: what follows ``LIKE ?`` so that a backslash in a
  pattern is an ordinary character on both (PostgreSQL's default escape is ``\\``, DuckDB
  has none).

Everything else (``IN (SELECT ...)`` semi-joins, ``ILIKE``, ``NULLS LAST``, DOUBLE
semantics where NaN equals NaN and sorts above ``inf``) reads the same on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DUCKDB", "POSTGRES", "SearchDialect"]


def _duckdb_json_text(column: str, field: str) -> str:
    return f"TRY(json_extract_string({column}, '$.\"{field}\"'))"


def _postgres_json_text(column: str, field: str) -> str:
    return f"({column}::jsonb ->> '{field}')"


@dataclass(frozen=True, slots=True)
class SearchDialect:
    """The database-specific parts of the compiled search SQL (see the module docstring).

    ``field`` names given to :attr:`json_text` are fixed by the compiler, never user text.
    """

    name: str
    json_text: Callable[[str, str], str]
    like_escape: str = ""


DUCKDB = SearchDialect("duckdb", _duckdb_json_text)
POSTGRES = SearchDialect("postgresql", _postgres_json_text, like_escape=" ESCAPE ''")
