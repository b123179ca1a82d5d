"""Write a runnable project from a run's record: ``mltrack runs reproduce RUN_ID -d DIR``.

What a record can give, and what each kind of run becomes:

- a **project run** (``mltrack run``; ``mlflow.source.type`` PROJECT): the project at the
  recorded git commit (cloned), else a copy of its folder; the same entry point and params.
- a **%%track notebook run** (``code/cell.py``): ``notebook.ipynb`` with the kernel's earlier
  cells (``code/history.py``; earlier ``%%track`` cells run as their own runs with
  ``--nested``), a ``parameters`` cell with the run's params, then the tracked cell.
- a **script run** (``mt.start_run`` in ``python train.py ...``): the script's repository
  at the recorded commit with the recorded diff applied, and the recorded command line.

Every reproduction gets an ``MLproject`` (entry point ``main``), a ``python_env.yaml`` and
``requirements.txt`` from the run's packages (``environment/requirements.txt``) and
``mltrack-reproduce.json`` (the source run, its params and final metrics). When the record
lacks what is needed (no captured code and no commit, a dirty tree whose diff was cut, a
repository that cannot be found), :class:`~.errors.ExecutionFailed` says exactly what.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..entities import Run
from ..errors import ArtifactNotFound, InvalidParameter
from ..magics.capture import ARTIFACT_CELL, ARTIFACT_HISTORY
from ..tracking.capture import ARTIFACT_GIT_DIFF, ARTIFACT_REQUIREMENTS, TAG_ARGV, TAG_CWD
from ..tracking.client import TrackingClient
from .errors import ExecutionFailed
from .fetch import split_subdirectory

__all__ = [
    "MANIFEST",
    "MetricComparison",
    "Reproduction",
    "compare_metrics",
    "reproduce_run",
    "write_reproduction",
]

MANIFEST = "mltrack-reproduce.json"
_HISTORY_HEADER = re.compile(r"^# In\[(\d+)\]:$", re.MULTILINE)
_TRUNCATED = "# mltrack: diff truncated"
_HISTORY_TRUNCATED = "# mltrack: history truncated"


@dataclass
class Reproduction:
    """A written reproduction: where, of what, and how to run it."""

    run_id: str
    directory: Path  # the folder to pass to mltrack run
    kind: str  # "project" | "notebook" | "script"
    entry_point: str = "main"
    parameters: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    project_uri: str = ""  # directory, with #subdirectory for a project in a subfolder


@dataclass(frozen=True)
class MetricComparison:
    key: str
    old: float | None
    new: float | None

    @property
    def same(self) -> bool:
        if self.old is None or self.new is None:
            return False
        if math.isnan(self.old) and math.isnan(self.new):
            return True
        return math.isclose(self.old, self.new, rel_tol=1e-9, abs_tol=1e-12)


def write_reproduction(
    run_id: str, directory: str | Path, *, client: TrackingClient | None = None, force: bool = False
) -> Reproduction:
    """Write the project that recreates run ``run_id`` into ``directory`` (new or empty)."""
    client = client or TrackingClient()
    run = client.get_run(run_id)
    target = Path(directory).expanduser().resolve()
    if target.exists() and any(target.iterdir()) and not force:
        raise InvalidParameter(f"{target} is not empty; choose a new folder (or pass --force).")
    tags = run.data.tags
    artifacts = _ArtifactReader(client, run)
    if tags.get("mlflow.source.type") == "PROJECT":
        repro = _project(run, target)
    elif artifacts.text(ARTIFACT_CELL) is not None:
        repro = _notebook(run, target, artifacts)
    else:
        repro = _script(run, target, artifacts)
    _environment(run, target, repro, artifacts)
    manifest = {
        "source_run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "kind": repro.kind,
        "entry_point": repro.entry_point,
        "parameters": repro.parameters,
        "metrics": run.data.metrics,
        "notes": repro.notes,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return repro


class _ArtifactReader:
    def __init__(self, client: TrackingClient, run: Run) -> None:
        self.client, self.run = client, run

    def text(self, path: str) -> str | None:
        repo = self.client._repo_for(self.run.info.artifact_uri)
        try:
            with repo.open_reader(path) as reader:
                data = reader.read()
        except (ArtifactNotFound, FileNotFoundError, OSError):
            return None
        return data.decode("utf-8", "replace")


# ----------------------------------------------------------------------- project runs
def _project(run: Run, target: Path) -> Reproduction:
    tags = run.data.tags
    uri = tags.get("mltrack.project.uri") or tags.get("mlflow.source.name", "")
    base, sub = split_subdirectory(uri)
    commit = tags.get("mlflow.source.git.commit")
    repo = tags.get("mlflow.source.git.repoURL") or base
    notes: list[str] = []
    project_dir = target / sub if sub else target
    # the recorded repository first, then the project folder the run came from
    why = _clone_at([repo, base], commit, target) if commit else None
    if why is not None or not commit:
        source = Path(tags.get("mlflow.source.name", base))
        if not source.is_dir():
            raise ExecutionFailed(
                f"Run {run.info.run_id} cannot be reproduced: it ran project {uri!r}, "
                + (f"whose commit {commit} could not be cloned from {repo}, " if commit else "")
                + f"and the folder {source} does not exist any more."
            )
        project_dir = target  # the recorded folder is the project itself (subfolder included)
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        notes.append(
            f"copied the project folder {source} as it is now"
            + (f" ({why})" if why else " (the run recorded no git commit)")
        )
    entry = tags.get("mlflow.project.entryPoint", "main")
    params = dict(run.data.params)
    return Reproduction(
        run.info.run_id,
        target,
        "project",
        entry,
        params,
        notes,
        project_uri=str(project_dir),
    )


def _clone_at(repos: list[str], commit: str, target: Path) -> str | None:
    """Clone the first of ``repos`` that has ``commit`` into ``target`` and check it out;
    None when done, else why none could (git's own last words)."""
    tried: list[str] = []
    for repo in dict.fromkeys(r for r in repos if r):
        why = _git_into(repo, commit, target)
        if why is None:
            return None
        tried.append(f"{repo}: {why}")
    return (
        "commit "
        + commit[:12]
        + " could not be checked out from "
        + "; ".join(tried or ["no repository"])
    )


def _git_into(repo: str, commit: str, target: Path) -> str | None:
    for args in (["clone", "--quiet", repo, str(target)], ["checkout", "--quiet", commit]):
        done = subprocess.run(
            ["git", *args],
            cwd=target if args[0] == "checkout" else None,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
            lines = (done.stderr or done.stdout).strip().splitlines()
            return f"git {args[0]} failed: {lines[-1] if lines else 'exit ' + str(done.returncode)}"
    return None


# ---------------------------------------------------------------------- notebook runs
def _history_cells(text: str) -> list[str]:
    marks = list(_HISTORY_HEADER.finditer(text))
    cells = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        cells.append(text[mark.end() + 1 : end].rstrip("\n"))
    return cells


def _notebook(run: Run, target: Path, artifacts: _ArtifactReader) -> Reproduction:
    import importlib

    nbformat: Any = importlib.import_module("nbformat")
    cell = artifacts.text(ARTIFACT_CELL) or ""
    history = artifacts.text(ARTIFACT_HISTORY) or ""
    notes: list[str] = []
    if history.startswith(_HISTORY_TRUNCATED):
        notes.append(
            "the kernel history was truncated when the run was recorded ("
            + history.splitlines()[0].removeprefix("# mltrack: ")
            + "); cells the notebook needs may be missing"
        )
    nb = nbformat.v4.new_notebook()
    for source in _history_cells(history):
        first = source.lstrip().split("\n", 1)[0]
        if first.startswith("%%track"):
            # an earlier tracked cell: its own run, so it does not take the reproduced run
            source = source.replace(first, first + " --nested --no-live", 1)
        nb.cells.append(nbformat.v4.new_code_cell(source))
    params = dict(run.data.params)
    lines = ["# Parameters (the run's values; the tracked cell's own assignments win)"]
    lines += [f"{k} = {_literal(v)}" for k, v in params.items()]
    param_cell = nbformat.v4.new_code_cell("\n".join(lines))
    param_cell.metadata["tags"] = ["parameters"]
    nb.cells.append(param_cell)
    nb.cells.append(nbformat.v4.new_code_cell("%%track --no-live\n" + cell.rstrip("\n")))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target / "notebook.ipynb"))
    if not history:
        notes.append("no earlier cells were recorded (code/history.py); only the cell runs")
    _mlproject(target, run, {"notebook": "notebook.ipynb"})
    return Reproduction(run.info.run_id, target, "notebook", "main", {}, notes, str(target))


