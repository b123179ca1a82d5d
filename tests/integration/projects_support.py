"""Builders for the project tests: small MLflow-format projects, git repositories, a wheel."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import nbformat

TRAIN_PY = """\
import argparse, os, sys, time
start = time.time()
marker = os.environ.get("FIRST_LINE_FILE")
if marker:
    open(marker, "w").write(repr(start))
import jupyter_mltrack as mt

p = argparse.ArgumentParser()
p.add_argument("--alpha", type=float, required=True)
p.add_argument("--epochs", type=int, required=True)
p.add_argument("--label", default="none")
args = p.parse_args()
with mt.start_run() as run:
    for epoch in range(args.epochs):
        mt.log_metric("loss", args.alpha / (epoch + 1), step=epoch)
    mt.log_metric("score", args.alpha * args.epochs)
    print(f"trained alpha={args.alpha} epochs={args.epochs} label={args.label}")
    print("a warning on stderr", file=sys.stderr)
"""

MLPROJECT = """\
name: demo
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      epochs: {type: int, default: 3}
      label: string
    command: "python train.py --alpha {alpha} --epochs {epochs} --label {label}"
  data:
    parameters:
      data_file: path
    command: "python -c 'import sys; print(open(sys.argv[1]).read())' {data_file}"
  fail:
    command: "python -c 'import sys; print(\\"going down\\"); sys.exit(3)'"
"""


def write_demo_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(MLPROJECT)
    (root / "train.py").write_text(TRAIN_PY)
    return root


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def init_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")


def make_wheel(directory: Path, name: str = "tinypkg", version: str = "0.1") -> Path:
    """A real pure-Python wheel (installs offline) whose module has ``VALUE = 42``."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", record)
    return wheel


def write_notebook(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    """A notebook of code cells ``(source, tags)``."""
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
