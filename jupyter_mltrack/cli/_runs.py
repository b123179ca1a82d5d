"""``mltrack runs list|show|search|delete|restore|reproduce``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..entities import Run
from ._columns import (
    column_value,
    default_columns,
    header,
    mentioned_columns,
    parse_columns,
    table_cell,
)
from ._common import Context, add_command, resolve_experiment_ids, resolve_run_id
from ._output import duration_text, format_table, print_json, print_table, run_record, time_text

__all__ = ["positive_int", "register"]

DEFAULT_MAX = 100


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--experiment",
        "-e",
        dest="experiments",
        metavar="ID_OR_NAME",
        nargs="+",
        action="extend",
        help="experiments to read, by id or name (default: every active experiment)",
    )
    view = p.add_mutually_exclusive_group()
    view.add_argument("--all", action="store_true", help="include deleted runs")
    view.add_argument("--deleted", action="store_true", help="only deleted runs")
    p.add_argument(
        "--max",
        type=positive_int,
        default=DEFAULT_MAX,
        metavar="N",
        help=f"show at most N runs (default {DEFAULT_MAX})",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array of runs")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("runs", help="list, show, search, delete and restore runs")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = add_command(commands, "list", "List runs, newest first.", list_cmd)
    _selection_options(p)

    p = add_command(
        commands, "show", "Show one run: info, params, metrics, tags, inputs.", show_cmd
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    p.add_argument("--json", action="store_true", help="print the run as a JSON object")

    p = add_command(commands, "search", "Search runs with a filter (docs/search.md).", search_cmd)
    p.add_argument("--filter", "-f", default="", metavar="EXPR", help='e.g. "metrics.acc > 0.9"')
    p.add_argument(
        "--order-by",
        dest="order_by",
        action="append",
        default=[],
        metavar="KEY",
        help='e.g. "metrics.acc DESC"; repeat for more keys',
    )
    p.add_argument(
        "--columns", metavar="A,B", help="columns to show, e.g. run_id,params.lr,metrics.acc"
    )
    _selection_options(p)

    p = add_command(commands, "delete", "Delete runs (restorable until 'mltrack gc').", delete_cmd)
    p.add_argument("run_ids", metavar="RUN_ID", nargs="+")

    p = add_command(commands, "restore", "Restore deleted runs.", restore_cmd)
    p.add_argument("run_ids", metavar="RUN_ID", nargs="+")

    from ._projects import add_reproduce_options, reproduce_cmd

    p = add_command(
        commands, "reproduce", "Write a runnable project from a run's record.", reproduce_cmd
    )
    add_reproduce_options(p)


def _view(args: argparse.Namespace) -> str:
    return "ALL" if args.all else "DELETED_ONLY" if args.deleted else "ACTIVE_ONLY"


def _search(ctx: Context, filter_string: str, order_by: list[str]) -> list[Run]:
    args = ctx.args
    ids = resolve_experiment_ids(ctx.client, args.experiments)
    if not ids:
        return []
    page = ctx.client.search_runs(ids, filter_string, _view(args), args.max, order_by)
    if page.token:
        print(
            f"(showing the first {len(page)} matching runs; raise --max to see more)",
            file=sys.stderr,
        )
    return list(page)


def _print_runs(
    runs: list[Run], columns: list[str] | None, json_out: bool, mentioned: list[str]
) -> None:
    if json_out:
        if columns is None:
            print_json([run_record(r) for r in runs])
        else:
            print_json([{c: column_value(r, c) for c in columns} for r in runs])
        return
    shown = columns or default_columns(runs, mentioned)
    rows = [[table_cell(r, c) for c in shown] for r in runs]
    print_table([header(c) for c in shown], rows, empty="No runs.")


def list_cmd(ctx: Context) -> int:
    _print_runs(_search(ctx, "", []), None, ctx.args.json, [])
    return 0


def search_cmd(ctx: Context) -> int:
    args = ctx.args
    columns = parse_columns(args.columns) if args.columns else None
    runs = _search(ctx, args.filter, args.order_by)
    _print_runs(runs, columns, args.json, mentioned_columns([args.filter, *args.order_by]))
    return 0


def show_cmd(ctx: Context) -> int:
    client = ctx.client
    run = client.get_run(resolve_run_id(client, ctx.args.run_id))
    if ctx.args.json:
        print_json(run_record(run, inputs=True))
        return 0
    info = run.info
    experiment = client.get_experiment(info.experiment_id)
    fields: list[tuple[str, Any]] = [
        ("run_id", info.run_id),
        ("run_name", info.run_name),
        ("experiment", f"{info.experiment_id} ({experiment.name})"),
        ("status", info.status),
        ("start_time", time_text(info.start_time_ms)),
        ("end_time", time_text(info.end_time_ms)),
        ("duration", duration_text(info.start_time_ms, info.end_time_ms)),
        ("user_id", info.user_id),
        ("lifecycle_stage", info.lifecycle_stage),
        ("artifact_uri", info.artifact_uri),
        ("parent_run_id", info.parent_run_id or "-"),
    ]
    width = max(len(k) for k, _ in fields)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in fields))
    _section("Params", ["param", "value"], sorted(run.data.params.items()))
    _section("Metrics", ["metric", "value"], sorted(run.data.metrics.items()))
    _section("Tags", ["tag", "value"], sorted(run.data.tags.items()))
    inputs = [
        [d.dataset.name, d.dataset.digest, d.context, d.dataset.source]
        for d in run.inputs.dataset_inputs
    ]
    _section("Inputs", ["dataset", "digest", "context", "source"], inputs)
    return 0


def _section(title: str, headers: list[str], rows: list[Any]) -> None:
    print()
    if not rows:
        print(f"{title}: none")
        return
    print(f"{title}:")
    print("\n".join("  " + line for line in format_table(headers, rows).splitlines()))


def delete_cmd(ctx: Context) -> int:
    # Resolve every id first so a typo in the third id changes nothing.
    run_ids = [resolve_run_id(ctx.client, ref) for ref in ctx.args.run_ids]
    for run_id in run_ids:
        ctx.client.delete_run(run_id)
        print(f"Deleted run {run_id}.")
    print("Restore with 'mltrack runs restore RUN_ID'; 'mltrack gc' removes deleted runs for good.")
    return 0


def restore_cmd(ctx: Context) -> int:
    run_ids = [resolve_run_id(ctx.client, ref) for ref in ctx.args.run_ids]
    for run_id in run_ids:
        ctx.client.restore_run(run_id)
        print(f"Restored run {run_id}.")
    return 0
