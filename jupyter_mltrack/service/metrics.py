"""Prometheus metrics of a store owner and of the HTTP routes that serve it.

Everything is in ``prometheus_client``'s default registry, which is what jupyter_server's
own ``/metrics`` serves; ``mltrack server --expose-metrics`` serves the same registry at
its ``/metrics``. So one definition covers the team server and the JupyterLab server
extension (docs/server.md lists the names and a scrape config).

- request metrics, recorded by :func:`observe_request` from an application's
  ``log_function`` (one call per finished request): ``mltrack_http_requests_total``,
  ``mltrack_http_request_duration_seconds``, ``mltrack_http_request_errors_total``, each
  labelled by ``route`` (the URL pattern, never the raw path: the label set stays
  bounded), ``method`` and, for counts and errors, ``status``;
- owner metrics, read at scrape time from every registered :class:`MetricsSource`
  (:func:`register_source`): ingested points and batches, duplicate (replayed) batches,
  recovered spool files, live runs, store size on disk; labelled by ``store``;
- ``mltrack_spool_replayed_batches_total``: batches clients resent from their spool
  (header ``X-Mltrack-Replay``), counted by :func:`observe_request`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import tornado.web
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..store.remote.server_store import REPLAY_HEADER

__all__ = [
    "REPLAY_HEADER",
    "MetricsSource",
    "RouteLabels",
    "SourceStats",
    "instrument_application",
    "observe_request",
    "owner_source",
    "register_source",
    "unregister_source",
]


# Latency buckets for an API whose typical answer takes a few milliseconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "mltrack_http_requests",
    "HTTP requests answered by the mltrack API, by route pattern, method and status.",
    ["route", "method", "status"],
)
ERRORS = Counter(
    "mltrack_http_request_errors",
    "HTTP requests answered with a 4xx or 5xx status, by route pattern, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "mltrack_http_request_duration_seconds",
    "Time from receiving a request to finishing its answer, by route pattern and method.",
    ["route", "method"],
    buckets=_BUCKETS,
)
REPLAYS = Counter(
    "mltrack_spool_replayed_batches",
    "Metric batch requests that clients resent from their on-disk spool.",
)


@dataclass(frozen=True, slots=True)
class SourceStats:
    """What a store owner reports at scrape time."""

    store: str
    ingested_points: int
    ingested_batches: int
    duplicate_batches: int
    spool_files_recovered: int
    live_runs: int
    store_size_bytes: int


#: Returns the current stats of one store owner (called at scrape time, any thread).
MetricsSource = Callable[[], SourceStats]


class _OwnerCollector(Collector):
    """One collector for every registered source (a registry refuses duplicate names)."""

    def __init__(self) -> None:
        self._sources: dict[int, MetricsSource] = {}
        self._lock = threading.Lock()

    def add(self, source: MetricsSource) -> None:
        with self._lock:
            self._sources[id(source)] = source

    def remove(self, source: MetricsSource) -> None:
        with self._lock:
            self._sources.pop(id(source), None)

    def describe(self) -> Iterable[Metric]:
        return list(_families([]))

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            sources = list(self._sources.values())
        stats = []
        for source in sources:
            try:
                stats.append(source())
            except Exception:  # a closing store must not break the scrape of the others
                continue
        return list(_families(stats))


def _families(stats: list[SourceStats]) -> Iterator[Metric]:
    counters: list[tuple[str, str, str]] = [
        (
            "mltrack_ingested_points",
            "Metric points committed by the store owner.",
            "ingested_points",
        ),
        (
            "mltrack_ingested_batches",
            "Metric batches committed (duplicates included).",
            "ingested_batches",
        ),
        (
            "mltrack_ingest_duplicate_batches",
            "Batches acknowledged without inserting: a retry or replay of a committed batch.",
            "duplicate_batches",
        ),
        (
            "mltrack_spool_files_recovered",
            "Spool files of other processes ingested by the owner (crashed clients).",
            "spool_files_recovered",
        ),
    ]
    for name, doc, attr in counters:
        family = CounterMetricFamily(name, doc, labels=["store"])
        for s in stats:
            family.add_metric([s.store], getattr(s, attr))
        yield family
    gauges = [
        ("mltrack_live_runs", "RUNNING runs with a live heartbeat.", "live_runs"),
        ("mltrack_store_size_bytes", "Size of the store's files on disk.", "store_size_bytes"),
    ]
    for name, doc, attr in gauges:
        gauge = GaugeMetricFamily(name, doc, labels=["store"])
        for s in stats:
            gauge.add_metric([s.store], getattr(s, attr))
        yield gauge


_collector: _OwnerCollector | None = None
_collector_lock = threading.Lock()


def register_source(source: MetricsSource) -> None:
    """Report ``source()`` on every scrape of the default registry (until unregistered)."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = _OwnerCollector()
            REGISTRY.register(_collector)
        _collector.add(source)


