"""What every command shares: the context, command registration and id resolution."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import get_tracking_uri, normalize_uri, resolve_duckdb_path
from ..entities import Experiment
from ..errors import ExperimentNotFound, InvalidParameter, NotFound, RunNotFound, StoreUnavailable

if TYPE_CHECKING:
    from ..tracking.client import TrackingClient

__all__ = [
    "Context",
    "Handler",
    "add_command",
    "all_experiment_ids",
    "global_options",
    "resolve_experiment",
    "resolve_experiment_ids",
    "resolve_run_id",
]

Handler = Callable[["Context"], int]

#: A run id prefix as shown in tables (8 characters); only hex, so it is safe inside a filter.
_RUN_PREFIX = re.compile(r"[0-9a-f]{4,31}")


class Context:
    """One command invocation: its parsed arguments and a client opened on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._client: TrackingClient | None = None

    @property
    def client(self) -> TrackingClient:
        if self._client is None:
            from ..tracking.client import TrackingClient

            uri = self.tracking_uri()
            if getattr(self.args, "needs_store", True):
                _require_existing_store(uri)
            self._client = TrackingClient(uri)
        return self._client

    def tracking_uri(self) -> str:
        """``--tracking-uri``, else ``MLTRACK_TRACKING_URI``, else the default store."""
        given: str | None = getattr(self.args, "tracking_uri", None)
        return normalize_uri(given) if given else get_tracking_uri()


def _require_existing_store(uri: str) -> None:
    # Reading commands must not create an empty store because of a typo in a path.
    if not uri.startswith("duckdb:"):
        return
    path = resolve_duckdb_path(uri)
    if not path.is_file():
        raise StoreUnavailable(
            f"No tracking store at {path}; pass --tracking-uri PATH or set "
            "MLTRACK_TRACKING_URI (run 'mltrack experiments create NAME' to start a new store)."
        )


def global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--tracking-uri`` and ``--debug``; on subcommands they default to "not given"."""
    default_uri = None if top else argparse.SUPPRESS
    default_debug = False if top else argparse.SUPPRESS
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        default=default_uri,
        help="store to use: a path or duckdb:///path/store.duckdb "
        "(default: $MLTRACK_TRACKING_URI, else ./mltrack/store.duckdb)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default_debug,
        help="show the full traceback when a command fails",
    )


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    needs_store: bool = True,
) -> argparse.ArgumentParser:
    """Add a subcommand that runs ``handler`` and also accepts the global options."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    global_options(parser, top=False)
    parser.set_defaults(handler=handler, needs_store=needs_store)
    return parser


def resolve_experiment(client: TrackingClient, ref: str) -> Experiment:
    """The experiment whose id is ``ref``, else the one named ``ref``."""
    try:
        return client.get_experiment(ref)
    except (NotFound, InvalidParameter):
        pass  # not an id: try it as a name
    try:
        found = client.get_experiment_by_name(ref)
    except InvalidParameter:
        found = None
    if found is None:
        raise ExperimentNotFound(
            f"No experiment with id or name {ref!r}; list them with 'mltrack experiments list "
            "--all'."
        )
    return found


def all_experiment_ids(client: TrackingClient, view_type: str = "ACTIVE_ONLY") -> list[str]:
    return [e.experiment_id for e in client.search_experiments(view_type=view_type)]


def resolve_experiment_ids(client: TrackingClient, refs: list[str] | None) -> list[str]:
    """Ids of the experiments named by id or name; every active experiment when none given."""
    if not refs:
        return all_experiment_ids(client)
    return [resolve_experiment(client, ref).experiment_id for ref in refs]


def resolve_run_id(client: TrackingClient, ref: str) -> str:
    """``ref`` when it is a run id, else the one run whose id starts with ``ref``.

    Raises ``RunNotFound`` for no match and ``InvalidParameter`` for an ambiguous prefix.
    """
    try:
        return client.get_run(ref).info.run_id
    except RunNotFound:
        if not _RUN_PREFIX.fullmatch(ref):
            raise
    ids = all_experiment_ids(client, "ALL")
    matches = client.search_runs(
        ids, f"attributes.run_id LIKE '{ref}%'", run_view_type="ALL", max_results=3
    )
    if not matches:
        raise RunNotFound(
            f"No run with id or id prefix {ref!r}; list runs with 'mltrack runs list'."
        )
    if len(matches) > 1:
        shown = ", ".join(r.info.run_id for r in matches[:2])
        raise InvalidParameter(
            f"Run id prefix {ref!r} is ambiguous (matches {shown}, ...); give more characters."
        )
    return matches[0].info.run_id
