"""The registry's filter language: MLflow's ``search_registered_models`` /
``search_model_versions`` / ``search_logged_models`` grammar, compiled to SQL.

A filter is one or more comparisons joined by ``AND`` (as in MLflow)::

    name LIKE '%forest%' AND tags.team = 'vision'
    name = 'churn' AND run_id IN ('a1', 'b2')
    status = 'READY' AND params.alpha = '0.5' AND metrics.acc > 0.9

A comparison is ``field op value``: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``,
``ILIKE`` (``%`` and ``_`` wildcards), ``IN (...)`` and ``NOT IN (...)``. Which fields exist
depends on the search (:data:`REGISTERED_MODEL_FIELDS`, :data:`MODEL_VERSION_FIELDS`,
:data:`LOGGED_MODEL_FIELDS`); text fields take quoted strings, numeric fields numbers.
``tags.<key>`` (and ``params.<key>`` / ``metrics.<key>`` for logged models) compare the
value stored under that key; an entity without the key never matches.

The tokenizer (and its caret error pictures) is the run search language's
(:mod:`.search._lexer`); every error is :class:`~jupyter_mltrack.errors.InvalidFilter`.
User text only reaches the database as bound parameters: the SQL names only fixed
columns and the templates below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidFilter
from .search._lexer import Token, filter_error, tokenize

__all__ = [
    "LOGGED_MODEL_FIELDS",
    "LOGGED_MODEL_ORDER",
    "MODEL_VERSION_FIELDS",
    "MODEL_VERSION_ORDER",
    "REGISTERED_MODEL_FIELDS",
    "REGISTERED_MODEL_ORDER",
    "Cond",
    "SearchSpec",
    "compile_conditions",
    "compile_order",
    "parse_conditions",
    "parse_order",
]

Kind = Literal["text", "number"]
_OPS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What one search may filter and order on.

    ``fields``: bare names -> (SQL column, kind). ``keyed``: prefixes (``tags``) -> (an SQL
    template with ``{pred}`` over the value column ``x.value`` and one ``?`` for the key,
    kind). ``order``: order-by names -> SQL column; ``default_order`` (when none is given) and
    ``tie_break`` (always appended) are ``(order name, ascending)`` pairs.
    """

    what: str
    fields: Mapping[str, tuple[str, Kind]]
    keyed: Mapping[str, tuple[str, Kind]]
    order: Mapping[str, str]
    default_order: tuple[tuple[str, bool], ...]
    tie_break: tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class Cond:
    """One parsed comparison: ``field`` (bare name or ``prefix``), ``key`` for keyed fields."""

    field: str
    key: str | None
    op: str
    value: str | float | tuple[str, ...]


REGISTERED_MODEL_FIELDS = SearchSpec(
    "registered models",
    fields={"name": ("m.name", "text")},
    keyed={
        "tags": (
            "EXISTS (SELECT 1 FROM store.registered_model_tags x "
            "WHERE x.name = m.name AND x.key = ? AND {pred})",
            "text",
        )
    },
    order={
        "name": "m.name",
        "creation_timestamp": "m.creation_timestamp",
        "last_updated_timestamp": "m.last_updated_timestamp",
    },
    default_order=(("name", True),),
    tie_break=(("name", True),),
)
REGISTERED_MODEL_ORDER = REGISTERED_MODEL_FIELDS.order

MODEL_VERSION_FIELDS = SearchSpec(
    "model versions",
    fields={
        "name": ("v.name", "text"),
        "version": ("v.version", "number"),
        "version_number": ("v.version", "number"),
        "run_id": ("v.run_id", "text"),
        "source": ("v.source", "text"),
        "source_path": ("v.source", "text"),
        "model_id": ("v.model_id", "text"),
        "status": ("v.status", "text"),
        "user_id": ("v.user_id", "text"),
        "creation_timestamp": ("v.creation_timestamp", "number"),
        "last_updated_timestamp": ("v.last_updated_timestamp", "number"),
    },
    keyed={
        "tags": (
            "EXISTS (SELECT 1 FROM store.model_version_tags x WHERE x.name = v.name "
            "AND x.version = v.version AND x.key = ? AND {pred})",
            "text",
        )
    },
    order={
        "name": "v.name",
        "version": "v.version",
        "version_number": "v.version",
        "creation_timestamp": "v.creation_timestamp",
        "last_updated_timestamp": "v.last_updated_timestamp",
    },
    # MLflow's store: most recently updated first, then by name and newest version
    default_order=(("last_updated_timestamp", False), ("name", True), ("version", False)),
    tie_break=(("name", True), ("version", False)),
)
MODEL_VERSION_ORDER = MODEL_VERSION_FIELDS.order


