"""Running a project entry point as a tracked run: :func:`run` and :class:`SubmittedRun`.

Order of work, so that a mistake costs nothing: fetch the project, load ``MLproject``, pick
the entry point and check every parameter against its type; only then build (or reuse) the
environment, create the run (source, git commit, entry point, environment and parameters
recorded) and start the command in its own process group, with ``MLTRACK_RUN_ID``,
``MLTRACK_TRACKING_URI`` and ``MLTRACK_EXPERIMENT_ID`` set so that ``mt.start_run()`` (or
any ``mt.log_*``) in the user's code logs into this run. Its stdout and stderr stream
through and are kept as the artifacts ``logs/stdout.txt`` and ``logs/stderr.txt``; the exit
code sets the final status (0 FINISHED, else FAILED); :meth:`SubmittedRun.cancel` or Ctrl-C
end it KILLED. A notebook entry point also logs the executed notebook
(``notebook/<name>.ipynb``) and, when a cell fails, names it in the run's tags.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from ..entities import Param, RunStatus
from ..errors import InvalidParameter
from ..tracking.capture import ARTIFACT_REQUIREMENTS, capture_run_context, requirements_text
from ..tracking.client import TrackingClient
from .envs import ENV_MANAGERS, Environment, prepare_environment
from .errors import ExecutionFailed
from .fetch import FetchedProject, fetch_project
from .notebook import notebook_defaults, typed_values
from .spec import EntryPoint, Project, load_project

__all__ = [
    "ARTIFACT_NOTEBOOK_DIR",
    "ARTIFACT_STDERR",
    "ARTIFACT_STDOUT",
    "ENV_RUN_ID",
    "TAG_COMMAND",
    "TAG_FAILED_CELL",
    "PreparedRun",
    "SubmittedRun",
    "prepare",
    "run",
]

ENV_RUN_ID = "MLTRACK_RUN_ID"
ARTIFACT_STDOUT = "logs/stdout.txt"
ARTIFACT_STDERR = "logs/stderr.txt"
ARTIFACT_NOTEBOOK_DIR = "notebook"
SOURCE_TYPE_PROJECT = "PROJECT"
TAG_ENTRY_POINT = "mlflow.project.entryPoint"
TAG_ENV = "mlflow.project.env"
TAG_BACKEND = "mlflow.project.backend"
TAG_COMMAND = "mltrack.project.command"
TAG_URI = "mltrack.project.uri"
TAG_VERSION = "mltrack.project.version"
TAG_FAILED_CELL = "mltrack.notebook.failed_cell"
TAG_CELL_ERROR = "mltrack.notebook.error"
KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class PreparedRun:
    """Everything checked and resolved before a run is created."""

    fetched: FetchedProject
    project: Project
    entry_point: EntryPoint
    params: dict[str, str]  # what is logged as the run's params
    command: str | None  # the shell command (None for a notebook until its files exist)
    notebook_values: dict[str, Any] | None


def prepare(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    storage_dir: str | os.PathLike[str] | None = None,
) -> PreparedRun:
    """Fetch, load and check; raises InvalidParameter naming what is wrong. Creates no run."""
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidParameter(
            f"parameters must be a dict of name -> value, got {type(parameters).__name__}."
        )
    if not isinstance(entry_point, str) or not entry_point:
        raise InvalidParameter("entry_point must be a non-empty name such as 'main'.")
    values = {str(k): str(v) for k, v in (parameters or {}).items()}
    storage = Path(storage_dir) if storage_dir is not None else None
    fetched = fetch_project(uri, version, storage)
    project = load_project(fetched.directory)
    entry = project.entry_point(entry_point)
    if entry.notebook is None:
        final, extra = entry.resolve(values, Path.cwd())
        command = entry.command_line(final, extra)
        return PreparedRun(fetched, project, entry, {**final, **extra}, command, None)
    notebook = project.directory / entry.notebook
    if not notebook.is_file():
        raise InvalidParameter(f"Entry point {entry.name!r} names {notebook}: no such notebook.")
    defaults = notebook_defaults(notebook)
    if entry.declared:
        final, _ = entry.resolve(values, Path.cwd())
    else:
        unknown = [n for n in values if n not in defaults]
        if unknown and defaults:
            raise InvalidParameter(
                f"Notebook {entry.notebook} has no parameter {', '.join(map(repr, unknown))}; "
                f"its 'parameters' cell defines {', '.join(map(repr, defaults))}."
            )
        final = values
    declared = {n: p.type for n, p in entry.parameters.items()}
    typed = typed_values(final, declared, defaults, f"notebook {entry.notebook}")
    return PreparedRun(fetched, project, entry, final, None, typed)


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    synchronous: bool = True,
    storage_dir: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    stream_output: bool = True,
) -> SubmittedRun:
    """Run a project's entry point as a tracked run (MLflow's ``mlflow.projects.run``).

    Args:
        uri: a project folder, ``file://`` URL or git URL; ``#sub/dir`` picks a subfolder.
        entry_point: an MLproject entry point, or a ``.py``/``.sh``/``.ipynb`` file.
        version: a git branch, tag or commit (the repository is cloned and checked out).
        parameters: values for the entry point's parameters, checked against their types.
        env_manager: ``local``, ``virtualenv``, ``uv``, ``conda`` (default: what the project
            declares, ``local`` when nothing).
        synchronous: wait for the run; raise :class:`ExecutionFailed` unless it FINISHED.
        stream_output: echo the command's output here as it comes (it is kept either way).

    Returns:
        A :class:`SubmittedRun` (``run_id``, ``wait()``, ``get_status()``, ``cancel()``).

    Example::

        submitted = mt.projects.run("examples/demo", parameters={"alpha": 0.3})
        mt.get_run(submitted.run_id).data.metrics
    """
    if env_manager is not None and env_manager not in ENV_MANAGERS:
        raise InvalidParameter(
            f"Unknown env_manager {env_manager!r}; use one of {', '.join(ENV_MANAGERS[:4])}."
        )
    if experiment_name is not None and experiment_id is not None:
        raise InvalidParameter("Give experiment_name or experiment_id, not both.")
    prepared = prepare(uri, entry_point, version, parameters, storage_dir)
    env = prepare_environment(
        prepared.project,
        env_manager,
        cache_dir=None,
        build_image=build_image,
    )
    client = TrackingClient(tracking_uri)
    exp_id = _experiment_id(client, experiment_name, experiment_id)
    submitted = _launch(client, exp_id, run_name, prepared, env, stream_output)
    if synchronous:
        try:
            ok = submitted.wait()
        except KeyboardInterrupt:
            raise
        if not ok:
            raise ExecutionFailed(submitted.failure_message())
    return submitted


def _experiment_id(client: TrackingClient, name: str | None, given: str | None) -> str:
    if given is not None:
        return client.get_experiment(str(given)).experiment_id
    if name is not None:
        return client.get_or_create_experiment(name).experiment_id
    if os.environ.get("MLTRACK_EXPERIMENT_ID"):
        return os.environ["MLTRACK_EXPERIMENT_ID"]
    if os.environ.get("MLTRACK_EXPERIMENT_NAME"):
        return client.get_or_create_experiment(os.environ["MLTRACK_EXPERIMENT_NAME"]).experiment_id
    return "0"


def _tags(prepared: PreparedRun, env: Environment, command: str) -> dict[str, str]:
    fetched, entry = prepared.fetched, prepared.entry_point
    target = prepared.project.directory / (entry.notebook or entry.name)
    source = str(target) if target.is_file() else str(fetched.directory)
    context = capture_run_context(source, requirements=False)  # listed after the start
    tags = dict(context.tags)
    tags.update(
        {
            "mlflow.source.name": (fetched.repo_url or fetched.source)
            if fetched.cloned
            else str(fetched.directory),
            "mlflow.source.type": SOURCE_TYPE_PROJECT,
            TAG_ENTRY_POINT: entry.name,
            TAG_ENV: env.manager,
            TAG_BACKEND: "local",
            TAG_COMMAND: command,
            TAG_URI: fetched.source,
        }
    )
    if fetched.commit:
        tags["mlflow.source.git.commit"] = fetched.commit
    if fetched.repo_url:
        tags["mlflow.source.git.repoURL"] = fetched.repo_url
    if fetched.version:
        tags["mlflow.source.git.branch"] = fetched.version
        tags[TAG_VERSION] = fetched.version
    if fetched.cloned:
        tags.pop("mltrack.git.dirty", None)
    if env.key:
        tags["mltrack.project.env_key"] = env.key
    return tags


def _launch(
    client: TrackingClient,
    experiment_id: str,
    run_name: str | None,
    prepared: PreparedRun,
    env: Environment,
    stream_output: bool,
) -> SubmittedRun:
    scratch = Path(tempfile.mkdtemp(prefix="mltrack-run-"))
    command = prepared.command
    notebook_out: Path | None = None
    if prepared.notebook_values is not None:
        assert prepared.entry_point.notebook is not None
        source = prepared.project.directory / prepared.entry_point.notebook
        notebook_out = scratch / source.name
        values_file = scratch / "parameters.json"
        values_file.write_text(json.dumps(prepared.notebook_values))
        parts = [
            "python", "-m", "jupyter_mltrack.projects.notebook", str(source),
            str(notebook_out), str(values_file), str(scratch / "result.json"),
        ]  # fmt: skip
        command = " ".join(_quote(p) for p in parts)
    assert command is not None
    tags = _tags(prepared, env, command)
    context_reqs = env.requirements
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        if prepared.params:
            client.log_batch(run_id, params=[Param(k, v) for k, v in prepared.params.items()])
        if context_reqs:
            client.log_text(run_id, context_reqs, ARTIFACT_REQUIREMENTS)
        child_env = env.command_env(dict(os.environ))
        child_env.update(
            {
                ENV_RUN_ID: run_id,
                "MLTRACK_TRACKING_URI": client.tracking_uri,
                "MLTRACK_EXPERIMENT_ID": experiment_id,
                "PYTHONUNBUFFERED": "1",
            }
        )
        workdir = prepared.project.directory
        process = subprocess.Popen(
            env.argv(command, workdir, child_env),
            cwd=workdir,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except BaseException:
        client.set_terminated(run_id, RunStatus.FAILED)
        raise
    submitted = SubmittedRun(client, run_id, process, scratch, notebook_out, stream_output, command)
    if env.manager == "local":
        # listing this environment's packages takes a second or more: not before user code
        submitted.add_recorder(
            lambda: client.log_text(run_id, requirements_text(), ARTIFACT_REQUIREMENTS)
        )
    return submitted


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


class _Tee(threading.Thread):
    """Copies one pipe to a file and (optionally) to this process's stream."""

    def __init__(self, pipe: IO[bytes], path: Path, echo: TextIO | None) -> None:
        super().__init__(daemon=True)
        self.pipe, self.path, self.echo = pipe, path, echo

    def run(self) -> None:
        with self.pipe, open(self.path, "wb") as sink:
            for chunk in iter(lambda: self.pipe.read1(65536), b""):  # type: ignore[attr-defined]
                sink.write(chunk)
                sink.flush()
                if self.echo is not None:
                    try:
                        self.echo.write(chunk.decode(errors="replace"))
                        self.echo.flush()
                    except (OSError, ValueError):
                        self.echo = None


