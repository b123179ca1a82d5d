"""Scoring in the model's own environment (``--env-manager virtualenv``).

A virtual environment is made per distinct ``requirements.txt`` (keyed by its SHA-256) under
``$MLTRACK_ENV_ROOT`` (default ``~/.cache/mltrack/envs``), reused by later jobs. It is made
with ``--system-site-packages`` and the model's pinned requirements are installed into it
with pip: a pin this environment already satisfies costs nothing, a different pin is
installed in the virtual environment and shadows this environment's version. The job then
runs in the virtual environment's interpreter (``python -m jupyter_mltrack.cli models
predict ... --env-manager local``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import InvalidParameter, MltrackError
from .batch import BatchResult
from .loader import local_model_dir

__all__ = ["ENV_ROOT", "EnvironmentFailed", "model_virtualenv", "predict_in_virtualenv"]

ENV_ROOT = "MLTRACK_ENV_ROOT"


class EnvironmentFailed(MltrackError):
    """The model's virtual environment could not be made or its job failed."""


def _root() -> Path:
    given = os.environ.get(ENV_ROOT)
    return Path(given) if given else Path.home() / ".cache" / "mltrack" / "envs"


def model_virtualenv(model_dir: str) -> Path:
    """The interpreter of the (possibly new) virtual environment for a model directory."""
    req = Path(model_dir) / "requirements.txt"
    if not req.is_file():
        raise InvalidParameter(
            f"The model at {model_dir} has no requirements.txt; score it with --env-manager local."
        )
    text = req.read_text(encoding="utf-8")
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{text}".encode()).hexdigest()[:16]
    env = _root() / key
    python = env / "bin" / "python"
    if (env / ".mltrack-ready").is_file() and python.exists():
        return python
    env.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--system-site-packages", str(env)],
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(req)],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise EnvironmentFailed(
                f"Making the model's virtual environment failed ({' '.join(cmd[:4])} ...): "
                + " | ".join(tail)
            )
    (env / ".mltrack-ready").write_text(text, encoding="utf-8")
    return python


def predict_in_virtualenv(
    model_uri: str,
    input_path: str,
    output_path: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_rows: int = 100_000,
    keep_input: bool = False,
    progress: bool | None = None,
) -> BatchResult:
    """:func:`.batch.predict_files` run by the model's virtual environment's interpreter."""
    model_dir = local_model_dir(model_uri)
    python = model_virtualenv(model_dir)
    cmd = [
        str(python),
        "-m",
        "jupyter_mltrack.cli",
        "models",
        "predict",
        "-m",
        model_dir,
        "-i",
        str(input_path),
        "-o",
        str(output_path),
        "--chunk-rows",
        str(chunk_rows),
        "--env-manager",
        "local",
    ]
    if input_format:
        cmd += ["--input-format", input_format]
    if output_format:
        cmd += ["--output-format", output_format]
    if keep_input:
        cmd.append("--keep-input")
    if progress is False:
        cmd.append("--no-progress")
    started = time.perf_counter()
    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.startswith("error:")]
        reason = lines[-1] if lines else done.stderr.strip().splitlines()[-1:]
        raise EnvironmentFailed(f"Scoring in the model's virtual environment failed: {reason}")
    rows = _rows_from(done.stderr)
    return BatchResult(rows, 0, time.perf_counter() - started, str(output_path))


def _rows_from(stderr: str) -> int:
    for line in reversed(stderr.splitlines()):
        if line.startswith("Scored "):
            return int(line.split()[1].replace(",", ""))
    return 0
