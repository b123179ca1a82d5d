"""``mltrack server users|tokens|permissions``: administer a ``mltrack server --auth``.

Each command calls the server's REST routes (docs/auth.md) at ``--tracking-uri`` (or
``$MLTRACK_TRACKING_URI``, an ``http(s)://`` URL) with the credentials of the client's
variables: ``MLTRACK_TRACKING_TOKEN``, or ``MLTRACK_TRACKING_USERNAME`` and
``MLTRACK_TRACKING_PASSWORD`` (else the ``MLFLOW_TRACKING_*`` ones). Passwords are read
from the terminal without echo, or from stdin with ``--password-stdin``; they are never
command-line arguments (those show in ``ps`` and shell history).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import InvalidParameter, MltrackError, StoreUnavailable
from ..settings import auth_headers_from_env
from ._common import Context, add_command

__all__ = ["register_admin"]


def _url(ctx: Context) -> str:
    uri = getattr(ctx.args, "tracking_uri", None) or ctx.tracking_uri()
    if not uri.startswith(("http://", "https://")):
        raise InvalidParameter(
            f"--tracking-uri {uri!r}: these commands talk to a running mltrack server; pass "
            "its URL, e.g. --tracking-uri http://127.0.0.1:5000 (or set MLTRACK_TRACKING_URI)."
        )
    return uri.rstrip("/")


def _call(ctx: Context, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = _url(ctx) + path
    data = None
    if body is not None and method == "GET":
        url += "?" + urllib.parse.urlencode({k: v for k, v in body.items() if v is not None})
    elif body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for name, value in auth_headers_from_env().items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            detail = json.loads(raw)
            message = detail.get("message") or raw.decode(errors="replace")
        except ValueError:
            message = raw[:200].decode(errors="replace")
        hint = (
            " Set MLTRACK_TRACKING_USERNAME and MLTRACK_TRACKING_PASSWORD (or "
            "MLTRACK_TRACKING_TOKEN) to an administrator's."
            if exc.code in (401, 403)
            else ""
        )
        raise MltrackError(f"{method} {path}: HTTP {exc.code}: {message}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StoreUnavailable(
            f"Could not reach the mltrack server at {_url(ctx)}: {exc}."
        ) from None
    return json.loads(raw or b"{}")


def _password(args: argparse.Namespace, prompt: str) -> str:
    if args.password_stdin:
        value = sys.stdin.readline().rstrip("\n")
    else:
        value = getpass.getpass(prompt)
        if getpass.getpass("again: ") != value:
            raise InvalidParameter("The two passwords differ; nothing was changed.")
    if not value:
        raise InvalidParameter("The password is empty; nothing was changed.")
    return value


def _out(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return
    widths = [max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in rows:
        print(
            "  ".join(
                str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)
            ).rstrip()
        )


# users
def users_create(ctx: Context) -> int:
    a = ctx.args
    user = _call(
        ctx,
        "POST",
        "/api/2.0/mlflow/users/create",
        {"username": a.username, "password": _password(a, f"password for {a.username}: ")},
    )["user"]
    if a.admin:
        _call(
            ctx,
            "PATCH",
            "/api/2.0/mlflow/users/update-admin",
            {"username": a.username, "is_admin": True},
        )
    print(f"created user {user['username']}" + (" (administrator)" if a.admin else ""))
    return 0


def users_list(ctx: Context) -> int:
    users = _call(ctx, "GET", "/api/2.0/mlflow/users/list")["users"]
    rows = [
        {
            "username": u["username"],
            "admin": "yes" if u["is_admin"] else "",
            "experiments": len(u["experiment_permissions"]),
        }
        for u in users
    ]
    _out(ctx.args, rows, ["username", "admin", "experiments"])
    return 0


def users_delete(ctx: Context) -> int:
    _call(ctx, "DELETE", "/api/2.0/mlflow/users/delete", {"username": ctx.args.username})
    print(f"deleted user {ctx.args.username} (and their tokens and permissions)")
    return 0


def users_set_password(ctx: Context) -> int:
    a = ctx.args
    _call(
        ctx,
        "PATCH",
        "/api/2.0/mlflow/users/update-password",
        {"username": a.username, "password": _password(a, f"new password for {a.username}: ")},
    )
    print(f"set the password of {a.username}")
    return 0


# tokens
def tokens_create(ctx: Context) -> int:
    a = ctx.args
    reply = _call(
        ctx,
        "POST",
        "/api/2.0/mltrack/tokens/create",
        {"username": a.user, "name": a.name, "expires_in_days": a.expires_in_days},
    )
    info = reply["token_info"]
    print(reply["token"])
    print(
        f"token {info['id']} for {info['username']}: shown once, store it now "
        "(MLTRACK_TRACKING_TOKEN / MLFLOW_TRACKING_TOKEN).",
        file=sys.stderr,
    )
    return 0


def tokens_revoke(ctx: Context) -> int:
    _call(ctx, "POST", "/api/2.0/mltrack/tokens/revoke", {"token_id": ctx.args.token_id})
    print(f"revoked token {ctx.args.token_id}")
    return 0


def tokens_list(ctx: Context) -> int:
    tokens = _call(ctx, "GET", "/api/2.0/mltrack/tokens/list", {"username": ctx.args.user})[
        "tokens"
    ]
    _out(ctx.args, tokens, ["id", "username", "name", "expires_ms", "revoked_ms"])
    return 0


# permissions
def permissions_grant(ctx: Context) -> int:
    a = ctx.args
    _call(
        ctx,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {
            "username": a.username,
            "resource_type": a.resource_type,
            "resource_id": a.resource_id,
            "permission": a.permission.upper(),
        },
    )
    print(f"granted {a.permission.upper()} on {a.resource_type} {a.resource_id} to {a.username}")
    return 0


def permissions_revoke(ctx: Context) -> int:
    a = ctx.args
    _call(
        ctx,
        "POST",
        "/api/3.0/mlflow/users/permissions/revoke",
        {"username": a.username, "resource_type": a.resource_type, "resource_id": a.resource_id},
    )
    print(f"revoked {a.resource_type} {a.resource_id} from {a.username}")
    return 0


def permissions_list(ctx: Context) -> int:
    a = ctx.args
    names = (
        [a.user]
        if a.user
        else [u["username"] for u in _call(ctx, "GET", "/api/2.0/mlflow/users/list")["users"]]
    )
    rows = []
    for name in names:
        listed = _call(ctx, "GET", "/api/3.0/mlflow/users/permissions/list", {"username": name})
        rows += [{"username": name, **p} for p in listed["permissions"]]
    _out(a, rows, ["username", "resource_type", "resource_id", "permission"])
    return 0


def register_admin(server: argparse.ArgumentParser) -> None:
    """Add ``users``, ``tokens`` and ``permissions`` under the ``server`` parser."""
    groups = server.add_subparsers(dest="server_group", metavar="{users,tokens,permissions}")
    users = groups.add_parser("users", help="create, list, delete users, set passwords")
    u = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = add_command(u, "create", "create a user (prompts for the password)", users_create, False)
    p.add_argument("username")
    p.add_argument("--admin", action="store_true", help="make the user an administrator")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = add_command(u, "list", "list users", users_list, False)
    p.add_argument("--json", action="store_true")
    p = add_command(
        u, "delete", "delete a user with their tokens and permissions", users_delete, False
    )
    p.add_argument("username")
    p = add_command(
        u, "set-password", "set a user's password (prompts for it)", users_set_password, False
    )
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    tokens = groups.add_parser("tokens", help="create, revoke, list API tokens")
    t = tokens.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = add_command(
        t, "create", "create an API token (printed once on stdout)", tokens_create, False
    )
    p.add_argument("--user", help="for this user (default: yourself; others need an admin)")
    p.add_argument("--name", default="", help="a label, e.g. 'ci'")
    p.add_argument("--expires-in-days", type=float, default=90, help="0: never (default 90)")
    p = add_command(t, "revoke", "revoke a token by its id", tokens_revoke, False)
    p.add_argument("token_id")
    p = add_command(t, "list", "list tokens (never their secrets)", tokens_list, False)
    p.add_argument("--user")
    p.add_argument("--json", action="store_true")

    perms = groups.add_parser("permissions", help="grant, revoke, list permissions")
    g = perms.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, fn, text in (
        ("grant", permissions_grant, "grant a permission"),
        ("revoke", permissions_revoke, "revoke a permission"),
    ):
        p = add_command(g, name, text, fn, False)
        p.add_argument("username")
        p.add_argument("resource_id", help="the experiment id (or registered model name)")
        if name == "grant":
            p.add_argument("permission", help="READ, EDIT, MANAGE or NO_PERMISSIONS")
        p.add_argument(
            "--resource-type", default="experiment", choices=["experiment", "registered_model"]
        )
    p = add_command(g, "list", "list granted permissions", permissions_list, False)
    p.add_argument("--user")
    p.add_argument("--json", action="store_true")
