"""Parser of the run search language into an AST of frozen dataclasses.

Grammar (keywords are case-insensitive; ``NOT`` binds tighter than ``AND``, which binds
tighter than ``OR``)::

    filter     := or_expr EOF
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | predicate
    predicate  := field ( CMP value
                        | ["NOT"] ("LIKE" | "ILIKE") string
                        | ["NOT"] "IN" "(" string ("," string)* ")"
                        | "IS" ["NOT"] "NULL" )
    order_item := field ["ASC" | "DESC"]

Every type rule is checked here, so a parsed tree always compiles: metrics and the numeric
attributes (``start_time``, ``end_time``) compare with numbers only; everything else holds
strings and compares with quoted strings only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, cast

from ._ast import (
    ATTRIBUTES,
    DATASET_FIELDS,
    And,
    CompareOp,
    Comparison,
    Entity,
    Field,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    OrderKey,
)
from ._lexer import Token, filter_error, tokenize

__all__ = ["MAX_DEPTH", "parse_filter", "parse_order_by"]

_ATTRIBUTE_ALIASES = {
    "created": "start_time",
    "start_time_ms": "start_time",
    "end_time_ms": "end_time",
}
_PREFIXES: dict[str, Entity] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "datasets": "dataset",
    "dataset": "dataset",
}
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"})
_OPERATOR_HINT = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL"
#: Parentheses and NOT may nest this deep; deeper filters are refused, not recursed into.
MAX_DEPTH = 50


def _clip(text: str, limit: int = 40) -> str:
    """Source text quoted in a message, shortened (the caret picture shows the rest)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(tok: Token) -> str:
    if tok.kind == "EOF":
        return "the end of the text"
    if tok.kind == "STRING":
        return f"the string {_clip(tok.text)}"
    if tok.kind == "NUMBER":
        return f"the number {_clip(tok.text)}"
    return f"'{_clip(tok.text)}'"


def _number(text: str) -> int | float:
    """An int when the literal is integral and fits in 64 bits, else a float (inf on overflow)."""
    digits = text.lstrip("+-")
    if digits.isdigit() and len(digits) <= 18:
        return int(text)
    return float(text)


