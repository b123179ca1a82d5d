"""``mltrack server`` on PostgreSQL: several processes, one database, no state of their own.

Real processes throughout: a PostgreSQL cluster (``tests/pg_support.py``), server processes
(``tests/server_support.py``) and client processes logging through our client over HTTP
(``server_clients.py``). Asserted:

- two servers on different ports, a client on each: each sees the other's runs;
- ``--workers 2``: both workers answer, and the data is the same whichever answers; a
  kept-alive client is moved between them (the server closes old connections);
- a batch ``(client_id, seq)`` sent to one process and retried on the other is stored once;
- PostgreSQL stopped while clients log: the server answers 503 while it is gone and
  recovers by itself when it is back; every point the clients logged arrives exactly once;
- ``--auth`` on two servers started at once: one administrator; a user, a grant, a
  token, its revocation and a new password made through one server hold at the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from pg_support import PostgresServer, postgres_server_fixture  # noqa: F401 - postgres_server
from server_support import ServerProcess, api_call, start_mltrack_server

from jupyter_mltrack.store.arrow import METRIC_SCHEMA
from jupyter_mltrack.store.remote.wire import ARROW_CONTENT_TYPE, table_to_ipc
from jupyter_mltrack.tracking.client import TrackingClient

pytestmark = pytest.mark.timeout(600)

CLIENTS = Path(__file__).with_name("server_clients.py")


def _server(
    tmp_path: Path, uri: str, name: str, *extra: str, env: dict[str, str] | None = None
) -> ServerProcess:
    return start_mltrack_server(
        tmp_path / name,
        artifacts=tmp_path / "artifacts",
        extra_args=["--backend-store-uri", uri, *extra],
        env=env,
    )


def _client(url: str, spool: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MLTRACK_SPOOL_DIR": str(spool),
        "MLTRACK_HTTP_RETRY_TIMEOUT_S": "180",
    }
    return subprocess.Popen(
        [sys.executable, str(CLIENTS), "log", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen[str], timeout: float = 300) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"client failed ({proc.returncode}):\n{err[-3000:]}"
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def _status(url: str) -> int:
    request = urllib.request.Request(
        url + "/api/2.0/mlflow/experiments/search",
        data=b'{"max_results": 1}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_two_servers_on_one_database_see_each_others_runs(postgres_server, tmp_path):
    uri = postgres_server.create_database("two")
    with _server(tmp_path, uri, "a") as a, _server(tmp_path, uri, "b") as b:
        assert a.port != b.port
        on_a, on_b = TrackingClient(a.url), TrackingClient(b.url)
        try:
            exp_a = on_a.create_experiment("from-a")
            run_a = on_a.create_run(exp_a, run_name="ra")
            on_a.log_param(run_a.info.run_id, "side", "a")
            for step in range(50):
                on_a.log_metric(run_a.info.run_id, "loss", 1.0 / (step + 1), step=step)
            on_a.set_terminated(run_a.info.run_id)
            exp = on_b.get_experiment_by_name("from-a")
            assert exp is not None and exp.experiment_id == exp_a
            seen = on_b.get_run(run_a.info.run_id)
            assert seen.data.params == {"side": "a"}
            assert seen.info.status == "FINISHED"
            assert len(on_b.get_metric_history(run_a.info.run_id, "loss")) == 50
            run_b = on_b.create_run(exp_a, run_name="rb")
            on_b.set_tag(run_b.info.run_id, "side", "b")
            on_b.set_terminated(run_b.info.run_id)
            names = {r.info.run_name for r in on_a.search_runs([exp_a])}
            assert names == {"ra", "rb"}
            assert on_a.get_run(run_b.info.run_id).data.tags["side"] == "b"
        finally:
            on_a.close()
            on_b.close()


def _post_batch(url: str, table: pa.Table, client_id: str, seq: int) -> dict[str, object]:
    request = urllib.request.Request(
        url + "/mltrack/api/v1/metric-batches",
        data=table_to_ipc(table),
        headers={
            "Content-Type": ARROW_CONTENT_TYPE,
            "X-Mltrack-Client": client_id,
            "X-Mltrack-Seq": str(seq),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body: dict[str, object] = json.loads(answer.read())
        return body


def test_a_batch_retried_on_another_process_is_stored_once(postgres_server, tmp_path):
    uri = postgres_server.create_database("idem")
    with _server(tmp_path, uri, "a") as a, _server(tmp_path, uri, "b") as b:
        client = TrackingClient(a.url)
        try:
            run_id = client.create_run("0", run_name="r").info.run_id
            table = pa.table(
                {
                    "run_id": [run_id] * 100,
                    "key": ["x"] * 100,
                    "value": [float(i) for i in range(100)],
                    "timestamp_ms": list(range(100)),
                    "step": list(range(100)),
                },
                schema=METRIC_SCHEMA,
            )
            client_id = "test-client-1"
            assert _post_batch(a.url, table, client_id, 7) == {"committed": 100, "duplicate": False}
            assert _post_batch(b.url, table, client_id, 7)["duplicate"] is True
            assert _post_batch(a.url, table, client_id, 7)["duplicate"] is True
            assert _post_batch(b.url, table, client_id, 8)["duplicate"] is False
            assert len(client.get_metric_history(run_id, "x")) == 200
        finally:
            client.close()


def test_workers_share_the_port_and_the_data(postgres_server, tmp_path):
    uri = postgres_server.create_database("workers")
    with _server(tmp_path, uri, "w", "--workers", "2") as server:
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            # a new connection each time: the kernel spreads them over the workers
            pids.add(int(json.loads(server.get("/mltrack/api/v1/info"))["pid"]))
        assert len(pids) == 2, f"only worker(s) {pids} answered"
        assert server.pid not in pids  # the parent only supervises
        spool = tmp_path / "spool"
        procs = [
            _client(server.url, spool, "--experiment", "w", "--points", "300", "--name", f"c{i}")
            for i in range(3)
        ]
        results = [_result(p) for p in procs]
        client = TrackingClient(server.url)
        try:
            for result in results:
                history = client.get_metric_history(str(result["run_id"]), "x")
                assert history.steps.tolist() == list(range(300))
        finally:
            client.close()
    assert server.proc.returncode == 0  # SIGTERM to the parent stopped every worker


def _keepalive_answers(url: str, seconds: float) -> list[tuple[int, str]]:
    """(worker pid, Connection header) of each answer to requests on one kept-alive session
    for ``seconds`` (requests reconnects by itself when an answer says close)."""
    import requests

    answers = []
    with requests.Session() as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            response = session.get(url + "/mltrack/api/v1/info", timeout=30)
            assert response.status_code == 200, response.text
            answers.append((int(response.json()["pid"]), response.headers.get("Connection", "")))
    return answers


def test_kept_alive_clients_move_between_workers(postgres_server, tmp_path):
    """A client keeps its connection while it runs; with --workers the server closes a
    connection older than RECONNECT_AFTER_S after an answer, so long-running clients spread
    over the processes (8 clients once landed 6 and 2) and every request still succeeds."""
    uri = postgres_server.create_database("keepalive")
    # four clients at once, each on its own session
    with _server(tmp_path, uri, "w", "--workers", "2") as server, ThreadPoolExecutor(4) as pool:
        sessions = list(pool.map(lambda _: _keepalive_answers(server.url, 4.0), range(4)))
    for answers in sessions:  # each session reopened its connection a few times, no error
        closes = sum(1 for _, header in answers if header.lower() == "close")
        assert 2 <= closes < len(answers) / 4, f"{closes} closes in {len(answers)} answers"
    assert len({pid for answers in sessions for pid, _ in answers}) == 2
    with _server(tmp_path, uri, "one") as server:  # one process: nothing to spread
        answers = _keepalive_answers(server.url, 1.5)
    assert len({pid for pid, _ in answers}) == 1
    assert all(header.lower() != "close" for _, header in answers)


def test_postgres_restarted_under_load_loses_nothing(postgres_server, tmp_path):
    uri = postgres_server.create_database("restart")
    spool = tmp_path / "spool"
    with _server(tmp_path, uri, "s") as server:
        assert _status(server.url) == 200
        procs = [
            _client(
                server.url,
                spool,
                "--experiment",
                "restart",
                "--points",
                "3000",
                "--rate",
                "400",
                "--name",
                f"c{i}",
            )
            for i in range(3)
        ]
        for proc in procs:  # every client has its run before the database goes
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "started" in line, line
        time.sleep(1.0)  # let them log for a moment
        postgres_server.stop("fast")
        try:
            _wait_for(lambda: _status(server.url) == 503, what="the server to answer 503")
            assert server.alive()
            time.sleep(2.0)  # clients keep logging into their spools meanwhile
        finally:
            postgres_server.start()
        _wait_for(lambda: _status(server.url) == 200, what="the server to recover")
        results = [_result(p) for p in procs]
        client = TrackingClient(server.url)
        try:
            for result in results:
                run = client.get_run(str(result["run_id"]))
                assert run.info.status == "FINISHED"
                history = client.get_metric_history(run.info.run_id, "x")
                assert history.steps.tolist() == list(range(3000))  # each once, none lost
        finally:
            client.close()


def test_auth_on_two_servers_shares_users_grants_and_revocations(postgres_server, tmp_path):
    """Two ``mltrack server --auth`` processes on one PostgreSQL, started at the same time
    with different administrators in their environments: one administrator is made; what is
    created, granted, revoked or changed through A holds at B from the next request on."""
    uri = postgres_server.create_database("auth")
    password = "root-password-123"
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(
                _server,
                tmp_path,
                uri,
                name,
                "--auth",
                env={"MLTRACK_ADMIN_USERNAME": f"root-{name}", "MLTRACK_ADMIN_PASSWORD": password},
            )
            for name in ("a", "b")
        ]
        a, b = (stack.enter_context(f.result(timeout=180)) for f in starting)
        with psycopg.connect(uri) as conn:
            users = conn.execute("SELECT username, is_admin FROM mltrack_auth.users").fetchall()
        assert len(users) == 1 and users[0][1] == 1, users
        admin = (users[0][0], password)
        for server in (a, b):  # either server knows the one administrator
            assert (
                api_call(server.url, "GET", "/api/2.0/mlflow/users/current", auth=admin)[0] == 200
            )

        alice = ("alice", "alice-password-1")
        status, body = api_call(
            a.url,
            "POST",
            "/api/2.0/mlflow/users/create",
            {"username": alice[0], "password": alice[1]},
            admin,
        )
        assert status == 200, body
        status, body = api_call(
            a.url, "POST", "/api/2.0/mlflow/experiments/create", {"name": "team-a"}, admin
        )
        assert status == 200, body
        exp = body["experiment_id"]
        get_exp = f"/api/2.0/mlflow/experiments/get?experiment_id={exp}"
        # alice logs in at B (created at A); the experiment does not exist for her yet
        assert api_call(b.url, "GET", get_exp, auth=alice)[0] == 404
        status, body = api_call(
            a.url,
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": alice[0],
                "resource_type": "experiment",
                "resource_id": exp,
                "permission": "READ",
            },
            admin,
        )
        assert status == 200, body
        # the grant made at A: B lets her read, and not write
        status, body = api_call(b.url, "GET", get_exp, auth=alice)
        assert status == 200 and body["experiment"]["name"] == "team-a", body
        create_run = ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp})
        assert api_call(b.url, *create_run, alice)[0] == 403

        # a token made and revoked at A: accepted at B, then refused there
        status, body = api_call(
            a.url, "POST", "/api/2.0/mltrack/tokens/create", {"name": "ci"}, alice
        )
        assert status == 200, body
        token, token_id = body["token"], body["token_info"]["id"]
        assert api_call(b.url, "GET", get_exp, auth=token)[0] == 200
        status, body = api_call(
            a.url, "POST", "/api/2.0/mltrack/tokens/revoke", {"token_id": token_id}, alice
        )
        assert status == 200 and body["token_info"]["revoked_ms"], body
        status, body = api_call(b.url, "GET", get_exp, auth=token)
        assert status == 401 and body["error_code"] == "UNAUTHENTICATED", body

        # a new password set at A: B (which remembered her login) refuses the old one
        status, body = api_call(
            a.url,
            "PATCH",
            "/api/2.0/mlflow/users/update-password",
            {"username": alice[0], "password": "alice-password-2"},
            admin,
        )
        assert status == 200, body
        assert api_call(b.url, "GET", get_exp, auth=alice)[0] == 401
        assert api_call(b.url, "GET", get_exp, auth=(alice[0], "alice-password-2"))[0] == 200


def test_auth_db_is_refused_with_a_postgres_backend(postgres_server, tmp_path):
    """With PostgreSQL the auth tables are in the database: a SQLite --auth-db (one per
    machine, not shared) is refused at start, not silently used."""
    uri = postgres_server.create_database("authdb")
    env = {"MLTRACK_ADMIN_USERNAME": "root", "MLTRACK_ADMIN_PASSWORD": "root-password-123"}
    with pytest.raises(RuntimeError, match="Drop --auth-db"):
        _server(tmp_path, uri, "a", "--auth", "--auth-db", str(tmp_path / "auth.sqlite"), env=env)
    assert not (tmp_path / "auth.sqlite").exists()


def test_auth_answers_503_while_postgres_is_gone(postgres_server, tmp_path):
    """The auth tables are in the database too: while it is gone a request with valid
    credentials gets 503 (which clients retry), not a dropped connection or a 401."""
    uri = postgres_server.create_database("auth503")
    admin = ("root", "root-password-123")
    env = {"MLTRACK_ADMIN_USERNAME": admin[0], "MLTRACK_ADMIN_PASSWORD": admin[1]}
    with _server(tmp_path, uri, "s", "--auth", env=env) as server:
        status, body = api_call(server.url, "POST", "/api/2.0/mltrack/tokens/create", {}, admin)
        assert status == 200, body
        token = body["token"]
        path = "/api/2.0/mlflow/experiments/search?max_results=1"
        postgres_server.stop("fast")
        try:
            for auth in (admin, token):
                status, body = api_call(server.url, "GET", path, auth=auth)
                assert status == 503 and body["error_code"] == "TEMPORARILY_UNAVAILABLE", body
            assert server.alive()
        finally:
            postgres_server.start()
        _wait_for(lambda: api_call(server.url, "GET", path, auth=token)[0] == 200, what="recovery")
        assert api_call(server.url, "GET", path, auth=admin)[0] == 200