def logged_model_spec(metric_template: str) -> SearchSpec:
    """The logged-model search; ``metric_template`` is the store's ``EXISTS`` over the metric
    points of ``lm.model_id`` (the dialects keep metric links differently)."""
    return SearchSpec(
        "logged models",
        fields={
            "name": ("lm.name", "text"),
            "model_id": ("lm.model_id", "text"),
            "status": ("lm.status", "text"),
            "source_run_id": ("lm.source_run_id", "text"),
            "model_type": ("lm.model_type", "text"),
            "experiment_id": ("lm.experiment_id", "text"),
            "creation_timestamp": ("lm.creation_timestamp", "number"),
            "creation_time": ("lm.creation_timestamp", "number"),
            "last_updated_timestamp": ("lm.last_updated_timestamp", "number"),
        },
        keyed={
            "tags": (
                "EXISTS (SELECT 1 FROM store.logged_model_tags x "
                "WHERE x.model_id = lm.model_id AND x.key = ? AND {pred})",
                "text",
            ),
            "params": (
                "EXISTS (SELECT 1 FROM store.logged_model_params x "
                "WHERE x.model_id = lm.model_id AND x.key = ? AND {pred})",
                "text",
            ),
            "metrics": (metric_template, "number"),
        },
        order={
            "name": "lm.name",
            "creation_timestamp": "lm.creation_timestamp",
            "creation_time": "lm.creation_timestamp",
            "last_updated_timestamp": "lm.last_updated_timestamp",
            "status": "lm.status",
            "model_id": "lm.model_id",
        },
        default_order=(("creation_timestamp", False),),
        tie_break=(("model_id", True),),
    )


#: Field lists for messages and docs (the logged-model one with any metric template).
LOGGED_MODEL_FIELDS = logged_model_spec("{pred}")
LOGGED_MODEL_ORDER = LOGGED_MODEL_FIELDS.order


class _Parser:
    def __init__(self, text: str, spec: SearchSpec) -> None:
        self.text = text
        self.spec = spec
        self.tokens = tokenize(text)
        self.i = 0

    def fail(self, tok: Token, message: str) -> InvalidFilter:
        return filter_error(self.text, tok.pos, message)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, tok: Token, word: str) -> bool:
        return tok.kind == "WORD" and tok.value.lower() == word

    def parse(self) -> list[Cond]:
        conds = [self.comparison()]
        while True:
            tok = self.peek()
            if tok.kind == "EOF":
                return conds
            if self.is_word(tok, "and"):
                self.take()
                conds.append(self.comparison())
                continue
            if self.is_word(tok, "or"):
                raise self.fail(
                    tok, f"Searches of {self.spec.what} join comparisons with AND only, not OR"
                )
            raise self.fail(tok, f"Expected AND or the end of the filter, found {tok.text!r}")

    def _fields_text(self) -> str:
        keyed = [f"{p}.<key>" for p in self.spec.keyed]
        return ", ".join([*self.spec.fields, *keyed])

    def comparison(self) -> Cond:
        tok = self.take()
        if tok.kind == "FIELD":
            prefix = tok.value.lower()
            if prefix not in self.spec.keyed:
                raise self.fail(
                    tok,
                    f"Unknown field {tok.text!r} for {self.spec.what}; use one of "
                    f"{self._fields_text()}",
                )
            name, key, kind = prefix, tok.key, self.spec.keyed[prefix][1]
        elif tok.kind == "WORD":
            lower = tok.value.lower()
            if lower not in self.spec.fields:
                raise self.fail(
                    tok,
                    f"Unknown field {tok.text!r} for {self.spec.what}; use one of "
                    f"{self._fields_text()}",
                )
            name, key, kind = lower, None, self.spec.fields[lower][1]
        else:
            raise self.fail(
                tok, f"Expected a field ({self._fields_text()}), found {tok.text or 'the end'!r}"
            )
        op_tok = self.take()
        op: str
        if op_tok.kind == "OP":
            op = op_tok.value
        elif self.is_word(op_tok, "like") or self.is_word(op_tok, "ilike"):
            op = op_tok.value.upper()
        elif self.is_word(op_tok, "in"):
            op = "IN"
        elif self.is_word(op_tok, "not") and self.is_word(self.peek(), "in"):
            self.take()
            op = "NOT IN"
        else:
            raise self.fail(
                op_tok,
                "Expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN), found "
                f"{op_tok.text or 'the end'!r}",
            )
        if op in ("IN", "NOT IN"):
            return Cond(name, key, op, self.in_list(kind))
        if kind == "number" and op in ("LIKE", "ILIKE"):
            raise self.fail(op_tok, f"{op} compares text; {tok.text!r} is a number")
        return Cond(name, key, op, self.value(kind, tok))

    def value(self, kind: Kind, field_tok: Token) -> str | float:
        tok = self.take()
        if kind == "number":
            try:
                if tok.kind in ("NUMBER", "STRING"):
                    return float(tok.value)
            except ValueError:
                pass
            raise self.fail(
                tok, f"{field_tok.text!r} compares with a number, found {tok.text or 'the end'!r}"
            )
        if tok.kind != "STRING":
            raise self.fail(
                tok,
                f"{field_tok.text!r} compares with a quoted string, e.g. 'value'; found "
                f"{tok.text or 'the end'!r}",
            )
        return tok.value

    def in_list(self, kind: Kind) -> tuple[str, ...]:
        tok = self.take()
        if tok.kind != "LPAREN":
            raise self.fail(tok, "IN needs a parenthesized list, e.g. ('a', 'b')")
        if kind != "text":
            raise self.fail(tok, "IN compares text fields only")
        values: list[str] = []
        while True:
            item = self.take()
            if item.kind != "STRING":
                raise self.fail(
                    item, f"Expected a quoted string in the IN list, found {item.text!r}"
                )
            values.append(item.value)
            sep = self.take()
            if sep.kind == "RPAREN":
                return tuple(values)
            if sep.kind != "COMMA":
                raise self.fail(sep, f"Expected ',' or ')' in the IN list, found {sep.text!r}")


