"""``EvalCompare``: two evaluations compared from results and from their runs on a real store,
the view's request answered over the widget's comm, and a notebook executed with nbclient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from sklearn.linear_model import LogisticRegression

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets import EvalCompare, _bundle


@pytest.fixture
def two_classifiers(tracking_store: str) -> tuple[Any, Any]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1200, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=1200) > 0).astype(int)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    good = LogisticRegression().fit(df[["a", "b", "c"]], y)
    weak = LogisticRegression().fit(df[["c"]], y)
    a = mt.evaluate(good, df, targets="label", model_type="classifier")

    class Weak:
        classes_ = weak.classes_

        def predict(self, frame: pd.DataFrame) -> Any:
            return weak.predict(frame[["c"]])

        def predict_proba(self, frame: pd.DataFrame) -> Any:
            return weak.predict_proba(frame[["c"]])

    b = mt.evaluate(Weak(), df, targets="label", model_type="classifier")
    return a, b


def _ask(widget: EvalCompare, monkeypatch: pytest.MonkeyPatch, method: str) -> Any:
    sent: list[Any] = []

    def publish_msg(msg_type: str, data: Any = None, buffers: Any = None, **_: Any) -> None:
        sent.append(data["content"])

    monkeypatch.setattr(widget.comm, "publish_msg", publish_msg)
    request = {"type": "request", "id": 3, "method": method, "params": {}}
    widget.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": request}}, "buffers": []}
    )
    (answer,) = sent
    assert "error" not in answer, answer
    return answer["result"]


def test_compares_results(
    two_classifiers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_classifiers
    view = EvalCompare([a, b], names=["good", "weak"])
    assert view.best["roc_auc"] == "good" and view.best["log_loss"] == "good"
    assert "example_count" not in view.best  # no direction: not ranked
    table = view.metrics
    assert table.loc["f1_score", "good"] == a.metrics["f1_score"]
    assert table.loc["f1_score", "best"] == "good"
    roc = view.curves["roc_curve_plot"]
    names = [t["name"] for t in roc["data"]]
    assert names[0].startswith("good: AUC=") and names[1].startswith("weak: AUC=")
    assert names[-1] == "chance" and len(names) == 3
    assert view.plot == "roc_curve_plot"
    answer = _ask(view, monkeypatch, "view")
    assert answer["names"] == ["good", "weak"]
    assert set(answer["plots"]) >= {"roc_curve_plot", "precision_recall_curve_plot"}
    row = next(m for m in answer["metrics"] if m["key"] == "roc_auc")
    assert row["best"] == "good" and row["higher"] is True
    assert answer["rows"] is None  # no per-row tables for classifiers


def test_compares_logged_runs_and_text_rows(tracking_store: str) -> None:
    df = pd.DataFrame({"question": ["a?", "b?", "c?"], "answer": ["x y", "z", "w"]})
    first = mt.evaluate(
        data=df.assign(out=["x y", "z", "q"]),
        targets="answer",
        predictions="out",
        model_type="question-answering",
    )
    second = mt.evaluate(
        data=df.assign(out=["x", "z", "w"]),
        targets="answer",
        predictions="out",
        model_type="question-answering",
    )
    with mt.start_run(run_name="named"):
        pass
    view = EvalCompare([first.run_id, second.run_id], names=["v1", "v2"])
    assert view.metrics.loc["exact_match/v1", "v1"] == pytest.approx(2 / 3)
    rows = view.row_diffs
    assert rows["differs"].tolist() == [True, False, True]
    assert rows["v1: out"].tolist() == ["x y", "z", "q"]
    assert "question" in rows.columns and "answer" in rows.columns
    assert "v2: rouge1/v1/score" in rows.columns
    with pytest.raises(InvalidParameter, match="two or more evaluations"):
        EvalCompare([first])
    with pytest.raises(InvalidParameter, match="one label"):
        EvalCompare([first, second], names=["only one"])
    with pytest.raises(InvalidParameter, match=r"pass mt\.evaluate results or run ids"):
        EvalCompare([first, 42])


NOTEBOOK = [
    "import os\n"
    "os.environ['MLTRACK_STORE_MODE'] = 'direct'\n"
    "import numpy as np, pandas as pd\n"
    "import jupyter_mltrack as mt\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "mt.set_tracking_uri('duckdb://' + os.path.abspath('store.duckdb'))\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(600, 2))\n"
    "y = (X[:, 0] + rng.normal(scale=0.5, size=600) > 0).astype(int)\n"
    "df = pd.DataFrame(X, columns=['a', 'b']).assign(label=y)\n"
    "good = mt.evaluate(LogisticRegression().fit(df[['a', 'b']], y), df, targets='label',\n"
    "                   model_type='classifier')\n"
    "weak = mt.evaluate(data=df.assign(p=(df.b > 0).astype(int)), targets='label',\n"
    "                   predictions='p', model_type='classifier')",
    "view = mt.widgets.EvalCompare([good, weak], names=['model', 'baseline'])\nview",
    "print(view.best['f1_score'])\n"
    "mt.validate(good, weak, {'f1_score': mt.Threshold(min_absolute_change=0.05)})",
]


@pytest.mark.slow
def test_eval_compare_in_an_executed_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert nb.cells[2].outputs[0]["text"] == "model\n"
    shown = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in shown
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [m["state"] for m in state.values() if m["state"].get("names") == ["model", "baseline"]]
    assert len(views) == 1
    assert views[0]["plot"] == "roc_curve_plot"
    assert views[0]["_esm"] == _bundle.bundle_path("evalCompare.js").read_text()
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    assert "Plotly.newPlot" not in saved.read_text()  # plotly.js is never embedded
    assert len(json.dumps(state)) < 60_000
