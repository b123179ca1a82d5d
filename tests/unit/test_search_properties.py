"""Property tests of the search language: parsing fails only with InvalidFilter, whatever parses
runs on a real DuckDB store, and no key or literal from the filter ever reaches the SQL text."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jupyter_mltrack.errors import InvalidFilter
from jupyter_mltrack.store.duckdb.migrations import migrate
from jupyter_mltrack.store.search import (
    And,
    Comparison,
    Field,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    compile_filter,
    compile_order_by,
    parse_filter,
    parse_order_by,
)

FAST = settings(max_examples=100, deadline=None)
#: Never part of a compiled SQL template, so finding it in SQL text means user text leaked.
MARK = "☃"
NASTY = [
    "'); DROP TABLE store.runs; --",
    '"); DROP TABLE store.runs; --',
    "`); DROP TABLE store.runs; --",
    "; DELETE FROM store.params",
    "' OR '1'='1",
    "\\",
    "\\'",
    "'",
    '"',
    "`",
    "?",
    "$1",
    "%s",
    "{}",
    "\x00",
    "\n",
    "%",
    "_",
    "",
]
ATTRS = ["run_id", "run_name", "status", "start_time", "end_time", "user_id", "artifact_uri",
         "experiment_id", "parent_run_id", "lifecycle_stage", "created", "Created"]  # fmt: skip
PREFIXES = ["metrics", "metric", "params", "param", "tags", "tag", "attributes", "attr", "run",
            "datasets", "dataset", "colour"]  # fmt: skip
OPS = ["=", "!=", "<", "<=", ">", ">=", "<>", "==", "!", "LIKE", "ilike", "NOT LIKE", "NOT ILIKE",
       "IN", "not in", "IS NULL", "is not null", "IS", "NOT", ""]  # fmt: skip


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path_factory.mktemp("props") / "s.duckdb"))
    migrate(connection)
    for i in range(3):
        connection.execute(
            "INSERT INTO store.runs VALUES (?, '1', ?, 'FINISHED', ?, NULL, 'u', 'active', "
            "'file:///a', NULL, NULL)",
            [f"r{i}", f"run {i}", 1000 * i],
        )
        connection.execute("INSERT INTO store.params VALUES (?, 'lr', '0.1')", [f"r{i}"])
        connection.execute("INSERT INTO store.tags VALUES (?, 't', 'x')", [f"r{i}"])
        connection.execute(
            "INSERT INTO store.latest_metrics VALUES (?, 'acc', ?, 0, 0)", [f"r{i}", i / 3]
        )
    connection.execute(
        "INSERT INTO store.datasets VALUES ('d', '1', 'n', 'g', 's', 's', NULL, NULL)"
    )
    connection.execute(
        """INSERT INTO store.run_inputs VALUES ('r1', 'd', '{"mlflow.data.context": "t"}')"""
    )
    yield connection
    connection.close()


def execute(con: duckdb.DuckDBPyConnection, node: Node | None, order: list[Any]) -> list[Any]:
    where, wp = compile_filter(node)
    by, op = compile_order_by(order)
    assert where.count("?") == len(wp) and by.count("?") == len(op)
    sql = f"SELECT r.run_id FROM store.runs r WHERE {where} ORDER BY {by}"
    return con.execute(sql, wp + op).fetchall()


def quote(text: str, q: str) -> str:
    """``text`` as a literal of the filter language quoted with ``q``."""
    return q + text.replace("\\", "\\\\").replace(q, q + q) + q


# -------------------------------------------------------------------------------- strategies

chars = st.characters(exclude_categories=["Cs"])
raw_text = st.one_of(st.sampled_from(NASTY), st.text(chars, max_size=12))
marked_text = st.builds(lambda a, b: a + MARK + b, raw_text, raw_text)


def string_literal(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(quote, texts, st.sampled_from(["'", '"']))


numbers = st.one_of(
    st.floats().map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["NaN", "-inf", "Infinity", "1e999", ".5", "5.", "+3", "-0", "1e-400"]),
)
bare_keys = st.from_regex(r"[A-Za-z0-9_]{1,6}(\.[A-Za-z0-9_]{1,4})?", fullmatch=True)
any_keys = st.one_of(bare_keys, st.builds(quote, raw_text, st.sampled_from(["`", '"', "'"])))


@st.composite
def valid_predicate(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """A valid predicate whose user-chosen keys and string literals are drawn from ``texts``."""
    kind = draw(st.sampled_from(["metric", "string", "attribute", "dataset", "null"]))
    if kind == "metric":
        key = quote(draw(texts), draw(st.sampled_from(["`", '"'])))
        return f"metrics.{key} {draw(st.sampled_from(OPS[:7]))} {draw(numbers)}"
    if kind == "null":
        prefix = draw(st.sampled_from(["metrics", "params", "tags"]))
        return f"{prefix}.{quote(draw(texts), '`')} IS {draw(st.sampled_from(['', 'NOT']))} NULL"
    if kind == "string":
        field = f"{draw(st.sampled_from(['params', 'tags']))}.{quote(draw(texts), '`')}"
    elif kind == "attribute":
        field = draw(st.sampled_from(ATTRS[:3] + ATTRS[5:10]))
    else:
        field = f"datasets.{draw(st.sampled_from(['name', 'digest', 'context']))}"
    op = draw(st.sampled_from([*OPS[:7], "LIKE", "ILIKE", "NOT LIKE", "IN", "NOT IN"]))
    if "IN" in op.split():
        values = draw(st.lists(string_literal(texts), min_size=1, max_size=3))
        return f"{field} {op} ({', '.join(values)})"
    return f"{field} {op} {draw(string_literal(texts))}"


@st.composite
def broken_predicate(draw: st.DrawFn) -> str:
    """A predicate with a random field, operator and value: usually wrong in a realistic way."""
    field = draw(
        st.one_of(
            st.builds(lambda p, k: f"{p}.{k}", st.sampled_from(PREFIXES), any_keys),
            st.sampled_from(ATTRS),
            st.sampled_from(["datasets.name", "datasets.context", "foo", "AND", "(", "'x'"]),
        )
    )
    op = draw(st.sampled_from(OPS))
    value = draw(
        st.one_of(
            numbers,
            string_literal(raw_text),
            st.lists(string_literal(raw_text), max_size=3).map(lambda v: f"({', '.join(v)})"),
            st.sampled_from(["", "NULL", "`x`", "'unterminated", "(", ")", ";", "metrics.acc"]),
        )
    )
    return f"{field} {op} {value}"


@st.composite
def near_valid_predicate(draw: st.DrawFn) -> str:
    """Valid four times in five, else one broken predicate."""
    if draw(st.integers(0, 4)):
        return draw(valid_predicate(raw_text))
    return draw(broken_predicate())


@st.composite
def combine(draw: st.DrawFn, inner: st.SearchStrategy[str], broken: bool) -> str:
    """Join filters with AND/OR/NOT/parentheses; with ``broken``, sometimes mis-join them."""
    shape = draw(st.integers(0, 9 if broken else 3))
    if shape == 0:
        return f"NOT {draw(inner)}"
    if shape == 1:
        return f"({draw(inner)})"
    joiner = draw(st.sampled_from(["AND", "OR", "and", "or", "", "AND OR", "NOT", ",", "("]))
    if shape < 8 or not broken:
        joiner = joiner if joiner.lower() in ("and", "or") else "AND"
    text = f"{draw(inner)} {joiner} {draw(inner)}"
    return f"({text}" if shape == 9 else text


near_valid_filters = st.recursive(
    near_valid_predicate(), lambda inner: combine(inner, broken=True), max_leaves=6
)
valid_filters = st.recursive(
    valid_predicate(marked_text), lambda inner: combine(inner, broken=False), max_leaves=5
)

order_items = st.one_of(
    st.text(chars, max_size=20),
    st.builds(
        lambda p, k, d: f"{p}.{k} {d}",
        st.sampled_from(PREFIXES),
        any_keys,
        st.sampled_from(["", "ASC", "desc", "DESCX", "ASC ASC", ", x"]),
    ),
    st.sampled_from(ATTRS),
)


def blank(node: Node) -> Node:
    """``node`` with every user-chosen key and literal replaced by a fixed placeholder."""
    if isinstance(node, And | Or):
        return type(node)(tuple(blank(item) for item in node.items))
    if isinstance(node, Not):
        return Not(blank(node.operand))
    field = node.field
    if field.entity in ("metric", "param", "tag"):
        field = Field(field.entity, "k")
    if isinstance(node, Comparison):
        return Comparison(field, node.op, 0.0 if field.numeric else "v")
    if isinstance(node, Like):
        return dataclasses.replace(node, field=field, pattern="v")
    if isinstance(node, InList):
        return dataclasses.replace(node, field=field, values=("v",) * len(node.values))
    assert isinstance(node, IsNull)
    return dataclasses.replace(node, field=field)


# ------------------------------------------------------------------------------- properties


def parse_or_none(text: str) -> Node | None:
    """Parse ``text``; on InvalidFilter check the error's position and return None."""
    try:
        return parse_filter(text)
    except InvalidFilter as exc:
        error = exc
    position = error.details["position"]
    assert isinstance(position, int) and 0 <= position <= len(text)
    assert f"at position {position}:" in error.message
    return None


