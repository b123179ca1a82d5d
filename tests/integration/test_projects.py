"""``mltrack run`` / ``mt.projects.run`` against real stores, processes, git and venvs.

The store is served by its owner process (service mode): the command's process logs into the
run that this process created. Environments are built for real (``python -m venv``, ``uv``)
into a per-test cache; their one dependency is a wheel written by the test, so nothing is
downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from projects_support import git, init_repo, make_wheel, write_demo_project, write_notebook
from service_support import ServiceEnv, process_gone, service_env_fixture  # noqa: F401

import jupyter_mltrack as mt
from jupyter_mltrack.cli import main
from jupyter_mltrack.entities import Run
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.projects import ExecutionFailed, load_project
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def patient_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy 2-core machine can take more than the default 10 s to start a store service."""
    monkeypatch.setenv("MLTRACK_SERVICE_START_TIMEOUT_S", "60")


@pytest.fixture
def env_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("MLTRACK_ENV_CACHE_DIR", str(cache))
    return cache


def all_runs(uri: str) -> list[Run]:
    client = TrackingClient(uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type="ALL")]
    return client.search_runs(ids, max_results=1000) if ids else []


def get_run(uri: str, run_id: str) -> Run:
    return TrackingClient(uri).get_run(run_id)


def artifact_text(run: Run, path: str) -> str:
    return (Path(run.info.artifact_uri.removeprefix("file://")) / path).read_text()


def run_id_from(stderr: str) -> str:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("mltrack: run "))
    return line.split()[2]


# ----------------------------------------------------------------- parsing and typing
def test_mlproject_is_read_in_mlflows_format(tmp_path: Path) -> None:
    project = load_project(write_demo_project(tmp_path / "demo"))
    assert project.name == "demo" and set(project.entry_points) == {"main", "data", "fail"}
    main_ep = project.entry_points["main"]
    assert {n: (p.type, p.default) for n, p in main_ep.parameters.items()} == {
        "alpha": ("float", 0.5),
        "epochs": ("int", 3),
        "label": ("string", None),
    }
    final, extra = main_ep.resolve({"label": "it's", "seed": "1"}, tmp_path)
    # values are shell-quoted; undeclared ones are appended as --key value (MLflow's rule)
    assert main_ep.command_line(final, extra) == (
        "python train.py --alpha 0.5 --epochs 3 --label 'it'\"'\"'s' --seed 1"
    )
    assert project.entry_point("train.py").command == "python train.py"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"label": "x", "alpha": "fast"},
            "Parameter 'alpha' of entry point 'main' must be a float",
        ),
        (
            {"label": "x", "epochs": "2.5"},
            "Parameter 'epochs' of entry point 'main' must be an int",
        ),
        ({}, "Entry point 'main' needs a value for 'label' (no default); pass -P label=VALUE"),
    ],
)
def test_typed_parameter_errors_name_the_parameter_and_create_no_run(
    service_env: ServiceEnv, tmp_path: Path, params: dict[str, str], message: str
) -> None:
    project = write_demo_project(tmp_path / "demo")
    with pytest.raises(InvalidParameter) as info:
        mt.projects.run(str(project), parameters=params)
    assert message in str(info.value)
    assert all_runs(service_env.uri) == []


