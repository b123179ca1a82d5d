"""``mltrack init``: both templates run end to end on their bundled data (a registered model
with an evaluation and a validation), the steps also as a notebook, the generated project's
own tests pass, and a team's template is found through the entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from service_support import ServiceEnv, service_env_fixture  # noqa: F401

from jupyter_mltrack.cli import main
from jupyter_mltrack.entities import Run
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def patient_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_SERVICE_START_TIMEOUT_S", "60")


def run_id_from(stderr: str) -> str:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("mltrack: run "))
    return line.split()[2]


def run_project(
    directory: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(["run", str(directory), "--env-manager", "local", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def check_registered(uri: str, run: Run, name: str, metric: str) -> None:
    client = TrackingClient(uri)
    versions = client.search_model_versions(f"name = '{name}'")
    assert run.info.run_id in {v.run_id for v in versions}
    assert client.get_model_version_by_alias(name, "candidate").run_id == run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["validation"] == "passed"
    assert metric in run.data.metrics  # from mt.evaluate
    assert any(k.startswith("baseline/") for k in run.data.metrics)  # the baseline model
    assert run.data.tags["registered_model"].startswith(f"{name}/")


def test_init_list_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("classification  classification: steps ingest/split/transform")
    assert "\nregression      regression: " in listed
    assert main(["init", "--template", "nope", str(tmp_path / "x")]) == 1
    assert "No template 'nope'; the templates are classification, regression" in (
        capsys.readouterr().err
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert main(["init", "--template", "regression", str(tmp_path / "full")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "y")]) == 1
    assert "needs --template NAME and DIR" in capsys.readouterr().err


def test_classification_template_end_to_end(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "churn-model"
    assert main(["init", "--template", "classification", str(project)]) == 0
    capsys.readouterr()
    for path in ("MLproject", "config.yaml", "data/iris.csv", "steps/train.py",
                 "notebooks/pipeline.ipynb", "tests/test_checks.py", ".gitignore"):  # fmt: skip
        assert (project / path).is_file(), path
    assert 'model_name: "churn-model"' in (project / "config.yaml").read_text()

    code, out, err = run_project(project, capsys, "--experiment-name", "churn-model")
    assert code == 0, out + err
    for n, step in enumerate(["ingest", "split", "transform", "train", "evaluate", "register"]):
        assert f"== step {n + 1}/6: {step}" in out
    client = TrackingClient(service_env.uri)
    run = client.get_run(run_id_from(err))
    check_registered(service_env.uri, run, "churn-model", "accuracy_score")
    assert run.data.metrics["accuracy_score"] >= 0.85
    assert client.get_experiment(run.info.experiment_id).name == "churn-model"

    # the same steps as notebook cells: another validated, registered version
    code, out, err = run_project(project, capsys, "-e", "notebook")
    assert code == 0, out + err
    assert "[notebook] cell 10/10" in err  # parameters, injected, setup, 6 steps, end
    nb_run = client.get_run(run_id_from(err))
    check_registered(service_env.uri, nb_run, "churn-model", "accuracy_score")
    assert len(client.search_model_versions("name = 'churn-model'")) == 2

    # the project's own tests: the data checks
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_checks.py"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout

    # bad data is refused by the ingest step, naming the problem
    data = project / "data" / "iris.csv"
    data.write_text(data.read_text().splitlines()[0] + "\n1,2,3,4,setosa\n")
    code, out, err = run_project(project, capsys, "-e", "ingest")
    assert code == 1
    assert "Data checks failed" in err and "1 rows, at least 100 needed" in err


def test_regression_template_end_to_end(
    service_env: ServiceEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "progress"
    assert main(["init", "--template", "regression", str(project)]) == 0
    capsys.readouterr()
    code, out, err = run_project(project, capsys)
    assert code == 0, out + err
    run = TrackingClient(service_env.uri).get_run(run_id_from(err))
    check_registered(service_env.uri, run, "progress", "r2_score")
    assert run.data.metrics["r2_score"] >= 0.3
    assert run.data.metrics["root_mean_squared_error"] <= 70
    assert run.data.params["train.estimator"] == "sklearn.linear_model.Ridge"

    # a threshold the model cannot meet fails the evaluate step, and nothing is registered
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("r2_score: {min: 0.3", "r2_score: {min: 0.99"))
    code, out, err = run_project(project, capsys)
    assert code == 1
    assert "r2_score" in err and "Model validation failed" in err
    failed = TrackingClient(service_env.uri).get_run(run_id_from(err))
    assert failed.data.tags["validation"] == "failed"
    assert len(TrackingClient(service_env.uri).search_model_versions("name = 'progress'")) == 1


def test_a_team_template_from_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    template = site / "acme_templates" / "forecast"
    template.mkdir(parents=True)
    (site / "acme_templates" / "__init__.py").write_text(f"FORECAST = {str(template)!r}\n")
    (template / "template.json").write_text('{"description": "forecast: the acme way"}')
    (template / "README.md.tmpl").write_text("# {{ project_name }} ({{ template }})\n")
    (template / "MLproject").write_text("name: forecast\n")
    dist = site / "acme_templates-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-templates\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[jupyter_mltrack.templates]\nforecast = acme_templates:FORECAST\n"
    )
    monkeypatch.syspath_prepend(str(site))
    assert main(["init", "--list"]) == 0
    assert "forecast        forecast: the acme way" in capsys.readouterr().out
    assert main(["init", "--template", "forecast", str(tmp_path / "sales")]) == 0
    assert (tmp_path / "sales" / "README.md").read_text() == "# sales (forecast)\n"
    assert (tmp_path / "sales" / "MLproject").read_text() == "name: forecast\n"
