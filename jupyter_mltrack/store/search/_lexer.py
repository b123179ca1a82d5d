"""Tokenizer of the run search language, and the one place that formats its errors.

The lexer turns a filter (or one order-by item) into a flat list of :class:`Token`. A field
reference such as ``metrics.acc``, ``tags.mlflow.runName`` or ``params.`batch size``` is one
``FIELD`` token, so a key may never contain spaces unless it is quoted, and whitespace may not
sit around its dot (as in MLflow). Every error raised by the lexer and the parser goes through
:func:`filter_error`, which shows the text with a caret under the offending 0-based position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ...errors import InvalidFilter

__all__ = ["Token", "TokenKind", "filter_error", "tokenize"]

TokenKind = Literal["FIELD", "WORD", "STRING", "NUMBER", "OP", "LPAREN", "RPAREN", "COMMA", "EOF"]

#: Shown around the caret when a filter is longer than this many characters.
_WINDOW = 60

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An unquoted key after the dot: identifier characters, with inner dots (tags.mlflow.runName).
_BARE_KEY = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
# Signed decimal or exponent numbers; NaN / Inf / Infinity are numbers too (metrics may hold them).
_NUMBER = re.compile(
    r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?:[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?"
    r"|[Nn][Aa][Nn])(?![A-Za-z0-9_]))"
)
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "`": "`"}
_QUOTE_NAMES = {"'": "single quote", '"': "double quote", "`": "backtick"}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token.

    ``kind`` is the token class; ``text`` is the exact source slice (used in messages);
    ``value`` is the decoded payload: the word for ``WORD``, the unescaped string for
    ``STRING``, the operator for ``OP``, the prefix (``metrics``) for ``FIELD``;
    ``key`` is the decoded key of a ``FIELD`` (``None`` for a bare attribute name);
    ``quote`` is the quote character of a ``STRING``; ``pos`` is the 0-based start.
    """

    kind: TokenKind
    text: str
    value: str
    pos: int
    key: str | None = None
    quote: str = ""


def filter_error(text: str, position: int, message: str, **details: object) -> InvalidFilter:
    """Build an :class:`InvalidFilter` whose message shows ``text`` with a caret at ``position``.

    ``message`` is the part before " at position N"; ``details`` are added to the error's
    ``details`` next to ``position``.
    """
    position = max(0, min(position, len(text)))
    start = max(0, position - _WINDOW)
    end = min(len(text), position + _WINDOW)
    # Newlines and tabs would break the two-line picture; each becomes one space, so the
    # caret keeps its column.
    shown = re.sub(r"\s", " ", text[start:end])
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    caret = " " * (len(prefix) + position - start) + "^"
    full = f"{message} at position {position}:\n  {prefix}{shown}{suffix}\n  {caret}"
    return InvalidFilter(full, position=position, **details)


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Decode the quoted text opening at ``start``; return (value, index after the close).

    The closing quote is escaped by doubling it (``'it''s'``) or by a backslash
    (``'it\\'s'``); ``\\n``, ``\\t``, ``\\r``, ``\\0`` and ``\\\\`` are decoded, and any other
    backslash sequence is kept as written (so LIKE patterns such as ``'a\\d'`` survive).
    """
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == quote:
            if text.startswith(quote, i + 1):
                out.append(quote)
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    name = _QUOTE_NAMES[quote]
    raise _LexError(
        start, f"Unterminated {name}: the text starting here never closes; add a {quote}"
    )


def _read_field(text: str, start: int) -> Token:
    """Read a word at ``start``, and its ``.key`` part if a dot follows at once."""
    word = _WORD.match(text, start)
    assert word is not None
    end = word.end()
    if not text.startswith(".", end):
        return Token("WORD", word.group(), word.group(), start)
    key_start = end + 1
    if key_start < len(text) and text[key_start] in "`\"'":
        key, stop = _read_quoted(text, key_start)
    else:
        bare = _BARE_KEY.match(text, key_start)
        if bare is None:
            raise _LexError(
                key_start,
                f"Expected a key after '{text[start:key_start]}'; quote keys with spaces or "
                f"symbols in backticks, e.g. {word.group()}.`my key`",
            )
        key, stop = bare.group(), bare.end()
    return Token("FIELD", text[start:stop], word.group(), start, key=key)


class _LexError(Exception):
    """Raised inside the lexer; :func:`tokenize` turns it into :class:`InvalidFilter`."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


def tokenize(text: str, where: str = "", **details: object) -> list[Token]:
    """Split ``text`` into tokens, ending with one ``EOF`` token.

    ``where`` is appended to error messages (e.g. " in order_by item 2") and ``details``
    added to the error's details.

    Raises:
        InvalidFilter: on an unexpected character, an unterminated quote or a missing key.
    """
    try:
        return _tokenize(text)
    except _LexError as exc:
        raise filter_error(text, exc.position, exc.message + where, **details) from None


def _tokenize(text: str) -> list[Token]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _LexError(exc.start, "The text is not valid Unicode") from None
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        number = _NUMBER.match(text, i)
        if number is not None:
            tokens.append(Token("NUMBER", number.group(), number.group(), i))
            i = number.end()
        elif _WORD.match(text, i):
            token = _read_field(text, i)
            tokens.append(token)
            i += len(token.text)
        elif ch in "'\"`":
            value, stop = _read_quoted(text, i)
            tokens.append(Token("STRING", text[i:stop], value, i, quote=ch))
            i = stop
        elif ch in "(),":
            kind: TokenKind = "LPAREN" if ch == "(" else "RPAREN" if ch == ")" else "COMMA"
            tokens.append(Token(kind, ch, ch, i))
            i += 1
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise _LexError(i, f"Unexpected character {ch!r}")
            tokens.append(Token("OP", op, "!=" if op == "<>" else op, i))
            i += len(op)
    tokens.append(Token("EOF", "", "", n))
    return tokens
