"""``mltrack sql QUERY``: read-only SQL over the documented views (docs/sql.md)."""

from __future__ import annotations

import argparse
import sys

from ._common import Context, add_command
from ._output import print_csv, print_json, print_table

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "sql", "Run one read-only SELECT over the store's views.", sql_cmd)
    p.add_argument("query", metavar="QUERY", help="a SELECT statement, or - to read it from stdin")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON array of row objects")
    fmt.add_argument("--csv", action="store_true", help="print CSV with a header row")


def sql_cmd(ctx: Context) -> int:
    query: str = ctx.args.query
    if query == "-":
        query = sys.stdin.read()
    relation = ctx.client.sql(query)
    columns = [str(c) for c in relation.columns]
    rows = relation.fetchall()
    if ctx.args.json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif ctx.args.csv:
        print_csv(columns, rows)
    else:
        print_table(columns, rows, empty="(no rows)")
    return 0
