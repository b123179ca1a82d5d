"""Per-registered-model permissions on ``mltrack server --auth`` (READ, EDIT, MANAGE), with
the official mlflow client and MLflow's grant routes; logged models follow their
experiment's permission; a denied model answers exactly as a missing one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_support import ServerProcess, start_mltrack_server
from test_server_auth import ADMIN, call, client_as

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

ALICE = ("alice", "alice-password-123")
BOB = ("bob", "bob-password-1234")
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MLTRACK_ADMIN_USERNAME": ADMIN[0], "MLTRACK_ADMIN_PASSWORD": ADMIN[1]}
    with start_mltrack_server(
        tmp_path_factory.mktemp("registry-auth"), extra_args=["--auth"], env=env
    ) as server:
        for user in (ALICE, BOB):
            status, body = call(
                server, "POST", f"{API}/users/create", {"username": user[0], "password": user[1]}
            )
            assert status == 200, body
        yield server


def _denied_as_missing(server: ServerProcess, path: str, params: str) -> None:
    """``path`` answers bob exactly as it answers for a model nobody has."""
    got = call(server, "GET", f"{API}/{path}?{params}", auth=BOB)
    missing = call(
        server, "GET", f"{API}/{path}?{params.replace('secret', 'nothing-here')}", auth=BOB
    )
    assert got[0] == missing[0] == 404
    assert got[1]["error_code"] == missing[1]["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert got[1]["message"] == missing[1]["message"].replace("nothing-here", "secret")


def test_model_permissions_read_edit_manage(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = client_as(server, monkeypatch, ALICE)
    alice.create_registered_model("secret", tags={"owner": "alice"})
    alice.set_registered_model_tag("secret", "k", "v")  # the creator has MANAGE

    _denied_as_missing(server, "registered-models/get", "name=secret")
    _denied_as_missing(server, "model-versions/get", "name=secret&version=1")
    _denied_as_missing(server, "registered-models/alias", "name=secret&alias=prod")
    status, found = call(server, "GET", f"{API}/registered-models/search", auth=BOB)
    assert status == 200 and found.get("registered_models", []) == []

    # MLflow 3's grant API with resource_type registered_model, by the model's manager
    status, body = call(
        server,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {
            "username": "bob",
            "resource_type": "registered_model",
            "resource_id": "secret",
            "permission": "READ",
        },
        auth=ALICE,
    )
    assert status == 200, body
    bob = client_as(server, monkeypatch, BOB)
    assert bob.get_registered_model("secret").tags == {"owner": "alice", "k": "v"}
    assert [m.name for m in bob.search_registered_models()] == ["secret"]
    with pytest.raises(MlflowException) as exc:
        bob.set_registered_model_tag("secret", "x", "y")
    assert exc.value.error_code == "PERMISSION_DENIED"

    # MLflow 2's route, EDIT: tags and versions, not delete
    status, body = call(
        server,
        "PATCH",
        f"{API}/registered-models/permissions/update",
        {"name": "secret", "username": "bob", "permission": "EDIT"},
        auth=ALICE,
    )
    assert status == 200 and body["registered_model_permission"]["permission"] == "EDIT"
    bob.set_registered_model_tag("secret", "x", "y")
    version = bob.create_model_version("secret", "s3://bucket/model")
    assert version.version == "1" and version.user_id == "bob"
    with pytest.raises(MlflowException) as exc:
        bob.delete_registered_model("secret")
    assert exc.value.error_code == "PERMISSION_DENIED"

    # grants follow a rename; MANAGE deletes
    alice.rename_registered_model("secret", "secret-2")
    assert bob.get_registered_model("secret-2").name == "secret-2"
    call(
        server,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        {
            "username": "bob",
            "resource_type": "registered_model",
            "resource_id": "secret-2",
            "permission": "MANAGE",
        },
        auth=ALICE,
    )
    bob.delete_registered_model("secret-2")
    with pytest.raises(MlflowException) as exc:
        alice.get_registered_model("secret-2")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_logged_models_follow_their_experiment(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = client_as(server, monkeypatch, ALICE)
    exp_id = alice.create_experiment("alice-models")
    model = alice.create_logged_model(exp_id, name="private")

    got = call(server, "GET", f"{API}/logged-models/{model.model_id}", auth=BOB)
    nobody = "m-" + "f" * 32
    missing = call(server, "GET", f"{API}/logged-models/{nobody}", auth=BOB)
    assert got[0] == missing[0] == 404
    assert got[1]["message"] == missing[1]["message"].replace(nobody, model.model_id)
    status, found = call(
        server, "POST", f"{API}/logged-models/search", {"experiment_ids": [exp_id]}, auth=BOB
    )
    assert status == 200 and found.get("models", []) == []
    status, _ = call(
        server,
        "POST",
        f"{API}/logged-models",
        {"experiment_id": exp_id, "name": "intruder"},
        auth=BOB,
    )
    assert status == 404  # the experiment is missing, as far as bob can tell

    call(
        server,
        "POST",
        f"{API}/experiments/permissions/create",
        {"experiment_id": exp_id, "username": "bob", "permission": "READ"},
        auth=ALICE,
    )
    bob = client_as(server, monkeypatch, BOB)
    assert bob.get_logged_model(model.model_id).name == "private"
    with pytest.raises(MlflowException) as exc:
        bob.set_logged_model_tags(model.model_id, {"x": "y"})
    assert exc.value.error_code == "PERMISSION_DENIED"


def test_run_model_links_need_edit_on_the_run_and_read_on_the_model(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = client_as(server, monkeypatch, ALICE)
    alice_exp = alice.create_experiment("alice-linked")
    alice_run = alice.create_run(alice_exp).info.run_id
    model = alice.create_logged_model(alice_exp, name="linked").model_id
    bob = client_as(server, monkeypatch, BOB)
    bob_run = bob.create_run(bob.create_experiment("bob-linked")).info.run_id

    def outputs(run_id: str, model_id: str) -> tuple[int, dict]:
        body = {"run_id": run_id, "models": [{"model_id": model_id, "step": 1}]}
        return call(server, "POST", f"{API}/runs/outputs", body, auth=BOB)

    nobody = "m-" + "e" * 32
    got, missing = outputs(bob_run, model), outputs(bob_run, nobody)  # a model bob can't read
    assert got[0] == missing[0] == 404
    assert got[1]["message"] == missing[1]["message"].replace(nobody, model)
    assert outputs(alice_run, model)[0] == 404  # a run bob can't read

    call(
        server,
        "POST",
        f"{API}/experiments/permissions/create",
        {"experiment_id": alice_exp, "username": "bob", "permission": "READ"},
        auth=ALICE,
    )
    status, body = outputs(alice_run, model)  # READ on the run's experiment: not enough
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED"
    assert outputs(bob_run, model)[0] == 200  # READ on the model's: enough
    assert [(m.model_id, m.step) for m in bob.get_run(bob_run).outputs.model_outputs] == [
        (model, 1)
    ]
    assert alice.get_run(alice_run).outputs.model_outputs == []
