"""Capture where a run comes from: user, source, git state, host and installed packages.

:func:`capture_run_context` returns a :class:`RunContext` whose ``tags`` use MLflow's names
where MLflow has one (``mlflow.user``, ``mlflow.source.*``) and ``mltrack.*`` otherwise, and
whose ``artifacts`` map an artifact file name to its text (``environment/requirements.txt``
always, ``environment/git_diff.patch`` when the work tree is dirty).

It never raises because of the environment: no git, not a repository, a hung git, or an
unknown user only leave the matching tags out. Git is asked through the ``git`` executable
with a 2 s timeout per call. The requirements list is cached per process and rebuilt only
when a directory on ``sys.path`` changes (a ``%pip install`` adds a ``*.dist-info`` entry,
which changes the directory's mtime), so a warm capture costs a few git calls.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ARTIFACT_GIT_DIFF",
    "ARTIFACT_REQUIREMENTS",
    "GIT_TIMEOUT_S",
    "SOURCE_TYPE_LOCAL",
    "SOURCE_TYPE_NOTEBOOK",
    "RunContext",
    "capture_run_context",
    "jupyter_session_name",
    "requirements_text",
]

logger = logging.getLogger(__name__)

ARTIFACT_REQUIREMENTS = "environment/requirements.txt"
ARTIFACT_GIT_DIFF = "environment/git_diff.patch"
SOURCE_TYPE_NOTEBOOK = "NOTEBOOK"
SOURCE_TYPE_LOCAL = "LOCAL"
GIT_TIMEOUT_S = 2.0

# Tag names. MLflow's where MLflow defines one, so MLflow clients and UIs read them.
TAG_USER = "mlflow.user"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_GIT_BRANCH = "mlflow.source.git.branch"
TAG_GIT_REPO_URL = "mlflow.source.git.repoURL"
TAG_GIT_DIRTY = "mltrack.git.dirty"
TAG_HOST = "mltrack.host"
TAG_PYTHON = "mltrack.python"
TAG_PLATFORM = "mltrack.platform"
#: A script run (``python train.py --lr 0.1``): its argv as a JSON list and the working
#: directory, so ``mltrack runs reproduce`` can give the same command.
TAG_ARGV = "mltrack.source.argv"
TAG_CWD = "mltrack.source.cwd"


@dataclass(frozen=True)
class RunContext:
    """Tags and text artifacts describing where and how a run was started."""

    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def capture_run_context(
    source: str | None = None, max_diff_bytes: int = 100_000, requirements: bool = True
) -> RunContext:
    """Capture the run context of the current process.

    Args:
        source: the script or notebook path to record; by default the notebook of the Jupyter
            session, else ``sys.argv[0]``, else ``<interactive>`` (IPython) / ``<stdin>``.
        max_diff_bytes: cap on ``environment/git_diff.patch``; a longer diff is cut there and
            ends with a line saying so and giving the full size.
        requirements: include ``environment/requirements.txt`` (the first listing in a
            process reads every installed distribution's metadata: a second or more);
            ``mltrack run`` lists the project environment's packages itself.

    Returns:
        A :class:`RunContext`. Git tags are absent when git is missing or the source is not in
        a repository; this function does not raise for environment problems.

    Example::

        ctx = capture_run_context()
        ctx.tags["mlflow.source.git.commit"]  # present inside a git repository
    """
    source_name, source_type, git_dir = _resolve_source(source)
    tags: dict[str, str] = {TAG_SOURCE_NAME: source_name, TAG_SOURCE_TYPE: source_type}
    user = _user()
    if user:
        tags[TAG_USER] = user
    tags.update(_host_tags())
    if source is None and source_type == SOURCE_TYPE_LOCAL and source_name.endswith(".py"):
        tags[TAG_ARGV] = json.dumps(sys.argv)[:5000]
        tags[TAG_CWD] = str(Path.cwd())
    artifacts = {ARTIFACT_REQUIREMENTS: requirements_text()} if requirements else {}

    git_tags, diff = _git_state(git_dir, max_diff_bytes)
    tags.update(git_tags)
    if diff is not None:
        artifacts[ARTIFACT_GIT_DIFF] = diff
    return RunContext(tags=tags, artifacts=artifacts)


# --- source -------------------------------------------------------------------------------


def _resolve_source(source: str | None) -> tuple[str, str, Path]:
    """Return (source name, source type, directory to run git in)."""
    cwd = Path.cwd()
    if source is not None:
        path = _existing_path(source, cwd)
        kind = SOURCE_TYPE_NOTEBOOK if source.endswith(".ipynb") else SOURCE_TYPE_LOCAL
        if path is None:
            return source, kind, cwd
        return str(path), kind, path.parent

    notebook = jupyter_session_name()
    if notebook:
        path = _existing_path(notebook, cwd)
        if path is None:
            return notebook, SOURCE_TYPE_NOTEBOOK, cwd
        return str(path), SOURCE_TYPE_NOTEBOOK, path.parent

    if _ipython_shell() is not None:
        return "<interactive>", SOURCE_TYPE_LOCAL, cwd
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-", "-c"):
        return "<stdin>", SOURCE_TYPE_LOCAL, cwd
    path = _existing_path(argv0, cwd)
    if path is None:
        return argv0, SOURCE_TYPE_LOCAL, cwd
    return str(path), SOURCE_TYPE_LOCAL, path.parent


def _existing_path(name: str, cwd: Path) -> Path | None:
    """Resolve ``name`` to an existing file, or None.

    A relative Jupyter session name is relative to the server's root, not the kernel's cwd
    (which is the notebook's folder), so the bare file name in cwd is tried as well.
    """
    candidates = [Path(name)] if os.path.isabs(name) else [cwd / name, cwd / Path(name).name]
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate.resolve()
        except OSError:
            continue
    return None


def jupyter_session_name() -> str | None:
    """The notebook path of the Jupyter session (``JPY_SESSION_NAME`` / ``__session__``).

    As the session gives it (Jupyter Server: relative to its root directory); ``None`` in a
    kernel started without Jupyter Server, and outside IPython.
    """
    env = os.environ.get("JPY_SESSION_NAME")
    if env:
        return env
    shell = _ipython_shell()
    if shell is None:
        return None
    user_ns = getattr(shell, "user_ns", None)
    value = user_ns.get("__session__") if isinstance(user_ns, dict) else None
    return value if isinstance(value, str) and value else None


def _ipython_shell() -> Any:
    """The running IPython shell, without importing IPython when it is not loaded."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        # A container uid without a passwd entry and no USER variable: leave the tag out.
        return None


@cache
def _host_tags() -> dict[str, str]:
    # platform.platform() reads the interpreter binary to find the libc version (several ms);
    # none of these change during a process.
    return {
        TAG_HOST: socket.gethostname(),
        TAG_PYTHON: platform.python_version(),
        TAG_PLATFORM: platform.platform(),
    }


# --- requirements -------------------------------------------------------------------------

_requirements_cache: tuple[tuple[tuple[str, float], ...], str] | None = None


def requirements_text() -> str:
    """Installed distributions as sorted ``name==version`` lines (pip freeze style).

    Cached per process; the cache key is the mtime of every ``sys.path`` directory, so an
    install or uninstall in a running kernel is seen on the next call.
    """
    global _requirements_cache
    key = _sys_path_stamp()
    if _requirements_cache is not None and _requirements_cache[0] == key:
        return _requirements_cache[1]
    text = _build_requirements()
    _requirements_cache = (key, text)
    return text


def _sys_path_stamp() -> tuple[tuple[str, float], ...]:
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime))
        except OSError:
            stamp.append((entry, -1.0))
    return tuple(stamp)


