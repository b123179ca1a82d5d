"""Compile a search AST to a SQL fragment with ``?`` parameters, for DuckDB or PostgreSQL.

The two dialects differ only in what :class:`._dialect.SearchDialect` names (a JSON field
of the dataset input tags, the LIKE escape); the rest of this text is theirs alike.

The SQL text depends only on the shape of the tree: every key (metric, param, tag) and every
literal becomes a bound parameter, and the only names written into the SQL are fixed table
and column names and the caller's run alias. A predicate on a metric, param, tag or dataset
is a semi-join on the run id::

    r.run_id IN (SELECT mt_k.run_id FROM store.latest_metrics mt_k
                 WHERE mt_k.key = ? AND mt_k.value > ?)

Measured on 10,000 runs x 10 params x 5 metrics, this beat the equivalent correlated
``EXISTS (... WHERE mt_k.run_id = r.run_id ...)`` in DuckDB 2.0 by up to 2x once ``OR`` or
``NOT`` is involved, and was as fast for a single predicate.

Semantics worth knowing:

* A comparison on a metric, param or tag is true only when the run has that key, so
  ``params.opt != 'adam'`` skips runs without ``opt`` while ``NOT params.opt = 'adam'``
  includes them. Nullable attributes (``end_time``, ``parent_run_id``) follow the same rule,
  and ``NOT`` is always the exact complement (no SQL ``NULL`` leaks out of a predicate).
* Metric comparisons use DuckDB's DOUBLE semantics: NaN equals NaN and is greater than every
  other value, including ``inf``; so ``metrics.loss > 1e9`` matches runs whose loss is NaN,
  and ``metrics.loss = NaN`` finds them.
* Order by: missing values sort last in both directions (as in MLflow), and for metrics NaN
  sorts after every number and before missing values in both directions (as in MLflow's SQL
  store). A tie-break ``start_time DESC, run_id ASC`` is always appended so paging is stable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._ast import (
    And,
    Comparison,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    OrderKey,
)
from ._dialect import DUCKDB, SearchDialect

__all__ = ["CompiledSearch", "compile_filter", "compile_order_by", "compile_search"]

_ATTRIBUTE_COLUMNS = {
    "run_id": "run_id",
    "run_name": "run_name",
    "status": "status",
    "start_time": "start_time_ms",
    "end_time": "end_time_ms",
    "user_id": "user_id",
    "artifact_uri": "artifact_uri",
    "experiment_id": "experiment_id",
    "parent_run_id": "parent_run_id",
    "lifecycle_stage": "lifecycle_stage",
}
_NULLABLE_COLUMNS = frozenset({"end_time_ms", "parent_run_id"})
_KEY_TABLES = {"metric": "store.latest_metrics", "param": "store.params", "tag": "store.tags"}
#: dataset fields: a column, or the JSON field of the input's tags (``SearchDialect.json_text``)
_DATASET_COLUMNS = {"name": "mt_d.name", "digest": "mt_d.digest"}
_DATASET_JSON_FIELDS = {"context": ("mt_i.tags", "mlflow.data.context")}
_DATASET_FROM = (
    "SELECT mt_i.run_id FROM store.run_inputs mt_i "
    "JOIN store.datasets mt_d ON mt_d.dataset_id = mt_i.dataset_id"
)
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_alias(run_alias: str) -> str:
    # The alias is the one caller-supplied name written into SQL; it must be a plain identifier
    # that cannot collide with the aliases used inside the subqueries.
    if not _ALIAS.fullmatch(run_alias) or run_alias.lower().startswith("mt_"):
        raise ValueError(
            f"run_alias must be a SQL identifier not starting with 'mt_': {run_alias!r}"
        )
    return run_alias


class _Compiler:
    """Accumulates parameters while turning nodes into SQL text."""

    def __init__(self, run_alias: str, dialect: SearchDialect) -> None:
        self.r = _check_alias(run_alias)
        self.dialect = dialect
        self.params: list[object] = []

    def dataset_column(self, key: str) -> str:
        if key in _DATASET_JSON_FIELDS:
            return self.dialect.json_text(*_DATASET_JSON_FIELDS[key])
        return _DATASET_COLUMNS[key]

    def node(self, node: Node) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.node(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.operand)})"
        return self.predicate(node)

    def predicate(self, node: Comparison | Like | InList | IsNull) -> str:
        field = node.field
        if field.entity == "attribute":
            column = f"{self.r}.{_ATTRIBUTE_COLUMNS[field.key]}"
            if isinstance(node, IsNull):
                return f"{column} IS {'NOT ' if node.negated else ''}NULL"
            condition = self.condition(column, node)
            if _ATTRIBUTE_COLUMNS[field.key] in _NULLABLE_COLUMNS:
                return f"COALESCE({condition}, FALSE)"
            return condition
        if field.entity == "dataset":
            column = self.dataset_column(field.key)
            if isinstance(node, IsNull):
                negation = "" if node.negated else "NOT "
                return f"{self.r}.run_id {negation}IN ({_DATASET_FROM} WHERE {column} IS NOT NULL)"
            return f"{self.r}.run_id IN ({_DATASET_FROM} WHERE {self.condition(column, node)})"
        table = _KEY_TABLES[field.entity]
        self.params.append(field.key)
        subquery = f"SELECT mt_k.run_id FROM {table} mt_k WHERE mt_k.key = ?"
        if isinstance(node, IsNull):
            return f"{self.r}.run_id {'' if node.negated else 'NOT '}IN ({subquery})"
        return f"{self.r}.run_id IN ({subquery} AND {self.condition('mt_k.value', node)})"

    def condition(self, column: str, node: Comparison | Like | InList) -> str:
        """The test on one value column; binds the literal(s)."""
        if isinstance(node, Comparison):
            value = node.value
            # latest_metrics.value is DOUBLE: bind a double so NaN/inf compare as doubles.
            self.params.append(float(value) if node.field.entity == "metric" else value)
            return f"{column} {node.op} ?"
        negation = "NOT " if node.negated else ""
        if isinstance(node, Like):
            self.params.append(node.pattern)
            op = "LIKE" if node.case_sensitive else "ILIKE"
            return f"{column} {negation}{op} ?{self.dialect.like_escape}"
        self.params.extend(node.values)
        return f"{column} {negation}IN ({', '.join('?' * len(node.values))})"

    def order_key(
        self, key: OrderKey, joins: list[str] | None = None, carried: Comparison | None = None
    ) -> str:
        """One ORDER BY item; a metric, param or tag is read by a correlated subquery, or,
        given ``joins``, by a LEFT JOIN appended to it (``mt_o0``, ``mt_o1``, ...), or by an
        inner join that also tests ``carried`` (a filter comparison on the same key)."""
        field = key.field
        if field.entity == "attribute":
            expr = f"{self.r}.{_ATTRIBUTE_COLUMNS[field.key]}"
        elif field.entity in _KEY_TABLES:
            self.params.append(field.key)
            table = _KEY_TABLES[field.entity]
            if joins is None:
                expr = (
                    f"(SELECT mt_k.value FROM {table} mt_k "
                    f"WHERE mt_k.run_id = {self.r}.run_id AND mt_k.key = ?)"
                )
            else:  # (run_id, key) is each key table's primary key: one row per run at most
                alias = f"mt_o{len(joins)}"
                expr = f"{alias}.value"
                join = (
                    f"{'LEFT JOIN' if carried is None else 'JOIN'} {table} {alias} "
                    f"ON {alias}.run_id = {self.r}.run_id AND {alias}.key = ?"
                )
                if carried is not None:
                    join += " AND " + self.condition(expr, carried)
                joins.append(join)
        else:
            raise ValueError(f"cannot order runs by {field.entity} fields")
        if field.entity == "metric" and not key.ascending:
            # DuckDB sorts NaN above +inf; negating keeps NaN (-NaN is NaN) after the numbers
            # for DESC too, as MLflow does, with one subquery per key.
            return f"-{expr} ASC NULLS LAST"
        return f"{expr} {'ASC' if key.ascending else 'DESC'} NULLS LAST"


def compile_filter(
    node: Node | None, run_alias: str = "r", dialect: SearchDialect = DUCKDB
) -> tuple[str, list[object]]:
    """Compile a parsed filter to a boolean SQL fragment over ``store.runs`` aliased ``run_alias``.

    Returns ``(sql, params)``: ``sql`` is ``TRUE`` for ``None``; ``params`` fill its ``?``
    placeholders in order; ``dialect`` (``DUCKDB`` or ``POSTGRES``, see ``._dialect``) the
    database it is written for. Raises ``ValueError`` for an alias that is not a plain identifier
    or starts with ``mt_`` (reserved for the subqueries).

    Example::

        compile_filter(parse_filter("metrics.acc > 0.9"))
        # ('r.run_id IN (SELECT mt_k.run_id FROM store.latest_metrics mt_k '
        #  'WHERE mt_k.key = ? AND mt_k.value > ?)', ['acc', 0.9])
    """
    compiler = _Compiler(run_alias, dialect)
    if node is None:
        return "TRUE", []
    return compiler.node(node), compiler.params


def compile_order_by(
    keys: Sequence[OrderKey], run_alias: str = "r", dialect: SearchDialect = DUCKDB
) -> tuple[str, list[object]]:
    """Compile order keys to an ORDER BY list (without the keyword) plus its parameters.

    The list always ends with ``r.start_time_ms DESC, r.run_id ASC`` so equal keys page in a
    stable order. Put the filter's parameters first when both are used in one statement::

        where, wp = compile_filter(parse_filter(text))
        order, op = compile_order_by(parse_order_by(["metrics.acc DESC"]))
        con.execute(f"SELECT r.run_id FROM store.runs r WHERE {where} ORDER BY {order}", wp + op)
    """
    compiler = _Compiler(run_alias, dialect)
    parts = [compiler.order_key(key) for key in keys]
    parts += [f"{compiler.r}.start_time_ms DESC", f"{compiler.r}.run_id ASC"]
    return ", ".join(parts), compiler.params


@dataclass(frozen=True, slots=True)
class CompiledSearch:
    """:func:`compile_search`'s SQL fragments; ``join_params`` fill ``joins``' ``?`` and
    ``where_params`` ``where``'s (``order`` has none)."""

    joins: str
    where: str
    order: str
    join_params: list[object]
    where_params: list[object]


