"""Real ``mltrack models serve`` processes and the models they serve, for tests.

``start_scoring_server(tmp, "-m", uri, ...)`` starts the server on a port the OS picks
(``--port 0``), waits until its log says it is serving and ``/ping`` answers, and stops it
with SIGTERM (then SIGKILL) by its PID when the block ends. ``save_sklearn_model`` and
``save_test_pyfunc`` write real model directories.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

__all__ = [
    "ScoringServer",
    "save_sklearn_model",
    "save_test_pyfunc",
    "start_scoring_server",
    "training_frame",
]

START_TIMEOUT_S = float(os.environ.get("MLTRACK_TEST_SERVER_START_S", "120"))
_SERVING = re.compile(r"Serving .* on (http://\S+) \(\d+ workers?, pid (\d+)\)")


@dataclass
class ScoringServer:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, body: Any, content_type: str = "application/json", **kw: Any) -> httpx.Response:
        data = body if isinstance(body, (bytes, str)) else None
        headers = {"content-type": content_type, **kw.pop("headers", {})}
        if data is None:
            import json

            data = json.dumps(body)
        return httpx.post(
            self.url + "/invocations", content=data, headers=headers, timeout=60, **kw
        )

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def _wait_serving(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        m = _SERVING.search(log.read_text(errors="replace"))
        if m:
            url = m.group(1)
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/ping", timeout=5).status_code == 200:
                        return url
                time.sleep(0.1)
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"the server did not start in {START_TIMEOUT_S} s:\n{log.read_text()}")


@contextlib.contextmanager
def start_scoring_server(
    tmp: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[ScoringServer]:
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    full_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-m", "jupyter_mltrack.cli", "models", "serve", "--port", "0", *args]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=full_env)
    server = ScoringServer("", proc, log)
    try:
        server.url = _wait_serving(proc, log)
        yield server
    finally:
        server.stop()


def training_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "c": rng.integers(0, 5, n)})
    x["c"] = x["c"].astype("int64")
    y = ((x["a"] + 0.1 * x["c"]) > 0.7).astype("int64")
    return x, y


def save_sklearn_model(path: Path, **kw: Any) -> Any:
    """A fitted LogisticRegression saved with a signature by our sklearn flavor."""
    from sklearn.linear_model import LogisticRegression

    import jupyter_mltrack.sklearn as mt_sklearn
    from jupyter_mltrack.models import infer_signature

    x, y = training_frame()
    model = LogisticRegression().fit(x, y)
    sig = infer_signature(x, model.predict(x))
    mt_sklearn.save_model(model, str(path), signature=sig, **kw)
    return model


_TEST_MODEL = '''
import time

import pandas as pd


class Behaving:
    """Doubles column x; x < 0 raises (a model bug), sleep > 0 sleeps that long."""

    def predict(self, context, model_input, params=None):
        if "sleep" in model_input and float(model_input["sleep"].max()) > 0:
            time.sleep(float(model_input["sleep"].max()))
        if (model_input["x"] < 0).any():
            raise RuntimeError("secret internals: negative x")
        scale = float((params or {}).get("scale", 2.0))
        return pd.DataFrame({"y": model_input["x"] * scale, "z": model_input["x"] + 1})
'''


def save_test_pyfunc(path: Path) -> Path:
    """A python_function model (code in a code path) that sleeps or fails on demand."""
    import jupyter_mltrack.pyfunc as mt_pyfunc
    from jupyter_mltrack.models import infer_signature

    code = path.parent / f"{path.name}_code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "behaving_model.py").write_text(textwrap.dedent(_TEST_MODEL))
    sys.path.insert(0, str(code))
    try:
        import behaving_model  # type: ignore[import-not-found]

        x = pd.DataFrame({"x": [1.0, 2.0], "sleep": [0.0, 0.0]})
        sig = infer_signature(x, pd.DataFrame({"y": [2.0], "z": [2.0]}), params={"scale": 2.0})
        mt_pyfunc.save_model(
            str(path),
            python_model=behaving_model.Behaving(),
            code_paths=[str(code / "behaving_model.py")],
            signature=sig,
        )
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("behaving_model", None)
    return path