def test_path_parameter_must_exist_and_is_made_absolute(
    service_env: ServiceEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_demo_project(tmp_path / "demo")
    with pytest.raises(InvalidParameter, match="'data_file' of entry point 'data' is a path"):
        mt.projects.run(str(project), "data", parameters={"data_file": "nope.csv"})
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    submitted = mt.projects.run(str(project), "data", parameters={"data_file": "rows.csv"})
    run = get_run(service_env.uri, submitted.run_id)
    assert run.data.params == {"data_file": str(tmp_path / "rows.csv")}
    assert "a,b\n1,2" in artifact_text(run, "logs/stdout.txt")


def test_cli_reports_a_bad_parameter_in_one_line(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_demo_project(tmp_path / "demo")
    code = main(["run", str(project), "-P", "label=x", "-P", "alpha=fast"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        "error: Parameter 'alpha' of entry point 'main' must be a float, got 'fast'; "
        "pass e.g. -P alpha=0.5."
    ]
    assert main(["run", str(project), "-e", "nope"]) == 1
    assert "No entry point 'nope'" in capsys.readouterr().err


# ----------------------------------------------------------------------- local runs
def test_mltrack_run_local_records_the_run(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_demo_project(tmp_path / "demo")
    init_repo(project)
    commit = git(project, "rev-parse", "HEAD")
    code = main(
        ["run", str(project), "-P", "alpha=0.25", "-P", "label=first",
         "--experiment-name", "proj", "--run-name", "r1", "--env-manager", "local"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "trained alpha=0.25 epochs=3 label=first" in out  # streamed through
    run = get_run(service_env.uri, run_id_from(err))
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    assert run.data.params == {"alpha": "0.25", "epochs": "3", "label": "first"}
    assert run.data.metrics == {"loss": pytest.approx(0.25 / 3), "score": pytest.approx(0.75)}
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mltrack.project.command"] == (
        "python train.py --alpha 0.25 --epochs 3 --label first"
    )
    assert "trained alpha=0.25" in artifact_text(run, "logs/stdout.txt")
    assert "a warning on stderr" in artifact_text(run, "logs/stderr.txt")
    assert "duckdb==" in artifact_text(run, "environment/requirements.txt").lower()
    experiment = TrackingClient(service_env.uri).get_experiment(run.info.experiment_id)
    assert experiment.name == "proj"


def test_failing_command_ends_failed_with_exit_code(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_demo_project(tmp_path / "demo")
    assert main(["run", str(project), "-e", "fail"]) == 1
    err = capsys.readouterr().err
    assert "exited with code 3" in err
    (run,) = all_runs(service_env.uri)
    assert run.info.status == "FAILED"
    assert "going down" in artifact_text(run, "logs/stdout.txt")
    with pytest.raises(ExecutionFailed, match="exited with code 3"):
        mt.projects.run(str(project), "fail", stream_output=False)


def test_bare_script_entry_point_gets_extra_params_as_options(
    service_env: ServiceEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "train.py").write_text((write_demo_project(tmp_path / "d") / "train.py").read_text())
    (folder / "hello.sh").write_text('echo "hello from $0 $@"\n')
    submitted = mt.projects.run(
        str(folder), "train.py", parameters={"alpha": 2, "epochs": 1}, stream_output=False
    )
    run = get_run(service_env.uri, submitted.run_id)
    assert run.data.metrics["score"] == 2.0
    assert run.data.tags["mltrack.project.command"] == "python train.py --alpha 2 --epochs 1"
    sh = mt.projects.run(str(folder), "hello.sh", parameters={"x": "y"}, stream_output=False)
    assert "hello from hello.sh --x y" in artifact_text(
        get_run(service_env.uri, sh.run_id), "logs/stdout.txt"
    )


def test_submitted_run_cancel_ends_it_killed(service_env: ServiceEnv, tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    marker = tmp_path / "started"
    (folder / "sleep.py").write_text(
        f"import time, pathlib\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(120)\n"
    )
    submitted = mt.projects.run(str(folder), "sleep.py", synchronous=False, stream_output=False)
    assert submitted.get_status() == "RUNNING"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert submitted.wait() is False
    assert process_gone(submitted.pid)
    assert get_run(service_env.uri, submitted.run_id).info.status == "KILLED"


def test_ctrl_c_on_mltrack_run_ends_the_run_killed(service_env: ServiceEnv, tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    marker = tmp_path / "child.pid"
    (folder / "sleep.py").write_text(
        "import os, time, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(120)\n"
    )
    proc = service_env.popen(
        [sys.executable, "-m", "jupyter_mltrack.cli", "run", str(folder), "-e", "sleep.py"]
    )
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    child = int(marker.read_text())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert process_gone(child)
    (run,) = all_runs(service_env.uri)
    assert run.info.status == "KILLED"


# ------------------------------------------------------------------ environments
def _env_project(root: Path) -> Path:
    root.mkdir(parents=True)
    make_wheel(root / "wheels")
    (root / "requirements.txt").write_text("./wheels/tinypkg-0.1-py3-none-any.whl\n")
    (root / "python_env.yaml").write_text(
        f"python: '{sys.version_info.major}.{sys.version_info.minor}'\n"
        "build_dependencies: [pip]\ndependencies: [-r requirements.txt]\n"
    )
    (root / "MLproject").write_text(
        "name: envdemo\npython_env: python_env.yaml\nentry_points:\n  main:\n"
        "    command: python use.py\n"
    )
    (root / "use.py").write_text(
        "import sys, tinypkg\nimport jupyter_mltrack as mt\n"
        "with mt.start_run():\n"
        "    mt.log_metric('value', tinypkg.VALUE)\n"
        "    mt.log_param('prefix', sys.prefix)\n"
    )
    return root


@pytest.mark.parametrize("manager", ["virtualenv", "uv"])
def test_env_manager_builds_once_and_reuses_the_cached_env(
    service_env: ServiceEnv,
    env_cache: Path,
    tmp_path: Path,
    manager: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = _env_project(tmp_path / "envdemo")
    assert main(["run", str(project), "--env-manager", manager]) == 0
    first_err = capsys.readouterr().err
    assert f"Building {manager} environment {manager}-" in first_err  # the progress line
    assert "built in" in first_err
    first = get_run(service_env.uri, run_id_from(first_err))
    assert first.data.metrics == {"value": 42.0}
    prefix = Path(first.data.params["prefix"])
    assert prefix.parent == env_cache and prefix.name.startswith(f"{manager}-")
    assert first.data.tags["mlflow.project.env"] == manager
    assert "tinypkg @ file://" in artifact_text(first, "environment/requirements.txt")

    assert main(["run", str(project), "--env-manager", manager]) == 0
    second_err = capsys.readouterr().err
    assert "Building" not in second_err  # from the cache
    second = get_run(service_env.uri, run_id_from(second_err))
    assert second.data.params["prefix"] == str(prefix)
    assert second.data.tags["mltrack.project.env_key"] == first.data.tags["mltrack.project.env_key"]

    # a changed spec is a new environment
    (project / "requirements.txt").write_text("./wheels/tinypkg-0.1-py3-none-any.whl\n# changed\n")
    assert main(["run", str(project), "--env-manager", manager]) == 0
    third = get_run(service_env.uri, run_id_from(capsys.readouterr().err))
    assert third.data.params["prefix"] != str(prefix)


def test_conda_and_docker_say_what_is_missing(
    service_env: ServiceEnv, env_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conda = tmp_path / "conda-proj"
    conda.mkdir()
    (conda / "conda.yaml").write_text("name: x\ndependencies: [python=3.11]\n")
    (conda / "MLproject").write_text(
        "name: c\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: python -V\n"
    )
    monkeypatch.setenv("PATH", os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "conda").exists()
    ))  # fmt: skip
    with pytest.raises(ExecutionFailed, match="conda is not on PATH"):
        mt.projects.run(str(conda))
    docker = tmp_path / "docker-proj"
    docker.mkdir()
    (docker / "MLproject").write_text(
        "name: d\ndocker_env:\n  image: python:3.11-slim\n"
        "entry_points:\n  main:\n    command: python -V\n"
    )
    with pytest.raises(ExecutionFailed) as info:
        mt.projects.run(str(docker))
    message = str(info.value)
    assert "no Docker engine is available" in message and "--env-manager local" in message
    context = Path(message.split("build context to ")[1].split(" ")[0])
    assert (context / "Dockerfile").read_text().startswith("FROM python:3.11-slim\n")
    assert (context / "project" / "MLproject").is_file()
    assert all_runs(service_env.uri) == []
    # --env-manager local runs it here anyway
    submitted = mt.projects.run(str(docker), env_manager="local", stream_output=False)
    assert get_run(service_env.uri, submitted.run_id).info.status == "FINISHED"


# ------------------------------------------------------------------------- git
def test_git_url_with_subdirectory_and_version(service_env: ServiceEnv, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_demo_project(repo / "sub" / "demo")
    init_repo(repo)
    git(repo, "tag", "v1")
    v1 = git(repo, "rev-parse", "HEAD")
    train = repo / "sub" / "demo" / "train.py"
    train.write_text(train.read_text().replace('"score", args.alpha', '"score", 100 * args.alpha'))
    git(repo, "commit", "-q", "-am", "score x100")

    uri = f"file://{repo}#sub/demo"
    old = mt.projects.run(uri, version="v1", parameters={"label": "x"}, stream_output=False)
    new = mt.projects.run(uri, version="main", parameters={"label": "x"}, stream_output=False)
    old_run, new_run = get_run(service_env.uri, old.run_id), get_run(service_env.uri, new.run_id)
    assert old_run.data.metrics["score"] == pytest.approx(1.5)
    assert new_run.data.metrics["score"] == pytest.approx(150)
    assert old_run.data.tags["mlflow.source.git.commit"] == v1
    assert old_run.data.tags["mlflow.source.git.branch"] == "v1"
    assert old_run.data.tags["mltrack.project.uri"] == uri
    with pytest.raises(InvalidParameter, match="Version 'v9' is not a branch, tag or commit"):
        mt.projects.run(uri, version="v9", parameters={"label": "x"})
    with pytest.raises(Exception, match="has no folder 'sub/nope'"):
        mt.projects.run(f"file://{repo}#sub/nope", version="v1")


# -------------------------------------------------------------------- notebooks
NOTEBOOK_CELLS = [
    ("import jupyter_mltrack as mt", []),
    ("alpha = 0.1\nepochs = 2\nname = 'base'", ["parameters"]),
    (
        "with mt.start_run():\n"
        "    for i in range(epochs):\n"
        "        mt.log_metric('loss', alpha / (i + 1), step=i)\n"
        "    mt.log_param('name_seen', name)\n"
        "print('done', alpha, epochs, name)",
        [],
    ),
]


def test_notebook_entry_point_with_parameters(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "nbproj"
    write_notebook(folder / "train.ipynb", NOTEBOOK_CELLS)
    code = main(["run", str(folder), "-e", "train.ipynb", "-P", "alpha=0.5", "-P", "epochs=4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for n in range(1, 5):  # one progress line per code cell (the injected one included)
        assert f"[notebook] cell {n}/4" in err
    assert "done 0.5 4 base" in out  # the cells' output is echoed
    run = get_run(service_env.uri, run_id_from(err))
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"loss": pytest.approx(0.5 / 4)}
    assert run.data.params == {"alpha": "0.5", "epochs": "4", "name_seen": "base"}
    executed = json.loads(artifact_text(run, "notebook/train.ipynb"))
    injected = executed["cells"][2]
    assert injected["metadata"]["tags"] == ["injected-parameters"]
    assert "".join(injected["source"]) == "# Parameters\nalpha = 0.5\nepochs = 4\n"
    assert any(
        "done 0.5 4 base" in "".join(o.get("text", "")) for o in executed["cells"][3]["outputs"]
    )

    with pytest.raises(InvalidParameter, match=r"'epochs' of notebook train\.ipynb must be int"):
        mt.projects.run(str(folder), "train.ipynb", parameters={"epochs": "many"})
    with pytest.raises(InvalidParameter, match="has no parameter 'lr'"):
        mt.projects.run(str(folder), "train.ipynb", parameters={"lr": "1"})


def test_notebook_failing_cell_fails_the_run_and_names_the_cell(
    service_env: ServiceEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "nbfail"
    write_notebook(
        folder / "broken.ipynb",
        [
            ("x = 1", ["parameters"]),
            ("y = x + 1", []),
            ("ratio = y / 0", []),
            ("print('never')", []),
        ],
    )
    (folder / "MLproject").write_text(
        "name: nb\nentry_points:\n  main:\n    parameters: {x: {type: int, default: 1}}\n"
        "    notebook: broken.ipynb\n"
    )
    with pytest.raises(ExecutionFailed) as info:
        mt.projects.run(str(folder), parameters={"x": 5}, stream_output=False)
    message = str(info.value)
    assert "cell 4 (ratio = y / 0) raised ZeroDivisionError: division by zero" in message
    (run,) = all_runs(service_env.uri)
    assert run.info.status == "FAILED"
    assert run.data.tags["mltrack.notebook.failed_cell"] == "4: ratio = y / 0"
    assert run.data.tags["mltrack.notebook.error"] == "ZeroDivisionError: division by zero"
    executed = json.loads(artifact_text(run, "notebook/broken.ipynb"))
    assert executed["cells"][3]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert executed["cells"][4].get("outputs") == []  # never ran
