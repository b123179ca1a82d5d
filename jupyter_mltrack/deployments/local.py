"""The built-in ``local`` deployment target: scoring servers as managed processes.

Each deployment is one ``mltrack models serve`` process bound to 127.0.0.1 (or
``config["host"]``), started in its own session so it outlives the Python process that made
it. The state -- name, model URI, pid, URL, config, times -- is a JSON file,
``deployments/local.json`` next to the DuckDB store file (or under ``local:/DIR`` when the
target URI names a directory), updated under a file lock. Each server's output goes to
``deployments/logs/<name>.log``, kept after the deployment is deleted. ``get_deployment``
and ``list_deployments`` check health: the pid is alive, is a scoring server, and answers
``/ping``.

Config keys (``-C key=value`` on the command line): ``workers``, ``port`` (default: a free
one), ``host``, ``timeout`` (per prediction, seconds), ``max_batch_rows``, ``auth_token``,
``watch_alias`` (seconds), ``start_timeout`` (seconds to wait for the server, default 120).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, InvalidParameter, NotFound
from .base import BaseDeploymentClient, DeploymentError, PredictionsResponse

__all__ = ["LocalDeploymentClient", "run_local", "target_help"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_CONFIG = {
    "workers": int,
    "port": int,
    "host": str,
    "timeout": float,
    "max_batch_rows": int,
    "auth_token": str,
    "watch_alias": float,
    "start_timeout": float,
}
_SERVING = re.compile(r"Serving .* on (http://\S+) \(")


def target_help() -> str:
    return (
        "local: scoring servers run as processes on this machine (mltrack models serve).\n"
        "Target URI: 'local' (state next to the tracking store) or 'local:/STATE/DIR'.\n"
        "Config: workers, port, host, timeout, max_batch_rows, auth_token, watch_alias, "
        "start_timeout."
    )


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve ``model_uri`` in the foreground, as the deployment would (Ctrl-C stops)."""
    cmd = _serve_command(model_uri, _check_config(config))
    subprocess.run(cmd, check=False)


