"""``mltrack runs reproduce``: a script run, a ``%%track`` notebook run and a project run are
recreated from their records alone and give the same metrics; missing pieces are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from projects_support import git, init_repo, write_demo_project
from service_support import ServiceEnv, service_env_fixture  # noqa: F401

import jupyter_mltrack as mt
from jupyter_mltrack.cli import main
from jupyter_mltrack.entities import Run
from jupyter_mltrack.projects import ExecutionFailed
from jupyter_mltrack.projects.reproduce import write_reproduction
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.slow

SCRIPT = """\
import argparse
import jupyter_mltrack as mt
from helper import scale

p = argparse.ArgumentParser()
p.add_argument("--alpha", type=float, default=1.0)
args = p.parse_args()
with mt.start_run():
    mt.log_param("alpha", args.alpha)
    for step in range(4):
        mt.log_metric("loss", scale(args.alpha) / (step + 1), step=step)
    mt.log_metric("final", scale(args.alpha) * 10)
"""


@pytest.fixture(autouse=True)
def patient_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_SERVICE_START_TIMEOUT_S", "60")


def runs(uri: str) -> list[Run]:
    client = TrackingClient(uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type="ALL")]
    return sorted(client.search_runs(ids, max_results=100), key=lambda r: r.info.start_time_ms)


def reproduce_and_check(
    uri: str, run_id: str, target: Path, capsys: pytest.CaptureFixture[str]
) -> Run:
    code = main(["runs", "reproduce", run_id[:10], "-d", str(target), "--run"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "metrics match." in out
    new_id = out.split("Reproduced as run ")[1].split(":")[0]
    client = TrackingClient(uri)
    old, new = client.get_run(run_id), client.get_run(new_id)
    assert new.data.metrics == old.data.metrics and old.data.metrics
    assert new.data.tags["mltrack.reproduce.source_run"] == run_id
    assert new.info.experiment_id == old.info.experiment_id
    manifest = json.loads((target / "mltrack-reproduce.json").read_text())
    assert manifest["source_run_id"] == run_id and manifest["metrics"] == old.data.metrics
    return new


def test_reproduce_a_script_run_from_git_commit_and_diff(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(SCRIPT)
    (repo / "helper.py").write_text("def scale(x):\n    return x * 2\n")
    init_repo(repo)
    # an uncommitted change: the run's code is the commit plus this diff
    (repo / "helper.py").write_text("def scale(x):\n    return x * 3\n")
    subprocess.run(
        [sys.executable, "train.py", "--alpha", "0.5"],
        cwd=repo, env=service_env.env, check=True, timeout=120,
    )  # fmt: skip
    (repo / "helper.py").write_text("def scale(x):\n    return x * 1000\n")  # changed since
    (old,) = runs(service_env.uri)
    assert old.data.metrics["final"] == 15.0
    assert old.data.tags["mltrack.git.dirty"] == "true"
    assert json.loads(old.data.tags["mltrack.source.argv"]) == ["train.py", "--alpha", "0.5"]

    target = tmp_path / "repro"
    new = reproduce_and_check(service_env.uri, old.info.run_id, target, capsys)
    assert new.data.params == {"alpha": "0.5"}
    assert (target / "helper.py").read_text() == "def scale(x):\n    return x * 3\n"
    assert "python train.py --alpha 0.5" in (target / "MLproject").read_text()
    assert "python: 3." in (target / "python_env.yaml").read_text()


def test_reproduce_a_track_notebook_run(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [
        "import jupyter_mltrack as mt\nseed = 3",
        "%%track --no-live --name warmup\nmt.log_metric('warm', seed)",
        "def curve(lr, i):\n    return lr * seed / (i + 1)",
        "%%track --no-live --name main\nlr = 0.1\nfor i in range(3):\n"
        "    mt.log_metric('loss', curve(lr, i), step=i)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    by_name = {r.info.run_name: r for r in runs(service_env.uri)}
    old = by_name["main"]
    assert old.data.metrics == {"loss": pytest.approx(0.1)}

    target = tmp_path / "repro"
    new = reproduce_and_check(service_env.uri, old.info.run_id, target, capsys)
    assert new.data.params == {"lr": "0.1"}
    written = nbformat.read(str(target / "notebook.ipynb"), as_version=4)
    sources = [c.source for c in written.cells]
    assert sources[1].startswith("%%track --no-live --name warmup --nested")  # its own run
    assert written.cells[-2].metadata["tags"] == ["parameters"]
    assert sources[-1].startswith("%%track --no-live\nlr = 0.1")


def test_reproduce_a_project_run(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = write_demo_project(tmp_path / "demo")
    init_repo(repo)
    submitted = mt.projects.run(
        str(repo), parameters={"alpha": "0.7", "label": "p"}, stream_output=False
    )
    train = repo / "train.py"
    train.write_text(train.read_text().replace("args.alpha * args.epochs", "0"))
    git(repo, "commit", "-q", "-am", "later change")
    new = reproduce_and_check(service_env.uri, submitted.run_id, tmp_path / "repro", capsys)
    assert new.data.params == {"alpha": "0.7", "epochs": "3", "label": "p"}


def test_reproduce_says_what_the_record_lacks(service_env: ServiceEnv, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "train.py").write_text(SCRIPT)
    (loose / "helper.py").write_text("def scale(x):\n    return x\n")
    subprocess.run([sys.executable, "train.py"], cwd=loose, env=service_env.env, check=True,
                   timeout=120)  # fmt: skip
    (bare,) = runs(service_env.uri)
    with pytest.raises(ExecutionFailed) as info:
        write_reproduction(bare.info.run_id, tmp_path / "r1")
    assert str(info.value) == (
        f"Run {bare.info.run_id} cannot be reproduced from its record: it has neither a git "
        "commit (mlflow.source.git.commit: the script was not in a repository) nor captured "
        f"code (code/cell.py: it was not a %%track cell). Its source was {loose / 'train.py'}; "
        "run it inside a git repository (or with %%track) to make it reproducible."
    )

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(SCRIPT)
    (repo / "helper.py").write_text("def scale(x):\n    return x\n")
    (repo / "big.txt").write_text("x\n")
    init_repo(repo)
    (repo / "big.txt").write_text("y" * 80 + "\n" * 1 + ("z" * 99 + "\n") * 2000)
    subprocess.run([sys.executable, "train.py"], cwd=repo, env=service_env.env, check=True,
                   timeout=120)  # fmt: skip
    dirty = runs(service_env.uri)[-1]
    with pytest.raises(ExecutionFailed, match=r"the stored diff was cut \(diff truncated to "
                       r"the first 100000 of \d+ bytes"):  # fmt: skip
        write_reproduction(dirty.info.run_id, tmp_path / "r2")
