"""``mltrack artifacts list|download``."""

from __future__ import annotations

import argparse
import os

from ._common import Context, add_command, resolve_run_id
from ._output import file_record, print_json, print_table, size_text

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("artifacts", help="list and download run artifacts")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = add_command(commands, "list", "List one level of a run's artifacts.", list_cmd)
    p.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    p.add_argument("path", metavar="PATH", nargs="?", help="folder inside the run's artifacts")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add_command(
        commands,
        "download",
        "Copy an artifact file or folder; prints its local path.",
        download_cmd,
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    p.add_argument("path", metavar="PATH", help="file or folder inside the run's artifacts")
    p.add_argument(
        "--dst", metavar="DIR", default=".", help="destination folder (default: current folder)"
    )


def list_cmd(ctx: Context) -> int:
    client = ctx.client
    run_id = resolve_run_id(client, ctx.args.run_id)
    files = client.list_artifacts(run_id, ctx.args.path)
    if ctx.args.json:
        print_json([file_record(f) for f in files])
        return 0
    rows = [
        [f.path + ("/" if f.is_dir else ""), "-" if f.is_dir else size_text(f.file_size)]
        for f in files
    ]
    where = f" under {ctx.args.path!r}" if ctx.args.path else ""
    print_table(["path", "size"], rows, empty=f"No artifacts{where} in run {run_id}.")
    return 0


def download_cmd(ctx: Context) -> int:
    client = ctx.client
    run_id = resolve_run_id(client, ctx.args.run_id)
    dst = os.path.abspath(ctx.args.dst)
    os.makedirs(dst, exist_ok=True)
    print(client.download_artifacts(run_id, ctx.args.path, dst))
    return 0
