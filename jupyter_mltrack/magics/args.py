"""The arguments of ``%%track`` and ``%track_experiment``, parsed into one frozen value.

A wrong argument raises :class:`~jupyter_mltrack.errors.InvalidParameter` with one sentence
and the usage line, never argparse's ``SystemExit``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import NoReturn

from ..errors import InvalidParameter

__all__ = ["TRACK_USAGE", "TrackArgs", "parse_experiment_line", "parse_track_line"]

TRACK_USAGE = (
    "%%track [--name N] [--experiment E] [--params a,b,c] [--tags k=v ...] [--no-live] [--nested]"
)


@dataclass(frozen=True)
class TrackArgs:
    """What one ``%%track`` line asks for (see ``%%track?`` / docs/notebooks.md)."""

    name: str | None = None
    experiment: str | None = None
    #: ``None``: the cell's simple literal assignments; else exactly these names.
    params: tuple[str, ...] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    live: bool = True
    nested: bool = False


class _Parser(argparse.ArgumentParser):
    """argparse that raises InvalidParameter instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise InvalidParameter(
            f"%%track: {message}. Usage: {TRACK_USAGE} (%%track? shows the help)."
        )

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise InvalidParameter(f"%%track: {message or 'invalid arguments'}. Usage: {TRACK_USAGE}")


def _parser() -> _Parser:
    parser = _Parser(prog="%%track", add_help=False, allow_abbrev=False)
    parser.add_argument("--name", "-n")
    parser.add_argument("--experiment", "-e")
    parser.add_argument("--params", "-p", action="append")
    parser.add_argument("--tags", "-t", nargs="+", action="extend")
    parser.add_argument("--no-live", dest="live", action="store_false")
    parser.add_argument("--nested", action="store_true")
    return parser


def _split(line: str, what: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise InvalidParameter(f"{what}: cannot split the arguments ({exc}).") from None


def parse_track_line(line: str) -> TrackArgs:
    """Parse the text after ``%%track``.

    Raises:
        InvalidParameter: an unknown option, a missing value, a tag without ``=``, a param
            name that is not a Python identifier, or an empty name or experiment.
    """
    ns = _parser().parse_args(_split(line, "%%track"))
    for option in ("name", "experiment"):
        value = getattr(ns, option)
        if value is not None and not value.strip():
            raise InvalidParameter(f"%%track: --{option} needs a non-empty value.")
    params: tuple[str, ...] | None = None
    if ns.params is not None:
        names = [p.strip() for chunk in ns.params for p in chunk.split(",") if p.strip()]
        bad = [p for p in names if not p.isidentifier()]
        if bad or not names:
            raise InvalidParameter(
                f"%%track: --params takes comma-separated variable names (--params lr,epochs); "
                f"{', '.join(repr(b) for b in bad) or 'no name'} given."
            )
        params = tuple(dict.fromkeys(names))
    tags: dict[str, str] = {}
    for item in ns.tags or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(
                f"%%track: --tags takes key=value pairs (--tags team=vision stage=dev); "
                f"got {item!r}."
            )
        tags[key.strip()] = value
    return TrackArgs(
        name=ns.name,
        experiment=ns.experiment,
        params=params,
        tags=tags,
        live=ns.live,
        nested=ns.nested,
    )


def parse_experiment_line(line: str) -> str:
    """The one experiment name after ``%track_experiment`` (quote a name with spaces)."""
    words = _split(line, "%track_experiment")
    if len(words) != 1 or not words[0].strip():
        raise InvalidParameter(
            "%track_experiment takes one experiment name, e.g. %track_experiment churn-model "
            f"(quote a name with spaces); got {line.strip()!r}."
        )
    return words[0]
