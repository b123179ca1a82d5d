"""Where a project's files come from: a local folder, ``file://``, or a git repository.

``uri#sub/dir`` selects a subdirectory (MLflow's convention). A local folder without
``version`` is used in place. A git URL (``https://``, ``ssh://``, ``git@``, ``git://``,
``*.git``), or any local repository with ``version``, is cloned into a fresh folder under
the storage directory and ``version`` (a branch, tag or commit) is checked out. Git is asked
through the ``git`` executable.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import InvalidParameter, NotFound

__all__ = ["FetchedProject", "fetch_project", "git_state", "split_subdirectory"]

_GIT_URL = re.compile(r"^(https?://|ssh://|git://|git@|git\+)|\.git/?$")
GIT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FetchedProject:
    """The project folder to run in and what to record about its source."""

    directory: Path
    source: str  # the URI as given (with its #subdirectory)
    commit: str | None = None
    repo_url: str | None = None
    version: str | None = None
    cloned: bool = False


def split_subdirectory(uri: str) -> tuple[str, str]:
    """``("repo", "sub/dir")`` from ``"repo#sub/dir"``; the subdirectory may be empty."""
    text = unquote(uri)
    if "#" not in text:
        return text, ""
    base, sub = text.split("#", 1)
    sub = sub.strip("/")
    if ".." in Path(sub).parts or os.path.isabs(sub):
        raise InvalidParameter(
            f"Project subdirectory {sub!r} (after '#') must be relative, inside the project."
        )
    return base, sub


def _is_git_url(base: str) -> bool:
    return bool(_GIT_URL.search(base))


def _local_dir(base: str) -> Path:
    parts = urlsplit(base)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(os.path.expanduser(base)).resolve()


def fetch_project(uri: str, version: str | None, storage_dir: Path | None = None) -> FetchedProject:
    """Resolve ``uri`` to a folder (cloning a repository when needed).

    Raises InvalidParameter for a missing folder or subdirectory, a failed clone, or a
    ``version`` that the repository does not have.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParameter("A project URI is needed: a folder, file:// URL or git URL.")
    base, sub = split_subdirectory(uri.strip())
    if not _is_git_url(base):
        local = _local_dir(base)
        if not local.exists():
            raise NotFound(f"No project at {uri!r}: {local} does not exist.")
        if version is None:
            directory = _subdir(local, sub, uri)
            commit, repo_url = git_state(directory)
            return FetchedProject(directory, uri, commit, repo_url)
        if not (local / ".git").exists() and git_state(local)[0] is None:
            raise InvalidParameter(
                f"--version {version!r} needs a git repository, but {local} is not one; "
                "drop --version to run the folder as it is."
            )
        base = str(local)
    clone = _clone(base, version, storage_dir)
    directory = _subdir(clone, sub, uri)
    commit, _ = git_state(clone)
    return FetchedProject(directory, uri, commit, base, version, cloned=True)


def _subdir(root: Path, sub: str, uri: str) -> Path:
    directory = (root / sub) if sub else root
    if not directory.is_dir():
        raise NotFound(f"Project {uri!r} has no folder {sub or '.'!r} (looked in {root}).")
    return directory


def _git(args: list[str], cwd: Path | None = None, timeout: float = GIT_TIMEOUT_S) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except FileNotFoundError:
        raise InvalidParameter("Running a git project needs the git executable on PATH.") from None
    except subprocess.TimeoutExpired:
        raise InvalidParameter(f"git {args[0]} took more than {timeout:.0f} s; gave up.") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise InvalidParameter(f"git {' '.join(args[:2])} failed: {' '.join(message[-2:])}")
    return done.stdout


def _clone(base: str, version: str | None, storage_dir: Path | None) -> Path:
    parent = storage_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="mltrack-project-", dir=parent))
    _git(["clone", "--quiet", base, str(target)])
    if version is not None:
        try:
            _git(["checkout", "--quiet", version], cwd=target)
        except InvalidParameter:
            raise InvalidParameter(
                f"Version {version!r} is not a branch, tag or commit of {base}; list them "
                f"with 'git ls-remote {base}'."
            ) from None
    return target


def git_state(directory: Path) -> tuple[str | None, str | None]:
    """(HEAD commit, origin URL) of the repository holding ``directory``; Nones outside one."""
    try:
        commit = _git(["rev-parse", "HEAD"], cwd=directory, timeout=5).strip() or None
    except InvalidParameter:
        return None, None
    try:
        url = _git(["remote", "get-url", "origin"], cwd=directory, timeout=5).strip() or None
    except InvalidParameter:
        url = None
    return commit, url