def _literal(text: str) -> str:
    import ast

    try:
        ast.literal_eval(text)
        return text
    except (ValueError, SyntaxError):
        return repr(text)


# ------------------------------------------------------------------------ script runs
def _script(run: Run, target: Path, artifacts: _ArtifactReader) -> Reproduction:
    tags = run.data.tags
    rid = run.info.run_id
    source = tags.get("mlflow.source.name", "")
    commit = tags.get("mlflow.source.git.commit")
    if not commit:
        raise ExecutionFailed(
            f"Run {rid} cannot be reproduced from its record: it has neither a git commit "
            "(mlflow.source.git.commit: the script was not in a repository) nor captured "
            f"code ({ARTIFACT_CELL}: it was not a %%track cell). Its source was "
            f"{source or 'not recorded'}; run it inside a git repository (or with %%track) "
            "to make it reproducible."
        )
    diff = artifacts.text(ARTIFACT_GIT_DIFF)
    if tags.get("mltrack.git.dirty") == "true":
        if diff is None:
            raise ExecutionFailed(
                f"Run {rid} cannot be reproduced: its work tree was dirty but the diff "
                f"({ARTIFACT_GIT_DIFF}) was not stored, so the code that ran is unknown."
            )
        if _TRUNCATED in diff:
            line = next(x for x in diff.splitlines() if x.startswith(_TRUNCATED))
            raise ExecutionFailed(
                f"Run {rid} cannot be reproduced: its work tree was dirty and the stored diff "
                f"was cut ({line.removeprefix('# mltrack: ')}), so the code that ran is "
                "unknown."
            )
    repo_root = _repository_of(Path(source), commit)
    candidates = [tags.get("mlflow.source.git.repoURL") or "", str(repo_root or "")]
    why = _clone_at(candidates, commit, target)
    if why is not None:
        raise ExecutionFailed(
            f"Run {rid} cannot be reproduced: {why} (no origin URL that has it was recorded "
            "and the script's folder is not a clone that has it)."
        )
    notes = [f"checked out commit {commit[:12]}"]
    if diff and tags.get("mltrack.git.dirty") == "true":
        patch = target / ".mltrack-run.patch"
        patch.write_text(diff)
        done = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(patch)],
            cwd=target,
            capture_output=True,
            text=True,
        )
        patch.unlink()
        if done.returncode != 0:
            raise ExecutionFailed(
                f"Run {rid}: the recorded diff does not apply on commit {commit[:12]}: "
                f"{done.stderr.strip()}"
            )
        notes.append("applied the run's uncommitted changes (environment/git_diff.patch)")
    command = _script_command(run, source, repo_root)
    if command is None:
        notes.append("the run recorded no command line; the script runs without arguments")
        rel = _relative(Path(source), repo_root)
        command = f"python {rel}"
    _mlproject(target, run, {"command": command})
    return Reproduction(rid, target, "script", "main", {}, notes, str(target))


