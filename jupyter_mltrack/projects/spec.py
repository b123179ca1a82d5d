"""The ``MLproject`` file (MLflow's format), its entry points and typed parameters.

A project is a directory. With an ``MLproject`` file (any capitalisation, as MLflow) it has a
name, at most one environment (``python_env``, ``conda_env`` or ``docker_env``) and entry
points::

    name: demo
    python_env: python_env.yaml
    entry_points:
      main:
        parameters:
          alpha: {type: float, default: 0.5}
          data: path
        command: "python train.py --alpha {alpha} --data {data}"
      explore:                        # ours: a notebook entry point
        parameters: {rows: {type: int, default: 100}}
        notebook: explore.ipynb

Without one (or for a name that is not an entry point), a ``.py``, ``.sh`` or ``.ipynb`` file
of the project is an entry point. Parameter types are MLflow's: ``float``, ``int``,
``string``, ``path`` (an existing local path, made absolute) and ``uri`` (with a scheme, or an
existing path); values are checked before any run is created, and every value is shell-quoted
in the command. Parameters an entry point does not declare are appended as ``--key value``
(scripts) as MLflow does.
"""

from __future__ import annotations

import os
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidParameter

__all__ = [
    "ENV_FIELDS",
    "PARAM_TYPES",
    "EntryPoint",
    "Parameter",
    "Project",
    "load_project",
]

PARAM_TYPES = ("float", "int", "string", "path", "uri")
ENV_FIELDS = ("python_env", "conda_env", "docker_env")
_SCRIPT_COMMANDS = {".py": "python", ".sh": "bash"}
_KNOWN_FIELDS = {"name", "entry_points", *ENV_FIELDS, "databricks_spark_job"}


@dataclass(frozen=True)
class Parameter:
    """One typed parameter of an entry point; ``default`` is None when it is required."""

    name: str
    type: str = "string"
    default: Any = None

    def check(self, value: Any, entry_point: str, cwd: Path) -> str:
        """``value`` as the text that goes into the command; raises naming the parameter."""
        text = str(value)
        where = f"Parameter {self.name!r} of entry point {entry_point!r}"
        if self.type == "float":
            try:
                float(text)
            except ValueError:
                raise InvalidParameter(
                    f"{where} must be a float, got {text!r}; pass e.g. -P {self.name}=0.5."
                ) from None
            return text
        if self.type == "int":
            try:
                int(text)
            except ValueError:
                raise InvalidParameter(
                    f"{where} must be an integer, got {text!r}; pass e.g. -P {self.name}=10."
                ) from None
            return text
        if self.type == "path":
            local = _local_path(text)
            path = local if local.is_absolute() else cwd / local
            if not path.exists():
                raise InvalidParameter(
                    f"{where} is a path, but {text!r} does not exist (looked at {path}); "
                    "pass an existing file or directory."
                )
            return str(path.resolve())
        if self.type == "uri":
            if not urlsplit(text).scheme and not (cwd / text).exists():
                raise InvalidParameter(
                    f"{where} must be a URI (scheme://...) or an existing path, got {text!r}."
                )
            return text
        return text


def _local_path(text: str) -> Path:
    parts = urlsplit(text)
    if parts.scheme == "file":
        return Path(parts.path)
    return Path(os.path.expanduser(text))


@dataclass(frozen=True)
class EntryPoint:
    """A command template (``{param}`` placeholders) or a notebook, with its parameters."""

    name: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    command: str | None = None
    notebook: str | None = None
    #: a bare ``.py``/``.sh`` file: undeclared parameters become ``--key value``
    declared: bool = True

    def resolve(self, values: dict[str, Any], cwd: Path) -> tuple[dict[str, str], dict[str, str]]:
        """(declared parameter values, extra parameters), checked; raises InvalidParameter.

        Every declared parameter gets the given value, else its default; a missing required
        one is an error that names all of them.
        """
        missing = [n for n, p in self.parameters.items() if n not in values and p.default is None]
        if missing:
            names = ", ".join(repr(n) for n in missing)
            example = " ".join(f"-P {n}=VALUE" for n in missing)
            raise InvalidParameter(
                f"Entry point {self.name!r} needs a value for {names} (no default); pass {example}."
            )
        final: dict[str, str] = {}
        for name, param in self.parameters.items():
            final[name] = param.check(values.get(name, param.default), self.name, cwd)
        extra = {str(k): str(v) for k, v in values.items() if k not in self.parameters}
        if extra and self.notebook is not None and self.parameters:
            raise InvalidParameter(
                f"Entry point {self.name!r} has no parameter {', '.join(map(repr, extra))}; "
                f"its parameters are {', '.join(map(repr, self.parameters))}."
            )
        return final, extra

    def command_line(self, final: dict[str, str], extra: dict[str, str]) -> str:
        """The shell command with quoted values (and ``--key value`` for the extras)."""
        if self.command is None:
            raise InvalidParameter(f"Entry point {self.name!r} is a notebook, not a command.")
        quoted = {k: shlex.quote(v) for k, v in final.items()}
        try:
            line = self.command.format(**quoted)
        except KeyError as exc:
            raise InvalidParameter(
                f"The command of entry point {self.name!r} uses {{{exc.args[0]}}}, which is "
                "not one of its parameters; declare it under 'parameters' in MLproject."
            ) from None
        tail = [f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in extra.items()]
        return " ".join([line, *tail])


