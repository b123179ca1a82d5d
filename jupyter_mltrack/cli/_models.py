"""``mltrack models ...``: the registry commands and the serving/batch commands.

The group is assembled from focused modules, each exposing ``add_commands(sub)``:
``_models_registry`` (list, show, register, alias, delete) and ``_models_serve``
(serve, predict, generate-dockerfile). docs/cli.md documents every command.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["register"]

#: the modules that add subcommands to ``mltrack models`` (imported when present)
_PARTS = ("_models_registry", "_models_serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "models",
        help="registered models and versions; serve or batch-score a model",
        description="Manage the model registry (registered models, versions, aliases) and "
        "score models: a REST scoring server, batch prediction over files.",
    )
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    for name in _PARTS:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        module.add_commands(sub)
