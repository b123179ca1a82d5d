"""Parser of the run search language: every construct, every error, and the public surface."""

from __future__ import annotations

import math

import pytest

import jupyter_mltrack.store.search as search
from jupyter_mltrack.errors import InvalidFilter, InvalidParameter
from jupyter_mltrack.store.search import (
    And,
    Comparison,
    Field,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)

ACC = Field("metric", "acc")
LR = Field("param", "lr")
TEAM = Field("tag", "team")
STATUS = Field("attribute", "status")


def gt(field: Field, value: float) -> Comparison:
    return Comparison(field, ">", value)


def test_public_names_are_exported() -> None:
    assert sorted(search.__all__) == sorted(set(search.__all__))
    for name in search.__all__:
        assert hasattr(search, name), name


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_filter_means_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("metrics.acc > 0.9", gt(ACC, 0.9)),
        ("metric.acc > 0.9", gt(ACC, 0.9)),
        ("METRICS.acc>0.9", gt(ACC, 0.9)),
        ("params.lr = '0.01'", Comparison(LR, "=", "0.01")),
        ("param.lr = \"0.01\"", Comparison(LR, "=", "0.01")),
        ("parameters.lr != '0.01'", Comparison(LR, "!=", "0.01")),
        ("params.lr <> '0.01'", Comparison(LR, "!=", "0.01")),
        ("tags.team <= 'b'", Comparison(TEAM, "<=", "b")),
        ("tag.team >= 'b'", Comparison(TEAM, ">=", "b")),
        ("tags.team < 'b'", Comparison(TEAM, "<", "b")),
        ("status = 'FINISHED'", Comparison(STATUS, "=", "FINISHED")),
        ("attributes.status = 'X'", Comparison(STATUS, "=", "X")),
        ("attribute.status = 'X'", Comparison(STATUS, "=", "X")),
        ("attr.status = 'X'", Comparison(STATUS, "=", "X")),
        ("run.status = 'X'", Comparison(STATUS, "=", "X")),
        ("Status = 'X'", Comparison(STATUS, "=", "X")),
        ("created > 5", Comparison(Field("attribute", "start_time"), ">", 5)),
        ("attributes.Created > 5", Comparison(Field("attribute", "start_time"), ">", 5)),
        ("start_time >= 17e11", Comparison(Field("attribute", "start_time"), ">=", 1.7e12)),
        ("end_time_ms < 2", Comparison(Field("attribute", "end_time"), "<", 2)),
        ("run_name = 'a'", Comparison(Field("attribute", "run_name"), "=", "a")),
        ("experiment_id = '3'", Comparison(Field("attribute", "experiment_id"), "=", "3")),
        ("lifecycle_stage = 'x'", Comparison(Field("attribute", "lifecycle_stage"), "=", "x")),
        ("datasets.name = 'mnist'", Comparison(Field("dataset", "name"), "=", "mnist")),
        ("dataset.digest = 'ab'", Comparison(Field("dataset", "digest"), "=", "ab")),
        ("datasets.Context = 'train'", Comparison(Field("dataset", "context"), "=", "train")),
    ],
)  # fmt: skip
def test_comparisons(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    "text, key",
    [
        ("metrics.`f1 score` > 0", "f1 score"),
        ('metrics."f1 score" > 0', "f1 score"),
        ("metrics.'f1 score' > 0", "f1 score"),
        ("metrics.`train/loss` > 0", "train/loss"),
        ("metrics.`val-loss.best` > 0", "val-loss.best"),
        ("metrics.`a``b` > 0", "a`b"),
        ("metrics.train.loss > 0", "train.loss"),
        ("metrics.1st > 0", "1st"),
        ("metrics.and > 0", "and"),
    ],
)
def test_quoted_and_dotted_keys(text: str, key: str) -> None:
    assert parse_filter(text) == gt(Field("metric", key), 0)


def test_mlflow_run_name_tag_is_a_normal_tag() -> None:
    assert parse_filter("tags.mlflow.runName = 'x'") == Comparison(
        Field("tag", "mlflow.runName"), "=", "x"
    )


