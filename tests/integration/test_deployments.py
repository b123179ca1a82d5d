"""Deployments: the ``local`` target end to end with ``mltrack deployments``, a third-party
target found through its entry point, and a served alias reloaded when it moves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from service_support import ServiceEnv, service_env_fixture  # noqa: F401 (fixture service_env)
from serving_support import start_scoring_server

pytestmark = pytest.mark.slow

#: seconds to wait for a reload to show (the alias is polled every second)
WAIT_S = float(os.environ.get("MLTRACK_BROWSER_TIMEOUT_S", "120"))


def _constant_model(tmp: Path, value: float, name: str) -> Path:
    """A pyfunc model answering ``value`` for every row (so versions are told apart)."""
    import jupyter_mltrack.pyfunc as mt_pyfunc
    from jupyter_mltrack.models import infer_signature

    path = tmp / name

    def predict(model_input: pd.DataFrame) -> list[float]:
        return [value] * len(model_input)

    x = pd.DataFrame({"a": [0.1], "b": [0.2]})
    mt_pyfunc.save_model(str(path), python_model=predict, signature=infer_signature(x, [value]))
    return path


def _register(store: Path, model_dir: Path, name: str) -> str:
    import jupyter_mltrack as mt

    return str(mt.register_model(str(model_dir), name).version)


def _client(store: Path) -> object:
    from jupyter_mltrack.tracking.client import TrackingClient

    return TrackingClient(str(store))


def _mltrack(store: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mltrack.cli", "--tracking-uri", str(store), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_local_target_end_to_end_with_the_cli(tmp_path: Path, service_env: ServiceEnv) -> None:
    """Deploy a registered model by alias, score it, update it, list, delete; logs kept."""
    store = service_env.store
    v1 = _register(store, _constant_model(tmp_path, 1.0, "one"), "churn")
    v2 = _register(store, _constant_model(tmp_path, 2.0, "two"), "churn")
    client = _client(store)
    client.set_registered_model_alias("churn", "champion", v1)  # type: ignore[attr-defined]
    target = f"local:{tmp_path / 'deploy'}"

    out = _mltrack(
        store,
        "deployments",
        "create",
        "-t",
        target,
        "--name",
        "churn",
        "-m",
        "models:/churn@champion",
        "-C",
        "workers=2",
    )
    created = json.loads(out.stdout)
    assert created["status"] == "running" and created["config"] == {"workers": 2}
    state = json.loads((tmp_path / "deploy" / "local.json").read_text())
    assert state["churn"]["pid"] == created["pid"]

    x = pd.DataFrame({"a": [0.3, 0.4], "b": [0.1, 0.2]})
    x.to_csv(tmp_path / "x.csv", index=False)
    out = _mltrack(
        store,
        "deployments",
        "predict",
        "-t",
        target,
        "--name",
        "churn",
        "-i",
        str(tmp_path / "x.csv"),
    )
    assert json.loads(out.stdout) == {"predictions": [1.0, 1.0]}

    # a bad payload through the deployment: the server's 400 message, one line, exit 1
    (tmp_path / "bad.json").write_text(json.dumps({"dataframe_records": [{"a": 1}]}))
    bad = _mltrack(
        store,
        "deployments",
        "predict",
        "-t",
        target,
        "--name",
        "churn",
        "-i",
        str(tmp_path / "bad.json"),
        check=False,
    )
    assert bad.returncode == 1 and "400" in bad.stderr and "'b'" in bad.stderr

    # the same from Python, through the plugin interface
    import jupyter_mltrack.deployments as deployments

    py = deployments.get_deploy_client(target)
    assert py.predict("churn", x).get_predictions()["predictions"].tolist() == [1.0, 1.0]

    out = _mltrack(
        store, "deployments", "update", "-t", target, "--name", "churn", "-m", f"models:/churn/{v2}"
    )
    updated = json.loads(out.stdout)
    assert updated["pid"] != created["pid"] and updated["status"] == "running"
    assert py.predict("churn", x)["predictions"] == [2.0, 2.0]
    assert not Path(f"/proc/{created['pid']}").exists() or _zombie(created["pid"])

    listing = _mltrack(store, "deployments", "list", "-t", target, "--json")
    assert [(d["name"], d["status"]) for d in json.loads(listing.stdout)] == [("churn", "running")]
    got = json.loads(_mltrack(store, "deployments", "get", "-t", target, "--name", "churn").stdout)
    assert got["model_uri"] == f"models:/churn/{v2}"

    dup = _mltrack(
        store,
        "deployments",
        "create",
        "-t",
        target,
        "--name",
        "churn",
        "-m",
        "models:/churn/1",
        check=False,
    )
    assert dup.returncode == 1 and "exists" in dup.stderr

    _mltrack(store, "deployments", "delete", "-t", target, "--name", "churn")
    assert json.loads(_mltrack(store, "deployments", "list", "-t", target, "--json").stdout) == []
    gone = _mltrack(store, "deployments", "get", "-t", target, "--name", "churn", check=False)
    assert gone.returncode == 1 and "No deployment named 'churn'" in gone.stderr
    log = (tmp_path / "deploy" / "logs" / "churn.log").read_text()
    assert "Serving models:/churn@champion" in log and "Server stopped." in log
    assert not Path(f"/proc/{updated['pid']}").exists() or _zombie(updated["pid"])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_health_is_checked(tmp_path: Path) -> None:
    """A deployment whose server died shows as stopped; predict says so."""
    from jupyter_mltrack.deployments import DeploymentError, get_deploy_client

    client = get_deploy_client(f"local:{tmp_path / 'deploy'}")
    model = _constant_model(tmp_path, 3.0, "three")
    entry = client.create_deployment("c3", str(model))
    try:
        os.killpg(entry["pid"], 9)
        deadline = time.monotonic() + WAIT_S
        while client.get_deployment("c3")["status"] != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(DeploymentError, match="stopped"):
            client.predict("c3", pd.DataFrame({"a": [1.0], "b": [1.0]}))
        with pytest.raises(Exception, match="Unknown config key 'wrkers'"):
            client.create_deployment("c4", str(model), config={"wrkers": 2})
        with pytest.raises(Exception, match="endpoints"):
            client.list_endpoints()
    finally:
        client.delete_deployment("c3")


_PLUGIN = """
from jupyter_mltrack.deployments import BaseDeploymentClient

