"""``mltrack experiments list|create|rename|delete|restore``."""

from __future__ import annotations

import argparse

from ._common import Context, add_command, resolve_experiment
from ._output import experiment_record, print_json, print_table, time_text

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "experiments", help="list, create, rename, delete and restore experiments"
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = add_command(commands, "list", "List experiments (active ones by default).", list_cmd)
    view = p.add_mutually_exclusive_group()
    view.add_argument("--all", action="store_true", help="include deleted experiments")
    view.add_argument("--deleted", action="store_true", help="only deleted experiments")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add_command(
        commands, "create", "Create an experiment; prints its id.", create_cmd, needs_store=False
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--artifact-location", metavar="L", help="root URI of its runs' artifacts")
    p.add_argument("--json", action="store_true", help='print {"experiment_id": ..., "name": ...}')

    p = add_command(commands, "rename", "Rename an experiment.", rename_cmd)
    p.add_argument("experiment", metavar="ID_OR_NAME")
    p.add_argument("new_name", metavar="NEW_NAME")

    p = add_command(
        commands, "delete", "Delete an experiment and its runs (restorable).", delete_cmd
    )
    p.add_argument("experiment", metavar="ID_OR_NAME")

    p = add_command(commands, "restore", "Restore a deleted experiment and its runs.", restore_cmd)
    p.add_argument("experiment", metavar="ID_OR_NAME")


def list_cmd(ctx: Context) -> int:
    args = ctx.args
    view = "ALL" if args.all else "DELETED_ONLY" if args.deleted else "ACTIVE_ONLY"
    experiments = ctx.client.search_experiments(view_type=view)
    if args.json:
        print_json([experiment_record(e) for e in experiments])
        return 0
    headers = ["experiment_id", "name", "created", "artifact_location"]
    if view != "ACTIVE_ONLY":
        headers.insert(2, "stage")
    rows = []
    for e in experiments:
        row = [e.experiment_id, e.name, time_text(e.creation_time_ms), e.artifact_location]
        if view != "ACTIVE_ONLY":
            row.insert(2, e.lifecycle_stage)
        rows.append(row)
    print_table(headers, rows, empty="No experiments.")
    return 0


def create_cmd(ctx: Context) -> int:
    args = ctx.args
    experiment_id = ctx.client.create_experiment(args.name, args.artifact_location)
    if args.json:
        print_json({"experiment_id": experiment_id, "name": args.name})
    else:
        print(f"Created experiment {args.name!r} with id {experiment_id}.")
    return 0


def rename_cmd(ctx: Context) -> int:
    exp = resolve_experiment(ctx.client, ctx.args.experiment)
    ctx.client.rename_experiment(exp.experiment_id, ctx.args.new_name)
    print(f"Renamed experiment {exp.experiment_id} from {exp.name!r} to {ctx.args.new_name!r}.")
    return 0


def delete_cmd(ctx: Context) -> int:
    exp = resolve_experiment(ctx.client, ctx.args.experiment)
    ctx.client.delete_experiment(exp.experiment_id)
    print(
        f"Deleted experiment {exp.experiment_id} ({exp.name!r}); restore it with "
        f"'mltrack experiments restore {exp.experiment_id}'."
    )
    return 0


def restore_cmd(ctx: Context) -> int:
    exp = resolve_experiment(ctx.client, ctx.args.experiment)
    ctx.client.restore_experiment(exp.experiment_id)
    print(f"Restored experiment {exp.experiment_id} ({exp.name!r}).")
    return 0
