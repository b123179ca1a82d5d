"""A model's environment: ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``, and the
check made when loading.

Requirements are inferred honestly and simply: the flavor's library (scikit-learn, torch, ...),
this package (the models' ``loader_module``), and the top-level modules the model's own code
uses (a ``python_model``'s class, ``code_paths`` files), each resolved to the installed
distribution and pinned to its version. ``pip_requirements=`` replaces the list,
``extra_pip_requirements=`` adds to it.

Loading compares the saved Python version and the pinned versions with the running
environment and emits one warning line naming what differs.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata as md
import os
import platform
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import InvalidParameter

__all__ = [
    "check_environment",
    "infer_requirements",
    "resolve_requirements",
    "write_environment",
]

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

_OUR_DIST = "jupyter-mltrack"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


#: Import names whose distribution is named differently (the common ones, to skip a scan).
_KNOWN_DISTS = {
    "sklearn": "scikit-learn",
    "jupyter_mltrack": "jupyter-mltrack",
    "yaml": "PyYAML",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
}


@functools.lru_cache(maxsize=1)
def _module_map() -> dict[str, list[str]]:
    """Every installed distribution's top-level modules (a scan of all of them: seconds)."""
    return {k: list(v) for k, v in md.packages_distributions().items()}


def _dists_of(top: str) -> list[str]:
    if top in _KNOWN_DISTS:
        return [_KNOWN_DISTS[top]]
    try:
        dist = md.distribution(top)  # most distributions are named as their module
    except md.PackageNotFoundError:
        return _module_map().get(top, [])
    return [str(dist.metadata["Name"] or top)]


def _distributions_of_modules(modules: Iterable[str]) -> list[str]:
    """Installed distributions that provide these top-level modules (stdlib ones skipped)."""
    out: list[str] = []
    for mod in modules:
        top = mod.split(".")[0]
        if not top or top in sys.stdlib_module_names or top == "__main__":
            continue
        for dist in _dists_of(top):
            if dist not in out:
                out.append(dist)
    return out


def modules_of_source(source: str) -> set[str]:
    """Top-level modules a piece of Python source imports."""
    found: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def modules_of_object(obj: Any) -> set[str]:
    """Modules an object's class (and the module defining it) imports."""
    import inspect

    found: set[str] = set()
    cls = (
        obj
        if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "__class__"))
        else type(obj)
    )
    targets = [obj] if inspect.isfunction(obj) else [cls]
    for target in targets:
        module = inspect.getmodule(target)
        if module is None:
            continue
        found.add(module.__name__.split(".")[0])
        try:
            found |= modules_of_source(inspect.getsource(module))
        except (OSError, TypeError):  # defined in a notebook cell or the REPL
            with contextlib.suppress(OSError, TypeError):
                found |= modules_of_source(inspect.getsource(target))
    return found


def modules_of_paths(paths: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for p in paths:
        files = (
            [p]
            if os.path.isfile(p)
            else [
                os.path.join(root, f)
                for root, _, names in os.walk(p)
                for f in names
                if f.endswith(".py")
            ]
        )
        for f in files:
            if f.endswith(".py"):
                with open(f, encoding="utf-8", errors="replace") as fh:
                    found |= modules_of_source(fh.read())
    return found


def infer_requirements(distributions: Sequence[str], modules: Iterable[str] = ()) -> list[str]:
    """Pinned requirements: our package, the named distributions, and those of ``modules``."""
    names: list[str] = [_OUR_DIST, *distributions, *_distributions_of_modules(modules)]
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        key = _canon(name)
        if key in seen:
            continue
        seen.add(key)
        version = _version_of(name)
        if version is None:
            continue  # not installed: nothing honest to pin
        out.append(f"{name}=={version.split('+')[0]}")  # no local label (+cpu): PyPI installs it
    return sorted(out, key=str.lower)


def _as_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.isfile(path):
            raise InvalidParameter(
                f"{what} must be a list of requirement strings or a path to a requirements "
                f"file; {path!r} is not a file."
            )
        with open(path, encoding="utf-8") as fh:
            return [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise InvalidParameter(f"{what} must be a list of strings or a file path, got {value!r}.")


def resolve_requirements(
    default: list[str], pip_requirements: Any = None, extra_pip_requirements: Any = None
) -> list[str]:
    """The final list: ``pip_requirements`` replaces the inferred one; extras are appended."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameter(
            "Pass pip_requirements (the whole list) or extra_pip_requirements (added to the "
            "inferred list), not both."
        )
    base = (
        _as_list(pip_requirements, "pip_requirements") if pip_requirements is not None else default
    )
    extra = _as_list(extra_pip_requirements, "extra_pip_requirements")
    out: list[str] = []
    for req in [*base, *extra]:
        if req not in out:
            out.append(req)
    return out


def write_environment(model_dir: str, requirements: list[str]) -> None:
    """``requirements.txt``, ``python_env.yaml`` and ``conda.yaml`` as MLflow writes them."""
    import yaml

    py = platform.python_version()
    with open(os.path.join(model_dir, REQUIREMENTS_FILE), "w", encoding="utf-8") as fh:
        fh.write("\n".join(requirements))
    python_env = {
        "python": py,
        "build_dependencies": [f"pip=={_version_of('pip') or '23.0'}", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    with open(os.path.join(model_dir, PYTHON_ENV_FILE), "w", encoding="utf-8") as fh:
        yaml.safe_dump(python_env, fh, sort_keys=False)
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={py}", "pip", {"pip": list(requirements)}],
        "name": "mltrack-env",
    }
    with open(os.path.join(model_dir, CONDA_FILE), "w", encoding="utf-8") as fh:
        yaml.safe_dump(conda, fh, sort_keys=False)


def read_requirements(model_dir: str) -> list[str]:
    path = os.path.join(model_dir, REQUIREMENTS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]


def environment_differences(model_dir: str, saved_python: str | None) -> list[str]:
    """What differs between the saved environment and this one (empty when they agree)."""
    diffs: list[str] = []
    here = platform.python_version()
    if saved_python and saved_python.split(".")[:2] != here.split(".")[:2]:
        diffs.append(f"Python {saved_python} saved, {here} here")
    for req in read_requirements(model_dir):
        m = _PIN.match(req)
        if not m:
            continue
        name, want = m.group(1), m.group(2)
        have = _version_of(name)
        if have is None:
            diffs.append(f"{name}=={want} saved, not installed here")
        elif _canon(name) != _OUR_DIST and have.split("+")[0] != want.split("+")[0]:
            diffs.append(f"{name}=={want} saved, {have} here")
    return diffs


def check_environment(model_dir: str, saved_python: str | None) -> None:
    """Warn (one line) when this Python or an installed package differs from the saved one."""
    diffs = environment_differences(model_dir, saved_python)
    if diffs:
        warnings.warn(
            f"The model at {model_dir} was saved in another environment ({'; '.join(diffs)}); "
            "predictions may differ or loading may fail. Its requirements.txt lists what it "
            "was saved with.",
            UserWarning,
            stacklevel=3,
        )
