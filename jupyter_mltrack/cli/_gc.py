"""``mltrack gc``: permanently remove deleted runs and their artifacts."""

from __future__ import annotations

import argparse
import sys

from ..entities import Run
from ..errors import InvalidState
from ._common import Context, add_command, resolve_run_id
from ._output import print_table, time_text

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers, "gc", "Permanently remove deleted runs and their artifacts.", gc_cmd
    )
    p.add_argument(
        "--run-ids",
        dest="run_ids",
        metavar="RUN_ID",
        nargs="+",
        action="extend",
        help="only these deleted runs (default: every deleted run)",
    )
    act = p.add_mutually_exclusive_group()
    act.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    act.add_argument("--dry-run", action="store_true", help="only print what would be removed")


def _candidates(ctx: Context) -> list[Run]:
    client = ctx.client
    if not ctx.args.run_ids:
        return client.search_runs_all_deleted()
    runs = [client.get_run(resolve_run_id(client, ref)) for ref in ctx.args.run_ids]
    for run in runs:
        if run.info.lifecycle_stage != "deleted":
            raise InvalidState(
                f"Run {run.info.run_id} is not deleted; delete it first with "
                f"'mltrack runs delete {run.info.run_id}', then run gc."
            )
    return runs


def _runs_text(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _confirm(count: int) -> bool:
    sys.stderr.write(f"Permanently remove {_runs_text(count, 'run')} and artifacts? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def gc_cmd(ctx: Context) -> int:
    runs = _candidates(ctx)
    if not runs:
        print("No deleted runs to remove.")
        return 0
    rows = [
        [r.info.run_id, r.info.run_name, r.info.experiment_id, time_text(r.info.start_time_ms)]
        for r in runs
    ]
    print(f"{_runs_text(len(runs), 'deleted run')} to remove permanently, with artifacts:")
    print_table(["run_id", "run_name", "experiment_id", "start_time"], rows, empty="")
    if ctx.args.dry_run:
        return 0
    if not ctx.args.yes:
        if not sys.stdin.isatty():
            raise InvalidState(
                "Refusing to remove runs without confirmation: stdin is not a terminal. "
                "Re-run with --yes to remove them, or --dry-run to only list them."
            )
        if not _confirm(len(runs)):
            print("Nothing removed.")
            return 1
    removed = ctx.client.gc([r.info.run_id for r in runs])
    its = "its" if len(removed) == 1 else "their"
    print(f"Removed {_runs_text(len(removed), 'run')} and {its} artifacts.")
    return 0