class SubmittedRun:
    """A started project run (MLflow's ``SubmittedRun``): ``wait``, ``get_status``, ``cancel``.

    ``run_id`` is the tracked run. The final status is written once, by ``wait()`` (or
    ``cancel()``): FINISHED for exit code 0, FAILED otherwise, KILLED when cancelled.
    """

    def __init__(
        self,
        client: TrackingClient,
        run_id: str,
        process: subprocess.Popen[bytes],
        scratch: Path,
        notebook_out: Path | None,
        stream_output: bool,
        command: str,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.command = command
        self._process = process
        self._scratch = scratch
        self._notebook_out = notebook_out
        self._lock = threading.Lock()
        self._status: str | None = None
        self._cancelled = False
        self.failed_cell: dict[str, Any] | None = None
        assert process.stdout is not None and process.stderr is not None
        self._tees = [
            _Tee(process.stdout, scratch / "stdout.txt", sys.stdout if stream_output else None),
            _Tee(process.stderr, scratch / "stderr.txt", sys.stderr if stream_output else None),
        ]
        for tee in self._tees:
            tee.start()
        self._recorders: list[threading.Thread] = []

    def add_recorder(self, record: Callable[[], None]) -> None:
        """Run ``record`` now in a thread, while the command runs; joined before the end."""

        def guarded() -> None:
            try:
                record()
            except Exception as exc:  # an extra: the run is recorded without it
                print(f"mltrack: could not record {record}: {exc}", file=sys.stderr)

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
        self._recorders.append(thread)

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the command; True when the run FINISHED. Ctrl-C here cancels the run."""
        try:
            self._process.wait(timeout=timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise
        return self._finish() == RunStatus.FINISHED

    def get_status(self) -> str:
        """RUNNING while the command runs, then FINISHED, FAILED or KILLED."""
        if self._status is not None:
            return self._status
        if self._process.poll() is None:
            return RunStatus.RUNNING
        return self._finish()

    def cancel(self) -> None:
        """Stop the command (SIGTERM to its process group, SIGKILL after 5 s): KILLED."""
        self._cancelled = True
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._finish()

    def failure_message(self) -> str:
        status = self.get_status()
        text = f"Run {self.run_id} ended {status}"
        if self.failed_cell is not None:
            cell = self.failed_cell
            return (
                f"{text}: cell {cell['number']} ({cell['first_line']}) raised "
                f"{cell['ename']}: {cell['evalue']}. The executed notebook is the run's "
                f"artifact {ARTIFACT_NOTEBOOK_DIR}/{self._notebook_name()}."
            )
        if status == RunStatus.KILLED:
            return f"{text}: it was cancelled."
        return (
            f"{text}: '{self.command}' exited with code {self._process.returncode}; its "
            f"output is in the run's artifacts {ARTIFACT_STDOUT} and {ARTIFACT_STDERR}."
        )

    def _notebook_name(self) -> str:
        return self._notebook_out.name if self._notebook_out is not None else ""

    def _finish(self) -> str:
        with self._lock:
            if self._status is not None:
                return self._status
            code = self._process.wait()
            for thread in [*self._tees, *self._recorders]:
                thread.join(timeout=30)
            if self._cancelled:
                status = RunStatus.KILLED
            else:
                status = RunStatus.FINISHED if code == 0 else RunStatus.FAILED
            try:
                self._record(status)
            finally:
                self.client.set_terminated(self.run_id, status)
                self._status = status
                self.client.close()
                shutil.rmtree(self._scratch, ignore_errors=True)
            return status

    def _record(self, status: str) -> None:
        client, run_id = self.client, self.run_id
        for name, artifact in (("stdout.txt", ARTIFACT_STDOUT), ("stderr.txt", ARTIFACT_STDERR)):
            path = self._scratch / name
            if path.is_file():
                client.write_artifact(run_id, artifact, path.read_bytes())
        if self._notebook_out is None:
            return
        if self._notebook_out.is_file():
            client.write_artifact(
                run_id, f"{ARTIFACT_NOTEBOOK_DIR}/{self._notebook_out.name}",
                self._notebook_out.read_bytes(),
            )  # fmt: skip
        result = self._scratch / "result.json"
        if result.is_file():
            self.failed_cell = json.loads(result.read_text()).get("failed_cell")
        if self.failed_cell is not None and status == RunStatus.FAILED:
            cell = self.failed_cell
            client.set_tag(run_id, TAG_FAILED_CELL, f"{cell['number']}: {cell['first_line']}")
            client.set_tag(run_id, TAG_CELL_ERROR, f"{cell['ename']}: {cell['evalue']}"[:5000])


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
