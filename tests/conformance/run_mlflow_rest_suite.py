"""Run MLflow's own REST integration tests against ``mltrack server`` (not a pytest module).

Usage::

    python tests/conformance/run_mlflow_rest_suite.py /path/to/mlflow-git-mirror \\
        [--ref v3.17.2] [--out DIR] [-- extra pytest args]

The MLflow test files are checked out at run time from the local git mirror given as the
first argument (``git archive <ref>``: ``tests/tracking/test_rest_tracking.py``,
``tests/tracking/test_mlflow_artifacts.py``, ``tests/tracking/test_model_registry.py`` and
the helpers they import) into a temporary
directory; nothing of MLflow's is kept in this repository. A small conftest written beside
them is the seam: MLflow's server launchers (``ServerThread`` and
``initialize_backend_stores`` in ``test_rest_tracking.py``, ``_launch_server`` in
``test_mlflow_artifacts.py``, ``_init_server`` in ``integration_test_utils.py``) start a
real ``mltrack server`` process on a fresh DuckDB store instead of MLflow's.

Tests are sorted before the run into *applicable* and *not applicable*: tracing, GenAI
(prompts, scorers, judges, gateway, secrets, evaluation datasets, ...), MLflow's deprecated
model stages and workspaces are other issues; white-box tests read MLflow's server internals
(``handlers``, ``SqlAlchemyStore``, ``mock``, Flask). The applicable ones run; the script
prints passed / failed / not applicable with the reason of each failure, and exits 0 (it is
a report, like the benchmarks). The failures are then run once more on MLflow's own server
(MLflow's launchers untouched, its SQLite store; ``--no-baseline`` to skip): those failing
there too are listed apart, since the mirror's tests may be older than the pinned client.
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

FILES = [
    "tests/__init__.py",
    "tests/helper_functions.py",
    "tests/integration/__init__.py",
    "tests/integration/utils.py",
    "tests/tracking/__init__.py",
    "tests/tracking/integration_test_utils.py",
    "tests/tracking/test_rest_tracking.py",
    "tests/tracking/test_mlflow_artifacts.py",
    "tests/tracking/test_model_registry.py",
]
#: The MLflow test modules run (all of them by default; ``--only NAME`` for one).
TEST_MODULES = ("test_rest_tracking.py", "test_mlflow_artifacts.py", "test_model_registry.py")
#: Test names that belong to features of other issues (tracing, GenAI, workspaces, ...);
#: the model registry is served (mlflow_rest/_registry.py), its tests run.
NOT_OURS = re.compile(
    r"trace|span|otel|genai|gateway|secret|prompt|scorer|judge|webhook|workspace|"
    r"stage|evaluat|assessment|dataset_record|evaluation_dataset|label|issue|"
    r"review|graphql|online|endpoint_|budget|jobs?_|insight|session|telemetry",
    re.IGNORECASE,
)
#: Names in a test's source that mean it inspects MLflow's own server (white-box).
WHITE_BOX = re.compile(
    r"\bhandlers\.|SqlAlchemyStore|mock\.patch|\bflask\b|_get_tracking_store|"
    r"mlflow_client_with_secrets|\bapp\.|sqlalchemy|subprocess\.|cli_env|fastapi"
)

#: Names in a test's source that mean a GenAI feature (evaluation datasets).
GENAI_BODY = re.compile(
    r"\bcreate_dataset\(|mlflow\.genai|genai\.datasets|\b(add|remove)_dataset_(to|from)_experiments\("
)
#: Routes of MLflow's web UI that are not in its REST API (service.proto): the Flask app
#: serves them to its own pages; mltrack serves its own UI (the JupyterLab extension).
UI_ROUTES = re.compile(
    r"/upload-artifact|/model-versions/get-artifact|"
    r"experiments/search-datasets|logged-models/[^\"]*/artifacts/files"
)
#: Calls of MLflow's deprecated model stages (issue 12: not needed; aliases replace them), in
#: tests whose names do not say so (``test_latest_models`` transitions versions to stages).
STAGES_BODY = re.compile(r"\btransition_model_version_stage\(|\bget_latest_versions\([^)]*stages=")
#: Tests that assert the artifact locations of a server started without the proxy
#: (``--default-artifact-root file://tmp`` and no ``--artifacts-destination``); mltrack
#: server always proxies, as ``mlflow server --artifacts-destination`` does (a run's
#: ``artifact_uri`` is ``mlflow-artifacts:/...``, never the ``file://`` these tests cut up).
UNPROXIED_ROOT = re.compile(
    r"artifact_location\.startswith\(path_to_local_file_uri|"
    r"artifact_uri\.startswith\(\"file://\"\)|artifact_uri\[len\(\"file://\"\)"
)

CONFTEST = '''
"""Written by jupyter-mltrack's runner: MLflow's server launchers start mltrack server."""
import contextlib, os, queue, re, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

import pytest

_LISTENING = re.compile(r"mltrack server listening on (http://\\S+) \\(pid (\\d+)\\)")


def _start(port, artifacts=None):
    """Start one mltrack server on a fresh store; returns (proc, url, tmpdir, log)."""
    tmp = tempfile.mkdtemp(prefix="mltrack-conf-")
    artifacts = artifacts or os.path.join(tmp, "artifacts")
    if str(artifacts).startswith("file://"):
        artifacts = artifacts[len("file://"):]
    cmd = [sys.executable, "-m", "jupyter_mltrack.cli", "server", "--host", "127.0.0.1",
           "--port", str(port), "--backend-store-uri", "duckdb://" + tmp + "/store.duckdb",
           "--artifacts-destination", str(artifacts)]
    log = open(os.path.join(tmp, "server.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    return proc, tmp, log


def _await_listening(proc, tmp):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = _LISTENING.search(line.decode(errors="replace"))
        if match:
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(Path(tmp, "server.log").read_text()[-2000:])


def _stop(proc, tmp, log):
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


class _Pool:
    """Servers started ahead (each on a fresh store) so a test does not wait for one.

    A test takes a ready server and a replacement starts at once; a used server is
    stopped in the background. ``MLTRACK_CONF_POOL`` servers are kept starting (default 2).
    """

    def __init__(self, size):
        self.size = size
        self.ready = queue.Queue()
        self.lock = threading.Lock()
        self.stopping = []
        self.started = False
        self.spawned = []  # every server started, so none outlives the session

    def _spawn(self):
        proc, tmp, log = _start(0)
        item = {"proc": proc, "tmp": tmp, "log": log, "url": None, "error": None}
        self.spawned.append(item)

        def wait():
            try:
                item["url"] = _await_listening(proc, tmp)
            except Exception as exc:  # reported to the test that takes it
                item["error"] = exc
            self.ready.put(item)

        threading.Thread(target=wait, daemon=True).start()

    def acquire(self):
        with self.lock:
            if not self.started:
                self.started = True
                for _ in range(self.size):
                    self._spawn()
        item = self.ready.get()
        self._spawn()
        if item["error"] is not None:
            raise item["error"]
        return item

    def release(self, item):
        item["released"] = True
        thread = threading.Thread(
            target=_stop, args=(item["proc"], item["tmp"], item["log"]), daemon=True
        )
        thread.start()
        self.stopping.append(thread)


_POOL = _Pool(int(os.environ.get("MLTRACK_CONF_POOL", "2")))


@contextlib.contextmanager
def mltrack_server(port=None, artifacts=None):
    """A server on a fresh store: from the pool, or started for ``port``/``artifacts``."""
    if port is None and artifacts is None:
        item = _POOL.acquire()
        try:
            yield item["proc"], item["url"]
        finally:
            _POOL.release(item)
        return
    proc, tmp, log = _start(port or 0, artifacts)
    try:
        yield proc, _await_listening(proc, tmp)
    finally:
        _stop(proc, tmp, log)


def pytest_sessionfinish(session, exitstatus):
    # the ones still starting too (not yet in ``ready``): they used to outlive the run
    for item in _POOL.spawned:
        if not item.get("released"):
            item["released"] = True
            _stop(item["proc"], item["tmp"], item["log"])
    for thread in _POOL.stopping:
        thread.join(60)


class OurServerThread:
    """Stands in for MLflow's ServerThread(app, port): a pooled server on a fresh store."""

    def __init__(self, app, port):
        self.port = port
        self._cm = None

    def __enter__(self):
        self._cm = mltrack_server()
        _, url = self._cm.__enter__()
        return url

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


