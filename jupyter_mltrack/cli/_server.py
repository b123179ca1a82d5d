"""``mltrack server``: serve one store over HTTP to a team (docs/server.md)."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import replace
from pathlib import Path

from ..settings import (
    ENV_SERVER_ARTIFACTS_DESTINATION,
    ENV_SERVER_BACKEND_STORE_URI,
    ENV_SERVER_EXPOSE_METRICS,
    ENV_SERVER_HOST,
    ENV_SERVER_PORT,
    ENV_SERVER_WORKERS,
)
from ._common import Context
from ._server_admin import register_admin

__all__ = ["register"]

_DESCRIPTION = """\
Serve one jupyter-mltrack store over HTTP: our client (mt.set_tracking_uri("http://HOST:PORT"))
and unchanged MLflow code (MLFLOW_TRACKING_URI=http://HOST:PORT) log to it and read from it.
Every option can also be set with the environment variable named in its help; a flag wins
over the variable. Stop it with Ctrl-C or SIGTERM: requests in flight finish and the store is
closed cleanly.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "serve a store over HTTP to a team (and to unchanged MLflow code)"
    p = subparsers.add_parser(
        "server",
        help=help_text,
        description=_DESCRIPTION,
        epilog=textwrap.dedent("""\
            example:
              mltrack server --backend-store-uri duckdb:///srv/mltrack/store.duckdb \\
                  --artifacts-destination /srv/mltrack/artifacts --host 0.0.0.0 --port 5000
            See docs/server.md (scrape config for --expose-metrics, client setup)."""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host",
        metavar="HOST",
        help="interface to listen on; 0.0.0.0 for every interface "
        f"(default 127.0.0.1: this machine only; ${ENV_SERVER_HOST})",
    )
    p.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help=f"TCP port; 0 picks a free one and prints it (default 5000; ${ENV_SERVER_PORT})",
    )
    p.add_argument(
        "--backend-store-uri",
        metavar="URI",
        help="where runs are stored: duckdb:///path/store.duckdb or a path (created when "
        f"missing; default ./mltrack-server/store.duckdb; ${ENV_SERVER_BACKEND_STORE_URI})",
    )
    p.add_argument(
        "--artifacts-destination",
        metavar="DIR|s3://BUCKET/PREFIX",
        help="where the server keeps artifacts and proxies them to clients: a directory, "
        "or s3://bucket/prefix (credentials from the AWS_* variables; clients never need "
        f"them) (default: 'artifacts' beside the store file; ${ENV_SERVER_ARTIFACTS_DESTINATION})",
    )
    p.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="S3 endpoint of an s3:// artifacts destination, e.g. http://127.0.0.1:8333 for "
        "SeaweedFS or MinIO (default: AWS, or $MLTRACK_S3_ENDPOINT_URL)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes; a DuckDB store is owned by one process, so only 1 is "
        "accepted with a duckdb backend (its requests run on a thread pool; several "
        f"processes need a PostgreSQL backend) (default 1; ${ENV_SERVER_WORKERS})",
    )
    p.add_argument(
        "--expose-metrics",
        action="store_const",
        const=True,
        help="serve Prometheus metrics at /metrics: requests, latency and errors per route, "
        "ingested points and batches, spool replays, store size, live runs "
        f"(${ENV_SERVER_EXPOSE_METRICS}=true)",
    )
    p.add_argument(
        "--auth",
        action="store_const",
        const=True,
        help="require authentication (HTTP basic or bearer tokens) and per-experiment "
        "permissions; the first start creates the admin from $MLTRACK_ADMIN_USERNAME and "
        "$MLTRACK_ADMIN_PASSWORD (or $MLTRACK_ADMIN_PASSWORD_FILE); docs/auth.md",
    )
    p.add_argument(
        "--auth-db",
        metavar="PATH",
        help="DuckDB backend: the users/tokens/permissions SQLite file (default auth.sqlite "
        "beside the store); with PostgreSQL they live in its database (schema mltrack_auth)",
    )
    p.add_argument(
        "--auth-default-permission",
        metavar="LEVEL",
        choices=["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"],
        help="permission of users on experiments nobody granted them (default NO_PERMISSIONS)",
    )
    p.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--keyfile", metavar="PEM", help="the private key of --certfile")
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback when the server fails to start",
    )
    p.set_defaults(handler=server_cmd, needs_store=False)
    register_admin(p)  # mltrack server users|tokens|permissions (cli/_server_admin.py)


def server_cmd(ctx: Context) -> int:
    from ..teamserver import ServerOptions, main_loop

    args = ctx.args
    options = ServerOptions.from_env()
    given = {
        "host": args.host,
        "port": args.port,
        "backend_store_uri": args.backend_store_uri,
        "artifacts_destination": args.artifacts_destination,
        "workers": args.workers,
        "expose_metrics": args.expose_metrics,
        "s3_endpoint_url": args.s3_endpoint_url,
        "auth": args.auth,
        "auth_db": Path(args.auth_db) if args.auth_db else None,
        "auth_default_permission": args.auth_default_permission,
        "certfile": Path(args.certfile) if args.certfile else None,
        "keyfile": Path(args.keyfile) if args.keyfile else None,
    }
    options = replace(options, **{k: v for k, v in given.items() if v is not None})
    return main_loop(options.validated())