@FAST
@given(text=st.text(chars, max_size=60))
def test_random_text_fails_only_with_invalid_filter(
    con: duckdb.DuckDBPyConnection, text: str
) -> None:
    node = parse_or_none(text)
    if node is not None:
        execute(con, node, [])


@FAST
@given(text=near_valid_filters)
def test_near_valid_filters_parse_or_fail_cleanly_and_run(
    con: duckdb.DuckDBPyConnection, text: str
) -> None:
    node = parse_or_none(text)
    if node is not None:
        execute(con, node, [])


@FAST
@given(items=st.lists(order_items, max_size=3))
def test_order_by_parses_or_fails_cleanly_and_runs(
    con: duckdb.DuckDBPyConnection, items: list[str]
) -> None:
    try:
        keys = parse_order_by(items)
    except InvalidFilter as exc:
        error = exc
    else:
        execute(con, None, keys)
        return
    assert error.details["position"] >= 0 and 0 <= error.details["index"] < len(items)


@FAST
@given(text=valid_filters, order=st.lists(st.builds(quote, marked_text, st.just("`")), max_size=2))
def test_keys_and_literals_only_reach_sql_as_parameters(
    con: duckdb.DuckDBPyConnection, text: str, order: list[str]
) -> None:
    node = parse_filter(text)
    assert node is not None
    keys = parse_order_by([f"params.{key} DESC" for key in order])
    where, params = compile_filter(node)
    by, order_params = compile_order_by(keys)
    assert MARK not in where and MARK not in by
    # The SQL depends only on the shape of the filter, never on the user's keys or values.
    assert where == compile_filter(blank(node))[0]
    assert any(MARK in str(p) for p in params)
    assert sum(MARK in str(p) for p in order_params) == len(order)
    execute(con, node, keys)


@FAST
@given(key=raw_text, value=raw_text, q=st.sampled_from(["'", '"']))
def test_quoted_keys_and_values_round_trip(key: str, value: str, q: str) -> None:
    assume(key != "")
    node = parse_filter(f"params.{quote(key, '`')} = {quote(value, q)}")
    assert node == Comparison(Field("param", key), "=", value)
