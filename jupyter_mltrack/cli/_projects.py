"""``mltrack run`` (a project entry point as a tracked run) and ``mltrack init`` (templates)."""

from __future__ import annotations

import argparse
import sys

from ..errors import InvalidParameter
from ._common import Context, add_command

__all__ = ["parse_param", "register"]


def parse_param(text: str) -> tuple[str, str]:
    """An argparse type: ``key=value`` (the value may contain ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "run",
        "Run a project entry point (MLproject, .py, .sh or .ipynb) as a tracked run.",
        run_cmd,
        needs_store=False,
    )
    p.add_argument("uri", metavar="URI", help="project folder, file:// or git URL (#subdir ok)")
    p.add_argument("--entry-point", "-e", default="main", metavar="NAME",
                   help="entry point or script/notebook file (default: main)")  # fmt: skip
    p.add_argument("--param", "-P", dest="params", action="append", type=parse_param,
                   default=[], metavar="KEY=VALUE", help="a parameter; repeatable")  # fmt: skip
    exp = p.add_mutually_exclusive_group()
    exp.add_argument("--experiment-name", metavar="NAME", help="experiment (created if missing)")
    exp.add_argument("--experiment-id", metavar="ID", help="experiment id")
    p.add_argument("--run-name", metavar="NAME", help="name of the new run")
    p.add_argument(
        "--env-manager",
        choices=["local", "virtualenv", "uv", "conda", "docker"],
        help="where to run (default: what the project declares, else local)",
    )
    p.add_argument("--version", "-v", metavar="GIT_REF", help="git branch, tag or commit")
    p.add_argument("--build-image", action="store_true", help="docker_env: build the image")
    p.add_argument("--quiet", "-q", action="store_true", help="do not echo the command's output")

    p = add_command(
        subparsers,
        "init",
        "Start a project from a template (mltrack init --list shows them).",
        init_cmd,
        needs_store=False,
    )
    p.add_argument("directory", metavar="DIR", nargs="?", help="new project folder")
    p.add_argument("--template", "-t", metavar="NAME", help="template name")
    p.add_argument("--list", action="store_true", help="list the available templates")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")


def run_cmd(ctx: Context) -> int:
    from ..projects import run

    args = ctx.args
    params = dict(args.params)
    submitted = run(
        args.uri,
        entry_point=args.entry_point,
        version=args.version,
        parameters=params,
        experiment_name=args.experiment_name,
        experiment_id=args.experiment_id,
        run_name=args.run_name,
        env_manager=args.env_manager,
        build_image=args.build_image,
        synchronous=False,
        tracking_uri=ctx.tracking_uri(),
        stream_output=not args.quiet,
    )
    print(f"mltrack: run {submitted.run_id} started: {submitted.command}", file=sys.stderr)
    sys.stderr.flush()
    ok = submitted.wait()
    status = submitted.get_status()
    if not ok:
        print(f"error: {submitted.failure_message()}", file=sys.stderr)
        return 1
    print(f"mltrack: run {submitted.run_id} {status}", file=sys.stderr)
    return 0


def init_cmd(ctx: Context) -> int:
    from ..projects.templates import available_templates, create_project

    args = ctx.args
    if args.list:
        templates = available_templates()
        width = max((len(n) for n in templates), default=4)
        for name, template in sorted(templates.items()):
            print(f"{name:<{width}}  {template.description}")
        return 0
    if not args.template or not args.directory:
        raise InvalidParameter(
            "mltrack init needs --template NAME and DIR (mltrack init --template "
            "classification my-project); mltrack init --list shows the templates."
        )
    path = create_project(args.template, args.directory, force=args.force)
    print(f"Created {path} from template {args.template!r}. Next: cd {path}; see README.md.")
    return 0


def add_reproduce_options(p: argparse.ArgumentParser) -> None:
    """The options of ``mltrack runs reproduce`` (registered by the runs group)."""
    p.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    p.add_argument("--dir", "-d", required=True, metavar="DIR", help="folder to write (new)")
    p.add_argument("--run", action="store_true", help="run it and compare the metrics")
    p.add_argument(
        "--env-manager",
        default="local",
        choices=["local", "virtualenv", "uv"],
        help="where --run runs it (default: local, this environment)",
    )
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")


def reproduce_cmd(ctx: Context) -> int:
    from ..projects.reproduce import reproduce_run
    from ._common import resolve_run_id

    args = ctx.args
    run_id = resolve_run_id(ctx.client, args.run_id)
    repro, new_run_id, comparisons = reproduce_run(
        run_id,
        args.dir,
        run=args.run,
        env_manager=args.env_manager,
        tracking_uri=ctx.client.tracking_uri,
        force=args.force,
    )
    print(f"Wrote {repro.kind} reproduction of run {run_id} to {repro.directory}")
    for note in repro.notes:
        print(f"  note: {note}")
    if new_run_id is None:
        uri = repro.project_uri or str(repro.directory)
        print(f"Run it with: mltrack run {uri}")
        return 0
    print(f"Reproduced as run {new_run_id}:")
    rows = [
        (c.key, _num(c.old), _num(c.new), "same" if c.same else "DIFFERENT") for c in comparisons
    ]
    width = max([len(r[0]) for r in rows] + [6])
    print(f"  {'metric':<{width}}  {'old':>14}  {'new':>14}")
    for key, old, new, verdict in rows:
        print(f"  {key:<{width}}  {old:>14}  {new:>14}  {verdict}")
    differ = [c.key for c in comparisons if not c.same]
    if differ:
        print(f"{len(differ)} of {len(comparisons)} metrics differ: {', '.join(differ)}")
        return 1
    print(f"All {len(comparisons)} metrics match.")
    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