def _build_requirements() -> str:
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue  # a broken *.dist-info without metadata
        key = name.lower().replace("_", "-").replace(".", "-")
        # The first distribution on sys.path is the one imports use, as in pip freeze.
        seen.setdefault(key, f"{name}=={dist.version}")
    lines = sorted(seen.values(), key=str.lower)
    return "\n".join(lines) + "\n" if lines else ""


# --- git ----------------------------------------------------------------------------------


def _git_state(cwd: Path, max_diff_bytes: int) -> tuple[dict[str, str], str | None]:
    """Git tags for the repository containing ``cwd`` and the diff text when dirty."""
    # One call gives commit, branch and dirtiness. Untracked files do not make the tree
    # dirty (as in MLflow): they are not part of the diff either.
    status = _git(cwd, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return {}, None
    tags: dict[str, str] = {}
    dirty = False
    oid = ""
    for line in status.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            if head != "(detached)":
                tags[TAG_GIT_BRANCH] = head
        elif line and not line.startswith("#"):
            dirty = True
    has_commit = bool(oid) and oid != "(initial)"
    if has_commit:
        tags[TAG_GIT_COMMIT] = oid
    tags[TAG_GIT_DIRTY] = "true" if dirty else "false"
    remote = _git(cwd, "config", "--get", "remote.origin.url")
    if remote:
        tags[TAG_GIT_REPO_URL] = _redact_url(remote.decode("utf-8", "replace").strip())
    if not dirty:
        return tags, None
    # Against HEAD: staged and unstaged changes together. Before the first commit there is
    # no HEAD; the staged content is then the whole change.
    diff_args = ("HEAD",) if has_commit else ("--cached",)
    raw = _git(cwd, "diff", "--no-color", "--no-ext-diff", *diff_args)
    return tags, None if raw is None else _cap_diff(raw, max_diff_bytes)


def _git(cwd: Path, *args: str) -> bytes | None:
    """Run ``git args`` in ``cwd``; stdout on success, None on any failure (logged at debug)."""
    env = dict(os.environ)
    # Read-only use: never take index.lock (a concurrent `git commit` must not fail because
    # of us) and never prompt for credentials.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning(
            "git %s in %s took more than %.0f s; git tags are left out of this run.",
            args[0],
            cwd,
            GIT_TIMEOUT_S,
        )
        return None
    except OSError as exc:  # git not installed, cwd vanished
        logger.debug("git unavailable in %s: %s", cwd, exc)
        return None
    if proc.returncode != 0:
        logger.debug(
            "git %s in %s failed (%d): %s",
            " ".join(args),
            cwd,
            proc.returncode,
            proc.stderr.decode("utf-8", "replace").strip(),
        )
        return None
    return proc.stdout


def _cap_diff(raw: bytes, max_diff_bytes: int) -> str:
    if len(raw) <= max_diff_bytes:
        return raw.decode("utf-8", "replace")
    # "ignore" drops a multi-byte character cut in half at the boundary.
    head = raw[: max(max_diff_bytes, 0)].decode("utf-8", "ignore")
    if head and not head.endswith("\n"):
        head += "\n"
    return (
        head + f"# mltrack: diff truncated to the first {max_diff_bytes} of {len(raw)} bytes "
        "(max_diff_bytes); the rest was not stored.\n"
    )


def _redact_url(url: str) -> str:
    """Drop a password or token from an ``https://user:token@host/...`` remote URL."""
    try:
        parts = urlsplit(url)
        if parts.password is None or parts.hostname is None:
            return url
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a malformed port
        return url
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))