@dataclass(frozen=True)
class Project:
    """A loaded project directory."""

    directory: Path
    name: str | None = None
    entry_points: dict[str, EntryPoint] = field(default_factory=dict)
    #: ("python_env" | "conda_env" | "docker_env", the field's value) or None
    env: tuple[str, Any] | None = None
    has_mlproject: bool = False

    def entry_point(self, name: str) -> EntryPoint:
        """The named entry point, else a ``.py``/``.sh``/``.ipynb`` file of that name."""
        if name in self.entry_points:
            return self.entry_points[name]
        suffix = Path(name).suffix
        path = self.directory / name
        if suffix in _SCRIPT_COMMANDS or suffix == ".ipynb":
            if not path.is_file():
                raise InvalidParameter(
                    f"Entry point {name!r} is not in {self.directory}: no such file. "
                    + self._choices()
                )
            if suffix == ".ipynb":
                return EntryPoint(name, notebook=name, declared=False)
            command = f"{_SCRIPT_COMMANDS[suffix]} {shlex.quote(name)}"
            return EntryPoint(name, command=command, declared=False)
        raise InvalidParameter(
            f"No entry point {name!r} in project {self.directory}. " + self._choices()
        )

    def _choices(self) -> str:
        names = ", ".join(repr(n) for n in self.entry_points) or "none"
        return (
            f"Entry points in MLproject: {names}; any .py, .sh or .ipynb file of the "
            "project also works (-e train.py)."
        )


def load_project(directory: str | os.PathLike[str]) -> Project:
    """Read ``directory``'s MLproject file (if any); raises InvalidParameter when invalid."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidParameter(f"Project directory {root} does not exist or is not a folder.")
    found = next((p for p in sorted(root.iterdir()) if p.name.lower() == "mlproject"), None)
    if found is None:
        return Project(directory=root)
    import yaml

    try:
        data = yaml.safe_load(found.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{found} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter(f"{found} must be a mapping (name, entry_points, ...).")
    envs = [k for k in ENV_FIELDS if k in data]
    if len(envs) > 1:
        raise InvalidParameter(
            f"{found} declares {' and '.join(envs)}; a project has at most one environment."
        )
    env = (envs[0], data[envs[0]]) if envs else None
    if (env is not None and env[0] == "docker_env") and (
        not isinstance(env[1], dict) or not env[1].get("image")
    ):
        raise InvalidParameter(
            f"{found}: docker_env needs an 'image' (docker_env: {{image: ...}})."
        )
    raw_entries = data.get("entry_points") or {}
    if not isinstance(raw_entries, dict):
        raise InvalidParameter(f"{found}: entry_points must be a mapping of name -> entry point.")
    entries = {str(n): _entry_point(found, str(n), e) for n, e in raw_entries.items()}
    return Project(
        directory=root,
        name=data.get("name"),
        entry_points=entries,
        env=env,
        has_mlproject=True,
    )


def _entry_point(mlproject: Path, name: str, raw: Any) -> EntryPoint:
    where = f"{mlproject}: entry point {name!r}"
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{where} must be a mapping with 'command' and 'parameters'.")
    command, notebook = raw.get("command"), raw.get("notebook")
    if (command is None) == (notebook is None):
        raise InvalidParameter(f"{where} needs exactly one of 'command' or 'notebook'.")
    params: dict[str, Parameter] = {}
    for pname, spec in (raw.get("parameters") or {}).items():
        if isinstance(spec, str):
            ptype, default = spec, None
        elif isinstance(spec, dict):
            ptype, default = str(spec.get("type", "string")), spec.get("default")
        else:
            raise InvalidParameter(f"{where}: parameter {pname!r} must be a type or a mapping.")
        if ptype not in PARAM_TYPES:
            raise InvalidParameter(
                f"{where}: parameter {pname!r} has type {ptype!r}; use one of "
                f"{', '.join(PARAM_TYPES)}."
            )
        params[str(pname)] = Parameter(str(pname), ptype, default)
    if command is not None:
        names = {f[1] for f in string.Formatter().parse(str(command)) if f[1]}
        unknown = sorted(names - set(params))
        if unknown:
            raise InvalidParameter(
                f"{where}: the command uses {', '.join('{' + u + '}' for u in unknown)}, "
                "which are not declared under 'parameters'."
            )
    return EntryPoint(
        name,
        parameters=params,
        command=None if command is None else str(command),
        notebook=None if notebook is None else str(notebook),
    )
