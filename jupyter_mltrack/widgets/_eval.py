"""``EvalCompare``: several evaluations side by side (metrics, overlaid curves, per-row diffs).

Example::

    a = mt.evaluate(model_a, test_df, targets="label", model_type="classifier")
    b = mt.evaluate(model_b, test_df, targets="label", model_type="classifier")
    view = mt.widgets.EvalCompare([a, b], names=["logreg", "forest"])
    view.metrics       # metric x evaluation, with the best evaluation of each metric
    view.best          # metric -> name of the best evaluation
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import traitlets

from ..errors import ArtifactNotFound, InvalidParameter
from ..evaluation import EvaluationResult
from ..evaluation.evaluate import DIRECTIONS, EVAL_TABLE
from ..tracking.fluent import get_client
from ._base import MltrackWidget, handles
from ._plotly import PlotlyAssets

__all__ = ["OVERLAID_PLOTS", "EvalCompare"]

#: the plots overlaid across evaluations, in tab order
OVERLAID_PLOTS = (
    "roc_curve_plot",
    "precision_recall_curve_plot",
    "calibration_curve_plot",
    "lift_curve_plot",
    "predicted_vs_actual_plot",
)
#: rows of the per-row diff sent to the view (the DataFrame property has them all)
MAX_ROWS = 200


@dataclass
class _Evaluation:
    name: str
    run_id: str | None
    metrics: dict[str, float]
    directions: dict[str, bool]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    table: Any = None


def _from_result(result: EvaluationResult, name: str) -> _Evaluation:
    return _Evaluation(
        name,
        result.run_id,
        dict(result.metrics),
        dict(result.directions),
        {k: v for k, v in result.figures.items() if k in OVERLAID_PLOTS},
        result.tables.get(EVAL_TABLE),
    )


def _read_json(client: Any, run_id: str, path: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except (FileNotFoundError, ArtifactNotFound):
            return None
        return json.loads(Path(local).read_text(encoding="utf-8"))


def _from_run(client: Any, run_id: str, name: str) -> _Evaluation:
    import pandas as pd

    run = client.get_run(run_id)
    names = {f.path for f in client.list_artifacts(run_id)}
    figures = {}
    for plot in OVERLAID_PLOTS:
        if f"{plot}.plotly.json" in names:
            figures[plot] = _read_json(client, run_id, f"{plot}.plotly.json")
    table = None
    if f"{EVAL_TABLE}.json" in names:
        payload = _read_json(client, run_id, f"{EVAL_TABLE}.json")
        table = pd.DataFrame(payload["data"], columns=payload["columns"])
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    directions = {k: v for k, v in DIRECTIONS.items() if k in metrics}
    return _Evaluation(name, run_id, metrics, directions, figures, table)


def _number(value: float | None) -> float | str | None:
    if value is None:
        return None
    return value if math.isfinite(value) else str(value)


class EvalCompare(PlotlyAssets, MltrackWidget, bundle="evalCompare"):
    """A metrics table of several evaluations, their curves overlaid, per-row diffs.

    Args:
        evaluations: ``EvaluationResult`` objects (from ``mt.evaluate``) or run ids (or Runs)
            whose evaluations were logged; at least two.
        names: a label per evaluation (default: ``eval 1``, ``eval 2``, ... for results, the
            run name for runs).
        client: the client to read runs through (default: the current tracking URI's).

    Raises:
        InvalidParameter: fewer than two evaluations, names that do not match, or an object
            that is neither a result nor a run.

    ``plot`` (synced) is the curve shown; the view's tabs set it. ``.metrics`` is a DataFrame
    (metric x evaluation, plus ``best``), ``.best`` maps each comparable metric to the best
    evaluation's name, ``.curves`` holds the overlaid plotly figures and ``.row_diffs`` the
    per-row outputs and scores of text evaluations, side by side.
    """

    plot = traitlets.Unicode("").tag(sync=True)
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(
        self,
        evaluations: Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        client: Any = None,
    ) -> None:
        if isinstance(evaluations, (str, EvaluationResult)) or not isinstance(
            evaluations, Sequence
        ):
            raise InvalidParameter(
                "EvalCompare needs a list of two or more evaluations (mt.evaluate results or "
                "run ids)."
            )
        if len(evaluations) < 2:
            raise InvalidParameter(
                f"EvalCompare compares two or more evaluations, got {len(evaluations)}."
            )
        if names is not None and (
            len(names) != len(evaluations) or not all(isinstance(n, str) for n in names)
        ):
            raise InvalidParameter(
                f"names must be one label (a string) per evaluation: {len(evaluations)} labels."
            )
        self._client = client if client is not None else get_client()
        self._evals = [self._load(e, i, names) for i, e in enumerate(evaluations)]
        labels = [e.name for e in self._evals]
        if len(set(labels)) != len(labels):
            raise InvalidParameter(f"Each evaluation needs its own name; got {labels}.")
        first = next((p for p in OVERLAID_PLOTS if p in self.curves), "")
        super().__init__(plot=first, names=labels)

    def _load(self, item: Any, index: int, names: Sequence[str] | None) -> _Evaluation:
        label = names[index] if names is not None else None
        if isinstance(item, EvaluationResult):
            return _from_result(item, label or f"eval {index + 1}")
        run_id = (
            item if isinstance(item, str) else getattr(getattr(item, "info", None), "run_id", None)
        )
        if not isinstance(run_id, str):
            raise InvalidParameter(
                f"evaluations[{index}] is {type(item).__name__}; pass mt.evaluate results or "
                "run ids."
            )
        run = self._client.get_run(run_id)
        return _from_run(self._client, run_id, label or run.info.run_name or run_id[:8])

    # ------------------------------------------------------------ python views
    @property
    def best(self) -> dict[str, str]:
        """Each comparable metric (known direction) -> the name of the best evaluation."""
        out: dict[str, str] = {}
        for key in self._metric_keys():
            higher = next((e.directions[key] for e in self._evals if key in e.directions), None)
            values = [(e.metrics[key], e.name) for e in self._evals if key in e.metrics]
            values = [(v, n) for v, n in values if math.isfinite(v)]
            if higher is None or len(values) < 2 or len({v for v, _ in values}) == 1:
                continue
            out[key] = (max if higher else min)(values)[1]
        return out

    def _metric_keys(self) -> list[str]:
        keys: list[str] = []
        for e in self._evals:
            keys.extend(k for k in e.metrics if k not in keys)
        return keys

    @property
    def metrics(self) -> Any:
        """A DataFrame: one row per metric, one column per evaluation, and ``best``."""
        import pandas as pd

        best = self.best
        rows = {
            key: {e.name: e.metrics.get(key, float("nan")) for e in self._evals}
            for key in self._metric_keys()
        }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame["best"] = [best.get(k) for k in frame.index]
        frame.index.name = "metric"
        return frame

    @property
    def curves(self) -> dict[str, dict[str, Any]]:
        """Each overlaid plot (e.g. ``roc_curve_plot``) as one plotly figure, a trace group per
        evaluation (legend ``<name>: <trace>``)."""
        out: dict[str, dict[str, Any]] = {}
        for plot in OVERLAID_PLOTS:
            traces: list[dict[str, Any]] = []
            layout: dict[str, Any] | None = None
            chance: dict[str, Any] | None = None
            for e in self._evals:
                figure = e.figures.get(plot)
                if not figure:
                    continue
                layout = layout or dict(figure.get("layout", {}))
                for trace in figure.get("data", []):
                    if trace.get("line", {}).get("dash") == "dash":
                        chance = chance or trace
                        continue
                    traces.append({**trace, "name": f"{e.name}: {trace.get('name', '')}"})
            if traces and layout is not None:
                out[plot] = {"data": traces + ([chance] if chance else []), "layout": layout}
        return out

    @property
    def row_diffs(self) -> Any:
        """Per-row outputs and scores of every evaluation with an eval results table, side
        by side: the columns every table holds alike (features, targets) once, the others as
        ``<name>: <column>``, and ``differs`` marking rows whose outputs differ; None when
        fewer than two evaluations have a table."""

        tables = [(e.name, e.table) for e in self._evals if e.table is not None]
        if len(tables) < 2:
            return None
        n = min(len(t) for _, t in tables)
        parts = [(name, t.iloc[:n].reset_index(drop=True)) for name, t in tables]
        first = parts[0][1]

        def shared(column: Any) -> bool:  # the same data in every table: features, targets
            return "/" not in str(column) and all(
                column in t.columns and t[column].astype(str).equals(first[column].astype(str))
                for _, t in parts[1:]
            )

        inputs = [c for c in first.columns if shared(c)]
        frame = first[inputs].copy()
        outputs: list[str] = []
        for name, part in parts:
            for column in [c for c in part.columns if c not in inputs]:
                frame[f"{name}: {column}"] = part[column]
                if "/" not in str(column) and column not in ("latency", "token_count"):
                    outputs.append(f"{name}: {column}")
        frame["differs"] = frame[outputs].astype(str).nunique(axis=1) > 1 if outputs else False
        return frame

    # ---------------------------------------------------------- frontend data
    @handles("view")
    def _view(self) -> dict[str, Any]:
        """Everything the view draws, as one JSON answer (all of it is small)."""
        best = self.best
        metrics = [
            {
                "key": key,
                "values": [_number(e.metrics.get(key)) for e in self._evals],
                "best": best.get(key),
                "higher": next(
                    (e.directions[key] for e in self._evals if key in e.directions), None
                ),
            }
            for key in self._metric_keys()
        ]
        rows: dict[str, Any] | None = None
        diffs = self.row_diffs
        if diffs is not None:
            shown = diffs.head(MAX_ROWS).astype(object).where(diffs.head(MAX_ROWS).notna(), None)
            rows = {
                "columns": [str(c) for c in shown.columns],
                "data": json.loads(shown.to_json(orient="values", default_handler=str)),
                "total": len(diffs),
            }
        return {
            "names": [e.name for e in self._evals],
            "metrics": metrics,
            "plots": json.loads(json.dumps(self.curves, default=str)),
            "rows": rows,
        }
