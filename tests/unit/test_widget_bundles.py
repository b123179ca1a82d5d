"""Meta-tests: no widget can ship without its bundle.

Every widget class in ``jupyter_mltrack.widgets`` is an ``MltrackWidget`` naming a built
bundle; every entry ``src/widgets/<name>.ts`` (the ``build:widgets`` glob) belongs to a widget
and is built to ``static/<name>.js``; and the wheel build is told about every built file.
hatch-jupyter-builder's ``ensured-targets`` do not glob, so they are compared with the entries.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import anywidget
import pytest

import jupyter_mltrack.widgets as widgets_pkg
from jupyter_mltrack.widgets import _bundle
from jupyter_mltrack.widgets._base import MltrackWidget

ROOT = Path(__file__).resolve().parents[2]
ENTRY_DIR = ROOT / "src" / "widgets"
STATIC = "jupyter_mltrack/widgets/static"


def widget_classes() -> list[type[anywidget.AnyWidget]]:
    """Every anywidget class defined in a module of ``jupyter_mltrack.widgets``."""
    found = []
    for info in pkgutil.iter_modules(widgets_pkg.__path__):
        module = importlib.import_module(f"{widgets_pkg.__name__}.{info.name}")
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, anywidget.AnyWidget)
            and cls.__module__ == module.__name__
            and cls is not MltrackWidget
        ]
    return found


def entries() -> set[str]:
    return {p.name.removesuffix(".ts") for p in ENTRY_DIR.glob("*.ts") if ".d." not in p.name}


def build_config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]


def test_the_widget_package_has_widgets() -> None:
    assert widget_classes(), "no widget class found: is the discovery above broken?"
    assert entries(), f"no entry found in {ENTRY_DIR}"


@pytest.mark.parametrize("cls", widget_classes(), ids=lambda c: c.__name__)
def test_every_widget_resolves_its_built_bundle(cls: type[anywidget.AnyWidget]) -> None:
    assert issubclass(cls, MltrackWidget), f"{cls.__name__} must derive from MltrackWidget"
    assert cls.bundle_name, f"{cls.__name__} names no bundle"
    path = _bundle.bundle_path(f"{cls.bundle_name}.js")
    assert str(cls._esm) == path.read_text(), f"{cls.__name__}._esm is not {path}"


@pytest.mark.parametrize("cls", widget_classes(), ids=lambda c: c.__name__)
def test_every_widget_is_exported(cls: type[anywidget.AnyWidget]) -> None:
    assert cls.__name__ in widgets_pkg.__all__
    assert getattr(widgets_pkg, cls.__name__) is cls


def test_every_entry_belongs_to_a_widget_and_back() -> None:
    bundles = {cls.bundle_name for cls in widget_classes() if issubclass(cls, MltrackWidget)}
    orphans = entries() - bundles
    assert not orphans, (
        f"src/widgets/{{{', '.join(sorted(orphans))}}}.ts would be built as widget bundles, "
        "but no widget class uses them; shared modules belong in src/widgets/lib/."
    )
    unbuilt = bundles - entries()
    assert not unbuilt, f"no src/widgets/<name>.ts entry for bundles {sorted(unbuilt)}"


@pytest.mark.parametrize("name", sorted(entries()))
def test_every_entry_is_built(name: str) -> None:
    assert (_bundle.STATIC_DIR / f"{name}.js").is_file(), f"run `jlpm build:widgets` ({name})"


def test_build_scripts_glob_the_entries_only() -> None:
    scripts = json.loads((ROOT / "package.json").read_text())["scripts"]
    for script in ("build:widgets", "watch:widgets"):
        assert "src/widgets/*.ts " in scripts[script], script
    assert not list((ENTRY_DIR / "lib").glob("*/**/*.ts")), "lib/ is flat (tsconfig include)"


def test_wheel_build_ensures_every_bundle() -> None:
    config = build_config()
    hook = config["hooks"]["jupyter-builder"]
    expected = {f"{STATIC}/{name}.js" for name in entries()} | {
        f"{STATIC}/{name}.css"
        for name in entries()
        if (_bundle.STATIC_DIR / f"{name}.css").is_file()
    }
    listed = {t for t in hook["ensured-targets"] if t.startswith(f"{STATIC}/")}
    fix = "edit [tool.hatch.build.hooks.jupyter-builder] ensured-targets in pyproject.toml"
    assert listed == expected, f"{fix}: missing {expected - listed}, stale {listed - expected}"
    # skip-if-exists skips the whole JS build when all of its files exist: it must list every
    # bundle, or a checkout with old bundles would skip building a new widget's.
    skip = {t for t in hook["skip-if-exists"] if t.startswith(f"{STATIC}/")}
    js = {t for t in expected if t.endswith(".js")}
    assert skip == js, f"skip-if-exists: missing {js - skip}, stale {skip - js}"
    # The static dir is git-ignored, so only `artifacts` bring it into the wheel and sdist.
    assert STATIC in config["targets"]["wheel"]["artifacts"]
    assert STATIC in config["targets"]["sdist"]["artifacts"]
