"""``mltrack models serve | predict | generate-dockerfile`` (docs/serving.md, docs/cli.md)."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import InvalidParameter
from ._common import Context, add_command

__all__ = ["ENV_SERVE_TOKEN", "add_commands"]

#: the bearer token a served model requires, when --auth-token is not given
ENV_SERVE_TOKEN = "MLTRACK_SERVE_TOKEN"

_URI_HELP = (
    "the model: a path, runs:/RUN_ID/PATH, models:/NAME/VERSION, models:/NAME@ALIAS, "
    "models:/NAME/latest or models:/MODEL_ID"
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "serve",
        "Serve a model over HTTP: POST /invocations with MLflow's payloads, /ping, /health, "
        "/version, /metrics.",
        serve_cmd,
        needs_store=False,
    )
    p.add_argument("-m", "--model-uri", required=True, metavar="URI", help=_URI_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "-p",
        "--port",
        type=int,
        default=None,
        help="port (default: $MLTRACK_SERVE_PORT, else 5000)",
    )
    p.add_argument(
        "-w",
        "--workers",
        type=int,
        default=None,
        help="worker processes sharing the port (default: $MLTRACK_SERVE_WORKERS, else 1)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds a prediction may take before the request gets a 504 (default: 60)",
    )
    p.add_argument(
        "--max-batch-rows",
        type=int,
        default=None,
        metavar="R",
        help="refuse (413) requests with more rows than this (default: no limit)",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=64.0,
        metavar="MB",
        help="refuse (413) bodies larger than this many MiB (default: 64)",
    )
    p.add_argument(
        "--auth-token",
        default=None,
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' on /invocations, /version and /metrics "
        f"(default: ${ENV_SERVE_TOKEN}, else no auth; prefer the variable, arguments are "
        "visible to other users)",
    )
    p.add_argument(
        "--watch-alias",
        nargs="?",
        type=float,
        const=10.0,
        default=None,
        metavar="SECONDS",
        help="for a models:/NAME@ALIAS URI: poll the alias (every 10 s, or SECONDS) and load "
        "its new version when it moves, answering from the old one meanwhile",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, seconds to let requests in flight finish (default: 30)",
    )

    p = add_command(
        sub,
        "predict",
        "Score a CSV, JSON-lines or Parquet file (or a directory of parts) in chunks.",
        predict_cmd,
        needs_store=False,
    )
    p.add_argument("-m", "--model-uri", required=True, metavar="URI", help=_URI_HELP)
    p.add_argument("-i", "--input-path", required=True, metavar="INPUT", help="file or directory")
    p.add_argument("-o", "--output-path", required=True, metavar="OUTPUT", help="file to write")
    p.add_argument(
        "--input-format", choices=("parquet", "csv", "jsonl"), help="default: from the extension"
    )
    p.add_argument(
        "--output-format", choices=("parquet", "csv", "jsonl"), help="default: from the extension"
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="rows scored at a time (default: 100000)",
    )
    p.add_argument(
        "--keep-input", action="store_true", help="write the input columns before the predictions"
    )
    p.add_argument(
        "--env-manager",
        choices=("local", "virtualenv"),
        default="local",
        help="local: this environment (default); virtualenv: a virtual environment made "
        "from the model's requirements.txt",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    p = add_command(
        sub,
        "generate-dockerfile",
        "Write a Docker build context (Dockerfile, the model, pinned requirements) whose "
        "entrypoint serves the model on port 8080.",
        dockerfile_cmd,
        needs_store=False,
    )
    p.add_argument("-m", "--model-uri", required=True, metavar="URI", help=_URI_HELP)
    p.add_argument(
        "-d", "--output-directory", required=True, metavar="DIR", help="the build context"
    )
    p.add_argument(
        "--env-manager",
        choices=("local", "virtualenv"),
        default="virtualenv",
        help="virtualenv: the image gets a virtual environment from the model's "
        "requirements (default); local: the requirements go into the image's Python",
    )
    p.add_argument(
        "--base-image",
        default="python:3.11-slim",
        help="the FROM image (default: python:3.11-slim)",
    )


def _use_store(ctx: Context) -> str:
    """The tracking URI for models:/ and runs:/ URIs, also for the processes we start."""
    uri = ctx.tracking_uri()
    os.environ["MLTRACK_TRACKING_URI"] = uri
    return uri


def serve_cmd(ctx: Context) -> int:
    from ..serving.app import ServeOptions
    from ..serving.server import serve

    a = ctx.args
    token = a.auth_token or os.environ.get(ENV_SERVE_TOKEN) or None
    if a.max_body_mb <= 0:
        raise InvalidParameter(f"--max-body-mb must be > 0; got {a.max_body_mb}")
    options = ServeOptions(
        model_uri=a.model_uri,
        timeout_s=a.timeout,
        max_body_bytes=int(a.max_body_mb * 1024 * 1024),
        max_batch_rows=a.max_batch_rows,
        auth_token=token,
        tracking_uri=_use_store(ctx),
        watch_alias_s=a.watch_alias,
    )
    if a.watch_alias is not None:
        from ..serving.loader import parse_alias_uri

        if parse_alias_uri(a.model_uri) is None:
            raise InvalidParameter(
                f"--watch-alias needs a models:/NAME@ALIAS URI; {a.model_uri!r} names no alias."
            )
    port = a.port if a.port is not None else _env_int("MLTRACK_SERVE_PORT", 5000)
    workers = a.workers if a.workers is not None else _env_int("MLTRACK_SERVE_WORKERS", 1)
    return serve(options, host=a.host, port=port, workers=workers, grace_s=a.grace)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"${name} must be a whole number; got {raw!r}") from None


def predict_cmd(ctx: Context) -> int:
    a = ctx.args
    _use_store(ctx)
    progress = False if a.no_progress else None
    if a.env_manager == "virtualenv":
        from ..serving.envs import predict_in_virtualenv

        result = predict_in_virtualenv(
            a.model_uri,
            a.input_path,
            a.output_path,
            input_format=a.input_format,
            output_format=a.output_format,
            chunk_rows=a.chunk_rows,
            keep_input=a.keep_input,
            progress=progress,
        )
    else:
        from ..serving.batch import predict_files

        result = predict_files(
            a.model_uri,
            a.input_path,
            a.output_path,
            input_format=a.input_format,
            output_format=a.output_format,
            chunk_rows=a.chunk_rows,
            keep_input=a.keep_input,
            progress=progress,
        )
    print(
        f"Scored {result.rows:,} rows in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s) into {result.output}",
        file=sys.stderr,
    )
    return 0


def dockerfile_cmd(ctx: Context) -> int:
    from ..serving.docker import generate_build_context

    a = ctx.args
    _use_store(ctx)
    path = generate_build_context(
        a.model_uri, a.output_directory, env_manager=a.env_manager, base_image=a.base_image
    )
    print(f"Wrote a Docker build context to {path}; build it with 'docker build {path}'.")
    return 0
