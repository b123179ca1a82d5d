"""``mltrack models list|show|register|alias|delete``: the model registry from a shell.

Added to the ``mltrack models`` group by :mod:`._models` (``add_commands``). Every
command goes through the client (``TrackingClient``), as a notebook's calls do; ``--json``
prints one JSON document.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..entities import RegisteredModel
from ..errors import InvalidParameter
from ..store.remote.registry_wire import model_version_to_dict
from ._common import Context, add_command
from ._output import print_json, print_table, time_text

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "list", "List registered models (name, latest version, aliases).", list_cmd
    )
    p.add_argument(
        "--filter",
        metavar="F",
        default="",
        help="e.g. \"name LIKE '%%churn%%'\" or \"tags.team = 'x'\"",
    )
    p.add_argument("--max-results", type=int, default=1000, metavar="N", help="at most N models")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add_command(sub, "show", "Show a registered model and its versions.", show_cmd)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add_command(
        sub,
        "register",
        "Register a model (models:/<model_id>, runs:/<run_id>/<name>, a path) as a new "
        "version of NAME (created if missing).",
        register_cmd,
    )
    p.add_argument("model_uri", metavar="MODEL_URI")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="a version tag (repeat)"
    )
    p.add_argument("--alias", metavar="ALIAS", help="also point ALIAS at the new version")
    p.add_argument("--json", action="store_true", help="print the new version as JSON")

    p = add_command(
        sub, "alias", "Point ALIAS of NAME at VERSION, or remove it with --delete.", alias_cmd
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", metavar="VERSION", nargs="?")
    p.add_argument("--delete", action="store_true", help="remove the alias")

    p = add_command(
        sub,
        "delete",
        "Delete a registered model with all its versions, or one version (--version).",
        delete_cmd,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", metavar="V", help="delete only this version")


def model_record(rm: RegisteredModel) -> dict[str, Any]:
    return {
        "name": rm.name,
        "creation_timestamp": rm.creation_timestamp,
        "last_updated_timestamp": rm.last_updated_timestamp,
        "description": rm.description,
        "tags": rm.tags,
        "aliases": rm.aliases,
        "latest_version": rm.latest_versions[0].version if rm.latest_versions else None,
    }


def _aliases_text(aliases: dict[str, str]) -> str:
    return ", ".join(f"{a}={v}" for a, v in sorted(aliases.items())) or "-"


def list_cmd(ctx: Context) -> int:
    args = ctx.args
    models = ctx.client.search_registered_models(args.filter, max_results=args.max_results)
    if args.json:
        print_json([model_record(m) for m in models])
        return 0
    rows = [
        [
            m.name,
            m.latest_versions[0].version if m.latest_versions else "-",
            _aliases_text(m.aliases),
            time_text(m.last_updated_timestamp),
            m.description or "-",
        ]
        for m in models
    ]
    print_table(
        ["name", "latest", "aliases", "updated", "description"],
        rows,
        empty="No registered models.",
    )
    return 0


def show_cmd(ctx: Context) -> int:
    client = ctx.client
    model = client.get_registered_model(ctx.args.name)
    escaped = model.name.replace("'", "\\'")
    versions = client.search_model_versions(f"name = '{escaped}'")
    if ctx.args.json:
        print_json(
            {**model_record(model), "versions": [model_version_to_dict(v) for v in versions]}
        )
        return 0
    print(f"Registered model {model.name!r}")
    print(f"  created      {time_text(model.creation_timestamp)}")
    print(f"  updated      {time_text(model.last_updated_timestamp)}")
    if model.description:
        print(f"  description  {model.description}")
    for key, value in sorted(model.tags.items()):
        print(f"  tag          {key} = {value}")
    print(f"  aliases      {_aliases_text(model.aliases)}")
    print()
    rows = [
        [
            v.version,
            time_text(v.creation_timestamp),
            ", ".join(v.aliases) or "-",
            v.run_id or "-",
            v.model_id or "-",
            v.source,
        ]
        for v in versions
    ]
    print_table(
        ["version", "created", "aliases", "run_id", "model_id", "source"],
        rows,
        empty="No versions yet; add one with 'mltrack models register MODEL_URI NAME'.",
    )
    return 0


def _tags(items: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"--tag takes KEY=VALUE, got {item!r}.")
        tags[key] = value
    return tags


def register_cmd(ctx: Context) -> int:
    from ..tracking.fluent_registry import register_model_with

    args = ctx.args
    mv = register_model_with(ctx.client, args.model_uri, args.name, _tags(args.tag))
    if args.alias:
        ctx.client.set_registered_model_alias(mv.name, args.alias, mv.version)
        mv = ctx.client.get_model_version(mv.name, mv.version)
    if args.json:
        print_json(model_version_to_dict(mv))
    else:
        alias = f" (alias {args.alias!r})" if args.alias else ""
        print(f"Registered version {mv.version} of {mv.name!r}{alias} from {mv.source}.")
    return 0


def alias_cmd(ctx: Context) -> int:
    args = ctx.args
    if args.delete:
        if args.version is not None:
            raise InvalidParameter(
                "--delete takes no VERSION: mltrack models alias NAME ALIAS --delete"
            )
        ctx.client.delete_registered_model_alias(args.name, args.alias)
        print(f"Removed alias {args.alias!r} of {args.name!r}.")
        return 0
    if args.version is None:
        raise InvalidParameter(
            "Give the VERSION the alias points at (mltrack models alias NAME ALIAS VERSION), "
            "or --delete to remove it."
        )
    ctx.client.set_registered_model_alias(args.name, args.alias, args.version)
    print(f"Alias {args.alias!r} of {args.name!r} now points at version {args.version}.")
    return 0


def delete_cmd(ctx: Context) -> int:
    args = ctx.args
    if args.version is not None:
        ctx.client.delete_model_version(args.name, args.version)
        print(f"Deleted version {args.version} of {args.name!r}.")
        return 0
    ctx.client.delete_registered_model(args.name)
    print(f"Deleted registered model {args.name!r} with its versions and aliases.")
    return 0
