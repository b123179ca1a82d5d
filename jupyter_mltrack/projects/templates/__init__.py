"""Project templates (the successor of MLflow Recipes): ``mltrack init --template NAME DIR``.

A template is a folder. Files ending in ``.tmpl`` are written without that suffix, with
``{{ project_name }}``, ``{{ template }}`` and ``{{ python_version }}`` filled in
(``gitignore.tmpl`` becomes ``.gitignore``); other files are copied as they are. A
``template.json`` gives a one-line ``description`` and may name another folder of the same
package to start from (``"extends": "_shared"``).

Templates are found through the entry-point group ``jupyter_mltrack.templates``; the
built-in ``classification`` and ``regression`` are declared there like a team's own would be
(and are found from this package even before the package metadata is refreshed). An entry
point's value is a :class:`Template`, a folder path, or a function returning either::

    [project.entry-points."jupyter_mltrack.templates"]
    churn = "acme_templates:churn_template"
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InvalidParameter

__all__ = [
    "ENTRY_POINT_GROUP",
    "Template",
    "available_templates",
    "classification",
    "create_project",
    "regression",
]

ENTRY_POINT_GROUP = "jupyter_mltrack.templates"
HERE = Path(__file__).resolve().parent
_SUFFIX = ".tmpl"
_SKIP = {"template.json", "__init__.py", "__pycache__"}


@dataclass(frozen=True)
class Template:
    """A named template folder."""

    name: str
    directory: Path
    description: str = ""

    def layers(self) -> list[Path]:
        """The folders written in order: what it extends first, then its own."""
        meta = _meta(self.directory)
        base = meta.get("extends")
        first = [self.directory.parent / str(base)] if base else []
        return [*first, self.directory]


def _meta(directory: Path) -> dict[str, Any]:
    file = directory / "template.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text())
    except ValueError as exc:
        raise InvalidParameter(f"{file} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _builtin(name: str) -> Template:
    directory = HERE / name
    return Template(name, directory, str(_meta(directory).get("description", "")))


def classification() -> Template:
    """The built-in classification template (the entry point's target)."""
    return _builtin("classification")


def regression() -> Template:
    """The built-in regression template (the entry point's target)."""
    return _builtin("regression")


_BUILTINS: dict[str, Callable[[], Template]] = {
    "classification": classification,
    "regression": regression,
}


def _from_entry_point(ep: importlib.metadata.EntryPoint) -> Template | None:
    try:
        value: Any = ep.load()
        if callable(value) and not isinstance(value, Template):
            value = value()
    except Exception as exc:  # one broken plugin must not hide the others
        warnings.warn(
            f"Template {ep.name!r} ({ep.value}) could not be loaded: {type(exc).__name__}: {exc}",
            stacklevel=3,
        )
        return None
    if isinstance(value, Template):
        return value
    if isinstance(value, str | Path) and Path(value).is_dir():
        directory = Path(value)
        return Template(ep.name, directory, str(_meta(directory).get("description", "")))
    warnings.warn(
        f"Template {ep.name!r} ({ep.value}) is neither a Template nor a folder; skipped.",
        stacklevel=3,
    )
    return None


def available_templates() -> dict[str, Template]:
    """Every template by name: the entry-point group, plus the built-ins."""
    found: dict[str, Template] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        template = _from_entry_point(ep)
        if template is not None:
            found.setdefault(ep.name, template)
    for name, factory in _BUILTINS.items():
        found.setdefault(name, factory())
    return found


def _project_name(directory: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.name).strip("-.")
    return name or "project"


def create_project(template: str, directory: str | Path, *, force: bool = False) -> Path:
    """Write template ``template`` into ``directory`` (new, or empty unless ``force``)."""
    templates = available_templates()
    if template not in templates:
        raise InvalidParameter(
            f"No template {template!r}; the templates are {', '.join(sorted(templates))} "
            "(mltrack init --list)."
        )
    target = Path(directory).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise InvalidParameter(f"{target} exists and is not a folder.")
    if target.exists() and any(target.iterdir()) and not force:
        raise InvalidParameter(f"{target} is not empty; choose a new folder (or pass --force).")
    chosen = templates[template]
    values = {
        "project_name": _project_name(target),
        "template": template,
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    for layer in chosen.layers():
        if not layer.is_dir():
            raise InvalidParameter(
                f"Template {template!r} needs the folder {layer}; it is missing."
            )
        _write_layer(layer, target, values)
    return target


def _write_layer(source: Path, target: Path, values: dict[str, str]) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in _SKIP for part in rel.parts) or path.is_dir():
            continue
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(_SUFFIX):
            name = path.name[: -len(_SUFFIX)]
            out = out.with_name("." + name if name == "gitignore" else name)
            text = path.read_text()
            for key, value in values.items():
                text = text.replace("{{ " + key + " }}", value)
            out.write_text(text)
        else:
            shutil.copyfile(path, out)