def compile_search(
    node: Node | None,
    keys: Sequence[OrderKey],
    run_alias: str = "r",
    dialect: SearchDialect = DUCKDB,
) -> CompiledSearch:
    """A filter and its order keys compiled together, with each metric, param or tag order
    key read by a join instead of a subquery per run::

        c = compile_search(parse_filter(text), parse_order_by(order_by))
        sql = f"SELECT r.run_id FROM store.runs r {c.joins} WHERE {c.where} ORDER BY {c.order}"
        con.execute(sql, c.join_params + c.where_params)

    An order key is a LEFT JOIN (runs without the key sort last). When a top-level ``AND``
    item of the filter compares that same key (``metrics.m > 0.5`` with
    ``metrics.m DESC``), every match has the key: the join is an inner join carrying the
    comparison, and the item leaves the WHERE. PostgreSQL then reads the top of the
    ``(key, value)`` or ``(key, -value)`` index of ``latest_metrics`` and stops at the
    page (measured: 0.6 against 65 ms for 50,000 matches of 100,000 runs); without it, it
    sorts every match. A correlated subquery would run once per matching run (150 of 200 ms).
    """
    compiler = _Compiler(run_alias, dialect)
    join_params = compiler.params
    items = list(node.items) if isinstance(node, And) else [] if node is None else [node]
    joins: list[str] = []
    parts: list[str] = []
    for key in keys:
        carried = next(
            (
                i
                for i in items
                if isinstance(i, Comparison)
                and i.field == key.field
                and key.field.entity in _KEY_TABLES
            ),
            None,
        )
        if carried is not None:
            items.remove(carried)
        parts.append(compiler.order_key(key, joins, carried))
    parts += [f"{compiler.r}.start_time_ms DESC", f"{compiler.r}.run_id ASC"]
    rest = And(tuple(items)) if len(items) > 1 else items[0] if items else None
    compiler.params = []
    where = "TRUE" if rest is None else compiler.node(rest)
    return CompiledSearch(" ".join(joins), where, ", ".join(parts), join_params, compiler.params)
