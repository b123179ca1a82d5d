"""mt.compare on real runs in a real DuckDB store: a selection in the table or a brush in the
parallel coordinates drives the curves (MetricCompare) and the diff (RunDiff)."""

from __future__ import annotations

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.widgets import MetricCompare, ParallelCoordinates, RunDiff, RunTable


@pytest.fixture
def runs(tracking_store: str) -> list[str]:
    mt.set_experiment("cmp")
    ids = []
    for lr in (0.3, 0.1, 0.03, 0.01):
        with mt.start_run(run_name=f"lr{lr}") as run:
            mt.log_params({"lr": lr, "epochs": 3})
            for step in range(3):
                mt.log_metric("loss", lr / (step + 1), step=step)
            ids.append(run.info.run_id)
    return ids


def test_compare_builds_the_linked_widgets(runs: list[str]) -> None:
    view = mt.compare("cmp")
    assert mt.widgets.compare is mt.compare
    assert isinstance(view.table, RunTable)
    assert isinstance(view.parcoords, ParallelCoordinates)
    assert isinstance(view.curves, MetricCompare) and isinstance(view.diff, RunDiff)
    assert list(view.children) == [view.table, view.parcoords, view._curves_box, view.diff]
    # nothing selected: the curves show the runs, the diff waits for a selection
    assert sorted(view.curves.run_ids) == sorted(runs)
    assert view.diff.run_ids == [] and view.selected_ids == []
    assert view.curves.metric_keys == ["loss"]
    assert "params.lr" in view.table.columns and "artifact_uri" not in view.table.columns
    view.close()


def test_a_table_selection_drives_the_diff_and_the_curves(runs: list[str]) -> None:
    view = mt.compare(mt.search_runs(experiment_names=["cmp"]), key="loss")
    first = view.curves
    view.table.selected_ids = [runs[0], runs[2]]
    assert view.selected_ids == [runs[0], runs[2]]
    assert view.diff.run_ids == [runs[0], runs[2]]
    assert view.diff.params.loc["lr"].tolist() == ["0.3", "0.03"]
    assert view.curves is not first and list(view.curves.run_ids) == [runs[0], runs[2]]
    assert view._curves_box.children == (view.curves,)
    assert sorted(view.selected["run_id"]) == sorted([runs[0], runs[2]])
    view.table.selected_ids = []  # cleared: the curves show every run again
    assert view.diff.run_ids == [] and sorted(view.curves.run_ids) == sorted(runs)
    view.close()


def test_a_brush_selects_in_the_table_and_drives_the_diff(runs: list[str]) -> None:
    view = mt.compare(runs)  # run ids: kept in the order given
    assert view.table.selected_ids == []
    view.parcoords.brushes = {"params.lr": [0.05, 1.0]}  # lr 0.3 and 0.1
    expected = sorted(runs[:2])
    assert sorted(view.parcoords.selected_ids) == expected
    assert sorted(view.table.selected_ids) == expected
    assert sorted(view.diff.run_ids) == expected
    assert sorted(view.curves.run_ids) == expected
    view.close()


def test_compare_validates_its_input(runs: list[str]) -> None:
    with pytest.raises(InvalidParameter, match="two or more runs, got 1"):
        mt.compare([runs[0]])
    with pytest.raises(InvalidParameter, match="metric 'acc'"):
        mt.compare(runs, key="acc")
    with pytest.raises(InvalidParameter, match="max_runs"):
        mt.compare(runs, max_runs=1)
    with pytest.raises(mt.errors.RunNotFound):
        mt.compare([runs[0], "0" * 32])
