"""Environment managers: where a project's command runs.

- ``local``: the current Python environment (its ``bin`` first on ``PATH``, so ``python`` in
  a command is this interpreter).
- ``virtualenv``: ``python -m venv`` plus ``pip install`` of the project's dependencies.
- ``uv``: ``uv venv`` plus ``uv pip install`` (much faster to build).
- ``conda``: ``conda env create`` from the project's ``conda_env`` file, when conda exists.
- ``docker``: a project with ``docker_env``: the build context is written; running needs a
  Docker engine (the message says so when there is none).

The dependencies come from ``python_env.yaml`` (MLflow's format: ``python``,
``build_dependencies``, ``dependencies``) named in ``MLproject`` or lying in the project,
else from ``requirements.txt``. A built environment is cached under
``$MLTRACK_ENV_CACHE_DIR`` (default ``~/.cache/jupyter-mltrack/envs``) in a folder named by a
hash of the spec (manager, Python version, dependency lines and the content of the files
they name), so a second run with the same spec starts at once; a progress line shows while
one builds. The tracking client itself is not installed into the environment: when its
Python version is the current one, a ``.pth`` file adds the current environment's
site-packages *after* the environment's own, so ``import jupyter_mltrack`` works and the
project's pinned packages win.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..errors import InvalidParameter
from .errors import ExecutionFailed
from .spec import Project

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_MANAGERS",
    "EnvSpec",
    "Environment",
    "default_cache_dir",
    "env_spec",
    "prepare_environment",
]

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda", "docker")
ENV_CACHE_DIR = "MLTRACK_ENV_CACHE_DIR"
_MARKER = ".mltrack-env.json"
_FREEZE = ".mltrack-freeze.txt"
BUILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class EnvSpec:
    """What an environment is built from; ``key`` is its cache name."""

    manager: str
    python: str | None = None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    #: extra content that makes two specs differ (files named by -r, a conda yaml)
    fingerprint: str = ""
    source: str = ""  # the file the spec came from, for messages

    @property
    def key(self) -> str:
        blob = json.dumps(
            [
                self.manager,
                self.python,
                self.build_dependencies,
                self.dependencies,
                self.fingerprint,
            ],
        )
        return f"{self.manager}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Environment:
    """A ready environment: how to run a command in it."""

    manager: str
    bin_dir: Path | None = None
    key: str = ""
    #: the environment's packages (``pip freeze``), recorded with the run
    requirements: str = ""
    #: seconds spent building it now; 0.0 when it came from the cache (or is local)
    build_s: float = 0.0
    docker_image: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def python(self) -> str:
        if self.bin_dir is None:
            return sys.executable
        return str(self.bin_dir / "python")

    def command_env(self, base: dict[str, str]) -> dict[str, str]:
        env = {**base, **self.extra_env}
        bin_dir = self.bin_dir or Path(sys.executable).parent
        env["PATH"] = os.pathsep.join([str(bin_dir), base.get("PATH", os.defpath)])
        if self.bin_dir is not None:
            env["VIRTUAL_ENV"] = str(self.bin_dir.parent)
        env.pop("PYTHONHOME", None)
        return env

    def argv(self, command: str, workdir: Path, env: dict[str, str]) -> list[str]:
        if self.docker_image is None:
            return ["bash", "-c", command]
        passed = [a for k in sorted(env) if k.startswith("MLTRACK_") for a in ("-e", k)]
        return [
            "docker", "run", "--rm", "-v", f"{workdir}:/mltrack/project",
            "-w", "/mltrack/project", *passed, self.docker_image, "bash", "-c", command,
        ]  # fmt: skip


def default_cache_dir() -> Path:
    given = os.environ.get(ENV_CACHE_DIR, "").strip()
    if given:
        return Path(given).expanduser()
    return Path.home() / ".cache" / "jupyter-mltrack" / "envs"


# --------------------------------------------------------------------------- the spec
def default_manager(project: Project) -> str:
    """The manager a project asks for: its env field, a python_env.yaml, else local."""
    if project.env is not None:
        return {"python_env": "virtualenv", "conda_env": "conda", "docker_env": "docker"}[
            project.env[0]
        ]
    if (project.directory / "python_env.yaml").is_file():
        return "virtualenv"
    return "local"


def env_spec(project: Project, manager: str) -> EnvSpec:
    """The spec of ``project`` for ``manager``; raises InvalidParameter when it has none."""
    root = project.directory
    if manager == "conda":
        conda_file = _env_file(project, "conda_env", None)
        if conda_file is None:
            raise InvalidParameter(
                f"--env-manager conda needs a conda_env file in MLproject ({root})."
            )
        return EnvSpec("conda", fingerprint=conda_file.read_text(), source=str(conda_file))
    python_env = _env_file(project, "python_env", "python_env.yaml")
    if python_env is not None:
        import yaml

        try:
            data = yaml.safe_load(python_env.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidParameter(f"{python_env} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidParameter(f"{python_env} must map python/dependencies.")
        python = data.get("python")
        deps = tuple(str(d) for d in data.get("dependencies") or ())
        build = tuple(str(d) for d in data.get("build_dependencies") or ())
        return EnvSpec(
            manager,
            None if python is None else str(python),
            build,
            deps,
            _fingerprint(root, deps),
            str(python_env),
        )
    requirements = root / "requirements.txt"
    if requirements.is_file():
        deps = ("-r requirements.txt",)
        return EnvSpec(manager, None, (), deps, _fingerprint(root, deps), str(requirements))
    return EnvSpec(manager, source="(no python_env.yaml or requirements.txt)")


def _env_file(project: Project, field_name: str, default: str | None) -> Path | None:
    if project.env is not None and project.env[0] == field_name:
        path = project.directory / str(project.env[1])
        if not path.is_file():
            raise InvalidParameter(
                f"MLproject names {field_name} {project.env[1]!r}: no such file."
            )
        return path
    if default is not None and (project.directory / default).is_file():
        return project.directory / default
    return None


def _fingerprint(root: Path, deps: tuple[str, ...]) -> str:
    """Content hashes of the files the dependency lines name (-r files, local wheels)."""
    digest = hashlib.sha256()
    for line in deps:
        for path in _named_files(root, line):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
            if path.suffix == ".txt":  # a requirements file may name more files
                for inner in path.read_text().splitlines():
                    for nested in _named_files(path.parent, inner.strip()):
                        digest.update(nested.read_bytes())
    return digest.hexdigest()


def _named_files(root: Path, line: str) -> list[Path]:
    text = line.strip()
    for flag in ("-r ", "--requirement "):
        if text.startswith(flag):
            return [p for p in [root / text[len(flag) :].strip()] if p.is_file()]
    candidate = root / text
    if text and not text.startswith("-") and candidate.is_file():
        return [candidate]
    return []


def _absolute_lines(root: Path, deps: tuple[str, ...]) -> list[str]:
    out = []
    for line in deps:
        text = line.strip()
        if text.startswith(("-r ", "--requirement ")):
            out.append(f"-r {(root / text.split(None, 1)[1]).resolve()}")
        elif text and not text.startswith("-") and (root / text).exists():
            out.append(str((root / text).resolve()))
        else:
            out.append(text)
    return out


# ------------------------------------------------------------------------ preparing
def prepare_environment(
    project: Project,
    manager: str | None = None,
    *,
    cache_dir: Path | None = None,
    out: TextIO | None = None,
    build_image: bool = False,
) -> Environment:
    """A ready environment for ``project`` (built, or taken from the cache)."""
    chosen = manager or default_manager(project)
    if chosen not in ENV_MANAGERS:
        raise InvalidParameter(
            f"Unknown environment manager {chosen!r}; use one of {', '.join(ENV_MANAGERS[:4])}."
        )
    if chosen == "local":
        return Environment("local")
    cache = cache_dir or default_cache_dir()
    if chosen == "docker":
        return _docker(project, cache, build_image)
    spec = env_spec(project, chosen)
    if chosen == "conda" and shutil.which("conda") is None:
        raise ExecutionFailed(
            f"Project {project.directory} asks for a conda environment ({spec.source}), but "
            "conda is not on PATH. Install Miniforge/Miniconda, or run with "
            "--env-manager virtualenv|uv (from a python_env.yaml) or local."
        )
    return _cached(project.directory, spec, cache, out or sys.stderr)


def _cached(root: Path, spec: EnvSpec, cache: Path, out: TextIO) -> Environment:
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / spec.key
    with open(cache / f"{spec.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per spec, across processes
        built_s = 0.0
        if not (target / _MARKER).is_file():
            if target.exists():
                shutil.rmtree(target)  # a build that was interrupted
            started = time.perf_counter()
            with _Progress(out, f"Building {spec.manager} environment {spec.key}", spec):
                try:
                    _build(root, spec, target)
                except BaseException:
                    shutil.rmtree(target, ignore_errors=True)
                    raise
            built_s = time.perf_counter() - started
            marker = {"spec": spec.__dict__, "built_s": round(built_s, 3), "root": str(root)}
            (target / _MARKER).write_text(json.dumps(marker, indent=1, default=list))
    freeze = target / _FREEZE
    return Environment(
        spec.manager,
        bin_dir=target / "bin",
        key=spec.key,
        requirements=freeze.read_text() if freeze.is_file() else "",
        build_s=built_s,
    )


class _Progress:
    """One status line while something slow runs: rewritten in place on a terminal,
    else a start and an end line (notebooks, logs)."""

    def __init__(self, out: TextIO, what: str, spec: EnvSpec) -> None:
        self.out, self.what = out, what
        count = len(spec.dependencies) + len(spec.build_dependencies)
        self.detail = f"from {spec.source}, {count} dependency line(s)"
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.stop = threading.Event()
        self.started = 0.0

    def __enter__(self) -> _Progress:
        self.started = time.perf_counter()
        if self.tty:
            threading.Thread(target=self._tick, daemon=True).start()
        else:
            print(f"{self.what} ({self.detail}); it is cached for later runs...", file=self.out)
        return self

    def _tick(self) -> None:
        while not self.stop.wait(0.5):
            elapsed = time.perf_counter() - self.started
            self.out.write(f"\r{self.what} ({self.detail}): {elapsed:.0f}s")
            self.out.flush()

    def __exit__(self, kind: object, *rest: object) -> None:
        self.stop.set()
        elapsed = time.perf_counter() - self.started
        state = "built" if kind is None else "failed"
        prefix = "\r" if self.tty else ""
        print(f"{prefix}{self.what}: {state} in {elapsed:.1f}s", file=self.out, flush=True)


def _run(argv: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env
        )
    except FileNotFoundError:
        raise ExecutionFailed(f"{what}: {argv[0]} was not found.") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ExecutionFailed(f"{what} failed (exit code {done.returncode}):\n{tail}")
    return done.stdout


def _build(root: Path, spec: EnvSpec, target: Path) -> None:
    if spec.manager == "conda":
        conda = shutil.which("conda") or "conda"
        _run([conda, "env", "create", "--quiet", "--prefix", str(target), "--file",
              spec.source], root, "conda env create")  # fmt: skip
        _link_host(target)
        return
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if spec.manager == "uv":
        uv = _uv()
        argv = [uv, "venv", "--quiet", str(target)]
        if spec.python:
            argv[3:3] = ["--python", spec.python]
        _run(argv, root, "uv venv", env)
        install: Callable[[list[str]], list[str]] = lambda args: [  # noqa: E731
            uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"), *args,
        ]  # fmt: skip
    else:
        _run([_python_for(spec), "-m", "venv", str(target)], root, "python -m venv", env)
        python = str(target / "bin" / "python")
        install = lambda args: [python, "-m", "pip", "install", "--quiet", *args]  # noqa: E731
    _link_host(target)
    build = [d for d in spec.build_dependencies if spec.manager == "uv" or d != "pip"]
    if build:
        _run(install(build), root, "installing the build dependencies", env)
    lines = _absolute_lines(root, spec.dependencies)
    if lines:
        reqs = target / "mltrack-requirements.txt"
        reqs.write_text("\n".join(lines) + "\n")
        _run(install(["-r", str(reqs)]), root, f"installing the dependencies of {spec.source}", env)
    (target / _FREEZE).write_text(_freeze(spec, target, env))


def _freeze(spec: EnvSpec, target: Path, env: dict[str, str]) -> str:
    site = _site_packages(target)
    try:
        if spec.manager == "uv":
            return _run([_uv(), "pip", "freeze", "--python", str(target / "bin" / "python")],
                        target, "uv pip freeze", env)  # fmt: skip
        return _run([str(target / "bin" / "python"), "-m", "pip", "freeze", "--path", str(site)],
                    target, "pip freeze", env)  # fmt: skip
    except ExecutionFailed:
        return ""


def _uv() -> str:
    try:
        import importlib

        uv_module: Any = importlib.import_module("uv")  # the uv package on PyPI ships it
        return str(uv_module.find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if found is None:
        raise ExecutionFailed(
            "--env-manager uv needs uv: pip install uv (or use --env-manager virtualenv)."
        )
    return found


def _python_for(spec: EnvSpec) -> str:
    """The interpreter for ``spec.python`` (``3.11`` or ``3.11.7``): this one if it matches."""
    if not spec.python:
        return sys.executable
    wanted = spec.python.split(".")
    have = [str(sys.version_info.major), str(sys.version_info.minor), str(sys.version_info.micro)]
    if have[: len(wanted)] == wanted[:3] or have[:2] == wanted[:2]:
        return sys.executable
    found = shutil.which(f"python{'.'.join(wanted[:2])}")
    if found is None:
        raise ExecutionFailed(
            f"{spec.source} asks for Python {spec.python}, and python{'.'.join(wanted[:2])} "
            f"is not on PATH (this is Python {'.'.join(have)}). Install it, or use "
            "--env-manager uv, which finds installed interpreters."
        )
    return found


def _site_packages(target: Path) -> Path:
    found = sorted(target.glob("lib/python*/site-packages"))
    if not found:
        raise ExecutionFailed(f"The environment at {target} has no lib/python*/site-packages.")
    return found[0]


def _link_host(target: Path) -> None:
    """Make this environment's packages (the tracking client) importable after the env's own,
    when the Python versions match; otherwise the project must depend on jupyter-mltrack."""
    site = _site_packages(target)
    if site.parent.name != f"python{sys.version_info.major}.{sys.version_info.minor}":
        return
    dirs = dict.fromkeys(
        p for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]) if p
    )
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs)
    (site / "zz_mltrack_host.pth").write_text(lines)


def _docker(project: Project, cache: Path, build_image: bool) -> Environment:
    """Write the build context; run in the image when a Docker engine answers."""
    if project.env is None or project.env[0] != "docker_env":
        raise InvalidParameter(
            f"--env-manager docker needs docker_env in {project.directory}/MLproject."
        )
    image = str(project.env[1]["image"])
    digest = hashlib.sha256(image.encode()).hexdigest()[:12]
    context = cache / f"docker-{digest}"
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(project.directory, context / "project", ignore=shutil.ignore_patterns(".git"))
    (context / "Dockerfile").write_text(
        f"FROM {image}\nCOPY project/ /mltrack/project/\nWORKDIR /mltrack/project\n"
    )
    tag = f"mltrack-{(project.name or project.directory.name).lower().replace(' ', '-')}"
    problem = _docker_engine_problem()
    if problem is not None:
        raise ExecutionFailed(
            f"docker_env: wrote the build context to {context} (a Dockerfile FROM {image} "
            f"and the project's files), but no Docker engine is available ({problem}). Start "
            f"one and run 'docker build -t {tag} {context}', or run the project here with "
            "--env-manager local."
        )
    if build_image:
        _run(["docker", "build", "-t", tag, str(context)], context, "docker build")
        image = tag
    return Environment("docker", docker_image=image, key=tag)


def _docker_engine_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "the docker command is not on PATH"
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return "docker info: " + (lines[-1] if lines else f"exit code {done.returncode}")
    return None


def describe(env: Environment) -> dict[str, Any]:
    return {"manager": env.manager, "key": env.key, "build_s": round(env.build_s, 3)}
