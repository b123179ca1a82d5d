"""``mltrack service status|stop``: the owner process of a local store (docs/service.md)."""

from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any

from ..config import resolve_duckdb_path
from ..errors import InvalidParameter, InvalidState, StoreUnavailable
from ._common import Context, add_command
from ._output import print_json, time_text

__all__ = ["register", "service_status"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "service", help="show or stop the process that serves a local store"
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = add_command(
        commands,
        "status",
        "Show who serves the store: pid, kind, socket, live runs, ingest and spool counts.",
        status_cmd,
        needs_store=False,
    )
    p.add_argument("--json", action="store_true", help="print the status as a JSON object")
    p = add_command(
        commands,
        "stop",
        "Stop the store service (it finishes running requests and closes the store cleanly).",
        stop_cmd,
        needs_store=False,
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds to wait for it to exit (default %(default)s)",
    )


def _paths(ctx: Context) -> Any:
    from ..service.owner import StorePaths

    uri = ctx.tracking_uri()
    if not uri.startswith("duckdb:"):
        raise InvalidParameter(
            f"'mltrack service' manages the owner of a local DuckDB store; {uri} is not one."
        )
    return StorePaths.for_store(resolve_duckdb_path(uri))


def service_status(paths: Any) -> dict[str, Any]:
    """What the lock file, the socket and the spool say about the owner of ``paths``."""
    from .._proc import pid_alive
    from ..service.owner import lock_is_held, read_lock_info
    from ..store.remote.transport import Transport

    info = read_lock_info(paths)
    held = lock_is_held(paths)
    status: dict[str, Any] = {
        "store": str(paths.store),
        "served": False,
        "owner": None,
        "socket": None,
        "pending_spool_files": _count(paths.spool, "*/*.arrow", skip="corrupt"),
        "corrupt_spool_files": _count(paths.spool / "corrupt", "*.arrow"),
    }
    if info is None or not held:
        if info is not None and info.pid and not pid_alive(info.pid):
            status["stale_owner_pid"] = info.pid
        return status
    status["owner"] = {"pid": info.pid, "kind": info.kind, "started_ms": info.started_ms}
    status["socket"] = info.socket
    if info.socket:
        probe = Transport("unix://" + info.socket, timeout=5.0)
        try:
            answer = probe.request("GET", "/mltrack/api/v1/info")
            status["info"] = answer.raise_for_error().json()
            status["served"] = True
        except Exception as exc:  # shown, not raised: status must work on a sick owner
            status["error"] = str(exc)
        finally:
            probe.close()
    return status


def _count(directory: Any, pattern: str, skip: str | None = None) -> int:
    if not directory.is_dir():
        return 0
    return sum(1 for p in directory.glob(pattern) if skip is None or p.parent.name != skip)


def status_cmd(ctx: Context) -> int:
    status = service_status(_paths(ctx))
    if ctx.args.json:
        print_json(status)
        return 0
    print(f"store:   {status['store']}")
    owner = status["owner"]
    if owner is None:
        stale = status.get("stale_owner_pid")
        note = f" (its last owner, pid {stale}, died; the next one recovers)" if stale else ""
        print(f"owner:   none; the next client starts the store service{note}")
    else:
        kind = {"service": "store service", "jupyter": "Jupyter server"}.get(
            owner["kind"], "direct mode (MLTRACK_STORE_MODE=direct)"
        )
        print(f"owner:   {kind}, pid {owner['pid']}, since {time_text(owner['started_ms'])}")
        answering = "answering" if status["served"] else f"NOT answering: {status.get('error')}"
        if status["socket"]:
            print(f"socket:  {status['socket']} ({answering})")
    info = status.get("info")
    if info:
        ingest = info.get("ingest", {})
        print(f"version: {info.get('version')} (schema {info.get('schema_version')})")
        print(
            f"runs:    {info.get('live_runs')} live (heartbeat every {info.get('heartbeat_s')} s;"
            f" KILLED after {info.get('run_timeout_s')} s without one)"
        )
        idle = info.get("idle_timeout_s")
        print(f"idle:    {'never exits' if idle is None else f'exits after {idle} s idle'}")
        print(
            f"ingest:  {ingest.get('rows', 0)} rows in {ingest.get('batches', 0)} batches, "
            f"{ingest.get('duplicates', 0)} replays skipped, "
            f"{ingest.get('spool_files', 0)} spool files recovered"
        )
    print(
        f"spool:   {status['pending_spool_files']} pending file(s), "
        f"{status['corrupt_spool_files']} unreadable (in spool/corrupt)"
    )
    return 0


def stop_cmd(ctx: Context) -> int:
    from ..service.owner import lock_is_held, read_lock_info

    paths = _paths(ctx)
    info = read_lock_info(paths)
    if info is None or not lock_is_held(paths) or not info.pid:
        print(f"No store service is running for {paths.store}.")
        return 0
    if info.kind == "jupyter":
        raise InvalidState(
            f"The store {paths.store} is served by a Jupyter server (pid {info.pid}); it "
            "stops serving when that server stops."
        )
    if info.kind != "service":
        raise InvalidState(
            f"The store {paths.store} is open in {info.describe()}; it is released when "
            "that process ends."
        )
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"The store service (pid {info.pid}) had already exited.")
        return 0
    except PermissionError as exc:
        raise StoreUnavailable(
            f"Permission denied to stop the store service pid {info.pid}: it runs as another user."
        ) from exc
    deadline = time.monotonic() + float(ctx.args.timeout)
    while lock_is_held(paths):
        if time.monotonic() > deadline:
            raise StoreUnavailable(
                f"The store service (pid {info.pid}) did not exit within {ctx.args.timeout:g} "
                f"s; see {paths.log}. `kill -9 {info.pid}` ends it at once: committed data "
                "is safe, and clients' spooled batches are replayed by the next owner."
            )
        time.sleep(0.05)
    print(f"Stopped the store service (pid {info.pid}) of {paths.store}.")
    return 0
