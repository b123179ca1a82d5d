"""``mltrack server --auth`` with the real mlflow client: users, tokens, permissions."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_support import ServerProcess, api_call, start_mltrack_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

ADMIN = ("root", "root-password-123")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MLTRACK_ADMIN_USERNAME": ADMIN[0], "MLTRACK_ADMIN_PASSWORD": ADMIN[1]}
    with start_mltrack_server(
        tmp_path_factory.mktemp("auth"), extra_args=["--auth"], env=env
    ) as server:
        yield server


def call(
    server: ServerProcess,
    method: str,
    path: str,
    body: Any = None,
    auth: tuple[str, str] | str | None = ADMIN,
) -> tuple[int, dict[str, Any]]:
    """``api_call`` at ``server``, as the admin unless told otherwise."""
    return api_call(server.url, method, path, body, auth)


def client_as(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, user: tuple[str, str]
) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    return MlflowClient(server.url)


def test_every_route_refuses_anonymous_requests(server: ServerProcess) -> None:
    from jupyter_mltrack.mlflow_rest import make_handlers
    from jupyter_mltrack.service.api_routes import ROUTES
    from jupyter_mltrack.settings import API_BASE
    from jupyter_mltrack.teamserver.auth.routes import auth_routes

    patterns = [API_BASE + p for p, _ in ROUTES]
    patterns += [p for p, _, _ in make_handlers(lambda: None, "/tmp")]  # type: ignore[arg-type,return-value]
    patterns += [p for p, _, _ in auth_routes(None, None)]  # type: ignore[arg-type]
    patterns += ["/no/such/route", API_BASE + "/anything"]
    exempt = {"/health", "/metrics"}
    checked = 0
    for pattern in patterns:
        path = pattern.replace("(?:/.*)?", "/x").replace("(.+)", "1/x").replace("(.*)", "x")
        path = path.replace("(?:create|get|update|delete)", "create")
        path = path.replace("([^/]+)", "1")
        if "(" in path:
            path = path.split("(")[0] + "1"
        for method in ("GET", "POST"):
            status, body = call(server, method, path, {} if method == "POST" else None, auth=None)
            if path in exempt:
                assert status == (200 if method == "GET" else 405), (method, path, status)
                continue
            assert status == 401, (method, path, status, body)
            assert body["error_code"] == "UNAUTHENTICATED"
            checked += 1
    assert checked > 100
    status, _ = call(server, "GET", "/health", auth=("root", "wrong-password"))
    assert status == 200


# importing mlflow.server (for get_app_client) warns from SQLAlchemy inside mlflow
@pytest.mark.filterwarnings("ignore::Warning")
def test_users_permissions_and_hidden_experiments(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = ("alice", "alice-password-1"), ("bob", "bob-password-12")
    for user in (alice, bob):
        status, body = call(
            server,
            "POST",
            "/api/2.0/mlflow/users/create",
            {"username": user[0], "password": user[1]},
        )
        assert status == 200 and body["user"]["username"] == user[0], body
    # alice creates an experiment (she gets MANAGE), logs a run
    ca = client_as(server, monkeypatch, alice)
    exp = ca.create_experiment("alice-team")
    run = ca.create_run(exp)
    ca.log_metric(run.info.run_id, "loss", 0.5)
    # bob: the experiment does not exist for him, exactly like a missing one
    cb = client_as(server, monkeypatch, bob)
    assert [e.name for e in cb.search_experiments()] == []
    denied = call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp}", auth=bob)
    missing = call(server, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=987654", auth=bob)
    assert denied[0] == missing[0] == 404
    assert denied[1]["message"].replace(exp, "ID") == missing[1]["message"].replace("987654", "ID")
    denied_run = call(server, "GET", f"/api/2.0/mlflow/runs/get?run_id={run.info.run_id}", auth=bob)
    assert denied_run[0] == 404
    with pytest.raises(MlflowException):
        cb.log_metric(run.info.run_id, "loss", 1.0)
    assert cb.search_runs([exp]) == []
    # bob cannot manage permissions of it either
    status, _ = call(
        server,
        "POST",
        "/api/2.0/mlflow/experiments/permissions/create",
        {"experiment_id": exp, "username": "bob", "permission": "MANAGE"},
        auth=bob,
    )
    assert status == 404
    # alice grants READ through MLflow 3.17's own auth client
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", alice[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", alice[1])
    from mlflow.server import get_app_client

    auth_client = get_app_client("basic-auth", tracking_uri=server.url)
    auth_client.grant_user_permission("bob", "experiment", exp, "READ")
    assert auth_client.get_user_permission("bob", "experiment", exp).permission == "READ"
    cb = client_as(server, monkeypatch, bob)
    assert cb.get_experiment(exp).name == "alice-team"
    assert [r.info.run_id for r in cb.search_runs([exp])] == [run.info.run_id]
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|may not"):
        cb.log_metric(run.info.run_id, "loss", 1.0)
    # the 2.x route upgrades bob to EDIT; then he logs
    status, body = call(
        server,
        "POST",
        "/api/2.0/mlflow/experiments/permissions/create",
        {"experiment_id": exp, "username": "bob", "permission": "EDIT"},
        auth=alice,
    )
    assert status == 200 and body["experiment_permission"]["permission"] == "EDIT"
    cb.log_metric(run.info.run_id, "loss", 0.25)
    with pytest.raises(MlflowException):
        cb.delete_run(run.info.run_id)  # delete needs MANAGE
    # a token for bob: MLFLOW_TRACKING_TOKEN works, then revoked it does not
    status, body = call(server, "POST", "/api/2.0/mltrack/tokens/create", {"name": "ci"}, auth=bob)
    assert status == 200 and body["token"].startswith("mlt_")
    token, token_id = body["token"], body["token_info"]["id"]
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    assert MlflowClient(server.url).get_experiment(exp).name == "alice-team"
    assert (
        call(server, "POST", "/api/2.0/mltrack/tokens/revoke", {"token_id": token_id}, auth=bob)[0]
        == 200
    )
    assert (
        call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp}", auth=token)[0]
        == 401
    )


def test_failed_logins_are_rate_limited_and_not_logged_with_secrets(server: ServerProcess) -> None:
    statuses = [
        call(
            server,
            "GET",
            "/api/2.0/mlflow/experiments/search?max_results=1",
            auth=("ratelimited", f"wrong-{i}-secret"),
        )[0]
        for i in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    # another user logs in from the same address meanwhile
    assert call(server, "GET", "/api/2.0/mlflow/experiments/search?max_results=1")[0] == 200
    log = server.log()
    assert "wrong-0-secret" not in log and "ratelimited" in log


def test_artifact_proxy_checks_the_experiment(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    carol = ("carol", "carol-password-1")
    call(
        server, "POST", "/api/2.0/mlflow/users/create", {"username": carol[0], "password": carol[1]}
    )
    admin = client_as(server, monkeypatch, ADMIN)
    exp = admin.create_experiment("admin-only")
    run = admin.create_run(exp)
    admin.log_text(run.info.run_id, "secret", "s.txt")
    path = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run.info.run_id}/artifacts/s.txt"
    assert call(server, "GET", path, auth=carol)[0] == 404
    for trick in (f"%2e%2e/{exp}", f"x/%252e%252e/{exp}"):
        status, _ = call(
            server,
            "GET",
            f"/api/2.0/mlflow-artifacts/artifacts/{trick}/{run.info.run_id}/artifacts/s.txt",
            auth=carol,
        )
        assert status in (400, 404)
    status, _ = call(server, "GET", path, auth=ADMIN)
    assert status == 200


def _new_user(server: ServerProcess, name: str) -> tuple[str, str]:
    user = (name, f"{name}-password-1")
    status, body = call(
        server, "POST", "/api/2.0/mlflow/users/create", {"username": name, "password": user[1]}
    )
    assert status == 200, body
    return user


def test_our_client_logs_with_its_own_token(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jupyter_mltrack as mt
    from jupyter_mltrack.errors import ExperimentNotFound

    dave = _new_user(server, "dave")
    status, body = call(server, "POST", "/api/2.0/mltrack/tokens/create", {"name": "nb"}, auth=dave)
    assert status == 200
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLTRACK_TRACKING_TOKEN", body["token"])
    other = client_as(server, monkeypatch, ADMIN).create_experiment("admins-own")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    mt.set_tracking_uri(server.url)
    try:
        mt.set_experiment("dave-exp")
        with mt.start_run() as run:
            for step in range(50):
                mt.log_metric("x", float(step), step=step)
        mt.flush()
        history = mt.MlflowClient().get_metric_history(run.info.run_id, "x")
        assert len(history) == 50
        with pytest.raises(ExperimentNotFound):
            mt.MlflowClient().get_experiment(other)
        names = {e.name for e in mt.search_experiments()}
        assert "dave-exp" in names and "admins-own" not in names
    finally:
        mt.set_tracking_uri(None)


# The permission matrix: each level x each operation, on experiments, runs and artifacts.
# "hidden" = answered as a missing resource (404); "denied" = 403; "ok" = done.
_MATRIX = {
    "NO_PERMISSIONS": {
        "read": "hidden",
        "log": "hidden",
        "update": "hidden",
        "delete": "hidden",
        "manage": "hidden",
        "artifact_get": "hidden",
        "artifact_put": "hidden",
    },
    "READ": {
        "read": "ok",
        "log": "denied",
        "update": "denied",
        "delete": "denied",
        "manage": "denied",
        "artifact_get": "ok",
        "artifact_put": "denied",
    },
    "EDIT": {
        "read": "ok",
        "log": "ok",
        "update": "ok",
        "delete": "denied",
        "manage": "denied",
        "artifact_get": "ok",
        "artifact_put": "ok",
    },
    "MANAGE": {
        "read": "ok",
        "log": "ok",
        "update": "ok",
        "delete": "ok",
        "manage": "ok",
        "artifact_get": "ok",
        "artifact_put": "ok",
    },
}


@pytest.mark.parametrize("level", sorted(_MATRIX))
def test_permission_matrix(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    user = _new_user(server, f"m-{level.lower()}")
    admin = client_as(server, monkeypatch, ADMIN)
    exp = admin.create_experiment(f"matrix-{level}")
    run_id = admin.create_run(exp).info.run_id
    admin.log_text(run_id, "x", "f.txt")
    if level != "NO_PERMISSIONS":
        status, _ = call(
            server,
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": user[0],
                "resource_type": "experiment",
                "resource_id": exp,
                "permission": level,
            },
        )
        assert status == 200
    art = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts"
    operations = {
        "read": [
            ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp}", None),
            ("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}", None),
            ("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=m", None),
        ],
        "log": [
            (
                "POST",
                "/api/2.0/mlflow/runs/log-metric",
                {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": 0},
            ),
            ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp}),
        ],
        "update": [
            (
                "POST",
                "/api/2.0/mlflow/experiments/update",
                {"experiment_id": exp, "new_name": f"matrix-{level}-renamed"},
            ),
            ("POST", "/api/2.0/mlflow/runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"}),
            (
                "POST",
                "/api/2.0/mlflow/experiments/set-experiment-tag",
                {"experiment_id": exp, "key": "k", "value": "v"},
            ),
            (
                "POST",
                "/api/2.0/mlflow/experiments/delete-experiment-tag",
                {"experiment_id": exp, "key": "k"},
            ),
        ],
        "delete": [
            ("POST", "/api/2.0/mlflow/runs/delete", {"run_id": run_id}),
            ("POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": exp}),
        ],
        "manage": [
            (
                "POST",
                "/api/2.0/mlflow/experiments/permissions/create",
                {"experiment_id": exp, "username": user[0], "permission": level},
            )
        ],
        "artifact_get": [("GET", f"{art}/f.txt", None)],
        "artifact_put": [("PUT", f"{art}/g.txt", "raw")],
    }
    expected_status = {"ok": 200, "hidden": 404, "denied": 403}
    for op, calls in operations.items():
        for method, path, body in calls:
            if body == "raw":
                req = urllib.request.Request(server.url + path, data=b"payload", method="PUT")
                req.add_header(
                    "Authorization", "Basic " + base64.b64encode(":".join(user).encode()).decode()
                )
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status = resp.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
            else:
                status, _ = call(server, method, path, body, auth=user)
            want = expected_status[_MATRIX[level][op]]
            assert status == want, (level, op, method, path, status)


def test_cli_administers_users_tokens_and_permissions(server: ServerProcess) -> None:
    import os
    import subprocess
    import sys

    def cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "MLTRACK_TRACKING_URI": server.url, **env}
        for name in (
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "MLFLOW_TRACKING_TOKEN",
        ):
            full.pop(name, None)
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mltrack.cli", "server", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=full,
            timeout=120,
        )

    admin = {"MLTRACK_TRACKING_USERNAME": ADMIN[0], "MLTRACK_TRACKING_PASSWORD": ADMIN[1]}
    made = cli("users", "create", "erin", "--password-stdin", stdin="erin-password-1\n", **admin)
    assert made.returncode == 0, made.stderr
    listed = cli("users", "list", "--json", **admin)
    assert "erin" in {u["username"] for u in json.loads(listed.stdout)}
    anonymous = cli("users", "list")
    assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr
    exp = call(server, "POST", "/api/2.0/mlflow/experiments/create", {"name": "cli-exp"})[1][
        "experiment_id"
    ]
    assert cli("permissions", "grant", "erin", exp, "EDIT", **admin).returncode == 0
    perms = json.loads(cli("permissions", "list", "--user", "erin", "--json", **admin).stdout)
    assert perms == [
        {
            "username": "erin",
            "resource_type": "experiment",
            "resource_id": exp,
            "permission": "EDIT",
        }
    ]
    erin = {"MLTRACK_TRACKING_USERNAME": "erin", "MLTRACK_TRACKING_PASSWORD": "erin-password-1"}
    token = cli("tokens", "create", "--name", "cli", **erin)
    assert token.returncode == 0 and token.stdout.startswith("mlt_")
    secret = token.stdout.strip()
    assert (
        call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp}", auth=secret)[0]
        == 200
    )
    tokens = json.loads(cli("tokens", "list", "--json", **erin).stdout)
    assert secret not in json.dumps(tokens)
    assert cli("tokens", "revoke", tokens[0]["id"], **erin).returncode == 0
    assert (
        call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp}", auth=secret)[0]
        == 401
    )
    assert cli("permissions", "revoke", "erin", exp, **admin).returncode == 0
    changed = cli(
        "users", "set-password", "erin", "--password-stdin", stdin="erin-password-2\n", **admin
    )
    assert changed.returncode == 0
    assert (
        call(server, "GET", "/api/2.0/mlflow/users/current", auth=("erin", "erin-password-2"))[0]
        == 200
    )
    assert cli("users", "delete", "erin", **admin).returncode == 0
    assert (
        call(server, "GET", "/api/2.0/mlflow/users/current", auth=("erin", "erin-password-2"))[0]
        == 401
    )


def _raw_post(
    server: ServerProcess, path: str, length: int, auth: tuple[str, str] | None
) -> tuple[int, dict[str, Any]]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Expect", "100-continue")
    if auth:
        conn.putheader(
            "Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        )
    conn.endheaders()
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def test_oversized_bodies_are_413_for_users_and_401_unread_for_anonymous(
    server: ServerProcess,
) -> None:
    size = 17 * 1024 * 1024  # never sent: the answer comes from the headers
    status, body = _raw_post(server, "/api/2.0/mlflow/experiments/create", size, ADMIN)
    assert status == 413 and body["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    status, body = _raw_post(server, "/api/2.0/mlflow/experiments/create", size, None)
    assert status == 401 and body["error_code"] == "UNAUTHENTICATED"


def test_fuzzed_bodies_and_filters_as_a_restricted_user_never_500(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hypothesis import HealthCheck, given, settings
    from test_mlflow_rest_input import BODIES, ERROR_CODES, FILTERS, POST_ROUTES

    frank = _new_user(server, "frank")
    mine = call(
        server, "POST", "/api/2.0/mlflow/experiments/create", {"name": "frank-own"}, auth=frank
    )[1]
    hidden = call(server, "POST", "/api/2.0/mlflow/experiments/create", {"name": "not-franks"})[1]
    ids = [mine["experiment_id"], hidden["experiment_id"], "0"]
    for exp, who in ((mine, frank), (hidden, ADMIN)):
        made = call(
            server,
            "POST",
            "/api/2.0/mlflow/runs/create",
            {"experiment_id": exp["experiment_id"]},
            auth=who,
        )
        assert made[0] == 200, made

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=POST_ROUTES, body=BODIES, text=FILTERS)
    def check(route: str, body: dict[str, Any], text: str) -> None:
        status, reply = call(server, "POST", "/api/2.0/mlflow/" + route, body, auth=frank)
        assert status < 500, (route, body, reply)
        if status >= 400:
            assert reply["error_code"] in {*ERROR_CODES, "PERMISSION_DENIED"}, reply
        status, reply = call(
            server,
            "POST",
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": ids, "filter": text},
            auth=frank,
        )
        assert status in (200, 400), (text, status, reply)
        if status == 200:  # never a run of the experiment frank may not read
            assert all(
                r["info"]["experiment_id"] == mine["experiment_id"] for r in reply.get("runs", [])
            )

    check()
