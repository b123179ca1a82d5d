"""The fluent API: MLflow's module-level functions over an active-run stack.

``import jupyter_mltrack as mt`` re-exports these. As in MLflow, each thread has
its own stack of active runs (and its own last ended run): a training thread
and the notebook's main thread each log to the run they started, and ending a
run in one thread never ends another thread's run. At interpreter exit the main
thread's runs end FINISHED.

Each active run remembers the client (store) it was started on, so
``mt.log_metric`` stays about a microsecond: look up this thread's active run,
validate (cached), append to the buffer.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import threading
from collections.abc import Sequence
from time import time_ns as _time_ns
from types import TracebackType
from typing import Any

from ..config import get_tracking_uri
from ..entities import Dataset, Experiment, Metric, Param, Run, RunStatus, RunTag
from ..errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    MltrackError,
)
from .capture import capture_run_context
from .client import TrackingClient, now_ms
from .validation import (
    _valid_keys,
    validate_key,
    validate_metric_value,
    validate_step,
    validate_timestamp,
)

__all__ = [
    "ActiveRun",
    "active_run",
    "active_run_stack",
    "end_run",
    "flush",
    "get_client",
    "last_active_run",
    "log_metric",
    "log_metrics",
    "start_run",
]

ENV_EXPERIMENT_NAME = "MLTRACK_EXPERIMENT_NAME"
ENV_EXPERIMENT_ID = "MLTRACK_EXPERIMENT_ID"
#: Set by ``mltrack run`` for its command: the first ``start_run()`` (without a run id, not
#: nested) resumes that run instead of creating one, and the variable is removed.
ENV_RUN_ID = "MLTRACK_RUN_ID"

_clients: dict[str, TrackingClient] = {}
_clients_lock = threading.Lock()
_active_experiment: dict[str, str] = {}  # tracking uri -> experiment id


def get_client() -> TrackingClient:
    """The shared client of the current tracking URI (one per store per process)."""
    uri = get_tracking_uri()
    client = _clients.get(uri)
    if client is None:
        with _clients_lock:
            client = _clients.get(uri)
            if client is None:
                client = TrackingClient(uri)
                _clients[uri] = client
    return client


class _ThreadRuns(threading.local):
    """This thread's active-run stack, its innermost run and the run it ended last.

    ``threading.local`` calls ``__init__`` once in each thread that touches it. ``top``
    duplicates ``stack[-1]`` for ``log_metric``: one thread-local read instead of a read
    and an index (~45 instead of ~105 ns over the former module-level list, measured).
    """

    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.top: ActiveRun | None = None
        #: (client, run id) of the run this thread ended last; read again on each call
        self.last: tuple[TrackingClient, str] | None = None

    def push(self, active: ActiveRun) -> None:
        self.stack.append(active)
        self.top = active

    def pop(self) -> ActiveRun:
        active = self.stack.pop()
        self.top = self.stack[-1] if self.stack else None
        return active


_runs = _ThreadRuns()


class ActiveRun(Run):
    """The run returned by :func:`start_run`; a context manager that ends it.

    As MLflow's ``ActiveRun`` it is the :class:`~jupyter_mltrack.entities.Run` as it was
    when it started (``.info``, ``.data``, ``.inputs``, ``.outputs``, and ``._info`` that
    MLflow's examples read); fetch the current state with ``mt.get_run(run.info.run_id)``.
    On a normal exit the run ends FINISHED, on an exception FAILED, on
    ``KeyboardInterrupt`` KILLED.
    """

    __slots__ = ("client", "extend", "flat", "max_items", "monitor", "run_id")
    # A handle, compared and hashed by identity (the dataclass would compare snapshots).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    client: TrackingClient
    run_id: str
    monitor: Any
    flat: list[Any]
    extend: Any
    max_items: int

    def __init__(self, run: Run, client: TrackingClient) -> None:
        super().__init__(run.info, run.data, run.inputs, run.outputs)
        self.client = client
        self.run_id = run.info.run_id
        self.monitor = None
        # cached for the log_metric hot path
        self.flat = client.buffer.flat
        self.extend = self.flat.extend
        self.max_items = client.buffer.max_items

    def __setattr__(self, name: str, value: Any) -> None:
        # The run snapshot stays frozen; the handle's own slots are set here because the
        # slotted dataclass' __setattr__ fails for subclasses (its super() call).
        if name not in ActiveRun.__slots__:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id} name={self.info.run_name!r}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """The run as it is now (this handle is a snapshot of its start), displayed richly."""
        try:
            run = self.client.get_run(self.run_id)
        except MltrackError:  # the store is gone: show the snapshot rather than fail
            run = Run(self.info, self.data, self.inputs, self.outputs)
        return run._repr_mimebundle_(include, exclude)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if any(r is self for r in _runs.stack):
            end_run(status)


# ------------------------------------------------------------------ experiments
def _resolve_experiment_id(client: TrackingClient, experiment_id: str | None) -> str:
    if experiment_id is not None:
        return str(experiment_id)
    active = _active_experiment.get(client.tracking_uri)
    if active is not None:
        return active
    if os.environ.get(ENV_EXPERIMENT_ID):
        return os.environ[ENV_EXPERIMENT_ID]
    name = os.environ.get(ENV_EXPERIMENT_NAME)
    if name:
        return set_experiment(name).experiment_id
    return "0"


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active for new runs, creating it by name when missing."""
    client = get_client()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameter(
            "set_experiment needs exactly one of experiment_name or experiment_id."
        )
    if experiment_id is not None:
        exp = client.get_experiment(experiment_id)
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            try:
                exp = client.get_experiment(client.create_experiment(experiment_name))
            except AlreadyExists:  # another process created it since our look-up
                exp = client.get_experiment_by_name(experiment_name) or _raise_missing(
                    experiment_name
                )
        else:
            exp = found
    if exp.lifecycle_stage != "active":
        raise InvalidState(
            f"Experiment {exp.name!r} (id {exp.experiment_id}) is deleted; restore it with "
            f"mt.restore_experiment('{exp.experiment_id}') or choose another name."
        )
    _active_experiment[client.tracking_uri] = exp.experiment_id
    return exp


def _raise_missing(name: str) -> Experiment:
    raise ExperimentNotFound(f"Experiment {name!r} disappeared while it was being set.")


def get_experiment_by_name(name: str) -> Experiment | None:
    return get_client().get_experiment_by_name(name)


def get_experiment(experiment_id: str) -> Experiment:
    return get_client().get_experiment(experiment_id)


# ------------------------------------------------------------------------- runs
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start (or resume, with ``run_id``) a run and make it active.

    Use as a context manager: ``with mt.start_run(run_name="lr-0.1"): ...``.
    ``nested=True`` makes the run a child of the active run. Under ``mltrack run``
    (``MLTRACK_RUN_ID`` set), the first such call resumes the project's run.
    """
    client = get_client()
    stack = _runs.stack
    if stack and not nested:
        raise InvalidState(
            f"Run {stack[-1].run_id} is already active in this thread. End it with "
            "mt.end_run(), or pass nested=True to start a child run."
        )
    want_system_metrics = log_system_metrics or (
        log_system_metrics is None and os.environ.get("MLTRACK_ENABLE_SYSTEM_METRICS") == "true"
    )
    interval_s = _system_metrics_interval() if want_system_metrics else None
    if run_id is None and not nested and not stack:
        # a project run (mltrack run) passes its run: the first start_run attaches to it
        run_id = os.environ.pop(ENV_RUN_ID, None) or None
        if run_id is not None and tags:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    if run_id is not None:
        run = client.resume_run(run_id)
    else:
        parent = parent_run_id or (stack[-1].run_id if nested and stack else None)
        exp_id = _resolve_experiment_id(client, experiment_id)
        context = capture_run_context()
        all_tags: dict[str, Any] = {**context.tags, **(tags or {})}
        if description is not None:
            all_tags["mlflow.note.content"] = description
        run = client.create_run(exp_id, tags=all_tags, run_name=run_name, parent_run_id=parent)
        _log_context_artifacts(client, run, context.artifacts)
    active = ActiveRun(run, client)
    _runs.push(active)
    if interval_s is not None:
        _start_system_metrics(active, interval_s)
    return active


def _log_context_artifacts(client: TrackingClient, run: Run, artifacts: dict[str, str]) -> None:
    """Write the captured environment files into the new run's artifacts (one repository)."""
    if not artifacts:
        return
    from .artifact_writers import text_bytes

    repo = client._repo_for(run.info.artifact_uri)
    for name, text in artifacts.items():
        repo.write_bytes(name, text_bytes(text))


def _system_metrics_interval() -> float:
    interval = os.environ.get("MLTRACK_SYSTEM_METRICS_INTERVAL_S", "10")
    try:
        seconds = float(interval)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:  # also rejects NaN
        raise InvalidParameter(
            f"MLTRACK_SYSTEM_METRICS_INTERVAL_S must be a positive number of seconds, got "
            f"{interval!r}."
        )
    return seconds


def _start_system_metrics(active: ActiveRun, interval_s: float) -> None:
    from .system_metrics import SystemMetricsMonitor

    client, run_id = active.client, active.run_id

    def sink(values: dict[str, float], step: int) -> None:
        ts = now_ms()
        for k, v in values.items():
            client.append_metric_row((run_id, k, float(v), ts, step))

    active.monitor = SystemMetricsMonitor(sink, interval_s=interval_s)
    active.monitor.start()


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End this thread's innermost active run (flushing its metrics); no-op without one."""
    stack = _runs.stack
    if not stack:
        return
    active = stack[-1]
    if active.monitor is not None:
        active.monitor.stop()
    active.client.set_terminated(active.run_id, status)
    _runs.pop()
    _runs.last = (active.client, active.run_id)


def active_run() -> ActiveRun | None:
    """This thread's innermost active run, or ``None``."""
    return _runs.top


def active_run_stack() -> tuple[ActiveRun, ...]:
    """This thread's active runs, outermost first (``active_run()`` is the last one)."""
    return tuple(_runs.stack)


def last_active_run() -> Run | None:
    """This thread's active run, else the run this thread ended most recently, read from the
    store now (what was logged to it after it ended, by autolog or a client, is there)."""
    stack = _runs.stack
    if stack:
        return stack[-1].client.get_run(stack[-1].run_id)
    if _runs.last is None:
        return None
    client, run_id = _runs.last
    return client.get_run(run_id)


def _active() -> ActiveRun:
    top = _runs.top
    return top if top is not None else start_run()


# ---------------------------------------------------------------------- logging
def log_metric(
    key: str,
    value: Any,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Dataset | None = None,
) -> None:
    """Log one metric point to the active run (started if none); returns at once.

    The signature is MLflow 3's. ``dataset`` (from ``mt.data``) ties the point to the data
    it was computed on, ``model_id`` to a logged model: the ``Metric`` entities of
    ``get_metric_history`` carry ``dataset_name``, ``dataset_digest`` and ``model_id``, and
    the dataset becomes a run input if the run has none with its name and digest. Such
    points are written before the call returns; ``synchronous`` is accepted for MLflow
    compatibility (plain points are always buffered).
    """
    if run_id is not None or dataset is not None or model_id is not None:
        _log_linked({key: value}, step, timestamp, run_id, model_id, dataset)
        return
    active = _runs.top
    if active is None:
        active = _active()
    if key not in _valid_keys:
        validate_key(key, "metric")
    if type(value) is not float:
        value = validate_metric_value(key, value)
    if step is None:
        step = 0
    elif type(step) is not int:
        step = validate_step(step)
    extend = active.extend
    extend(
        (
            active.run_id,
            key,
            value,
            _time_ns() // 1_000_000 if timestamp is None else validate_timestamp(timestamp),
            step,
        )
    )
    if len(active.flat) >= active.max_items:
        active.client.buffer.wait_for_room()


def log_metrics(
    metrics: dict[str, Any],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Dataset | None = None,
) -> None:
    """Log several metrics at one step (one timestamp); returns at once.

    The signature is MLflow 3's; ``dataset`` and ``model_id`` as in :func:`log_metric`.
    """
    if not isinstance(metrics, dict):
        raise InvalidParameter(f"log_metrics needs a dict of key to number, got {metrics!r}.")
    if run_id is not None or dataset is not None or model_id is not None:
        _log_linked(metrics, step, timestamp, run_id, model_id, dataset)
        return
    active = _runs.top
    if active is None:
        active = _active()
    ts = _time_ns() // 1_000_000 if timestamp is None else validate_timestamp(timestamp)
    st = 0 if step is None else (step if type(step) is int else validate_step(step))
    run, extend = active.run_id, active.extend
    for key, value in metrics.items():
        if key not in _valid_keys:
            validate_key(key, "metric")
        if type(value) is not float:
            value = validate_metric_value(key, value)
        extend((run, key, value, ts, st))
    if len(active.flat) >= active.max_items:
        active.client.buffer.wait_for_room()


#: (tracking uri, run id, dataset name, digest) of run inputs known to exist, so a metric
#: logged with ``dataset=`` each epoch reads the run's inputs once.
_known_inputs: set[tuple[str, str, str, str]] = set()


def _log_linked(
    metrics: dict[str, Any],
    step: int | None,
    timestamp: int | None,
    run_id: str | None,
    model_id: str | None,
    dataset: Dataset | None,
) -> None:
    """Points of an explicit run, or tied to a dataset or model (not the hot path).

    Plain points of an explicit run are buffered; linked points go through the client's
    ``log_batch`` (validated, written at once), after the dataset is made a run input as
    MLflow does (no input tags).
    """
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidParameter(
            f"dataset= must be a dataset from mt.data.from_pandas/from_numpy, got "
            f"{type(dataset).__name__}."
        )
    client = get_client() if run_id is not None else get_client_for_active()
    rid = run_id if run_id is not None else _active().run_id
    ts = now_ms() if timestamp is None else timestamp
    st = 0 if step is None else step
    if dataset is None and model_id is None:
        for key, value in metrics.items():
            client.log_metric(rid, key, value, ts, st)
        return
    name = dataset.name if dataset is not None else None
    digest = dataset.digest if dataset is not None else None
    points = [Metric(k, v, ts, st, model_id, name, digest) for k, v in metrics.items()]
    if dataset is not None:
        _ensure_input(client, rid, dataset)
    client.log_batch(rid, metrics=points)


def _ensure_input(client: TrackingClient, run_id: str, dataset: Dataset) -> None:
    known = (client.tracking_uri, run_id, dataset.name, dataset.digest)
    if known in _known_inputs:
        return
    inputs = client.get_run(run_id).inputs.dataset_inputs
    if not any((i.dataset.name, i.dataset.digest) == known[2:] for i in inputs):
        client.log_inputs(run_id, [(dataset._to_mlflow_entity(), {})])
    _known_inputs.add(known)


def _run_id(run_id: str | None) -> str:
    return run_id if run_id is not None else _active().run_id


def log_param(key: str, value: Any) -> Any:
    """Log an immutable param to the active run; returns ``value``."""
    return get_client_for_active().log_param(_run_id(None), key, value)


def log_params(params: dict[str, Any]) -> None:
    if not isinstance(params, dict):
        raise InvalidParameter(f"log_params needs a dict, got {params!r}.")
    get_client_for_active().log_batch(
        _run_id(None), params=[Param(k, v) for k, v in params.items()]
    )


def set_tag(key: str, value: Any) -> None:
    get_client_for_active().set_tag(_run_id(None), key, value)


def set_tags(tags: dict[str, Any]) -> None:
    if not isinstance(tags, dict):
        raise InvalidParameter(f"set_tags needs a dict, got {tags!r}.")
    get_client_for_active().log_batch(_run_id(None), tags=[RunTag(k, v) for k, v in tags.items()])


def delete_tag(key: str) -> None:
    get_client_for_active().delete_tag(_run_id(None), key)


def get_client_for_active() -> TrackingClient:
    top = _runs.top
    return top.client if top is not None else get_client()


def flush() -> None:
    """Commit every buffered metric point of every store this process logs to."""
    for client in list(_clients.values()):
        client.flush()


def log_batch(
    metrics: Sequence[Metric] = (), params: Sequence[Param] = (), tags: Sequence[RunTag] = ()
) -> None:
    get_client_for_active().log_batch(_run_id(None), metrics, params, tags)


@atexit.register
def _at_exit() -> None:
    # atexit handlers run in the main thread, so this ends the main thread's runs; runs
    # that other threads left active stay RUNNING, as in MLflow.
    stack = _runs.stack
    while stack:
        try:
            end_run(RunStatus.FINISHED)
        except Exception:  # the store may be gone at interpreter exit
            _runs.pop()
    for client in list(_clients.values()):
        # commits what is buffered; what the store does not take goes to the spool, with a
        # warning that names where (the next process that opens the store ingests it)
        with contextlib.suppress(Exception):
            client.close()