class _Parser:
    """Recursive descent over one token list; ``where`` is appended to every error message."""

    def __init__(self, text: str, where: str = "", **details: object) -> None:
        self.text = text
        self.where = where
        self.details = details
        self.tokens = tokenize(text, where, **details)
        self.i = 0

    def fail(self, pos: int, message: str) -> NoReturn:
        raise filter_error(self.text, pos, message + self.where, **self.details)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        """Consume the next token if it is one of the (lower-case) keywords ``words``."""
        tok = self.peek()
        if tok.kind == "WORD" and tok.value.lower() in words:
            self.i += 1
            return True
        return False

    def filter(self) -> Node:
        node = self.or_expr(0)
        tok = self.peek()
        if tok.kind == "RPAREN":
            self.fail(tok.pos, "Unexpected ')' without a matching '('")
        if tok.kind != "EOF":
            prev = self.tokens[self.i - 1]
            self.fail(
                tok.pos,
                f"Expected AND, OR or the end of the filter after "
                f"'{_clip(prev.text)}', found {_describe(tok)}",
            )
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.word("or"):
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.not_expr(depth)]
        while self.word("and"):
            items.append(self.not_expr(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self, depth: int) -> Node:
        tok = self.peek()
        if depth >= MAX_DEPTH and (tok.kind == "LPAREN" or self._is_word(tok, "not")):
            self.fail(
                tok.pos,
                f"The filter nests parentheses or NOT more than {MAX_DEPTH} "
                "levels deep; simplify it",
            )
        if self.word("not"):
            return Not(self.not_expr(depth + 1))
        if tok.kind == "LPAREN":
            self.take()
            node = self.or_expr(depth + 1)
            close = self.take()
            if close.kind != "RPAREN":
                self.fail(
                    close.pos,
                    f"Expected ')' to close the '(' at position {tok.pos}, "
                    f"found {_describe(close)}",
                )
            return node
        return self.predicate()

    @staticmethod
    def _is_word(tok: Token, word: str) -> bool:
        return tok.kind == "WORD" and tok.value.lower() == word

    def field(self) -> tuple[Field, Token]:
        """Read one field reference; return it with its token (for messages)."""
        tok = self.take()
        if tok.kind == "FIELD":
            entity = _PREFIXES.get(tok.value.lower())
            key_pos = tok.pos + len(tok.value) + 1
            if entity is None:
                self.fail(
                    tok.pos,
                    f"Unknown field prefix '{tok.value}'; expected metrics., "
                    "params., tags., attributes. or datasets.",
                )
            assert tok.key is not None
            if not tok.key:
                self.fail(key_pos, f"The key after '{tok.value}.' is empty")
            if entity == "attribute":
                return Field("attribute", self.attribute(tok.key, key_pos)), tok
            if entity == "dataset":
                if tok.key.lower() not in DATASET_FIELDS:
                    self.fail(
                        key_pos,
                        f"Unknown dataset field '{_clip(tok.key)}'; expected one of "
                        f"{', '.join(DATASET_FIELDS)}",
                    )
                return Field("dataset", tok.key.lower()), tok
            return Field(entity, tok.key), tok
        if tok.kind == "WORD":
            lower = tok.value.lower()
            if lower in ATTRIBUTES or lower in _ATTRIBUTE_ALIASES:
                return Field("attribute", self.attribute(tok.value, tok.pos)), tok
            if lower in _PREFIXES:
                self.fail(
                    tok.pos + len(tok.value),
                    f"Expected '.' and a key after '{tok.value}', e.g. metrics.acc",
                )
            if lower not in _KEYWORDS:
                self.fail(
                    tok.pos,
                    f"Unknown field '{tok.value}'; expected metrics.<key>, "
                    "params.<key>, tags.<key>, datasets.<name|digest|context> "
                    f"or an attribute ({', '.join(ATTRIBUTES)})",
                )
        self.fail(
            tok.pos,
            f"Expected a field such as metrics.acc, params.lr or status, found {_describe(tok)}",
        )

    def attribute(self, name: str, pos: int) -> str:
        lower = name.lower()
        canonical = _ATTRIBUTE_ALIASES.get(lower, lower)
        if canonical not in ATTRIBUTES:
            self.fail(
                pos, f"Unknown attribute '{_clip(name)}'; expected one of {', '.join(ATTRIBUTES)}"
            )
        return canonical

    def predicate(self) -> Node:
        field, ftok = self.field()
        tok = self.peek()
        if tok.kind == "OP":
            self.take()
            return Comparison(field, cast(CompareOp, tok.value), self.value(field, ftok, tok))
        negated = self.word("not")
        if self.word("like", "ilike"):
            case_sensitive = self.tokens[self.i - 1].value.lower() == "like"
            self.string_only(field, ftok, self.tokens[self.i - 1])
            pattern = self.value(field, ftok, self.tokens[self.i - 1])
            return Like(field, str(pattern), case_sensitive, negated)
        if self.word("in"):
            self.string_only(field, ftok, self.tokens[self.i - 1])
            return InList(field, self.in_values(field, ftok), negated)
        if negated:
            self.fail(
                self.peek().pos,
                f"Expected LIKE, ILIKE or IN after '{_clip(ftok.text)} NOT', "
                f"found {_describe(self.peek())}",
            )
        if self.word("is"):
            negated = self.word("not")
            if not self.word("null"):
                self.fail(
                    self.peek().pos,
                    f"Expected NULL after '{_clip(ftok.text)} IS', found {_describe(self.peek())}",
                )
            return IsNull(field, negated)
        self.fail(
            tok.pos,
            f"Expected an operator ({_OPERATOR_HINT}) after '{_clip(ftok.text)}', "
            f"found {_describe(tok)}",
        )

    def string_only(self, field: Field, ftok: Token, op: Token) -> None:
        if field.numeric:
            self.fail(
                op.pos,
                f"{op.value.upper()} applies to strings, but '{_clip(ftok.text)}' is "
                "numeric; use =, !=, <, <=, >, >= or IS [NOT] NULL",
            )

    def value(self, field: Field, ftok: Token, op: Token) -> int | float | str:
        """Read the literal after ``op``, checking it against the field's type."""
        tok = self.take()
        shown = f"'{_clip(ftok.text)} {op.value.upper()}'"
        if tok.kind == "STRING" and tok.quote == "`":
            self.fail(
                tok.pos,
                "Backticks quote keys, not values; quote the value with single or double quotes",
            )
        if field.numeric:
            if tok.kind == "NUMBER":
                return _number(tok.value)
            if tok.kind == "STRING":
                hint = _clip(tok.value) if _looks_numeric(tok.value) else "0.5"
                self.fail(
                    tok.pos,
                    f"'{_clip(ftok.text)}' is numeric, so compare it with a number, "
                    f"not the string {_clip(tok.text)}; e.g. {_clip(ftok.text)} {op.value} "
                    f"{hint}",
                )
        else:
            if tok.kind == "STRING":
                return tok.value
            if tok.kind == "NUMBER":
                self.fail(
                    tok.pos,
                    f"'{_clip(ftok.text)}' holds strings, so quote the value: "
                    f"{_clip(ftok.text)} {op.value.upper()} '{_clip(tok.text)}'",
                )
        kind = "number" if field.numeric else "quoted string"
        self.fail(tok.pos, f"Expected a {kind} after {shown}, found {_describe(tok)}")

    def in_values(self, field: Field, ftok: Token) -> tuple[str, ...]:
        in_tok = self.tokens[self.i - 1]
        open_tok = self.take()
        if open_tok.kind != "LPAREN":
            self.fail(
                open_tok.pos,
                f"Expected '(' after '{_clip(ftok.text)} IN', found {_describe(open_tok)}",
            )
        if self.peek().kind == "RPAREN":
            self.fail(self.peek().pos, "IN needs at least one value, e.g. IN ('a', 'b')")
        values = [str(self.value(field, ftok, in_tok))]
        while (sep := self.take()).kind == "COMMA":
            values.append(str(self.value(field, ftok, in_tok)))
        if sep.kind != "RPAREN":
            self.fail(sep.pos, f"Expected ',' or ')' in the IN list, found {_describe(sep)}")
        return tuple(values)

    def order_key(self) -> OrderKey:
        field, ftok = self.field()
        if field.entity == "dataset":
            self.fail(
                ftok.pos,
                f"Runs cannot be ordered by '{_clip(ftok.text)}'; order by an "
                "attribute, metric, param or tag",
            )
        ascending = not self.word("desc")
        if ascending:
            self.word("asc")
        tok = self.peek()
        if tok.kind != "EOF":
            self.fail(
                tok.pos,
                f"Expected ASC, DESC or the end after '{_clip(ftok.text)}', found {_describe(tok)}",
            )
        return OrderKey(field, ascending)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_filter(text: str | None) -> Node | None:
    """Parse a search filter into an AST; ``None`` for an empty or whitespace-only filter.

    Raises:
        InvalidFilter: with ``details['position']`` (0-based) and a caret picture.

    Example::

        parse_filter("metrics.acc > 0.9 and params.lr = '0.01'")
        # And(items=(Comparison(Field('metric', 'acc'), '>', 0.9),
        #            Comparison(Field('param', 'lr'), '=', '0.01')))
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise filter_error("", 0, f"The filter must be a string, not {type(text).__name__}")
    if not text.strip():
        return None
    return _Parser(text).filter()


def parse_order_by(items: Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by strings such as ``"metrics.acc DESC"`` into :class:`OrderKey` values.

    Raises:
        InvalidFilter: with ``details['position']`` within the item and ``details['index']``.

    Example::

        parse_order_by(["metrics.acc DESC", "params.lr"])
        # [OrderKey(Field('metric', 'acc'), ascending=False), OrderKey(Field('param', 'lr'))]
    """
    if isinstance(items, str):  # a lone "metrics.acc DESC" means one item, not its characters
        items = [items]
    keys: list[OrderKey] = []
    for index, item in enumerate(items or ()):
        where = f" in order_by item {index}"
        if not isinstance(item, str) or not item.strip():
            raise filter_error(
                str(item or ""),
                0,
                f"Expected a field such as 'metrics.acc DESC'{where}, found {item!r}",
                index=index,
            )
        keys.append(_Parser(item, where, index=index).order_key())
    return keys