@contextlib.contextmanager
def our_launch_server(host, port, backend_store_uri, default_artifact_root, artifacts_destination):
    with mltrack_server(port, artifacts_destination) as (proc, _url):
        yield proc


@contextlib.contextmanager
def our_init_server(backend_uri, root_artifact_uri, extra_env=None, app=None, server_type=None):
    with mltrack_server() as (_proc, url):
        yield url


@pytest.fixture
def db_uri(tmp_path):
    return f"sqlite:///{tmp_path}/unused.db"


def _patch(module):
    if hasattr(module, "ServerThread"):
        module.ServerThread = OurServerThread
    if hasattr(module, "initialize_backend_stores"):
        module.initialize_backend_stores = lambda *a, **k: None
    if hasattr(module, "_launch_server"):
        module._launch_server = our_launch_server
    if hasattr(module, "_init_server"):
        module._init_server = our_init_server


def pytest_collection_modifyitems(session, config, items):
    """Patch MLflow's launchers in every collected module before any fixture runs (the
    module-scoped ``artifacts_server`` starts before function-scoped fixtures could)."""
    import tests.tracking.integration_test_utils as utils

    _patch(utils)
    for module in {item.module for item in items if getattr(item, "module", None)}:
        _patch(module)
'''


def checkout(mirror: Path, ref: str, dest: Path) -> str:
    """Extract the test files of ``ref`` into ``dest``; returns the MLflow version there."""
    archive = subprocess.run(
        ["git", "-C", str(mirror), "archive", "--format=tar", ref, *FILES, "mlflow/version.py"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    (dest / "conftest.py").write_text(CONFTEST)
    (dest / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    text = (dest / "mlflow" / "version.py").read_text()
    (dest / "mlflow" / "version.py").unlink()
    (dest / "mlflow").rmdir()
    match = re.search(r"VERSION = ['\"]([^'\"]+)", text)
    return match.group(1) if match else "unknown"


#: The baseline's conftest: MLflow's launchers stay MLflow's; only the ``db_uri`` fixture
#: of MLflow's top-level conftest (not checked out) is given, as MLflow defines it.
BASELINE_CONFTEST = '''
"""Written by jupyter-mltrack's runner: MLflow's own server, for the baseline."""
import shutil, tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cached_db(tmp_path_factory):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = tmp_path_factory.mktemp("sqlite_db")
    SqlAlchemyStore(f"sqlite:///{tmp / 'mlflow.db'}", (tmp / "artifacts").as_uri()).engine.dispose()
    return tmp / "mlflow.db"


