"""The ``mltrack`` command line: experiments, runs, artifacts, SQL and gc over one store.

Every command goes through :class:`~jupyter_mltrack.tracking.client.TrackingClient`.
This module is the one place that turns exceptions into exit codes::

    0  success
    1  an expected error (``error: <message>`` on stderr) or an unexpected one
       (one line plus a hint to re-run with --debug, which prints the traceback)
    2  a usage error (argparse)

Example::

    $ mltrack --tracking-uri ./mltrack runs search --filter "metrics.acc > 0.9" --json
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import MltrackError
from . import (
    _artifacts,
    _db,
    _deployments,
    _experiments,
    _gc,
    _models,
    _projects,
    _runs,
    _server,
    _service,
    _sql,
)
from ._common import Context, global_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs test to list every command)."""
    parser = argparse.ArgumentParser(
        prog="mltrack",
        description="Inspect and manage a jupyter-mltrack store from the shell.",
        epilog="Run 'mltrack COMMAND --help' for a command's options. See docs/cli.md.",
    )
    global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    modules = (_experiments, _runs, _artifacts, _sql, _gc, _service, _server, _db, _models)
    for module in (*modules, _projects, _deployments):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mltrack`` command; returns the process exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    debug = bool(args.debug)
    try:
        code: int = args.handler(Context(args))
        sys.stdout.flush()
        return code
    except MltrackError as exc:
        return _report(f"error: {exc.message}", debug)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except Exception as exc:  # the one place where unexpected errors become one line
        line = f"error: {type(exc).__name__}: {exc}".splitlines()[0]
        return _report(line + ("" if debug else " (run with --debug for details)"), debug)


def _report(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    print(message, file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    # The reader went away (`mltrack runs list | head`): stop Python's final flush from failing.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
