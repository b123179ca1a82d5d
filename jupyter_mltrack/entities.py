"""Frozen value objects returned by the client: experiments, runs, metrics, params, tags.

Field names follow MLflow's entities so code written against ``mlflow.entities``
reads the same. Times are ``*_ms`` (UTC epoch milliseconds) in storage; the
MLflow-style aliases (``start_time``, ``timestamp``) are properties.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .errors import InvalidParameter

__all__ = [
    "Dataset",
    "DatasetInput",
    "Experiment",
    "FileInfo",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "MetricHistory",
    "ModelVersion",
    "Param",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
]


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"
    ALL = ("active", "deleted")


class RunStatus:
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
    TERMINAL = ("FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time_ms: int | None = None
    last_update_time_ms: int | None = None

    @property
    def creation_time(self) -> int | None:
        return self.creation_time_ms

    @property
    def last_update_time(self) -> int | None:
        return self.last_update_time_ms

    def __repr__(self) -> str:
        from .display import experiment_repr

        return experiment_repr(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter's rich display: name, lifecycle badge, id, creation time, tags."""
        from .display import experiment_bundle

        return experiment_bundle(self)


@dataclass(frozen=True, slots=True, init=False)
class Metric:
    """One metric point: ``Metric(key, value, timestamp, step)`` as in MLflow.

    The time is stored as ``timestamp_ms``; ``timestamp`` is MLflow's name for it, accepted
    as a keyword too (``Metric(key="loss", value=0.5, timestamp=t, step=3)``). As MLflow 3's
    ``Metric``, a point may name the logged model (``model_id``) and the dataset
    (``dataset_name`` and ``dataset_digest``, both or neither) it was computed on;
    ``run_id`` is set where the run is not implied (it is ``None`` in histories).
    """

    key: str
    value: float
    timestamp_ms: int
    step: int
    model_id: str | None
    dataset_name: str | None
    dataset_digest: str | None
    run_id: str | None

    def __init__(
        self,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        run_id: str | None = None,
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        if (timestamp is None) == (timestamp_ms is None):
            raise TypeError(
                "Metric() needs exactly one of timestamp (MLflow's name) or timestamp_ms, "
                "in integer milliseconds since the epoch."
            )
        if step is None:
            raise TypeError("Metric() missing required argument: 'step'")
        if (dataset_name is None) != (dataset_digest is None):
            raise InvalidParameter(
                f"Metric {key!r} has a dataset_name ({dataset_name!r}) or a dataset_digest "
                f"({dataset_digest!r}) without the other; give both (e.g. dataset.name and "
                "dataset.digest) or neither."
            )
        setattr_ = object.__setattr__
        setattr_(self, "key", key)
        setattr_(self, "value", value)
        setattr_(self, "timestamp_ms", timestamp if timestamp_ms is None else timestamp_ms)
        setattr_(self, "step", step)
        setattr_(self, "model_id", model_id)
        setattr_(self, "dataset_name", dataset_name)
        setattr_(self, "dataset_digest", dataset_digest)
        setattr_(self, "run_id", run_id)

    @property
    def timestamp(self) -> int:
        return self.timestamp_ms


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time_ms: int
    end_time_ms: int | None
    user_id: str
    lifecycle_stage: str
    artifact_uri: str
    parent_run_id: str | None = None

    @property
    def run_uuid(self) -> str:
        return self.run_id

    @property
    def start_time(self) -> int:
        return self.start_time_ms

    @property
    def end_time(self) -> int | None:
        return self.end_time_ms


@dataclass(frozen=True, slots=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset record as stored: schema, profile and source are JSON strings.

    ``mt.data.from_pandas``/``from_numpy`` return subclasses that also hold the data
    (``.df``, ``.features``, ``.targets``); only this record reaches the store.
    """

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def _to_mlflow_entity(self) -> Dataset:
        """The plain record, without any data a subclass holds (MLflow's method name)."""
        if type(self) is Dataset:
            return self
        return Dataset(
            self.name, self.digest, self.source_type, self.source, self.schema, self.profile
        )


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> str | None:
        return self.tags.get("mlflow.data.context")


@dataclass(frozen=True, slots=True)
class LoggedModelInput:
    """A logged model a run used (MLflow's ``LoggedModelInput``)."""

    model_id: str


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    """A logged model a run produced, at ``step`` (MLflow's ``LoggedModelOutput``)."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunOutputs:
    """What a run produced: the logged models recorded as its outputs, and those whose
    ``source_run_id`` it is (at step 0) when no output row names them."""

    model_outputs: list[LoggedModelOutput] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    # MLflow's Run keeps its parts in ``_info``/``_data``/``_inputs``/``_outputs``, and
    # MLflow's own examples read them (``run._info.run_id``); these aliases keep such code
    # working.
    @property
    def _info(self) -> RunInfo:
        return self.info

    @property
    def _data(self) -> RunData:
        return self.data

    @property
    def _inputs(self) -> RunInputs:
        return self.inputs

    @property
    def _outputs(self) -> RunOutputs:
        return self.outputs

    def __repr__(self) -> str:
        from .display import run_repr

        return run_repr(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter's rich display: status badge, duration, params, latest metrics, tags."""
        from .display import run_bundle

        return run_bundle(self)


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None


class MetricHistory(Sequence[Metric]):
    """The history of one metric as columns; a ``Sequence[Metric]`` built lazily.

    Indexing and iteration create :class:`Metric` objects on demand, so a
    100k-point history costs one columnar fetch, not 100k objects. Use
    ``steps``, ``values``, ``timestamps_ms`` (numpy arrays) or ``to_pandas()``
    for bulk work.

    ``links`` is ``None`` when no point names a dataset or model (the common case),
    else three lists ``(dataset_names, dataset_digests, model_ids)`` of the points'
    :attr:`Metric.dataset_name`, :attr:`Metric.dataset_digest` and :attr:`Metric.model_id`.
    """

    __slots__ = ("key", "links", "steps", "timestamps_ms", "values")

    def __init__(
        self,
        key: str,
        steps: Any,
        values: Any,
        timestamps_ms: Any,
        links: tuple[list[str | None], list[str | None], list[str | None]] | None = None,
    ) -> None:
        self.key = key
        self.steps = steps
        self.values = values
        self.timestamps_ms = timestamps_ms
        self.links = links

    def __len__(self) -> int:
        return len(self.steps)

    @overload
    def __getitem__(self, i: int) -> Metric: ...
    @overload
    def __getitem__(self, i: slice) -> list[Metric]: ...
    def __getitem__(self, i: int | slice) -> Metric | list[Metric]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        point = (self.key, float(self.values[i]), int(self.timestamps_ms[i]), int(self.steps[i]))
        if self.links is None:
            return Metric(*point)
        names, digests, models = self.links
        return Metric(*point, models[i], names[i], digests[i])

    def __iter__(self) -> Iterator[Metric]:
        key = self.key
        columns = (self.steps.tolist(), self.values.tolist(), self.timestamps_ms.tolist())
        if self.links is None:
            for s, v, t in zip(*columns, strict=True):
                yield Metric(key, v, t, s)
            return
        for s, v, t, name, digest, model in zip(*columns, *self.links, strict=True):
            yield Metric(key, v, t, s, model, name, digest)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.key, len(self)))

    def __repr__(self) -> str:
        return f"MetricHistory(key={self.key!r}, points={len(self)})"

    def to_pandas(self) -> Any:
        """A DataFrame with columns ``step``, ``value``, ``timestamp_ms`` (and
        ``dataset_name``, ``dataset_digest``, ``model_id`` when points carry them)."""
        import pandas as pd

        columns: dict[str, Any] = {
            "step": self.steps,
            "value": self.values,
            "timestamp_ms": self.timestamps_ms,
        }
        if self.links is not None:
            names = ("dataset_name", "dataset_digest", "model_id")
            columns.update(zip(names, self.links, strict=True))
        return pd.DataFrame(columns)


# ---------------------------------------------------------------- logged models, registry
class LoggedModelStatus:
    """The states of a logged model (MLflow 3's ``LoggedModelStatus`` names)."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    ALL = ("PENDING", "READY", "FAILED")


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model logged in an experiment (MLflow 3): ``model_id`` is ``m-<32 hex>``.

    ``metrics`` are the points logged with ``model_id`` set to this model (the latest point
    per run, key and dataset); ``artifact_location`` is
    ``<experiment artifact location>/models/<model_id>/artifacts``.
    """

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = LoggedModelStatus.PENDING
    source_run_id: str | None = None
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``, the URI ``load_model`` takes."""
        return f"models:/{self.model_id}"

    def to_dictionary(self) -> dict[str, Any]:
        """A plain dict of every field (metrics as dicts), as MLflow's method of that name."""
        return {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "status": self.status,
            "source_run_id": self.source_run_id,
            "model_type": self.model_type,
            "tags": dict(self.tags),
            "params": dict(self.params),
            "metrics": [
                {
                    "key": m.key,
                    "value": m.value,
                    "timestamp": m.timestamp_ms,
                    "step": m.step,
                    "run_id": m.run_id,
                    "dataset_name": m.dataset_name,
                    "dataset_digest": m.dataset_digest,
                    "model_id": m.model_id,
                }
                for m in self.metrics
            ],
            "model_uri": self.model_uri,
        }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model; ``version`` is a string (``"1"``) as in MLflow.

    Lineage: ``source`` (where the files are), ``run_id`` (the run that produced it) and
    ``model_id`` (the logged model, MLflow 3). ``aliases`` are the aliases that point here.
    """

    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    source: str = ""
    run_id: str | None = None
    model_id: str | None = None
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    user_id: str = ""
    run_link: str = ""

    @property
    def current_stage(self) -> str:
        """MLflow's deprecated stage: always ``"None"`` (aliases replace stages)."""
        return "None"

    @property
    def status_message(self) -> str:
        return ""

    @property
    def model_uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model: a unique ``name``, its versions' aliases and latest version."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
