"""Model registry benchmark: ``search_registered_models`` (and friends) over 10,000 versions,
jupyter-mltrack's DuckDB store against MLflow's SQLite store, in one run.

Run from the repository root::

    python benchmarks/bench_registry.py            # full: 1,000 models x 10 versions
    python benchmarks/bench_registry.py --quick    # 200 models x 5 versions
    python benchmarks/bench_registry.py --models 500 --versions 20 --repeat 30

Both registries get the same content through their own clients (``MlflowClient`` on
``sqlite:///``, ``TrackingClient`` on ``duckdb:///`` in direct mode and, with
``--service``, through the store service's API on a unix socket): registered models
``model-00000``... each with a ``team`` tag and a description, N versions each with a run
id, a tag and an alias on the last. Each query runs ``--repeat`` times after one warm-up;
the table shows the median and the ratio MLflow / ours (above 1: we are faster). The
target of issue 12 is 10x on ``search_registered_models``. This prints figures; it never
fails on a missed target.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

Query = tuple[str, Callable[[Any], Any]]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="200 models x 5 versions, 10 repeats")
    p.add_argument("--models", type=int, default=None, help="registered models (default 1000)")
    p.add_argument("--versions", type=int, default=None, help="versions per model (default 10)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs per query (default 20)")
    p.add_argument(
        "--service",
        action="store_true",
        help="also time jupyter-mltrack through the store service API (unix socket)",
    )
    p.add_argument("--tmp-dir", default=None, help="where the stores are created")
    return p.parse_args(argv)


def _fill(client: Any, models: int, versions: int, tag_version: Callable[..., Any]) -> float:
    """Create the registry content through ``client``; returns seconds per version."""
    started = time.perf_counter()
    for i in range(models):
        name = f"model-{i:05d}"
        client.create_registered_model(
            name, tags={"team": "ab"[i % 2], "index": str(i)}, description=f"model number {i}"
        )
        for j in range(versions):
            run_id = uuid.uuid4().hex
            mv = client.create_model_version(name, f"s3://bucket/{name}/{j}", run_id=run_id)
            if j == 0:
                tag_version(client, name, mv.version)
        client.set_registered_model_alias(name, "champion", str(versions))
    return (time.perf_counter() - started) / (models * versions)


def _queries(models: int) -> list[Query]:
    """The timed searches, identical for both clients (MLflow's argument names)."""
    target = f"model-{models // 2:05d}"

    def all_pages(c: Any) -> int:
        token, count = None, 0
        while True:
            page = c.search_registered_models(max_results=100, page_token=token)
            count += len(page)
            token = page.token
            if not token:
                return count

    return [
        ("search_registered_models() first page (100)", lambda c: c.search_registered_models()),
        (
            "search_registered_models name LIKE '%-0012%'",
            lambda c: c.search_registered_models("name LIKE '%-0012%'"),
        ),
        (
            "search_registered_models tags.team = 'a'",
            lambda c: c.search_registered_models("tags.team = 'a'"),
        ),
        ("search_registered_models, every page of 100", all_pages),
        (
            "search_model_versions name = one model",
            lambda c: c.search_model_versions(f"name = '{target}'"),
        ),
        (
            "get_registered_model",
            lambda c: c.get_registered_model(target),
        ),
        (
            "get_model_version_by_alias",
            lambda c: c.get_model_version_by_alias(target, "champion"),
        ),
    ]


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up (statement caches, first-page imports)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _mlflow_client(root: Path) -> Any:
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _mltrack_client(root: Path) -> Any:
    os.environ["MLTRACK_STORE_MODE"] = "direct"
    from jupyter_mltrack import TrackingClient

    return TrackingClient("duckdb://" + str(root / "mltrack" / "store.duckdb"))


def _served(client: Any, root: Path) -> tuple[Any, Callable[[], None]]:
    """A client of the same store through the store API on a unix socket."""
    from jupyter_mltrack.service.api import make_app
    from jupyter_mltrack.service.api_thread import ServerThread
    from jupyter_mltrack.store.remote import RemoteStore
    from jupyter_mltrack.tracking.core import TrackingCore

    sock = Path(tempfile.mkdtemp(prefix="mlt", dir="/tmp")) / "api.sock"
    server = ServerThread(make_app(client.store), sock).start()
    remote = RemoteStore(client.store.uri, server.endpoint, timeout=120)

    def stop() -> None:
        remote.close()
        server.stop()

    return TrackingCore(remote), stop


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    models = args.models or (200 if args.quick else 1000)
    versions = args.versions or (5 if args.quick else 10)
    repeat = args.repeat or (10 if args.quick else 20)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import duckdb
    import mlflow

    import jupyter_mltrack

    print(
        f"Registry benchmark: {models} registered models x {versions} versions = "
        f"{models * versions} versions; median of {repeat} runs per query\n"
        f"jupyter-mltrack {jupyter_mltrack.__version__} (duckdb {duckdb.__version__}) vs "
        f"mlflow {mlflow.__version__} (SQLite); Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="bench-registry-", dir=args.tmp_dir) as tmp:
        root = Path(tmp)
        theirs = _mlflow_client(root)
        ours = _mltrack_client(root)

        def tag_ours(c: Any, name: str, version: str) -> None:
            c.set_model_version_tag(name, version, "validated", "yes")

        fill_theirs = _fill(theirs, models, versions, tag_ours)
        fill_ours = _fill(ours, models, versions, tag_ours)
        print(
            f"create_model_version: mlflow {fill_theirs * 1e3:.2f} ms, jupyter-mltrack "
            f"{fill_ours * 1e3:.2f} ms per version (with the model, tag and alias calls), "
            f"ratio {fill_theirs / fill_ours:.1f}x\n"
        )
        clients: list[tuple[str, Any]] = [("ours (direct)", ours)]
        stop: Callable[[], None] | None = None
        if args.service:
            served, stop = _served(ours, root)
            clients.append(("ours (service)", served))
        try:
            header = f"{'query':<48} {'mlflow':>10}"
            for label, _ in clients:
                header += f" {label:>15} {'ratio':>7}"
            print(header)
            print("-" * len(header))
            for name, query in _queries(models):
                base = _time(lambda q=query: q(theirs), repeat)
                line = f"{name:<48} {base * 1e3:>8.2f}ms"
                for _, client in clients:
                    took = _time(lambda q=query, c=client: q(c), repeat)
                    line += f" {took * 1e3:>13.2f}ms {base / took:>6.1f}x"
                print(line, flush=True)
        finally:
            if stop is not None:
                stop()
            ours.close()
    print(
        "\nratio = MLflow's median / ours (above 1: jupyter-mltrack is faster). Figures from "
        "other runs or machines are not comparable; the ratios within one run are."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