def _repository_of(source: Path, commit: str) -> Path | None:
    folder = source.parent
    if not folder.is_dir():
        return None
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True
    )
    if done.returncode != 0:
        return None
    return Path(done.stdout.strip())


def _relative(source: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(source.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return source.name


def _script_command(run: Run, source: str, root: Path | None) -> str | None:
    import shlex

    argv_text = run.data.tags.get(TAG_ARGV)
    if not argv_text:
        return None
    try:
        argv = [str(a) for a in json.loads(argv_text)]
    except (ValueError, TypeError):
        return None
    if not argv:
        return None
    script = _relative(Path(source), root)
    return " ".join(["python", shlex.quote(script), *(shlex.quote(a) for a in argv[1:])])


# ------------------------------------------------------------------------ shared parts
def _mlproject(target: Path, run: Run, entry: dict[str, str]) -> None:
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    name = f"reproduce-{run.info.run_id[:8]}"
    doc = {"name": name, "python_env": "python_env.yaml", "entry_points": {"main": entry}}
    (target / "MLproject").write_text(
        f"# Recreates run {run.info.run_id} (mltrack runs reproduce)\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )


def _environment(run: Run, target: Path, repro: Reproduction, artifacts: _ArtifactReader) -> None:
    if repro.kind == "project":
        return  # the project brings its own environment files
    requirements = artifacts.text(ARTIFACT_REQUIREMENTS)
    python = run.data.tags.get("mltrack.python")
    if requirements is None:
        repro.notes.append(
            f"the run recorded no packages ({ARTIFACT_REQUIREMENTS}); requirements.txt is empty"
        )
    lines = [
        ln
        for ln in (requirements or "").splitlines()
        if ln and not ln.lower().startswith("jupyter-mltrack")
    ]
    (target / "requirements.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    env = {"python": python or "3", "dependencies": ["-r requirements.txt"]}
    import yaml

    (target / "python_env.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    if TAG_CWD in run.data.tags:
        repro.notes.append(f"the script ran in {run.data.tags[TAG_CWD]}; it now runs in {target}")


def compare_metrics(old: Run, new: Run) -> list[MetricComparison]:
    """The final value of every metric of either run, old beside new."""
    keys = sorted(set(old.data.metrics) | set(new.data.metrics))
    return [MetricComparison(k, old.data.metrics.get(k), new.data.metrics.get(k)) for k in keys]


def reproduce_run(
    run_id: str,
    directory: str | Path,
    *,
    run: bool = False,
    env_manager: str = "local",
    tracking_uri: str | None = None,
    force: bool = False,
    stream_output: bool = True,
) -> tuple[Reproduction, str | None, list[MetricComparison]]:
    """Write the reproduction; with ``run=True`` run it and compare its metrics with the old.

    Returns (reproduction, new run id or None, comparisons).
    """
    client = TrackingClient(tracking_uri)
    repro = write_reproduction(run_id, directory, client=client, force=force)
    if not run:
        return repro, None, []
    from .runner import run as run_project

    old = client.get_run(repro.run_id)
    submitted = run_project(
        repro.project_uri or str(repro.directory),
        entry_point=repro.entry_point,
        parameters=repro.parameters,
        experiment_id=old.info.experiment_id,
        run_name=f"reproduce-{old.info.run_name or run_id[:8]}",
        env_manager=env_manager,
        tracking_uri=client.tracking_uri,
        synchronous=True,
        stream_output=stream_output,
    )
    client.set_tag(submitted.run_id, "mltrack.reproduce.source_run", repro.run_id)
    new = client.get_run(submitted.run_id)
    return repro, submitted.run_id, compare_metrics(old, new)
