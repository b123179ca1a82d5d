"""Rich displays of runs, experiments and run lists: what the HTML and the text say."""

from __future__ import annotations

import pytest

from jupyter_mltrack import display
from jupyter_mltrack.entities import Experiment, Run, RunData, RunInfo
from jupyter_mltrack.tracking.core import PagedList


def make_run(
    name: str = "lr-0.1",
    status: str = "FINISHED",
    start: int = 1_700_000_000_000,
    end: int | None = 1_700_000_012_345,
    params: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    run_id: str = "3f2a9c",
) -> Run:
    info = RunInfo(run_id, "4", name, status, start, end, "ada", "active", "file:///a", None)
    return Run(info, RunData(metrics or {}, params or {}, tags or {}))


def test_run_html_has_badge_duration_params_and_latest_metrics() -> None:
    run = make_run(
        params={"lr": "0.1", "layers": "[64, 32]"},
        metrics={"loss": 0.123456789, "acc": float("nan")},
        tags={"team": "vision", "mlflow.user": "ada", "mltrack.notebook.path": "nb/t.ipynb"},
    )
    bundle = run._repr_mimebundle_()
    html = bundle["text/html"]
    assert 'data-mltrack-run-id="3f2a9c"' in html
    assert 'data-mltrack-status="FINISHED"' in html
    assert "12.3 s" in html and "2023-11-14 22:13:20 UTC" in html
    assert "0.123457" in html and ">nan<" in html
    assert "layers" in html and "[64, 32]" in html
    assert "nb/t.ipynb" in html  # where it ran
    assert "team" in html and "mlflow.user" not in html  # system tags stay out
    assert bundle["text/plain"].splitlines() == [
        "Run 'lr-0.1' (3f2a9c) FINISHED, 12.3 s, experiment 4",
        "  params:  layers=[64, 32], lr=0.1",
        "  metrics: acc=nan, loss=0.123457",
        "  tags:    team=vision",
    ]


def test_run_repr_is_one_readable_line() -> None:
    run = make_run(params={"lr": "0.1"}, metrics={"loss": 0.5})
    assert repr(run) == (
        "<Run 'lr-0.1' (3f2a9c) FINISHED, 12.3 s, experiment 4; params: lr=0.1; metrics: loss=0.5>"
    )


def test_a_running_run_shows_how_long_it_has_run() -> None:
    run = make_run(status="RUNNING", end=None, start=0)
    assert "running for " in run._repr_mimebundle_()["text/plain"]
    assert display.run_text(run).startswith("Run 'lr-0.1' (3f2a9c) RUNNING, running for ")


def test_text_is_escaped_in_html() -> None:
    run = make_run(name="<script>alert(1)</script>", params={"q": '"><img src=x>'})
    html = run._repr_mimebundle_()["text/html"]
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&quot;&gt;&lt;img src=x&gt;" in html


def test_long_param_lists_are_capped() -> None:
    params = {f"p{i:03d}": str(i) for i in range(display.MAX_ITEMS + 5)}
    html = make_run(params=params)._repr_mimebundle_()["text/html"]
    assert "p000" in html and f"p{display.MAX_ITEMS - 1:03d}" in html
    assert f"p{display.MAX_ITEMS:03d}" not in html
    assert "and 5 more" in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.42, "0.42 s"),
        (12.34, "12.3 s"),
        (245, "4 min 05 s"),
        (7380, "2 h 03 min"),
        (3 * 86400 + 4 * 3600, "3 d 04 h"),
        (-1, "?"),
        (float("nan"), "?"),
    ],
)
def test_durations(seconds: float, text: str) -> None:
    assert display.format_duration(seconds) == text


def test_experiment_display() -> None:
    exp = Experiment("7", "churn", "file:///art/7", "deleted", {"owner": "ada"}, 0)
    bundle = exp._repr_mimebundle_()
    assert 'data-mltrack-experiment-id="7"' in bundle["text/html"]
    assert 'data-mltrack-status="deleted"' in bundle["text/html"]
    assert bundle["text/plain"] == (
        "Experiment 'churn' (id 7) deleted, created 1970-01-01 00:00:00 UTC, "
        "artifacts at file:///art/7\n  tags: owner=ada"
    )
    assert repr(exp) == (
        "<Experiment 'churn' (id 7) deleted, created 1970-01-01 00:00:00 UTC, "
        "artifacts at file:///art/7; tags: owner=ada>"
    )


def test_run_list_is_a_table_with_badges_and_columns() -> None:
    runs = PagedList(
        [
            make_run("a", params={"lr": "0.1"}, metrics={"loss": 0.5}, run_id="r1"),
            make_run("b", "FAILED", params={"lr": "0.2"}, run_id="r2"),
        ],
        token="next",
    )
    bundle = runs._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.count("<tr data-mltrack-run-id=") == 2
    assert 'data-mltrack-status="FAILED"' in html and "params.lr" in html
    assert "metrics.loss" in html and "more on the next page" in html
    lines = bundle["text/plain"].splitlines()
    assert lines[0] == "2 runs"
    assert lines[1].split() == ["run_id", "name", "status", "duration", "params.lr", "metrics.loss"]
    assert lines[2].split() == ["r1", "a", "FINISHED", "12.3", "s", "0.1", "0.5"]
    assert lines[3].split() == ["r2", "b", "FAILED", "12.3", "s", "0.2"]
    assert lines[-1].startswith("More runs on the next page")
    assert list(runs) == runs[:]  # still a list of Run


def test_long_run_lists_are_capped() -> None:
    runs = [make_run(f"r{i}", run_id=f"id{i}") for i in range(display.MAX_ROWS + 3)]
    html = display.runs_bundle(runs)["text/html"]
    assert html.count("<tr data-mltrack-run-id=") == display.MAX_ROWS
    assert "and 3 more runs not shown" in html
    assert display.runs_text(runs).startswith(f"{len(runs)} runs (first {display.MAX_ROWS} shown)")
    assert display.runs_bundle([])["text/plain"] == "No runs."


def test_ipython_shows_the_run_list_text_not_the_list_repr() -> None:
    """IPython pretty-prints list subclasses itself; PagedList's text must win."""
    from IPython.lib.pretty import pretty

    runs = PagedList([make_run(run_id="r1")], token=None)
    assert pretty(runs).splitlines()[0] == "1 run"
