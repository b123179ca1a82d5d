"""``RunDiff``: two or more runs side by side, showing what differs.

Example::

    diff = RunDiff(mt.search_runs(experiment_names=["sweep"]).head(3))
    diff                  # display: params, tags, packages, code, metric deltas
    diff.params           # DataFrame: differing params (key x run id)
    diff.metrics          # DataFrame: key, step, run_id, value, delta (vs the first run)
    diff.run_ids = [a, b] # compare other runs; the view follows
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import traitlets

from ..entities import Run, RunStatus
from ..errors import InvalidParameter, InvalidState, RunNotFound
from ..tracking.capture import ARTIFACT_REQUIREMENTS
from ..tracking.core import TrackingCore
from . import _diff
from ._base import MltrackWidget, handles

__all__ = ["RunDiff"]

#: Metric steps shown per metric by default (evenly spread; the last common step always).
MAX_STEPS = 10


@dataclass(frozen=True)
class _Recorded:
    """What a run recorded as files: its packages and its captured code."""

    packages: dict[str, str] | None  # None: no requirements artifact
    code: dict[str, str | None]  # artifact path -> text (None: no such artifact)


class RunDiff(MltrackWidget, bundle="runDiff"):
    """Two or more runs side by side: what differs in params, tags, packages, code, metrics.

    Args:
        runs: the runs to compare, the first being the base of every diff and delta: run
            ids, :class:`~jupyter_mltrack.Run` objects, or a DataFrame with a ``run_id``
            column (``mt.search_runs()``, ``table.selected``).
        show_all: also show the params, tags and packages that are the same in every run.
        max_steps: metric steps shown per metric (evenly spread over the steps every run
            logged, always including the last of them).
        client: the client to read through (default: that of the current tracking URI).

    Raises:
        InvalidParameter: fewer than two runs, a run given twice, or an unknown run id.

    ``run_ids`` (synced) may be set later to compare other runs; the view follows. Set to
    fewer than two runs (as a linked selection may), the view asks for more and the
    DataFrame properties raise ``InvalidState``.
    """

    run_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    show_all = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        runs: Any,
        *,
        show_all: bool = False,
        max_steps: int = MAX_STEPS,
        client: TrackingCore | None = None,
    ) -> None:
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise InvalidParameter(f"max_steps must be an int >= 1, got {max_steps!r}.")
        if client is None:
            from ..tracking.fluent import get_client

            client = get_client()
        self._client = client
        self._max_steps = max_steps
        self._runs: dict[str, Run] = {}
        self._recorded: dict[str, _Recorded] = {}
        ids = run_ids_of(runs)
        if len(ids) < 2:
            raise InvalidParameter(
                f"RunDiff compares two or more runs, got {len(ids)}: pass a list of run ids "
                "(or Runs, or a DataFrame with a run_id column) with at least two."
            )
        super().__init__(run_ids=ids, show_all=bool(show_all))

    @traitlets.validate("run_ids")
    def _check_run_ids(self, proposal: Mapping[str, Any]) -> list[str]:
        ids = [str(i) for i in proposal["value"]]
        seen = {i for i in ids if ids.count(i) > 1}
        if seen:
            raise InvalidParameter(
                f"RunDiff got run {sorted(seen)[0]!r} more than once; give each run once."
            )
        for run_id in ids:
            self._load(run_id)
        return ids

    # ------------------------------------------------------------------ reading
    def _load(self, run_id: str) -> Run:
        """The run, read again unless it had ended when last read (then nothing changes)."""
        cached = self._runs.get(run_id)
        if cached is not None and cached.info.status in RunStatus.TERMINAL:
            return cached
        try:
            run = self._client.get_run(run_id)
        except RunNotFound:
            raise InvalidParameter(
                f"RunDiff: there is no run {run_id!r} in the store at "
                f"{getattr(self._client, 'tracking_uri', 'this store')}; "
                "pass ids from mt.search_runs()."
            ) from None
        self._runs[run_id] = run
        if run.info.status not in RunStatus.TERMINAL:
            self._recorded.pop(run_id, None)  # a live run may still log its files
        return run

    def _recorded_files(self, run_id: str) -> _Recorded:
        found = self._recorded.get(run_id)
        if found is None:
            text = _diff.read_text_artifact(self._client, run_id, ARTIFACT_REQUIREMENTS)
            found = _Recorded(
                packages=None if text is None else _diff.parse_requirements(text),
                code={
                    path: _diff.read_text_artifact(self._client, run_id, path)
                    for path in _diff.CODE_ARTIFACTS
                },
            )
            if self._runs[run_id].info.status in RunStatus.TERMINAL:
                self._recorded[run_id] = found
        return found

    def _current(self) -> list[Run]:
        if len(self.run_ids) < 2:
            raise InvalidState(
                f"RunDiff has {len(self.run_ids)} run(s) to compare; set run_ids to two or "
                "more runs (or select them in the linked table)."
            )
        return [self._load(run_id) for run_id in self.run_ids]

    # ------------------------------------------------------------------ DataFrames
    @property
    def runs(self) -> pd.DataFrame:
        """One row per run (index ``run_id``): name, status, experiment, start, duration."""
        rows = []
        for run in self._current():
            info = run.info
            end = info.end_time_ms
            rows.append(
                {
                    "run_id": info.run_id,
                    "run_name": info.run_name,
                    "status": info.status,
                    "experiment_id": info.experiment_id,
                    "start_time": pd.Timestamp(info.start_time_ms, unit="ms", tz="UTC"),
                    "duration_s": None if end is None else (end - info.start_time_ms) / 1000,
                }
            )
        return pd.DataFrame(rows).set_index("run_id")

    def _key_table(self, maps: list[dict[str, str]], index_name: str) -> pd.DataFrame:
        keys, _ = _diff.differing(maps, show_all=self.show_all)
        frame = pd.DataFrame(
            {
                run_id: [m.get(k) for k in keys]
                for run_id, m in zip(self.run_ids, maps, strict=True)
            },
            index=pd.Index(keys, name=index_name, dtype=object),
            dtype=object,
        )
        frame.columns.name = "run_id"
        return frame

    @property
    def params(self) -> pd.DataFrame:
        """Params that differ (all with ``show_all``): index param key, one column per run
        (``None`` where a run did not log it)."""
        return self._key_table([r.data.params for r in self._current()], "param")

    @property
    def tags(self) -> pd.DataFrame:
        """Tags that differ (all with ``show_all``), shaped like :attr:`params`."""
        return self._key_table([r.data.tags for r in self._current()], "tag")

    @property
    def environment(self) -> pd.DataFrame:
        """Installed packages whose version differs (all with ``show_all``), from each run's
        ``environment/requirements.txt``: index package, one column per run (``None``: not
        installed). A run that recorded no package list has a column of ``None`` and is left
        out of the comparison."""
        runs = self._current()
        recorded = [self._recorded_files(r.info.run_id).packages for r in runs]
        keys, _ = _diff.differing([p for p in recorded if p is not None], show_all=self.show_all)
        frame = pd.DataFrame(
            {
                run.info.run_id: [None if p is None else p.get(k) for k in keys]
                for run, p in zip(runs, recorded, strict=True)
            },
            index=pd.Index(keys, name="package", dtype=object),
            dtype=object,
        )
        frame.columns.name = "run_id"
        return frame

    @property
    def code(self) -> pd.DataFrame:
        """Captured code compared with the first run's: one row per (file, later run) for the
        files some run has; ``status`` (same, changed, added, missing) and ``diff`` (unified)."""
        rows = [
            {"file": c["file"], "run_id": e["run_id"], "status": e["status"], "diff": e["diff"]}
            for c in self._code_sections(self._current())
            for e in c["runs"]
        ]
        return pd.DataFrame(rows, columns=["file", "run_id", "status", "diff"])

    @property
    def metrics(self) -> pd.DataFrame:
        """Metric values at the steps every run logged (per metric all runs have): columns
        ``key``, ``step``, ``run_id``, ``value`` and ``delta`` (value minus the first run's
        value at that step; 0 for the first run)."""
        runs = self._current()
        rows, _, _ = _diff.matched_steps(runs, self._client.get_metric_history, self._max_steps)
        records = [
            {
                "key": key,
                "step": step,
                "run_id": run.info.run_id,
                "value": v,
                "delta": v - values[0],
            }
            for key, step, values in rows
            for run, v in zip(runs, values, strict=True)
        ]
        return pd.DataFrame(records, columns=["key", "step", "run_id", "value", "delta"])

    # ------------------------------------------------------------------ the view's data
    def _code_sections(self, runs: list[Run]) -> list[dict[str, Any]]:
        recorded = [self._recorded_files(r.info.run_id) for r in runs]
        names = [_label(r) for r in runs]
        sections = []
        for path in _diff.CODE_ARTIFACTS:
            texts = [rec.code[path] for rec in recorded]
            if all(t is None for t in texts):
                continue
            entries = _diff.code_diffs(names[0], texts, names)
            sections.append(
                {
                    "file": path,
                    "base_recorded": texts[0] is not None,
                    "runs": [
                        {"run_id": r.info.run_id, **e}
                        for r, e in zip(runs[1:], entries, strict=True)
                    ],
                }
            )
        return sections

    @handles("diff")
    def _diff_view(self, show_all: bool | None = None) -> dict[str, Any]:
        """Everything the view shows, as one JSON answer (small: keys and short texts).

        The view sends its ``show_all``: ipywidgets may hold back a state update while an
        earlier message is pending, so the request can arrive before the synced value.
        """
        show_all = self.show_all if show_all is None else bool(show_all)
        if len(self.run_ids) < 2:
            return {"runs": [], "message": "Select two or more runs to compare them."}
        runs = self._current()
        result: dict[str, Any] = {
            "runs": [
                {"run_id": r.info.run_id, "run_name": _label(r), "status": r.info.status}
                for r in runs
            ],
            "show_all": show_all,
        }
        for section, maps in (
            ("params", [r.data.params for r in runs]),
            ("tags", [r.data.tags for r in runs]),
        ):
            keys, same = _diff.differing(maps, show_all=show_all)
            result[section] = {
                "rows": [{"key": k, "values": [m.get(k) for m in maps]} for k in keys],
                "same": same,
            }
        packages = [self._recorded_files(r.info.run_id).packages for r in runs]
        keys, same = _diff.differing([p for p in packages if p is not None], show_all=show_all)
        result["environment"] = {
            "rows": [
                {"key": k, "values": [None if p is None else p.get(k) for p in packages]}
                for k in keys
            ],
            "same": same,
            "unrecorded": [r.info.run_id for r, p in zip(runs, packages, strict=True) if p is None],
        }
        result["code"] = self._code_sections(runs)
        rows, not_shared, no_common = _diff.matched_steps(
            runs, self._client.get_metric_history, self._max_steps
        )
        result["metrics"] = {
            "rows": [
                {
                    "key": key,
                    "step": step,
                    "values": [_diff.json_number(v) for v in values],
                    "deltas": [_diff.json_number(v - values[0]) for v in values[1:]],
                }
                for key, step, values in rows
            ],
            "not_shared": not_shared,
            "no_common_step": no_common,
        }
        return result


def _label(run: Run) -> str:
    return run.info.run_name or run.info.run_id[:8]


def run_ids_of(runs: Any) -> list[str]:
    """Run ids from ids, Runs, a DataFrame with a ``run_id`` column, or an iterable of these.

    Raises:
        InvalidParameter: something else, naming what was given.
    """
    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise InvalidParameter(
                "The DataFrame of runs has no run_id column; pass mt.search_runs() output, "
                "a table's .selected, or a list of run ids."
            )
        return [str(i) for i in runs["run_id"].tolist()]
    if isinstance(runs, str | Run):
        runs = [runs]
    if not isinstance(runs, Iterable):
        raise InvalidParameter(
            f"Runs must be run ids, Runs or a DataFrame with a run_id column, got "
            f"{type(runs).__name__}."
        )
    ids = []
    for item in runs:
        if isinstance(item, Run):
            ids.append(item.info.run_id)
        elif isinstance(item, str) and item:
            ids.append(item)
        else:
            raise InvalidParameter(
                f"A run must be a run id (str) or a Run, got {item!r:.80} ({type(item).__name__})."
            )
    return ids