def unregister_source(source: MetricsSource) -> None:
    with _collector_lock:
        if _collector is not None:
            _collector.remove(source)


class RouteLabels:
    """Maps a handler to the ``route`` label: the URL pattern it was mounted with.

    Built from the route specs of an application; handlers of unknown classes (tornado's
    own 404 handler) are labelled ``"unmatched"``.
    """

    def __init__(self, routes: Iterable[tuple[Any, ...]] = ()) -> None:
        self._by_class: dict[type, str] = {}
        self.add(routes)

    def add(self, routes: Iterable[tuple[Any, ...]]) -> None:
        for spec in routes:
            pattern, cls = spec[0], spec[1]
            if isinstance(pattern, str) and isinstance(cls, type):
                self._by_class.setdefault(cls, pattern)

    def __contains__(self, handler: object) -> bool:
        return type(handler) in self._by_class

    def __call__(self, handler: tornado.web.RequestHandler) -> str:
        return self._by_class.get(type(handler), "unmatched")

    @property
    def patterns(self) -> Mapping[type, str]:
        return dict(self._by_class)


def observe_request(handler: tornado.web.RequestHandler, labels: RouteLabels) -> None:
    """Record one finished request (call from the application's ``log_function``)."""
    route = labels(handler)
    method = handler.request.method or "?"
    status = handler.get_status()
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(handler.request.request_time())
    if status >= 400:
        ERRORS.labels(route, method, str(status)).inc()
    elif handler.request.headers.get(REPLAY_HEADER):
        REPLAYS.inc()


def owner_source(owner: Any) -> MetricsSource:
    """The :data:`MetricsSource` of a :class:`~.process.StoreOwner` (its ingest counters,
    live runs and the size of its DuckDB file and write-ahead log)."""
    paths = owner.paths

    def stats() -> SourceStats:
        ingest = owner.ingestor.stats
        size = 0
        for path in (paths.store, paths.store.with_name(paths.store.name + ".wal")):
            with contextlib.suppress(OSError):
                size += path.stat().st_size
        return SourceStats(
            store=str(paths.store),
            ingested_points=ingest.rows,
            ingested_batches=ingest.batches,
            duplicate_batches=ingest.duplicates,
            spool_files_recovered=ingest.spool_files,
            live_runs=int(owner.reaper.live_runs),
            store_size_bytes=size,
        )

    return stats


def instrument_application(app: tornado.web.Application, routes: Iterable[tuple[Any, ...]]) -> None:
    """Record the requests of ``routes`` in the request metrics of an existing application
    (jupyter_server's): its ``log_function`` is wrapped, other handlers are left alone."""
    labels = RouteLabels(routes)
    previous = app.settings.get("log_function")

    def log_function(handler: tornado.web.RequestHandler) -> None:
        if handler in labels:
            observe_request(handler, labels)
        if previous is not None:
            previous(handler)
        else:
            app.log_request(handler)

    app.settings["log_function"] = log_function
