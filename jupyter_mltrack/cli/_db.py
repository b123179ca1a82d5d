"""``mltrack db upgrade URI`` and ``mltrack db copy FROM TO`` (docs/postgres.md)."""

from __future__ import annotations

import argparse
import sys

from ._common import Context

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "db",
        help="upgrade a store's schema, or copy a whole store (DuckDB <-> PostgreSQL)",
        description="Maintain store databases directly (not through a server): upgrade the "
        "schema of a DuckDB file or PostgreSQL database, or copy a whole store into an empty "
        "one with its artifacts. Stop servers using the store first.",
    )
    sub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    up = sub.add_parser("upgrade", help="bring a store's schema to this version's")
    up.add_argument("uri", help="duckdb:///path/store.duckdb, a path, or postgresql://...")
    up.set_defaults(handler=upgrade_cmd, needs_store=False)
    cp = sub.add_parser(
        "copy",
        help="copy every experiment, run, metric and artifact into an empty store",
        epilog="example: mltrack db copy ./mltrack/store.duckdb "
        "postgresql://mltrack@db:5432/mltrack --artifacts-destination /srv/mltrack/artifacts",
    )
    cp.add_argument("source", metavar="FROM", help="the store to copy")
    cp.add_argument("dest", metavar="TO", help="an empty store (created when missing for DuckDB)")
    cp.add_argument(
        "--artifacts-destination",
        metavar="DIR",
        help="artifact root of the destination (default: the DuckDB store's 'artifacts' "
        "directory, or $MLTRACK_ARTIFACT_ROOT / ./mltrack-artifacts for PostgreSQL)",
    )
    cp.add_argument("--no-artifacts", action="store_true", help="copy the database only")
    cp.set_defaults(handler=copy_cmd, needs_store=False)


def upgrade_cmd(ctx: Context) -> int:
    from ..store.copy import upgrade

    before, after = upgrade(ctx.args.uri)
    if before == after:
        print(f"Schema version {after}: already up to date.")
    else:
        print(f"Upgraded the schema from version {before} to {after}.")
    return 0


def copy_cmd(ctx: Context) -> int:
    from ..store.copy import copy_store

    args = ctx.args

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = copy_store(
        args.source,
        args.dest,
        artifacts_destination=args.artifacts_destination,
        copy_artifacts=not args.no_artifacts,
        progress=progress,
    )
    print(
        f"Copied {report.get('experiments', 0)} experiments, {report.get('runs', 0)} runs, "
        f"{report.get('metrics', 0):,} metric points and {report.get('artifact_files', 0)} "
        f"artifact files into {args.dest}."
    )
    return 0