@pytest.mark.parametrize(
    "literal, value",
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\\nb\\tc\\\\d'", "a\nb\tc\\d"),
        ("'keep \\d'", "keep \\d"),
        ("'%_'", "%_"),
        ("''", ""),
        ("'''); DROP TABLE store.runs; --'", "'); DROP TABLE store.runs; --"),
        ("'ünïcødé ☃'", "ünïcødé ☃"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert parse_filter(f"params.lr = {literal}") == Comparison(LR, "=", value)


@pytest.mark.parametrize(
    "literal, value",
    [
        ("0", 0),
        ("-3", -3),
        ("+3", 3),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("-1.5e-3", -1.5e-3),
        ("2E10", 2e10),
        ("inf", math.inf),
        ("-Infinity", -math.inf),
        ("1e999", math.inf),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ],
)
def test_number_literals(literal: str, value: float) -> None:
    node = parse_filter(f"metrics.acc = {literal}")
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


def test_nan_literal() -> None:
    node = parse_filter("metrics.loss = NaN")
    assert isinstance(node, Comparison) and isinstance(node.value, float)
    assert math.isnan(node.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("params.lr LIKE '0.%'", Like(LR, "0.%")),
        ("params.lr like '0.%'", Like(LR, "0.%")),
        ("params.lr ILIKE '0.%'", Like(LR, "0.%", case_sensitive=False)),
        ("params.lr NOT LIKE '0.%'", Like(LR, "0.%", negated=True)),
        ("params.lr not ilike '0.%'", Like(LR, "0.%", case_sensitive=False, negated=True)),
        ("params.lr IN ('a')", InList(LR, ("a",))),
        ("params.lr in ('a', \"b\",'c')", InList(LR, ("a", "b", "c"))),
        ("params.lr NOT IN ('a', 'b')", InList(LR, ("a", "b"), negated=True)),
        ("run_id IN ('r1', 'r2')", InList(Field("attribute", "run_id"), ("r1", "r2"))),
        ("datasets.context IN ('train')", InList(Field("dataset", "context"), ("train",))),
        ("params.lr IS NULL", IsNull(LR)),
        ("metrics.acc is not null", IsNull(ACC, negated=True)),
        ("parent_run_id IS NULL", IsNull(Field("attribute", "parent_run_id"))),
        ("end_time IS NOT NULL", IsNull(Field("attribute", "end_time"), negated=True)),
    ],
)
def test_like_in_and_null(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


def test_and_or_precedence_and_parentheses() -> None:
    a, b, c = gt(ACC, 1), gt(ACC, 2), gt(ACC, 3)
    text_a, text_b, text_c = "metrics.acc > 1", "metrics.acc > 2", "metrics.acc > 3"
    assert parse_filter(f"{text_a} or {text_b} and {text_c}") == Or((a, And((b, c))))
    assert parse_filter(f"({text_a} OR {text_b}) AND {text_c}") == And((Or((a, b)), c))
    assert parse_filter(f"{text_a} AND {text_b} AND {text_c}") == And((a, b, c))
    assert parse_filter(f"(({text_a}))") == a


def test_not_binds_tighter_than_and() -> None:
    a, b = gt(ACC, 1), gt(ACC, 2)
    assert parse_filter("NOT metrics.acc > 1 AND metrics.acc > 2") == And((Not(a), b))
    assert parse_filter("not (metrics.acc > 1 or metrics.acc > 2)") == Not(Or((a, b)))
    assert parse_filter("NOT NOT metrics.acc > 1") == Not(Not(a))


def test_whitespace_and_newlines_are_ignored() -> None:
    assert parse_filter("\n metrics.acc\t>\n0.9 ") == gt(ACC, 0.9)


def test_ast_is_frozen_and_hashable() -> None:
    node = parse_filter("metrics.acc > 1 and params.lr in ('a')")
    assert hash(node) == hash(parse_filter("metrics.acc > 1 AND params.lr IN ('a')"))
    with pytest.raises(AttributeError):
        node.items = ()  # type: ignore[union-attr, misc]


def test_field_numeric() -> None:
    assert ACC.numeric and Field("attribute", "start_time").numeric
    assert not LR.numeric and not STATUS.numeric and not Field("dataset", "name").numeric


ERRORS = [
    # (filter, position, words the message must contain)
    ("metrics.acc 0.9", 12, "Expected an operator"),
    ("metrics.acc", 11, "Expected an operator"),
    ("metrics.acc >", 13, "Expected a number"),
    ("metrics.acc > 'x'", 14, "numeric, so compare it with a number"),
    ("metrics.acc > '0.9'", 14, "metrics.acc > 0.9"),
    ("metrics.acc LIKE 'x'", 12, "LIKE applies to strings"),
    ("metrics.acc NOT IN ('x')", 16, "IN applies to strings"),
    ("start_time > '2024'", 13, "numeric"),
    ("params.lr = 0.01", 12, "quote the value: params.lr = '0.01'"),
    ("params.lr IN (1)", 14, "quote the value"),
    ("params.lr LIKE 5", 15, "quote the value"),
    ("params.lr = `x`", 12, "Backticks quote keys"),
    ("params.lr = 'abc", 12, "Unterminated single quote"),
    ('params.lr = "abc', 12, "Unterminated double quote"),
    ("params.`abc = 'x'", 7, "Unterminated backtick"),
    ("params. = 'x'", 7, "Expected a key after 'params.'"),
    ("params.`` = 'x'", 7, "key after 'params.' is empty"),
    ("params.lr IN ()", 14, "IN needs at least one value"),
    ("params.lr IN 'a'", 13, "Expected '('"),
    ("params.lr IN ('a' 'b')", 18, "Expected ',' or ')'"),
    ("params.lr IN ('a',)", 18, "Expected a quoted string"),
    ("params.lr NOT = 'a'", 14, "Expected LIKE, ILIKE or IN"),
    ("params.lr IS 'a'", 13, "Expected NULL"),
    ("params.lr IS NOT", 16, "Expected NULL"),
    ("metrics.acc > 1 metrics.b > 2", 16, "Expected AND, OR or the end"),
    ("metrics.acc > 1 AND", 19, "Expected a field"),
    ("metrics.acc > 1 OR OR metrics.b > 1", 19, "Expected a field"),
    ("(metrics.acc > 1", 16, "Expected ')' to close the '(' at position 0"),
    ("metrics.acc > 1)", 15, "Unexpected ')'"),
    ("()", 1, "Expected a field"),
    ("foo = 'x'", 0, "Unknown field 'foo'"),
    ("metrics = 1", 7, "Expected '.' and a key after 'metrics'"),
    ("colour.red = 'x'", 0, "Unknown field prefix 'colour'"),
    ("attributes.colour = 'x'", 11, "Unknown attribute 'colour'"),
    ("datasets.size = 'x'", 9, "Unknown dataset field 'size'"),
    ("0.9 < metrics.acc", 0, "Expected a field"),
    ("'x' = params.lr", 0, "Expected a field"),
    ("metrics.acc > 1; DROP TABLE store.runs", 15, "Unexpected character ';'"),
    ("metrics.acc == 1", 13, "Expected a number"),
    ("metrics.acc ! 1", 12, "Unexpected character '!'"),
    ("params.lr = 'a' AND \ud800", 20, "not valid Unicode"),
    ("NOT", 3, "Expected a field"),
    ("metrics.train/loss > 1", 13, "Unexpected character '/'"),
    ("metrics.f1 score > 1", 11, "Expected an operator"),
]


@pytest.mark.parametrize("text, position, words", ERRORS)
def test_errors_point_at_the_offending_position(text: str, position: int, words: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, InvalidParameter)
    assert err.details["position"] == position, err.message
    assert words in err.message
    assert f"at position {position}:" in err.message
    lines = err.message.splitlines()
    # The last two lines are the filter and a caret under the offending character.
    assert lines[-1].index("^") - 2 == position
    assert lines[-2][2:] == " ".join(text.split(" ")).replace("\n", " ")


def test_a_filter_that_is_not_a_string_is_an_invalid_filter() -> None:
    with pytest.raises(InvalidFilter, match="must be a string, not int"):
        parse_filter(5)  # type: ignore[arg-type]


def test_error_message_example_from_the_brief() -> None:
    with pytest.raises(InvalidFilter, match=r"after 'metrics.acc'.* at position 12:"):
        parse_filter("metrics.acc 0.9")


def test_error_on_long_filter_shows_a_window_around_the_caret() -> None:
    text = "metrics.a > 1 AND " * 20 + "metrics.b >> 1"
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    position = info.value.details["position"]
    assert position == len(text) - 3
    filter_line, caret_line = info.value.message.splitlines()[-2:]
    assert filter_line.startswith("  ...") and len(filter_line) < 100
    assert filter_line[caret_line.index("^")] == ">"


def test_long_source_text_is_clipped_in_the_message() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(f"params.`{'k' * 500}` = 1")
    first_line = info.value.message.splitlines()[0]
    assert "kkk..." in first_line and len(first_line) < 200


def test_nesting_depth_is_limited() -> None:
    with pytest.raises(InvalidFilter, match="more than 50 levels deep"):
        parse_filter("(" * 500 + "metrics.a > 1" + ")" * 500)
    with pytest.raises(InvalidFilter, match="more than 50 levels deep"):
        parse_filter("NOT " * 500 + "metrics.a > 1")
    assert parse_filter("(" * 40 + "metrics.a > 1" + ")" * 40) == gt(Field("metric", "a"), 1)


def test_long_flat_filters_do_not_recurse() -> None:
    text = " OR ".join(f"metrics.m{i} > {i}" for i in range(3000))
    node = parse_filter(text)
    assert isinstance(node, Or) and len(node.items) == 3000


def test_invalid_filter_round_trips_through_the_error_json() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter("metrics.acc 0.9")
    again = InvalidFilter.from_dict(info.value.to_dict())
    assert type(again) is InvalidFilter and again.details == {"position": 12}


# ------------------------------------------------------------------------------- order by


@pytest.mark.parametrize(
    "item, expected",
    [
        ("metrics.acc", OrderKey(ACC)),
        ("metrics.acc DESC", OrderKey(ACC, ascending=False)),
        ("metrics.acc asc", OrderKey(ACC)),
        ("  metrics.`f1 score`   desc ", OrderKey(Field("metric", "f1 score"), ascending=False)),
        ("params.lr", OrderKey(LR)),
        ("tags.team DESC", OrderKey(TEAM, ascending=False)),
        ("start_time ASC", OrderKey(Field("attribute", "start_time"))),
        ("attributes.run_name", OrderKey(Field("attribute", "run_name"))),
        ("attribute.created DESC", OrderKey(Field("attribute", "start_time"), ascending=False)),
    ],
)
def test_order_by(item: str, expected: OrderKey) -> None:
    assert parse_order_by([item]) == [expected]


def test_order_by_many_and_empty() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []
    assert parse_order_by("metrics.acc DESC") == [OrderKey(ACC, ascending=False)]
    assert parse_order_by(["metrics.acc DESC", "params.lr"]) == [
        OrderKey(ACC, ascending=False),
        OrderKey(LR),
    ]


@pytest.mark.parametrize(
    "items, index, position, words",
    [
        (["metrics.acc DESCX"], 0, 12, "Expected ASC, DESC or the end"),
        (["metrics.acc", "params.lr DESC DESC"], 1, 15, "in order_by item 1"),
        (["datasets.name"], 0, 0, "cannot be ordered by 'datasets.name'"),
        (["foo"], 0, 0, "Unknown field 'foo'"),
        (["metrics.acc > 1"], 0, 12, "Expected ASC, DESC"),
        ([""], 0, 0, "order_by item 0"),
        (["  "], 0, 0, "order_by item 0"),
        (["metrics.`x"], 0, 8, "Unterminated backtick"),
        (["DESC"], 0, 0, "Expected a field"),
    ],
)
def test_order_by_errors(items: list[str], index: int, position: int, words: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_order_by(items)
    assert words in info.value.message
    assert info.value.details == {"position": position, "index": index}


def test_order_by_rejects_non_strings() -> None:
    with pytest.raises(InvalidFilter, match="order_by item 0"):
        parse_order_by([None])  # type: ignore[list-item]