def _check_config(config: dict[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidParameter(f"config must be a dict; got {type(config).__name__}")
    out: dict[str, Any] = {}
    for key, value in config.items():
        kind = _CONFIG.get(key)
        if kind is None:
            raise InvalidParameter(
                f"Unknown config key {key!r} for the local target; known: {', '.join(_CONFIG)}."
            )
        try:
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise InvalidParameter(
                f"config {key!r} must be {kind.__name__}; got {value!r}."
            ) from None
    return out


def _serve_command(model_uri: str, config: dict[str, Any]) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "jupyter_mltrack.cli",
        "models",
        "serve",
        "-m",
        model_uri,
        "--host",
        str(config.get("host", "127.0.0.1")),
        "--port",
        str(config.get("port", 0)),
        "--workers",
        str(config.get("workers", 1)),
    ]
    if "timeout" in config:
        cmd += ["--timeout", str(config["timeout"])]
    if "max_batch_rows" in config:
        cmd += ["--max-batch-rows", str(config["max_batch_rows"])]
    if "watch_alias" in config:
        cmd += ["--watch-alias", str(config["watch_alias"])]
    return cmd


def _default_state_dir() -> Path:
    from ..config import get_tracking_uri, resolve_duckdb_path

    uri = get_tracking_uri()
    if uri.startswith("duckdb:"):
        return resolve_duckdb_path(uri).parent / "deployments"
    return Path.home() / ".mltrack" / "deployments"


def _is_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and b"serve" in cmdline and b"jupyter_mltrack.cli" in cmdline


class LocalDeploymentClient(BaseDeploymentClient):
    """Deployments as local ``mltrack models serve`` processes."""

    def __init__(self, target_uri: str = "local") -> None:
        super().__init__(target_uri)
        suffix = target_uri.split(":", 1)[1] if ":" in target_uri else ""
        self.state_dir = Path(suffix) if suffix.strip("/") else _default_state_dir()
        self.state_file = self.state_dir / "local.json"
        self.log_dir = self.state_dir / "logs"

    # ------------------------------------------------------------------ state
    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        lock = self.state_dir / ".lock"
        with open(lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                data = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
                before = json.dumps(data, sort_keys=True)
                yield data
                if json.dumps(data, sort_keys=True) != before:
                    tmp = self.state_file.with_suffix(".tmp")
                    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
                    os.replace(tmp, self.state_file)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _check_name(name: Any) -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidParameter(
                f"A deployment name is 1-63 letters, digits, '.', '_' or '-'; got {name!r}."
            )
        return name

    @staticmethod
    def _no_endpoint(endpoint: str | None) -> None:
        if endpoint is not None:
            raise InvalidParameter("The local target has no endpoints; leave endpoint unset.")

    # ------------------------------------------------------------------ processes
    def _start(self, name: str, model_uri: str, config: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(model_uri, str) or not model_uri.strip():
            raise InvalidParameter("model_uri must be a model URI or path, e.g. models:/churn/1")
        log_path = self.log_dir / f"{name}.log"
        env = dict(os.environ)
        if "auth_token" in config:
            env["MLTRACK_SERVE_TOKEN"] = config["auth_token"]
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {model_uri}\n".encode())
            log.flush()
            offset = log.tell()
            proc = subprocess.Popen(
                _serve_command(model_uri, config),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        url = self._wait_ready(proc, log_path, offset, float(config.get("start_timeout", 120)))
        # reap the server when it exits while this process lives (no zombie, no warning)
        threading.Thread(target=proc.wait, name=f"mltrack-deploy-{name}", daemon=True).start()
        now = int(time.time() * 1000)
        return {
            "name": name,
            "model_uri": model_uri,
            "pid": proc.pid,
            "url": url,
            "config": {k: v for k, v in config.items() if k != "auth_token"},
            "auth": "auth_token" in config,
            "log_path": str(log_path),
            "creation_timestamp": now,
            "last_updated_timestamp": now,
        }

    @staticmethod
    def _wait_ready(
        proc: subprocess.Popen[bytes], log_path: Path, offset: int, timeout: float
    ) -> str:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
            m = _SERVING.search(text)
            if m:
                url = m.group(1).replace("0.0.0.0", "127.0.0.1")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/ping", timeout=5).status_code == 200:
                        return url
            if proc.poll() is not None:
                errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
                reason = errors[-1] if errors else (text.strip().splitlines() or ["no output"])[-1]
                raise DeploymentError(
                    f"The scoring server exited ({proc.returncode}) before it was ready: {reason} "
                    f"(log: {log_path})"
                )
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise DeploymentError(
            f"The scoring server was not ready within {timeout:g} s; see {log_path}."
        )

    @staticmethod
    def _stop(pid: int, timeout: float = 60) -> None:
        if not _is_server(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_server(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_server(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)

    @staticmethod
    def _health(entry: dict[str, Any]) -> dict[str, Any]:
        import httpx

        out = dict(entry)
        if not _is_server(int(entry["pid"])):
            out["status"] = "stopped"
            return out
        try:
            ok = httpx.get(entry["url"] + "/ping", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        out["status"] = "running" if ok else "unhealthy"
        return out

    # ------------------------------------------------------------------ the interface
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        self._check_name(name)
        self._no_endpoint(endpoint)
        self._check_flavor(flavor)
        cfg = _check_config(config)
        with self._state() as state:
            old = state.get(name)
            if old is not None and _is_server(int(old["pid"])):
                raise AlreadyExists(
                    f"A deployment named {name!r} exists; update or delete it first."
                )
            entry = self._start(name, model_uri, cfg)
            entry["flavor"] = flavor or "python_function"
            state[name] = entry
        return self._health(entry)

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        self._check_name(name)
        self._no_endpoint(endpoint)
        self._check_flavor(flavor)
        with self._state() as state:
            old = state.get(name)
            if old is None:
                raise NotFound(f"No deployment named {name!r}; create it first.")
            cfg = {**old["config"], **_check_config(config)}
            uri = model_uri or old["model_uri"]
            if "port" in cfg and _is_server(int(old["pid"])):
                self._stop(int(old["pid"]))  # the same port: the old server must go first
                entry = self._start(name, uri, cfg)
            else:  # a new port: start the new server, then stop the old one
                entry = self._start(name, uri, cfg)
                self._stop(int(old["pid"]))
            entry["creation_timestamp"] = old["creation_timestamp"]
            entry["flavor"] = flavor or old.get("flavor", "python_function")
            state[name] = entry
        return self._health(entry)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        self._check_name(name)
        self._no_endpoint(endpoint)
        with self._state() as state:
            entry = state.pop(name, None)
            if entry is not None:
                self._stop(int(entry["pid"]))

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        self._no_endpoint(endpoint)
        with self._state() as state:
            entries = list(state.values())
        return [self._health(e) for e in sorted(entries, key=lambda e: e["name"])]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        self._check_name(name)
        self._no_endpoint(endpoint)
        with self._state() as state:
            entry = state.get(name)
        if entry is None:
            raise NotFound(f"No deployment named {name!r}; list them with list_deployments().")
        return self._health(entry)

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
        auth_token: str | None = None,
    ) -> PredictionsResponse:
        import httpx
        import pandas as pd

        if deployment_name is None:
            raise InvalidParameter("predict needs deployment_name.")
        entry = self.get_deployment(deployment_name, endpoint)
        if entry["status"] != "running":
            raise DeploymentError(
                f"The deployment {deployment_name!r} is {entry['status']}; see {entry['log_path']}."
            )
        if isinstance(inputs, pd.DataFrame):
            body: Any = {"dataframe_split": inputs.to_dict(orient="split")}
            body["dataframe_split"].pop("index", None)
        elif isinstance(inputs, dict):
            body = inputs
        else:
            raise InvalidParameter(
                "inputs must be a pandas DataFrame or an MLflow JSON payload dict "
                "(e.g. {'dataframe_records': [...]})."
            )
        token = auth_token or os.environ.get("MLTRACK_SERVE_TOKEN")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = httpx.post(
            entry["url"] + "/invocations",
            content=json.dumps(body, default=str),
            headers={"content-type": "application/json", **headers},
            timeout=float(entry["config"].get("timeout", 60)) + 10,
        )
        payload = r.json()
        if r.status_code != 200:
            raise DeploymentError(
                f"The deployment {deployment_name!r} answered {r.status_code}: "
                f"{payload.get('message', r.text)}"
            )
        return PredictionsResponse(payload)

    @staticmethod
    def _check_flavor(flavor: str | None) -> None:
        if flavor not in (None, "python_function"):
            raise InvalidParameter(
                f"The local target serves the python_function flavor; got flavor={flavor!r}."
            )
