"""capture_run_context against real git repositories in temp dirs and real installed packages."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack.tracking.capture import (
    ARTIFACT_GIT_DIFF,
    ARTIFACT_REQUIREMENTS,
    RunContext,
    capture_run_context,
    requirements_text,
)

GIT_TAGS = (
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
    "mlflow.source.git.repoURL",
    "mltrack.git.dirty",
)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


@pytest.fixture
def no_parent_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep git from finding a repository above tmp_path."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


@pytest.fixture
def repo(no_parent_repo: Path) -> Path:
    root = no_parent_repo / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "https://alice:s3cret@example.com/org/project.git")
    (root / "train.py").write_text("print('hello')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_repo_has_git_tags_and_no_diff(repo: Path) -> None:
    ctx = capture_run_context(source=str(repo / "train.py"))

    assert ctx.tags["mlflow.source.name"] == str((repo / "train.py").resolve())
    assert ctx.tags["mlflow.source.type"] == "LOCAL"
    assert ctx.tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert ctx.tags["mlflow.source.git.branch"] == "main"
    assert ctx.tags["mltrack.git.dirty"] == "false"
    # The token in the remote URL is not recorded.
    assert ctx.tags["mlflow.source.git.repoURL"] == "https://alice@example.com/org/project.git"
    assert ARTIFACT_GIT_DIFF not in ctx.artifacts


def test_untracked_file_does_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "scratch.txt").write_text("notes\n")

    ctx = capture_run_context(source=str(repo / "train.py"))

    assert ctx.tags["mltrack.git.dirty"] == "false"


def test_dirty_repo_gets_the_diff_artifact(repo: Path) -> None:
    (repo / "train.py").write_text("print('hello, world')\n")
    (repo / "staged.py").write_text("x = 1\n")
    git(repo, "add", "staged.py")

    ctx = capture_run_context(source=str(repo / "train.py"))

    assert ctx.tags["mltrack.git.dirty"] == "true"
    diff = ctx.artifacts[ARTIFACT_GIT_DIFF]
    assert diff == git(repo, "diff", "--no-color", "HEAD")
    assert "+print('hello, world')" in diff
    assert "+x = 1" in diff  # staged changes are part of it too


def test_huge_diff_is_truncated_with_a_note(repo: Path) -> None:
    (repo / "train.py").write_text("".join(f"line {i}\n" for i in range(50_000)))
    full_size = len(git(repo, "diff", "--no-color", "HEAD").encode())

    ctx = capture_run_context(source=str(repo / "train.py"), max_diff_bytes=1_000)

    diff = ctx.artifacts[ARTIFACT_GIT_DIFF]
    body, note = diff.rstrip("\n").rsplit("\n", 1)
    assert len(body.encode()) <= 1_000
    assert "truncated" in note
    assert str(full_size) in note
    assert "1000" in note


def test_git_runs_where_the_source_is_not_in_cwd(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "src").mkdir()
    script = repo / "src" / "job.py"
    script.write_text("")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)

    ctx = capture_run_context(source=str(script))

    assert ctx.tags["mlflow.source.git.branch"] == "main"


def test_outside_a_repository_has_no_git_tags(no_parent_repo: Path) -> None:
    script = no_parent_repo / "job.py"
    script.write_text("")

    ctx = capture_run_context(source=str(script))

    assert not [key for key in GIT_TAGS if key in ctx.tags]
    assert ARTIFACT_GIT_DIFF not in ctx.artifacts
    assert ctx.tags["mlflow.source.name"] == str(script.resolve())


def test_missing_git_executable_is_not_an_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    ctx = capture_run_context(source=str(repo / "train.py"))

    assert not [key for key in GIT_TAGS if key in ctx.tags]


def test_repository_without_commits(no_parent_repo: Path) -> None:
    git(no_parent_repo, "init", "-q", "-b", "dev")
    (no_parent_repo / "a.py").write_text("a = 1\n")
    git(no_parent_repo, "add", "a.py")

    ctx = capture_run_context(source=str(no_parent_repo / "a.py"))

    assert "mlflow.source.git.commit" not in ctx.tags
    assert ctx.tags["mlflow.source.git.branch"] == "dev"
    assert ctx.tags["mltrack.git.dirty"] == "true"
    assert "+a = 1" in ctx.artifacts[ARTIFACT_GIT_DIFF]


def test_notebook_session_is_the_source(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = repo / "analysis.ipynb"
    notebook.write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))

    ctx = capture_run_context()

    assert ctx.tags["mlflow.source.type"] == "NOTEBOOK"
    assert ctx.tags["mlflow.source.name"] == str(notebook.resolve())
    assert ctx.tags["mlflow.source.git.branch"] == "main"


def test_relative_session_name_is_found_in_the_kernel_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server gives the path relative to its root; the kernel runs in the notebook's folder.
    notebook = repo / "analysis.ipynb"
    notebook.write_text("{}")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("JPY_SESSION_NAME", "work/project/analysis.ipynb")

    ctx = capture_run_context()

    assert ctx.tags["mlflow.source.name"] == str(notebook.resolve())
    assert ctx.tags["mlflow.source.type"] == "NOTEBOOK"


def test_script_path_comes_from_argv(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "3"])

    ctx = capture_run_context()

    assert ctx.tags["mlflow.source.name"] == str((repo / "train.py").resolve())
    assert ctx.tags["mlflow.source.type"] == "LOCAL"


def test_python_dash_c_is_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(sys, "argv", ["-c"])

    assert capture_run_context().tags["mlflow.source.name"] == "<stdin>"


def test_environment_tags() -> None:
    tags = capture_run_context().tags

    assert tags["mlflow.user"]
    assert tags["mltrack.host"]
    assert tags["mltrack.python"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["mltrack.platform"]


def test_requirements_list_installed_packages_sorted() -> None:
    ctx = capture_run_context()

    lines = ctx.artifacts[ARTIFACT_REQUIREMENTS].splitlines()
    assert any(line.startswith("numpy==") for line in lines)
    assert all("==" in line for line in lines)
    assert lines == sorted(lines, key=str.lower)


def test_requirements_cache_sees_a_new_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = requirements_text()
    assert requirements_text() is before  # cached while nothing changed
    site = tmp_path / "site"
    dist_info = site / "freshly_installed-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: freshly-installed\nVersion: 1.2.3\n"
    )
    monkeypatch.syspath_prepend(str(site))

    assert "freshly-installed==1.2.3" in requirements_text().splitlines()


def test_run_context_is_frozen() -> None:
    ctx = RunContext(tags={"a": "b"})

    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.tags = {}  # type: ignore[misc]


@pytest.fixture
def ipython(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real IPython shell, as a kernel has one; history off so nothing touches $HOME."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    yield shell
    InteractiveShell.clear_instance()


def test_ipython_without_a_session_is_interactive(ipython: Any) -> None:
    assert capture_run_context().tags["mlflow.source.name"] == "<interactive>"


def test_ipython_session_variable_names_the_notebook(ipython: Any, repo: Path) -> None:
    notebook = repo / "explore.ipynb"
    notebook.write_text("{}")
    ipython.user_ns["__session__"] = str(notebook)

    ctx = capture_run_context()

    assert ctx.tags["mlflow.source.name"] == str(notebook.resolve())
    assert ctx.tags["mlflow.source.type"] == "NOTEBOOK"
    assert ctx.tags["mlflow.source.git.branch"] == "main"
