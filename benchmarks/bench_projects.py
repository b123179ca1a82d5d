"""Projects benchmark: ``mltrack run`` against ``mlflow run`` on the same project, one run.

Run from the repository root::

    python benchmarks/bench_projects.py           # ~3-5 minutes on 2 shared cores
    python benchmarks/bench_projects.py --quick   # fewer rounds

The project (written to a temporary folder) is an MLflow-format project with a
``python_env.yaml`` whose one dependency is a local wheel (nothing is downloaded) and a
``train.py`` whose first line writes ``time.time()`` to a file; it does not track anything,
so each tool's cost is its own. Figures, each the median of interleaved rounds:

1. **time to first line, cold** (``--env-manager uv`` for both; each round starts from an
   empty environment cache: ``MLTRACK_ENV_CACHE_DIR`` / ``MLFLOW_ENV_ROOT``): from starting
   the command to the first line of user code.
2. **time to first line, warm** (the same, the environment already cached). Target of
   issue 15: ours at least 2x faster.
3. **overhead per run** (``--env-manager local``): the command's wall time minus the wall
   time of ``python train.py`` alone, measured in the same rounds.

Both tools write to a fresh store each (ours: DuckDB through its owner process; MLflow:
SQLite); one warm-up run of each is not counted (store creation, migrations, the owner's
start). Absolute figures from different runs are not comparable on a shared machine: read
the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

TRAIN = """\
import os, time
_t = time.time()
_p = os.environ.get("FIRST_LINE_FILE")
if _p:
    open(_p, "w").write(repr(_t))
if os.environ.get("VIRTUAL_ENV"):  # in the project's environment, its dependency is there
    import tinypkg
    assert tinypkg.VALUE == 42
"""


def make_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir(parents=True)
    wheel = project / "tinypkg-0.1-py3-none-any.whl"
    dist = "tinypkg-0.1.dist-info"
    files = {
        "tinypkg/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", "".join(f"{p},,\n" for p in files) + f"{dist}/RECORD,,\n")
    (project / "requirements.txt").write_text(f"{wheel}\n")
    version = ".".join(map(str, sys.version_info[:3]))
    (project / "python_env.yaml").write_text(
        f"python: '{version}'\nbuild_dependencies: [pip]\ndependencies: [-r requirements.txt]\n"
    )
    (project / "MLproject").write_text(
        "name: bench\npython_env: python_env.yaml\n"
        "entry_points:\n  main:\n    parameters: {alpha: {type: float, default: 0.5}}\n"
        "    command: python train.py --alpha {alpha}\n"
    )
    (project / "train.py").write_text(TRAIN)
    return project


class Tools:
    def __init__(self, root: Path, project: Path) -> None:
        self.root, self.project = root, project
        self.mltrack_store = root / "mltrack-store"
        self.mlflow_db = f"sqlite:///{root / 'mlflow.db'}"
        self.base_env = {
            **os.environ,
            "UV_PYTHON_DOWNLOADS": "never",
            "PYTHONWARNINGS": "ignore",
            "MLTRACK_TRACKING_URI": str(self.mltrack_store),
            "MLFLOW_TRACKING_URI": self.mlflow_db,
            "MLTRACK_STORE_MODE": "service",
        }
        self.base_env.pop("MLTRACK_RUN_ID", None)

    def argv(self, tool: str, manager: str) -> list[str]:
        if tool == "mltrack":
            return [sys.executable, "-m", "jupyter_mltrack.cli", "run", str(self.project),
                    "--env-manager", manager, "--experiment-name", "bench", "-q"]  # fmt: skip
        if tool == "mlflow":
            return [sys.executable, "-m", "mlflow", "run", str(self.project),
                    "--env-manager", manager, "--experiment-name", "bench"]  # fmt: skip
        return [sys.executable, "train.py", "--alpha", "0.5"]

    def once(self, tool: str, manager: str, cache: Path) -> tuple[float, float]:
        """(seconds to the first line of user code, seconds for the whole command)."""
        marker = self.root / f"first-{tool}.txt"
        marker.unlink(missing_ok=True)
        env = {
            **self.base_env,
            "FIRST_LINE_FILE": str(marker),
            "MLTRACK_ENV_CACHE_DIR": str(cache / "mltrack"),
            "MLFLOW_ENV_ROOT": str(cache / "mlflow"),
        }
        start = time.time()
        done = subprocess.run(
            self.argv(tool, manager),
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        total = time.time() - start
        if done.returncode != 0 or not marker.exists():
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-12:])
            raise SystemExit(f"{tool} run failed (exit code {done.returncode}):\n{tail}")
        return float(marker.read_text()) - start, total

    def stop_owner(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "jupyter_mltrack.cli", "service", "stop",
             "--tracking-uri", str(self.mltrack_store)],
            env=self.base_env, capture_output=True, timeout=60,
        )  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--tmp-dir", default=None, help="where to write the project and stores")
    args = parser.parse_args()
    cold_rounds, warm_rounds = (1, 3) if args.quick else (3, 7)

    root = Path(tempfile.mkdtemp(prefix="bench-projects-", dir=args.tmp_dir))
    tools = Tools(root, make_project(root))
    print(f"bench_projects: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, in {root}")
    try:
        warm_cache = root / "cache-warm"
        for tool in ("mltrack", "mlflow"):  # warm-up: stores, migrations, owner; env built
            tools.once(tool, "uv", warm_cache)
            tools.once(tool, "local", warm_cache)

        cold: dict[str, list[float]] = {"mltrack": [], "mlflow": []}
        for i in range(cold_rounds):
            for tool in ("mltrack", "mlflow"):
                cache = root / f"cache-cold-{tool}-{i}"
                cold[tool].append(tools.once(tool, "uv", cache)[0])
                shutil.rmtree(cache, ignore_errors=True)

        warm: dict[str, list[float]] = {"mltrack": [], "mlflow": []}
        total: dict[str, list[float]] = {"mltrack": [], "mlflow": [], "python": []}
        for _ in range(warm_rounds):
            for tool in ("mltrack", "mlflow"):
                warm[tool].append(tools.once(tool, "uv", warm_cache)[0])
            for tool in ("python", "mltrack", "mlflow"):
                total[tool].append(tools.once(tool, "local", warm_cache)[1])
    finally:
        tools.stop_owner()

    print()
    print(f"{'figure (median, s)':<40} {'mltrack':>9} {'mlflow':>9} {'mlflow/ours':>12}")
    rows = [
        (f"time to first line, cold env (n={cold_rounds})", cold),
        (f"time to first line, warm env (n={warm_rounds})", warm),
    ]
    for label, data in rows:
        ours, theirs = median(data["mltrack"]), median(data["mlflow"])
        print(f"{label:<40} {ours:>9.2f} {theirs:>9.2f} {theirs / ours:>11.1f}x")
    base = median(total["python"])
    ours_over = median(total["mltrack"]) - base
    theirs_over = median(total["mlflow"]) - base
    print(
        f"{f'overhead per run, local env (n={warm_rounds})':<40} {ours_over:>9.2f} "
        f"{theirs_over:>9.2f} {theirs_over / ours_over:>11.1f}x"
    )
    print(f"  (python train.py alone: {base:.2f} s wall; overhead = the command's wall - that)")
    ratio = median(warm["mlflow"]) / median(warm["mltrack"])
    verdict = "met" if ratio >= 2 else "NOT met"
    print(f"target: warm time to first line >= 2x faster than mlflow run: {ratio:.1f}x, {verdict}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
