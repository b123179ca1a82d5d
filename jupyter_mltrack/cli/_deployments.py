"""``mltrack deployments create|update|delete|list|get|predict|help -t TARGET``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import InvalidParameter
from ._common import Context, add_command
from ._output import print_json, print_table

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "deployments",
        help="deploy models to targets (built in: local scoring servers) through plugins",
        description="Deploy models through deployment-target plugins (MLflow's "
        "mlflow.deployments interface). Built in: 'local', scoring servers run as managed "
        "processes. See docs/deployments.md.",
    )
    sub = p.add_subparsers(dest="deployments_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, text: str, handler: Any, model: bool = False) -> argparse.ArgumentParser:
        c = add_command(sub, name, text, handler, needs_store=False)
        c.add_argument("-t", "--target", required=True, help="e.g. local, local:/DIR, sagemaker")
        if name != "help":
            if name != "list":
                c.add_argument("--name", required=True, help="the deployment's name")
            c.add_argument("--endpoint", default=None, help="the target's endpoint, if any")
        if model:
            c.add_argument(
                "-m", "--model-uri", required=name == "create", metavar="URI", help="the model"
            )
            c.add_argument("--flavor", default=None, help="default: python_function")
        if name in ("create", "update", "delete"):
            c.add_argument(
                "-C",
                "--config",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="a target config value (repeatable), e.g. -C workers=2",
            )
        return c

    command("create", "Deploy a model; waits until it can score.", create_cmd, model=True)
    command("update", "Serve another model or config under a deployment.", update_cmd, model=True)
    command("delete", "Stop and remove a deployment (its log is kept).", delete_cmd)
    c = command("list", "List the target's deployments with their health.", list_cmd)
    c.add_argument("--json", action="store_true", help="print JSON")
    command("get", "Show one deployment as JSON.", get_cmd)
    c = command("predict", "Score an input file with a deployment.", predict_cmd)
    c.add_argument(
        "-i",
        "--input-path",
        required=True,
        help="a JSON payload (MLflow's format), a .csv or a .parquet file",
    )
    c.add_argument("-o", "--output-path", default=None, help="write the JSON answer here")
    command("help", "Show a target's help (URI forms, config keys).", help_cmd)


def _config(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(f"-C takes KEY=VALUE; got {pair!r}")
        out[key.strip()] = value
    return out


def _client(ctx: Context) -> Any:
    import os

    from ..deployments import get_deploy_client

    os.environ["MLTRACK_TRACKING_URI"] = ctx.tracking_uri()
    return get_deploy_client(ctx.args.target)


def create_cmd(ctx: Context) -> int:
    a = ctx.args
    out = _client(ctx).create_deployment(
        a.name, a.model_uri, flavor=a.flavor, config=_config(a.config), endpoint=a.endpoint
    )
    print_json(out)
    return 0


def update_cmd(ctx: Context) -> int:
    a = ctx.args
    out = _client(ctx).update_deployment(
        a.name, a.model_uri, flavor=a.flavor, config=_config(a.config), endpoint=a.endpoint
    )
    print_json(out)
    return 0


def delete_cmd(ctx: Context) -> int:
    a = ctx.args
    _client(ctx).delete_deployment(a.name, config=_config(a.config), endpoint=a.endpoint)
    print(f"Deleted deployment {a.name!r}.", file=sys.stderr)
    return 0


def list_cmd(ctx: Context) -> int:
    a = ctx.args
    found = _client(ctx).list_deployments(endpoint=a.endpoint)
    if a.json:
        print_json(found)
        return 0
    rows = [
        [d.get("name"), d.get("status", ""), d.get("url", ""), d.get("model_uri", "")]
        for d in found
    ]
    print_table(["name", "status", "url", "model_uri"], rows, empty="(no deployments)")
    return 0


def get_cmd(ctx: Context) -> int:
    a = ctx.args
    print_json(_client(ctx).get_deployment(a.name, endpoint=a.endpoint))
    return 0


def predict_cmd(ctx: Context) -> int:
    from pathlib import Path

    import pandas as pd

    a = ctx.args
    path = Path(a.input_path)
    if not path.is_file():
        raise InvalidParameter(f"No input file at {a.input_path!r}.")
    suffix = path.suffix.lower()
    inputs: Any
    if suffix == ".csv":
        inputs = pd.read_csv(path)
    elif suffix in (".parquet", ".pq"):
        inputs = pd.read_parquet(path)
    else:
        try:
            inputs = json.loads(path.read_text())
        except ValueError as exc:
            raise InvalidParameter(f"{a.input_path} is not JSON ({exc}).") from None
    out = _client(ctx).predict(a.name, inputs, endpoint=a.endpoint)
    text = json.dumps(dict(out), default=str)
    if a.output_path:
        Path(a.output_path).write_text(text)
    else:
        print(text)
    return 0


def help_cmd(ctx: Context) -> int:
    from ..deployments import target_help

    print(target_help(ctx.args.target))
    return 0
