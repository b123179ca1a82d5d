"""RunTable and ParallelCoordinates, Python side: windows of rows asked through the widget's
comm as the browser asks, sort and filter in a real DuckDB store and over DataFrames, filter
errors with their position, selection and its filter round trip, input validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidFilter, InvalidParameter
from jupyter_mltrack.tracking.frame_search import FrameSearch, field_for_column
from jupyter_mltrack.widgets import ParallelCoordinates, RunTable
from jupyter_mltrack.widgets._base import MltrackWidget


class Wire:
    """The comm boundary of one widget: delivers frontend messages, records the answers."""

    def __init__(self, widget: MltrackWidget, monkeypatch: pytest.MonkeyPatch) -> None:
        self.widget = widget
        self.sent: list[tuple[Any, list[Any]]] = []

        def publish_msg(msg_type: str, data: Any = None, buffers: Any = None, **_: Any) -> None:
            if data.get("method") == "custom":
                self.sent.append((data["content"], list(buffers or [])))

        monkeypatch.setattr(widget.comm, "publish_msg", publish_msg)

    def ask(self, method: str, **params: Any) -> tuple[Any, list[bytes]]:
        self.widget.comm.handle_msg(
            {
                "content": {
                    "data": {
                        "method": "custom",
                        "content": {"type": "request", "id": 1, "method": method, "params": params},
                    }
                },
                "buffers": [],
            }
        )
        content, buffers = self.sent.pop()
        assert "error" not in content, content["error"]
        return content["result"], [bytes(b) for b in buffers]

    def update(self, **state: Any) -> None:
        """A state change from the browser (save_changes)."""
        self.widget._handle_msg(
            {
                "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                "buffers": [],
            }
        )


def column(result: dict[str, Any], buffers: list[bytes], name: str) -> list[Any]:
    for col in result["columns"]["columns"]:
        if col["name"] == name:
            if "values" in col:
                return list(col["values"])
            return np.frombuffer(buffers[col["buffer"]], "<" + col["dtype"][0] + "8").tolist()
    raise KeyError(name)


@pytest.fixture
def demo(tracking_store: str) -> list[str]:
    """Experiment 'demo': 12 runs with optimizer and lr (params), acc and train/loss."""
    mt.set_experiment("demo")
    ids = []
    for i in range(12):
        with mt.start_run(run_name=f"run-{i:02d}") as run:
            mt.log_param("optimizer", "adam" if i % 3 == 0 else "sgd")
            mt.log_param("lr", str(10 ** -(i % 4)))
            mt.log_metric("acc", i / 12)
            mt.log_metric("train/loss", 1 - i / 12)
            ids.append(run.info.run_id)
    mt.flush()
    return ids


def test_store_windows_are_sorted_and_filtered_in_the_store(
    demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = RunTable("demo")
    assert "metrics.acc" in table.columns and "params.lr" in table.columns
    assert not any(c.startswith("tags.mlflow.") for c in table.columns)  # hidden by default
    assert "tags.mlflow.user" in table._all_columns
    wire = Wire(table, monkeypatch)
    result, buffers = wire.ask(
        "rows",
        offset=2,
        limit=3,
        filter_string="params.optimizer = 'sgd' AND metrics.acc >= 0.2",
        order_by=["metrics.train/loss ASC"],
        columns=["run_name", "metrics.acc", "start_time"],
    )
    expected = mt.search_runs(
        filter_string="params.optimizer = 'sgd' AND metrics.acc >= 0.2",
        order_by=["metrics.`train/loss` ASC"],
    )
    assert result["total"] == len(expected) == 6
    assert result["ids"] == expected["run_id"].tolist()[2:5]
    assert column(result, buffers, "run_name") == expected["run_name"].tolist()[2:5]
    assert column(result, buffers, "metrics.acc") == expected["metrics.acc"].tolist()[2:5]
    assert result["kinds"] == {"run_name": "string", "metrics.acc": "number", "start_time": "time"}
    # a window never exceeds what was asked (nor MAX_WINDOW)
    result, _ = wire.ask("rows", offset=0, limit=5)
    assert len(result["ids"]) == 5 and result["total"] == 12


def test_a_bad_filter_is_answered_with_its_position(
    demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(RunTable("demo"), monkeypatch)
    result, buffers = wire.ask("rows", offset=0, limit=10, filter_string="metrics.acc > 'high'")
    assert buffers == []
    assert result["filter_error"]["position"] == 14
    assert "metrics.acc > 'high'\n" in result["filter_error"]["message"]
    with pytest.raises(InvalidFilter, match="at position 13"):
        RunTable("demo", filter_string="metrics.acc >")


def test_selection_and_its_filter_round_trip(
    demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = RunTable("demo", order_by=["metrics.acc DESC"])
    seen: list[list[str]] = []
    table.observe(lambda change: seen.append(change["new"]), "selected_ids")
    wire = Wire(table, monkeypatch)
    chosen = [demo[3], demo[10], demo[8]]
    wire.update(selected_ids=chosen)  # three clicks in the browser
    assert seen[-1] == chosen
    assert table.selected["run_id"].tolist() == [demo[10], demo[8], demo[3]]  # table order
    assert table.selected_filter == "attributes.run_id IN ('{}', '{}', '{}')".format(*chosen)
    again = mt.search_runs(filter_string=table.selected_filter)
    assert sorted(again["run_id"]) == sorted(chosen)
    # nothing selected: a filter matching nothing
    table.selected_ids = []
    assert table.selected.empty
    assert mt.search_runs(filter_string=table.selected_filter).empty


def test_shift_range_and_select_all_run_in_the_kernel(
    demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = RunTable("demo")
    wire = Wire(table, monkeypatch)
    view = {"filter_string": "params.optimizer = 'adam'", "order_by": ["metrics.acc ASC"]}
    result, _ = wire.ask("rows", offset=0, limit=100, **view)
    assert wire.ask("select_range", start=3, stop=1, **view)[0] == 3
    assert table.selected_ids == result["ids"][1:4]
    assert wire.ask("select_all", **view)[0] == 4
    assert sorted(table.selected_ids) == sorted(result["ids"])


def test_refresh_sees_new_runs_and_columns(demo: list[str]) -> None:
    table = RunTable("demo")
    with mt.start_run():
        mt.log_metric("f1", 0.5)
    mt.flush()
    assert "metrics.f1" not in table._all_columns
    generation = table._generation
    table.refresh()
    assert "metrics.f1" in table._all_columns and table._generation == generation + 1


def test_inputs_are_validated(demo: list[str]) -> None:
    with pytest.raises(InvalidParameter, match=r"No experiment is named 'nope'.*'demo'"):
        RunTable("nope")
    with pytest.raises(InvalidParameter, match="no column named 'bogus'"):
        RunTable("demo", columns=["run_name", "bogus"])
    with pytest.raises(InvalidParameter, match=r"order_by: no column named 'metrics.nope'"):
        RunTable("demo", order_by=["metrics.nope DESC"])
    with pytest.raises(TypeError, match=r"pandas DataFrame .* or an experiment"):
        RunTable(42)
    table = RunTable("demo")
    with pytest.raises(InvalidParameter, match="no column named 'x'"):
        table.columns = ["x"]
    with pytest.raises(InvalidFilter):
        table.filter_string = "metrics.acc >"
    with pytest.raises(ValueError, match="unique id per row"):
        RunTable(pd.DataFrame({"run_id": ["a", "a"]}))


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "loss": [0.5, 0.25, np.nan, 0.125],
            "metrics.acc": [0.7, 0.9, 0.95, 0.8],
            "optimizer": ["adam", "sgd", "adam", None],
            "start_time": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"], utc=True
            ),
        }
    )


def test_dataframe_rows_are_filtered_and_sorted_with_the_search_language(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = Wire(RunTable(frame), monkeypatch)
    result, buffers = wire.ask(
        "rows",
        offset=0,
        limit=10,
        filter_string="metrics.loss < 0.4 OR params.optimizer = 'adam'",
        order_by=["loss DESC"],
    )
    # loss DESC, the run without a loss last (as in the store)
    assert result["ids"] == ["a", "b", "d", "c"]
    assert column(result, buffers, "start_time")[0] == pd.Timestamp("2026-01-01").value // 10**6
    result, _ = wire.ask("rows", offset=0, limit=10, filter_string="loss < 0.3")
    assert result["filter_error"]["position"] == 0
    assert "the table's column 'loss' is written metrics.loss" in result["filter_error"]["message"]
    result, _ = wire.ask("rows", offset=0, limit=10, filter_string="params.optimizer IS NULL")
    assert result["ids"] == ["d"]


def test_dataframe_selection(frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    table = RunTable(frame, order_by=["metrics.acc DESC"])
    Wire(table, monkeypatch).update(selected_ids=["a", "c"])
    assert table.selected["run_id"].tolist() == ["c", "a"]
    assert table.selected_filter == "attributes.run_id IN ('a', 'c')"


def test_frame_search_matches_the_store(demo: list[str]) -> None:
    """The same filter and order over mt.search_runs()'s frame give the store's answer."""
    frame = mt.search_runs()
    search = FrameSearch(frame, list(frame["run_id"]))
    for text, order in [
        ("metrics.acc > 0.5 AND params.lr != '0.1'", ["metrics.train/loss DESC"]),
        ("params.optimizer IN ('adam') OR run_name LIKE 'run-1%'", ["params.lr ASC"]),
        ("NOT metrics.acc <= 0.3", []),
    ]:
        store_order = [
            f"{field_for_column(c.rsplit(' ', 1)[0])} {c.rsplit(' ', 1)[1]}" for c in order
        ]
        expected = mt.search_runs(filter_string=text, order_by=store_order)["run_id"].tolist()
        got = frame["run_id"].to_numpy()[search.positions(text, order)].tolist()
        if order:
            assert got == expected
        else:
            assert sorted(got) == sorted(expected)


def test_parallel_coordinates_brushes_select_runs(
    demo: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pc = ParallelCoordinates("demo", axis_types={"params.lr": "log"})
    assert pc.axes == ["params.lr", "params.optimizer", "metrics.acc", "metrics.train/loss"]
    assert pc.axis_types == {
        "params.lr": "log",
        "params.optimizer": "categorical",
        "metrics.acc": "numeric",
        "metrics.train/loss": "numeric",
    }
    assert pc.color == "metrics.acc"
    wire = Wire(pc, monkeypatch)
    result, buffers = wire.ask("data")
    assert len(result["ids"]) == 12
    assert result["categories"] == {"params.optimizer": ["adam", "sgd"]}
    assert sorted(set(column(result, buffers, "params.lr"))) == [0.001, 0.01, 0.1, 1.0]

    wire.update(brushes={"metrics.acc": [0.5, 1.0], "params.optimizer": ["adam"]})  # a drag
    runs = mt.search_runs(filter_string="metrics.acc >= 0.5 AND params.optimizer = 'adam'")
    assert sorted(pc.selected_ids) == sorted(runs["run_id"])
    assert sorted(pc.selected["run_id"]) == sorted(runs["run_id"])
    assert sorted(mt.search_runs(filter_string=pc.selected_filter)["run_id"]) == sorted(
        runs["run_id"]
    )
    pc.brushes = {"params.lr": [0.005, 0.5]}  # from Python; readable back as set
    assert pc.brushes == {"params.lr": [0.005, 0.5]}
    assert len(pc.selected_ids) == 6  # lr 0.1 and 0.01
    pc.brushes = {}
    assert pc.selected_ids == [] and pc.selected.empty


def test_parallel_coordinates_validates(demo: list[str], frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter, match=r"no column named 'metrics.nope'"):
        ParallelCoordinates("demo", axes=["metrics.nope"])
    with pytest.raises(InvalidParameter, match="unknown type 'linear'"):
        ParallelCoordinates("demo", axis_types={"metrics.acc": "linear"})
    with pytest.raises(InvalidParameter, match="cannot be log: it has values <= 0"):
        ParallelCoordinates("demo", axis_types={"metrics.acc": "log"})
    with pytest.raises(InvalidParameter, match="is not a number; use 'categorical'"):
        ParallelCoordinates("demo", axis_types={"params.optimizer": "numeric"})
    with pytest.raises(InvalidParameter, match="not numeric"):
        ParallelCoordinates("demo", color="params.optimizer")
    pc = ParallelCoordinates(frame, axes=["loss", "optimizer", "start_time"], color="loss")
    assert pc.axis_types == {"loss": "numeric", "optimizer": "categorical", "start_time": "time"}
    with pytest.raises(InvalidParameter, match="not an axis"):
        pc.brushes = {"metrics.acc": [0, 1]}
    with pytest.raises(InvalidParameter, match=r"is \[lo, hi\]"):
        pc.brushes = {"loss": [0.1]}
    with pytest.raises(InvalidParameter, match="list of categories"):
        pc.brushes = {"optimizer": "adam"}
    day2 = pd.Timestamp("2026-01-02", tz="UTC").value // 10**6
    pc.brushes = {"start_time": [day2, day2 + 86_400_000], "loss": [0.1, 1]}
    assert pc.selected_ids == ["b"]  # c has no loss, d is after the time range