def parse_conditions(text: str | None, spec: SearchSpec) -> list[Cond]:
    """The comparisons of ``text`` (``[]`` for an empty filter); ``InvalidFilter`` with a
    caret picture when it does not parse or names a field ``spec`` does not have."""
    if text is None or not text.strip():
        return []
    return _Parser(text, spec).parse()


def _predicate(column: str, cond: Cond, like_escape: str) -> tuple[str, list[object]]:
    if cond.op in ("IN", "NOT IN"):
        values: list[object] = list(cond.value) if isinstance(cond.value, tuple) else [cond.value]
        marks = ", ".join("?" for _ in values)
        return f"{column} {cond.op} ({marks})", values
    if cond.op in ("LIKE", "ILIKE"):
        return f"{column} {cond.op} ?{like_escape}", [cond.value]
    assert cond.op in _OPS
    return f"{column} {cond.op} ?", [cond.value]


def compile_conditions(
    conds: Sequence[Cond],
    spec: SearchSpec,
    *,
    like_escape: str = "",
    scope: Mapping[str, tuple[str, Sequence[object]]] | None = None,
) -> tuple[str, list[object]]:
    """``(where, params)`` for ``conds``; ``"TRUE"`` when there are none.

    ``like_escape`` is the dialect's LIKE suffix (PostgreSQL: ``" ESCAPE ''"``, so ``\\``
    is an ordinary character as in DuckDB). ``scope``: keyed prefix -> ``(sql, params)``
    ANDed to each of its comparisons' ``{pred}`` (a logged-model search's datasets on its
    ``metrics.`` comparisons).
    """
    parts: list[str] = []
    params: list[object] = []
    for cond in conds:
        if cond.key is None:
            column, _ = spec.fields[cond.field]
            sql, values = _predicate(column, cond, like_escape)
            # a NULL column (no run, no model) never matches, NOT IN included
            parts.append(f"({column} IS NOT NULL AND {sql})")
            params.extend(values)
        else:
            template, _ = spec.keyed[cond.field]
            sql, values = _predicate("x.value", cond, like_escape)
            if scope and cond.field in scope:
                extra, extra_values = scope[cond.field]
                sql, values = f"{sql} AND {extra}", [*values, *extra_values]
            parts.append(template.replace("{pred}", sql))
            params.append(cond.key)
            params.extend(values)
    return (" AND ".join(parts) or "TRUE"), params


def parse_order(items: Sequence[str], spec: SearchSpec) -> list[tuple[str, bool]]:
    """``(order name, ascending)`` of ``items`` (``"name DESC"``), or the default order, with
    the tie-break appended (keys naming a column already ordered on are left out)."""
    out: list[tuple[str, bool]] = []
    for index, item in enumerate(items):
        words = item.split() if isinstance(item, str) else []
        if not words or len(words) > 2:
            raise filter_error(
                str(item),
                0,
                f"order_by item {index} must be '<field> [ASC|DESC]' with a field of "
                f"{', '.join(spec.order)}",
            )
        name = words[0].lower()
        if name not in spec.order:
            raise filter_error(
                item,
                0,
                f"Cannot order {spec.what} by {words[0]!r}; use one of {', '.join(spec.order)}",
            )
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise filter_error(item, len(words[0]) + 1, f"Expected ASC or DESC, found {words[1]!r}")
        out.append((name, direction == "ASC"))
    if not out:
        out = list(spec.default_order)
    columns = {spec.order[name] for name, _ in out}
    for name, ascending in spec.tie_break:
        if spec.order[name] not in columns:
            out.append((name, ascending))
            columns.add(spec.order[name])
    return out


def compile_order(items: Sequence[str], spec: SearchSpec) -> str:
    """The ``ORDER BY`` list of ``items`` (``"name DESC"``), the tie-break appended."""
    return ", ".join(
        f"{spec.order[name]} {'ASC' if ascending else 'DESC'}"
        for name, ascending in parse_order(items, spec)
    )