DEPLOYED = {}


class EchoClient(BaseDeploymentClient):
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        return {"name": name, "model_uri": model_uri, "target": self.target_uri, "config": config}

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        return {"name": name}

    def delete_deployment(self, name, config=None, endpoint=None):
        return None

    def list_deployments(self, endpoint=None):
        return [{"name": "echo-1"}]

    def get_deployment(self, name, endpoint=None):
        return {"name": name}

    def predict(self, deployment_name=None, inputs=None, endpoint=None):
        return {"predictions": [deployment_name]}


def run_local(target, name, model_uri, flavor=None, config=None):
    print("running", name)


def target_help():
    return "echo: a test target"
"""


def test_a_third_party_target_plugs_in_through_its_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "echo_target.py").write_text(textwrap.dedent(_PLUGIN))
    dist = site / "echo_target-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-target\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[jupyter_mltrack.deployments]\necho = echo_target\n")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mltrack.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    done = run(
        "deployments",
        "create",
        "-t",
        "echo:/region-1",
        "--name",
        "e1",
        "-m",
        "models:/x/1",
        "-C",
        "size=2",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "name": "e1",
        "model_uri": "models:/x/1",
        "target": "echo:/region-1",
        "config": {"size": "2"},
    }
    done = run("deployments", "list", "-t", "echo")
    assert done.returncode == 0 and "echo-1" in done.stdout
    assert run("deployments", "help", "-t", "echo").stdout.strip() == "echo: a test target"
    missing = run("deployments", "list", "-t", "nosuch")
    assert missing.returncode == 1
    assert "No deployment target 'nosuch'" in missing.stderr and "echo" in missing.stderr


def test_a_served_alias_reloads_when_it_moves(tmp_path: Path, service_env: ServiceEnv) -> None:
    store = service_env.store
    v1 = _register(store, _constant_model(tmp_path, 1.0, "one"), "flip")
    client = _client(store)
    client.set_registered_model_alias("flip", "live", v1)  # type: ignore[attr-defined]
    body = {"dataframe_records": [{"a": 0.1, "b": 0.2}]}
    with start_scoring_server(
        tmp_path,
        "--tracking-uri",
        str(store),
        "-m",
        "models:/flip@live",
        "--watch-alias",
        "0.5",
        "--workers",
        "2",
    ) as server:
        assert server.post(body).json() == {"predictions": [1.0]}
        assert server.get("/health").json()["model_version"] == v1
        v2 = _register(store, _constant_model(tmp_path, 2.0, "two"), "flip")
        client.set_registered_model_alias("flip", "live", v2)  # type: ignore[attr-defined]
        # every answer meanwhile is from v1 or v2, never an error; then only v2
        seen = []
        deadline = time.monotonic() + WAIT_S
        streak = 0
        while streak < 10:  # both workers must have switched: ten v2 answers in a row
            assert time.monotonic() < deadline, f"still answering {seen[-5:]}"
            r = server.post(body)
            assert r.status_code == 200, r.text
            seen.append(r.json()["predictions"][0])
            streak = streak + 1 if seen[-1] == 2.0 else 0
        assert set(seen) <= {1.0, 2.0}
        health = httpx.get(server.url + "/health").json()
        assert health["model_version"] == v2 and health["reloads"] >= 1
