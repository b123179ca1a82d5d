"""MLproject parsing, parameter typing, environment spec keys and notebook injection."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.projects.envs import default_manager, env_spec
from jupyter_mltrack.projects.fetch import split_subdirectory
from jupyter_mltrack.projects.notebook import inject_parameters, typed_values
from jupyter_mltrack.projects.spec import Parameter, load_project


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(text)
    return root


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("python_env: a.yaml\nconda_env: b.yaml\n", "declares python_env and conda_env"),
        (
            "entry_points:\n  main:\n    parameters: {x: float32}\n    command: echo\n",
            "parameter 'x' has type 'float32'; use one of float, int, string, path, uri",
        ),
        (
            "entry_points:\n  main:\n    command: 'python t.py {lr}'\n",
            "the command uses {lr}, which are not declared",
        ),
        ("entry_points:\n  main:\n    parameters: {}\n", "needs exactly one of 'command' or"),
        ("docker_env: {}\n", "docker_env needs an 'image'"),
        ("name: [unclosed\n", "is not valid YAML"),
    ],
)
def test_invalid_mlproject_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        load_project(write(tmp_path / "p", text))
    assert message in str(info.value)


def test_mlproject_is_found_whatever_its_case(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlproject").write_text("name: lower\n")
    assert load_project(root).name == "lower"


def test_uri_and_int_parameters(tmp_path: Path) -> None:
    uri = Parameter("src", "uri")
    assert uri.check("s3://bucket/key", "main", tmp_path) == "s3://bucket/key"
    with pytest.raises(InvalidParameter, match="must be a URI"):
        uri.check("not/there", "main", tmp_path)
    assert Parameter("n", "int").check(7, "main", tmp_path) == "7"
    assert Parameter("f", "float").check("1e-3", "main", tmp_path) == "1e-3"


def test_subdirectory_must_stay_inside(tmp_path: Path) -> None:
    assert split_subdirectory("https://h/r.git#a/b/") == ("https://h/r.git", "a/b")
    with pytest.raises(InvalidParameter, match="must be relative"):
        split_subdirectory("repo#../etc")


def test_env_spec_key_follows_the_files_it_names(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("pandas\n")
    (root / "python_env.yaml").write_text("python: '3.11'\ndependencies: [-r requirements.txt]\n")
    project = load_project(root)
    assert default_manager(project) == "virtualenv"
    first = env_spec(project, "uv")
    assert first.python == "3.11" and first.dependencies == ("-r requirements.txt",)
    assert env_spec(project, "uv").key == first.key
    assert env_spec(project, "virtualenv").key != first.key
    (root / "requirements.txt").write_text("pandas==2.2\n")
    assert env_spec(project, "uv").key != first.key


def test_parameters_are_injected_after_the_tagged_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import x"), nbformat.v4.new_code_cell("lr = 0.1")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    inject_parameters(nb, {"lr": 0.5, "name": "a"})
    assert [c.source for c in nb.cells] == [
        "import x",
        "lr = 0.1",
        "# Parameters\nlr = 0.5\nname = 'a'\n",
    ]
    assert nb.cells[2].metadata["tags"] == ["injected-parameters"]


def test_values_take_the_type_of_the_default() -> None:
    defaults = {"lr": 0.1, "epochs": 3, "debug": False, "name": "x"}
    given = {"lr": "1", "epochs": "4", "debug": "true", "name": "7"}
    assert typed_values(given, {}, defaults, "nb") == {
        "lr": 1.0,
        "epochs": 4,
        "debug": True,
        "name": "7",
    }
    with pytest.raises(InvalidParameter, match="'debug' of nb must be bool"):
        typed_values({"debug": "maybe"}, {}, defaults, "nb")
