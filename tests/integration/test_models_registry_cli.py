"""``mltrack models list|show|register|alias|delete`` in-process on a real DuckDB store."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.cli import main


@pytest.fixture
def cli(
    tracking_store: str, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--tracking-uri", tracking_store, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def logged(tracking_store: str) -> tuple[str, str]:
    """(run_id, model_id) of a run with a READY logged model named ``model``."""
    with mt.start_run() as run:
        pass
    client = mt.MlflowClient()
    lm = client.create_logged_model("0", "model", run.info.run_id)
    client.finalize_logged_model(lm.model_id, "READY")
    return run.info.run_id, lm.model_id


def test_register_alias_show_list_delete(cli, logged):
    run_id, model_id = logged
    code, out, _ = cli("models", "register", f"models:/{model_id}", "churn", "--tag", "by=cli")
    assert code == 0 and "Registered version 1 of 'churn'" in out
    code, out, _ = cli(
        "models", "register", f"runs:/{run_id}/model", "churn", "--alias", "champion", "--json"
    )
    second = json.loads(out)
    assert (second["version"], second["model_id"], second["aliases"]) == (
        "2",
        model_id,
        ["champion"],
    )
    assert cli("models", "alias", "churn", "stable", "1")[0] == 0
    assert mt.MlflowClient().get_model_version_by_alias("churn", "stable").version == "1"

    code, out, _ = cli("models", "show", "churn")
    assert code == 0 and "champion=2" in out and "stable=1" in out and run_id in out
    shown = json.loads(cli("models", "show", "churn", "--json")[1])
    assert [v["version"] for v in shown["versions"]] == ["2", "1"]
    assert shown["versions"][1]["tags"] == {"by": "cli"}

    code, out, _ = cli("models", "list")
    assert code == 0 and "churn" in out and "champion=2, stable=1" in out
    listed = json.loads(cli("models", "list", "--filter", "name LIKE 'ch%'", "--json")[1])
    assert [(m["name"], m["latest_version"]) for m in listed] == [("churn", "2")]

    assert cli("models", "alias", "churn", "stable", "--delete")[0] == 0
    assert mt.MlflowClient().get_registered_model("churn").aliases == {"champion": "2"}
    assert cli("models", "delete", "churn", "--version", "2")[0] == 0
    assert [v.version for v in mt.MlflowClient().search_model_versions("name = 'churn'")] == ["1"]
    assert cli("models", "delete", "churn")[0] == 0
    assert cli("models", "list")[1].strip() == "No registered models."


def test_errors_are_one_readable_line(cli, logged):
    code, _, err = cli("models", "show", "nope")
    assert code == 1 and "No registered model named 'nope'" in err and "Traceback" not in err
    code, _, err = cli("models", "alias", "nope", "champion")
    assert code == 1 and "VERSION" in err
    code, _, err = cli("models", "register", "models:/nope/x", "churn")
    assert code == 1 and "not a version number" in err
    code, _, err = cli("models", "register", f"models:/{logged[1]}", "churn", "--tag", "novalue")
    assert code == 1 and "KEY=VALUE" in err
