"""RunDiff on real runs in a real DuckDB store: what differs, metric deltas at matched steps,
captured code and packages, input validation, and the view's answer through the comm."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter, InvalidState
from jupyter_mltrack.tracking.capture import ARTIFACT_REQUIREMENTS
from jupyter_mltrack.widgets import RunDiff
from jupyter_mltrack.widgets._diff import parse_requirements, sample_steps


def make_run(
    name: str,
    params: dict[str, Any],
    *,
    tags: dict[str, str] | None = None,
    losses: dict[int, float] | None = None,
    code: str | None = None,
) -> str:
    with mt.start_run(run_name=name) as run:
        mt.log_params(params)
        mt.set_tags(tags or {})
        for step, value in (losses or {}).items():
            mt.log_metric("loss", value, step=step)
        if code is not None:
            mt.log_text(code, "code/cell.py")
        return run.info.run_id


@pytest.fixture
def sweep(tracking_store: str) -> list[str]:
    return [
        make_run(
            "base",
            {"lr": 0.1, "epochs": 10, "opt": "sgd"},
            tags={"team": "vision"},
            losses={s: 1.0 / (s + 1) for s in range(10)},
            code="lr = 0.1\nepochs = 10\ntrain(lr, epochs)\n",
        ),
        make_run(
            "small-lr",
            {"lr": 0.01, "epochs": 10, "opt": "sgd"},
            tags={"team": "vision"},
            losses={s: 2.0 / (s + 1) for s in range(5)},
            code="lr = 0.01\nepochs = 10\ntrain(lr, epochs)\n",
        ),
        make_run(
            "adam",
            {"lr": 0.1, "epochs": 10, "opt": "adam", "beta": 0.9},
            tags={"team": "nlp"},
            losses={s: 0.5 / (s + 1) for s in range(8)},
            code="lr = 0.1\nepochs = 10\ntrain(lr, epochs)\n",
        ),
    ]


def test_only_differing_params_by_default(sweep: list[str]) -> None:
    diff = RunDiff(sweep)
    params = diff.params
    assert params.index.tolist() == ["beta", "lr", "opt"]  # epochs is the same everywhere
    assert params.columns.tolist() == sweep
    assert params.loc["lr"].tolist() == ["0.1", "0.01", "0.1"]
    assert params.loc["beta"].tolist() == [None, None, "0.9"]  # missing counts as different
    diff.show_all = True
    assert diff.params.index.tolist() == ["beta", "epochs", "lr", "opt"]


def test_tags_that_differ(sweep: list[str]) -> None:
    tags = RunDiff(sweep).tags
    assert tags.loc["team"].tolist() == ["vision", "vision", "nlp"]
    assert "mltrack.python" not in tags.index  # captured by start_run, the same for all


def test_metric_deltas_at_the_steps_every_run_logged(sweep: list[str]) -> None:
    metrics = RunDiff(sweep).metrics
    # loss: steps 0..9, 0..4, 0..7 -> common steps 0..4
    assert sorted(set(metrics["step"])) == [0, 1, 2, 3, 4]
    at4 = metrics[metrics["step"] == 4].set_index("run_id")
    assert at4.loc[sweep, "value"].tolist() == pytest.approx([1 / 5, 2 / 5, 0.5 / 5])
    assert at4.loc[sweep, "delta"].tolist() == pytest.approx([0.0, 1 / 5, -0.5 / 5])


def test_last_common_step_is_always_shown(tracking_store: str) -> None:
    a = make_run("a", {"x": 1}, losses={s: float(s) for s in range(100)})
    b = make_run("b", {"x": 2}, losses={s: float(2 * s) for s in range(0, 101, 3)})
    metrics = RunDiff([a, b], max_steps=4).metrics
    steps = sorted(set(metrics["step"]))
    assert len(steps) == 4
    assert steps[0] == 0 and steps[-1] == 99  # 99 is the last step both logged
    assert sample_steps(np.arange(3), 1).tolist() == [2]


def test_a_step_logged_twice_compares_its_last_value(tracking_store: str) -> None:
    a = make_run("a", {"x": 1}, losses={0: 1.0, 1: 0.5})
    with mt.start_run(run_name="b") as run:
        mt.log_param("x", 2)
        mt.log_metric("loss", 9.0, step=1)
        mt.log_metric("loss", 0.25, step=1)  # logged later at the same step
        b = run.info.run_id
    metrics = RunDiff([a, b]).metrics
    assert metrics[["step", "run_id", "value"]].values.tolist() == [[1, a, 0.5], [1, b, 0.25]]


def test_metrics_not_shared_and_non_finite_values(tracking_store: str) -> None:
    a = make_run("a", {"x": 1}, losses={0: float("nan")})
    with mt.start_run(run_name="b") as run:
        mt.log_param("x", 2)
        mt.log_metric("loss", math.inf, step=0)
        mt.log_metric("acc", 0.9, step=0)
        b = run.info.run_id
    view = RunDiff([a, b])._diff_view()
    json.dumps(view, allow_nan=False)  # strict JSON for the comm
    assert view["metrics"]["not_shared"] == ["acc"]
    assert view["metrics"]["rows"] == [
        {"key": "loss", "step": 0, "values": ["NaN", "Infinity"], "deltas": ["NaN"]}
    ]


def test_captured_code_diff(sweep: list[str]) -> None:
    code = RunDiff(sweep).code
    cell = code[code["file"] == "code/cell.py"].set_index("run_id")
    assert cell.loc[sweep[1], "status"] == "changed"
    assert cell.loc[sweep[2], "status"] == "same"
    patch = cell.loc[sweep[1], "diff"].splitlines()
    assert patch[:2] == ["--- base", "+++ small-lr"]
    assert "-lr = 0.1" in patch and "+lr = 0.01" in patch
    assert " epochs = 10" in patch  # context lines


def test_packages_that_differ(tracking_store: str, tmp_path: Path) -> None:
    a = make_run("a", {"x": 1})
    b = make_run("b", {"x": 2})
    c = make_run("c", {"x": 3})
    # b recorded a different environment: one upgrade, one extra package
    recorded = mt.MlflowClient().download_artifacts(a, ARTIFACT_REQUIREMENTS, tmp_path)
    text = Path(recorded).read_text()
    packages = parse_requirements(text)
    assert "pandas" in packages and "duckdb" in packages  # start_run records them
    changed = "\n".join(
        "pandas==0.0.1" if line.lower().startswith("pandas==") else line
        for line in text.splitlines()
    )
    client = mt.MlflowClient()
    client.log_text(b, changed + "\nzz-extra==1.0\n", ARTIFACT_REQUIREMENTS)
    env = RunDiff([a, b]).environment
    assert env.index.tolist() == ["pandas", "zz-extra"]
    assert env.loc["pandas"].tolist() == [packages["pandas"], "0.0.1"]
    assert env.loc["zz-extra"].tolist() == [None, "1.0"]
    assert RunDiff([a, c]).environment.empty  # same process, same packages
    assert len(RunDiff([a, c], show_all=True).environment) == len(packages)


def test_runs_from_a_search_and_the_run_header(sweep: list[str]) -> None:
    found = mt.search_runs(order_by=["params.lr ASC"])
    diff = RunDiff(found)
    assert diff.run_ids == found["run_id"].tolist()
    assert diff.runs.loc[sweep[1], "run_name"] == "small-lr"
    assert diff.runs["status"].tolist() == ["FINISHED"] * 3
    assert RunDiff([mt.get_run(i) for i in sweep[:2]]).run_ids == sweep[:2]


def test_inputs_are_validated(sweep: list[str]) -> None:
    with pytest.raises(InvalidParameter, match="two or more runs, got 1"):
        RunDiff(sweep[0])
    with pytest.raises(InvalidParameter, match="two or more runs, got 0"):
        RunDiff([])
    with pytest.raises(InvalidParameter, match="no run 'f00' in the store"):
        RunDiff([sweep[0], "f00"])
    with pytest.raises(InvalidParameter, match="more than once"):
        RunDiff([sweep[0], sweep[0]])
    with pytest.raises(InvalidParameter, match="got 3"):
        RunDiff([sweep[0], 3])
    with pytest.raises(InvalidParameter, match="no run_id column"):
        RunDiff(pd.DataFrame({"id": sweep}))
    with pytest.raises(InvalidParameter, match="max_steps"):
        RunDiff(sweep, max_steps=0)
    diff = RunDiff(sweep)
    with pytest.raises(InvalidParameter, match="no run 'f00'"):
        diff.run_ids = [sweep[0], "f00"]
    assert diff.run_ids == sweep  # unchanged


def test_fewer_than_two_runs_after_construction(sweep: list[str]) -> None:
    diff = RunDiff(sweep)
    diff.run_ids = [sweep[0]]  # as a linked selection may do
    assert diff._diff_view() == {"runs": [], "message": "Select two or more runs to compare them."}
    with pytest.raises(InvalidState, match="1 run"):
        _ = diff.params


class Wire:
    """The comm boundary: delivers the frontend's custom messages, records the answers."""

    def __init__(self, widget: RunDiff, monkeypatch: pytest.MonkeyPatch) -> None:
        self.widget = widget
        self.sent: list[Any] = []

        def publish_msg(msg_type: str, data: Any = None, buffers: Any = None, **_: Any) -> None:
            if data.get("method") == "custom":
                self.sent.append(data["content"])

        monkeypatch.setattr(widget.comm, "publish_msg", publish_msg)

    def ask(self, request_id: int, **params: Any) -> Any:
        content = {"type": "request", "id": request_id, "method": "diff", "params": params}
        self.widget.comm.handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )
        return self.sent[-1]


def test_the_view_asks_through_the_comm(sweep: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    diff = RunDiff(sweep[:2])
    wire = Wire(diff, monkeypatch)
    answer = wire.ask(1)
    assert answer["id"] == 1 and "error" not in answer
    result = answer["result"]
    assert [r["run_name"] for r in result["runs"]] == ["base", "small-lr"]
    assert result["params"] == {"rows": [{"key": "lr", "values": ["0.1", "0.01"]}], "same": 2}
    assert result["code"][0]["file"] == "code/cell.py"
    assert result["metrics"]["rows"][-1]["step"] == 4
    diff.run_ids = [sweep[0], sweep[2]]  # the view re-asks on change:run_ids
    result = wire.ask(2)["result"]
    assert [r["key"] for r in result["params"]["rows"]] == ["beta", "opt"]
    # the view's show_all wins over the synced one (whose update may still be on its way)
    result = wire.ask(3, show_all=True)["result"]
    assert [r["key"] for r in result["params"]["rows"]] == ["beta", "epochs", "lr", "opt"]
    assert result["show_all"] is True and diff.show_all is False
