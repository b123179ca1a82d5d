"""MLflow's filter and order-by grammar for experiments and logged models, evaluated in Python.

Runs are searched by the store (the run search language, a superset of MLflow's). The
experiment and logged-model searches of MLflow take a smaller grammar: comparisons joined
by ``AND``, each ``<field> <op> <value>`` where a field is an attribute (``name``,
``creation_time``, ...; optionally ``attribute.``/``attributes.``), ``tags.<key>``,
``params.<key>`` or ``metrics.<key>`` (backticks or double quotes around keys with dots
or spaces), ops ``= != < <= > >= LIKE ILIKE``, values quoted strings or numbers. Both
lists are small (one team's experiments; a run's models), so they are filtered here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..entities import Experiment
from ..errors import InvalidParameter

__all__ = ["Clause", "filter_experiments", "matches", "parse_clauses", "sort_items"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>!=|<=|>=|=|<|>|(?i:\bNOT\s+ILIKE\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b))
      | (?P<ident>(?:[A-Za-z_][\w]*\.)?(?:`[^`]*`|"[^"]*"|[A-Za-z_][\w.\-]*))
      | (?P<str>'(?:[^'\\]|\\.)*')
      | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    )""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)

Clause = tuple[str, str, str, Any]  # (entity, key, op, value)
_ENTITIES = {
    "tags": "tag",
    "tag": "tag",
    "params": "param",
    "param": "param",
    "metrics": "metric",
    "metric": "metric",
    "attribute": "attribute",
    "attributes": "attribute",
}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        return text[1:-1]
    return text


def _split_and(text: str) -> list[str]:
    """Split on ``AND`` outside quotes."""
    parts, depth, quote, start = [], 0, "", 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif depth == 0:
            m = _AND.match(text, i)
            if m and i > 0:
                parts.append(text[start:i])
                start = i = m.end()
                continue
        i += 1
    if quote:
        raise InvalidParameter(f"Invalid filter {text!r}: a quoted value is not closed.")
    parts.append(text[start:])
    return [s.strip() for s in parts]


def parse_clauses(text: str, attributes: Sequence[str], numeric: Sequence[str]) -> list[Clause]:
    """The ``AND``-ed comparisons of ``text``; ``InvalidParameter`` names what was wrong."""
    if not isinstance(text, str) or not text.strip():
        return []
    clauses: list[Clause] = []
    for part in _split_and(text):
        if not part:
            raise InvalidParameter(f"Invalid filter {text!r}: an AND has nothing on one side.")
        pos, tokens = 0, []
        while pos < len(part):
            m = _TOKEN.match(part, pos)
            if m is None or m.end() == pos:
                raise InvalidParameter(f"Invalid filter {text!r}: cannot parse {part[pos:]!r:.60}.")
            kind = m.lastgroup
            assert kind is not None
            tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(part) and part[pos].isspace():
                pos += 1
        if len(tokens) != 3 or tokens[0][0] != "ident" or tokens[1][0] != "op":
            raise InvalidParameter(
                f"Invalid filter {text!r}: expected '<field> <comparator> <value>' in {part!r}."
            )
        clauses.append(_clause(tokens[0][1], tokens[1][1], tokens[2], attributes, numeric, text))
    return clauses


def _clause(
    ident: str,
    op: str,
    value_token: tuple[str, str],
    attributes: Sequence[str],
    numeric: Sequence[str],
    text: str,
) -> Clause:
    entity, _, key = ident.partition(".")
    if key and entity.lower() in _ENTITIES:
        kind, key = _ENTITIES[entity.lower()], _unquote(key)
    else:
        kind, key = "attribute", _unquote(ident)
    op = " ".join(op.upper().split())
    vkind, raw = value_token
    if vkind == "str":
        value: Any = _unquote(raw).replace("\\'", "'")
    elif vkind == "num":
        value = float(raw)
    else:
        raise InvalidParameter(
            f"Invalid filter {text!r}: {raw!r} is not a quoted string or number."
        )
    if kind == "attribute" and key not in attributes:
        raise InvalidParameter(
            f"Invalid attribute key '{key}' specified. Valid keys are '{sorted(attributes)}'"
        )
    is_number = kind == "metric" or (kind == "attribute" and key in numeric)
    if is_number:
        if "LIKE" in op:
            raise InvalidParameter(f"Invalid comparator '{op}' for the numeric field '{key}'.")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise InvalidParameter(
                    f"Invalid filter {text!r}: '{key}' compares with numbers, got {value!r}."
                ) from None
    elif op not in ("=", "!=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
        raise InvalidParameter(
            f"Invalid comparator '{op}' for the string field '{key}'; use =, !=, LIKE or ILIKE."
        )
    elif not isinstance(value, str):
        raise InvalidParameter(
            f"Invalid filter {text!r}: '{key}' compares with quoted strings, got {raw}."
        )
    return kind, key, op, value


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, flags | re.DOTALL)


def matches(value: Any, op: str, target: Any) -> bool:
    """``value <op> target``; a missing value (``None``) matches nothing."""
    if value is None:
        return False
    if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
        flags = re.IGNORECASE if "ILIKE" in op else 0
        hit = _like(str(target), flags).fullmatch(str(value)) is not None
        return not hit if op.startswith("NOT") else hit
    if isinstance(target, float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return ops[op](value, target)


def sort_items(
    items: list[Any],
    order_by: Sequence[str],
    value_of: Callable[[Any, str, str], Any],
    default: Callable[[Any], Any],
    attributes: Sequence[str],
) -> list[Any]:
    """``items`` ordered by MLflow order-by strings (``"name DESC"``), then ``default``."""
    out = sorted(items, key=default)
    for item in reversed(list(order_by)):
        if not isinstance(item, str) or not item.strip():
            raise InvalidParameter(f"Invalid order_by clause {item!r}.")
        parts = item.strip().rsplit(None, 1)
        direction = "ASC"
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            field, direction = parts[0], parts[1].upper()
        else:
            field = item.strip()
        entity, _, key = field.partition(".")
        if key and entity.lower() in _ENTITIES:
            kind, key = _ENTITIES[entity.lower()], _unquote(key)
        else:
            kind, key = "attribute", _unquote(field)
        if kind == "attribute" and key not in attributes:
            raise InvalidParameter(
                f"Invalid order_by clause '{item}': '{key}' is not one of {sorted(attributes)}."
            )
        present = [x for x in out if value_of(x, kind, key) is not None]
        missing = [x for x in out if value_of(x, kind, key) is None]
        present.sort(key=lambda x: value_of(x, kind, key), reverse=direction == "DESC")
        out = present + missing
    return out


EXPERIMENT_ATTRIBUTES = ("name", "creation_time", "last_update_time", "experiment_id")
EXPERIMENT_NUMERIC = ("creation_time", "last_update_time")


def _experiment_value(exp: Experiment, kind: str, key: str) -> Any:
    if kind == "tag":
        return exp.tags.get(key)
    if kind != "attribute":
        return None
    if key == "name":
        return exp.name
    if key == "experiment_id":
        return int(exp.experiment_id) if exp.experiment_id.isdigit() else exp.experiment_id
    return exp.creation_time_ms if key == "creation_time" else exp.last_update_time_ms


def filter_experiments(
    experiments: Sequence[Experiment], filter_string: str, order_by: Sequence[str]
) -> list[Experiment]:
    """MLflow's ``search_experiments`` filter and order (default: newest first, then id)."""
    clauses = parse_clauses(filter_string, EXPERIMENT_ATTRIBUTES, EXPERIMENT_NUMERIC)
    for kind, _key, _op, _value in clauses:
        if kind not in ("attribute", "tag"):
            raise InvalidParameter(
                f"Invalid entity type '{kind}' in an experiment filter; use attributes or tags."
            )
    found = [
        e
        for e in experiments
        if all(matches(_experiment_value(e, k, key), op, v) for k, key, op, v in clauses)
    ]

    def default(e: Experiment) -> tuple[int, int]:
        exp_id = int(e.experiment_id) if e.experiment_id.isdigit() else 0
        return (-(e.creation_time_ms or 0), -exp_id)

    return sort_items(found, order_by, _experiment_value, default, EXPERIMENT_ATTRIBUTES)