@pytest.fixture
def db_uri(cached_db):
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        shutil.copy2(cached_db, Path(tmp) / "mlflow.db")
        yield f"sqlite:///{Path(tmp) / 'mlflow.db'}"
'''


def run_pytest(dest: Path, targets: list[str], extra: list[str]) -> dict[str, tuple[str, str]]:
    """Run pytest in ``dest``; ``node id -> (outcome, reason)`` from its JUnit report."""
    junit = dest / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-rN", "--timeout=300"]
    cmd += [f"--junitxml={junit}", "-W", "ignore", *extra]
    env = {**os.environ, "PYTHONPATH": str(dest), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    subprocess.run(cmd, cwd=dest, env=env, check=False)
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name', '')}"
        outcome, reason = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, reason = "failed", (child.get("message") or "")[:300]
            elif child.tag == "skipped":
                outcome, reason = "skipped", (child.get("message") or "")[:200]
        results[node] = (outcome, reason)
    return results


def baseline(dest: Path, nodes: list[str]) -> set[str]:
    """The ``nodes`` that fail on MLflow's own server too (its launchers, its SQLite store)."""
    own = dest / "mlflow-own"
    shutil.rmtree(own, ignore_errors=True)
    shutil.copytree(dest / "tests", own / "tests")
    (own / "conftest.py").write_text(BASELINE_CONFTEST)
    (own / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    results = run_pytest(own, nodes, [])
    return {node for node, (outcome, _) in results.items() if outcome == "failed"}


def classify(path: Path) -> dict[str, str]:
    """``test name -> reason`` for the tests that do not apply."""
    tree = ast.parse(path.read_text())
    source = path.read_text().splitlines()
    out: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not node.name.startswith("test_"):
            continue
        body = "\n".join(source[node.lineno - 1 : node.end_lineno])
        if NOT_OURS.search(node.name):
            out[node.name] = "another feature (tracing/GenAI/registry/workspaces)"
        elif WHITE_BOX.search(body):
            out[node.name] = "white-box (MLflow's server internals)"
        elif GENAI_BODY.search(body):
            out[node.name] = "another feature (GenAI evaluation datasets)"
        elif UI_ROUTES.search(body):
            out[node.name] = "MLflow UI's own routes (not in service.proto)"
        elif UNPROXIED_ROOT.search(body):
            out[node.name] = "a server without the artifact proxy (local artifact root)"
        elif STAGES_BODY.search(body):
            out[node.name] = "MLflow's deprecated model stages (not served, issue 12)"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", type=Path, help="a local git mirror of mlflow/mlflow")
    parser.add_argument("--ref", default="HEAD", help="tag or branch (default HEAD)")
    parser.add_argument("--out", type=Path, default=None, help="keep the checkout here")
    parser.add_argument(
        "--only", action="append", default=[], help=f"one of {', '.join(TEST_MODULES)}"
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="do not re-run the failures on MLflow's own server (its launchers, SQLite)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args, extra = parser.parse_known_args()  # pytest's own options after --
    # argparse keeps the "--" itself among the leftovers; pytest would read what follows as paths
    args.pytest_args = [a for a in (*args.pytest_args, *extra) if a != "--"]
    dest = args.out or Path(tempfile.mkdtemp(prefix="mlflow-rest-suite-"))
    dest.mkdir(parents=True, exist_ok=True)
    version = checkout(args.mirror, args.ref, dest)
    import mlflow

    print(
        f"MLflow tests from {args.mirror} at {args.ref} (version {version}); "
        f"client {mlflow.__version__}"
    )
    skipped: dict[str, str] = {}
    modules = [m for m in TEST_MODULES if not args.only or m in args.only]
    for name in modules:
        skipped.update(classify(dest / "tests" / "tracking" / name))
    deselect = " or ".join(sorted(skipped))
    results = run_pytest(
        dest,
        [f"tests/tracking/{m}" for m in modules],
        [*(["-k", f"not ({deselect})"] if deselect else []), *args.pytest_args],
    )
    counts = collections.Counter(o for o, _ in results.values())
    failed = sorted(node for node, (outcome, _) in results.items() if outcome == "failed")
    also = baseline(dest, failed) if failed and args.baseline else set()
    for title, group in (
        ("failed", [n for n in failed if n not in also]),
        (f"failed, and on MLflow {mlflow.__version__}'s own server too", sorted(also)),
    ):
        if group:
            print(f"\n{title}:")
        for node in group:
            print(f"  {node.rpartition('::')[2]}: {results[node][1]}")
    reasons = collections.Counter(skipped.values())
    print("\nnot applicable:", ", ".join(f"{n} {r}" for r, n in reasons.items()))
    print(
        f"\n{counts['passed']} passed, {counts['failed']} failed"
        + (f" ({len(also)} of them fail on MLflow's own server too)" if args.baseline else "")
        + f", {counts['skipped']} skipped by MLflow's own marks, {len(skipped)} not applicable "
        f"(checkout in {dest})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
