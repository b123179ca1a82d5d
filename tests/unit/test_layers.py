"""The import graph of the package: layers import downward only, and no two packages import
each other (docs/architecture.md). Lazy imports inside functions count too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import jupyter_mltrack

ROOT = Path(jupyter_mltrack.__file__).parent

#: Lowest first. A package may import its own layer's modules only where listed as
#: allowed below, and any lower layer.
LAYERS: list[set[str]] = [
    {"_version", "_proc", "errors"},
    {"settings"},
    {"display"},
    {"config", "entities"},
    {"data", "artifacts"},
    {"store"},
    {"tracking"},
    {"models"},  # model format, signatures, load_model (uses the tracking client for URIs)
    {"evaluation"},  # mt.evaluate: metrics, plots, validation (loads models by URI)
    {"metrics"},  # mt.metrics: the facade of evaluation's metric objects
    {"service", "mlflow_rest"},
    {"widgets"},
    {"teamserver"},
    {"serving"},
    {"deployments"},
    {"server", "cli", "testing", "autolog", "magics", "_jupyter", "_schema_ts", "__init__"}
    | {"projects"}
    | {"sklearn", "pytorch", "pyfunc"},  # the model flavors (mt.sklearn re-exports autolog)
]
#: Same-layer imports that are part of the design (the facade exposes the top layer).
SAME_LAYER_OK = {
    ("__init__", "autolog"),
    ("__init__", "_jupyter"),
    ("__init__", "magics"),
    ("_jupyter", "server"),
    ("cli", "service"),
    ("sklearn", "autolog"),  # mt.sklearn.autolog is the sklearn autolog
    ("cli", "projects"),  # mltrack run, init, runs reproduce
    ("projects", "magics"),  # reproduce reads what %%track records (magics.capture)
}


def _rank(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"package {package!r} is in no layer: add it to LAYERS")


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_edges() -> dict[tuple[str, str], list[str]]:
    """``(from package, to package) -> [importing files]`` over every module."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        is_pkg = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_pkg else rel.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    head = ".".join(base + ([node.module] if node.module else []))
                else:
                    head = node.module or ""
                targets = [head] if node.module else [f"{head}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target.startswith("jupyter_mltrack"):
                    a, b = _package(module), _package(target)
                    if a != b:
                        edges[(a, b)].append(str(path.relative_to(ROOT)))
    return edges


def test_every_package_has_a_layer() -> None:
    found = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in ROOT.glob("*.py")}
    for package in found - {"labextension"}:
        _rank(package)


def test_imports_point_downward_only() -> None:
    upward = [
        f"{a} -> {b} (in {', '.join(sorted(set(files)))})"
        for (a, b), files in import_edges().items()
        if _rank(b) > _rank(a) or (_rank(b) == _rank(a) and (a, b) not in SAME_LAYER_OK)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_two_packages_import_each_other() -> None:
    edges = import_edges()
    cycles = sorted({tuple(sorted(pair)) for pair in edges if (pair[1], pair[0]) in edges})
    assert not cycles, f"packages importing each other: {cycles}"


def test_store_never_imports_the_owner_side() -> None:
    assert not [f for (a, b), f in import_edges().items() if a == "store" and b == "service"]


def test_the_check_can_fail() -> None:
    """The edge finder sees a lazy upward import (so the tests above are not vacuous)."""
    edges = import_edges()
    assert ("service", "store") in edges and ("tracking", "store") in edges
    assert _rank("service") > _rank("store")
