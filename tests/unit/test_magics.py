"""The parts of ``%%track`` that need no kernel: argument parsing, literal params, history."""

from __future__ import annotations

import ast

import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.magics.args import TrackArgs, parse_experiment_line, parse_track_line
from jupyter_mltrack.magics.capture import history_text, literal_assignments, param_value


def test_every_option() -> None:
    args = parse_track_line(
        "--name 'lr 0.1' --experiment churn --params lr,epochs --params seed "
        "--tags team=vision url=a=b --tags stage=dev --no-live --nested"
    )
    assert args == TrackArgs(
        name="lr 0.1",
        experiment="churn",
        params=("lr", "epochs", "seed"),
        tags={"team": "vision", "url": "a=b", "stage": "dev"},
        live=False,
        nested=True,
    )
    assert parse_track_line("") == TrackArgs()
    assert parse_track_line("-n x -e y -p a -t k=v") == TrackArgs(
        name="x", experiment="y", params=("a",), tags={"k": "v"}
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("--colour red", "unrecognized arguments: --colour"),
        ("positional", "unrecognized arguments: positional"),
        ("--name", "--name/-n: expected one argument"),
        ("--help", "unrecognized arguments: --help"),
        ("--tags novalue", "--tags takes key=value pairs"),
        ("--tags =v", "--tags takes key=value pairs"),
        ("--params 1a,b", "'1a' given"),
        ("--params ,", "no name given"),
        ("--name ' '", "--name needs a non-empty value"),
        ("--name 'open", "cannot split the arguments"),
        ("--nam x", "unrecognized arguments"),  # no abbreviations: --nam is not --name
    ],
)
def test_bad_arguments_are_one_readable_error(line: str, words: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_track_line(line)
    assert words in str(info.value)
    assert str(info.value).startswith("%%track")


def test_experiment_line() -> None:
    assert parse_experiment_line("  churn ") == "churn"
    assert parse_experiment_line("'my experiment'") == "my experiment"
    for line in ("", "two words"):
        with pytest.raises(InvalidParameter, match="takes one experiment name"):
            parse_experiment_line(line)


def test_literal_assignments_are_the_default_params() -> None:
    source = """
lr = 0.01
epochs: int = 10
neg = -3
layers = [64, 32]
shape = (1, 2.5, "x", None, True)
name, dropout = "mlp", 0.5
a = b = "same"
model = fit(lr)
nested = [[1], 2]
blob = b"bytes"
_private = 1
first, rest = 1, other
lr = 0.02
if True:
    hidden = 1
def f():
    inner = 1
"""
    assert literal_assignments(ast.parse(source)) == [
        "lr",
        "epochs",
        "neg",
        "layers",
        "shape",
        "name",
        "dropout",
        "a",
        "b",
        "first",
    ]


def test_param_values() -> None:
    assert all(param_value(v) for v in (1, 0.5, "s", None, True, [1, "a"], (1.5, None)))
    assert not any(param_value(v) for v in (object(), [[1]], {"a": 1}, b"x"))


def test_history_is_every_cell_under_its_number() -> None:
    assert history_text(["a = 1", "b = 2\n\n"], first_count=3) == (
        "# In[3]:\na = 1\n\n# In[4]:\nb = 2\n\n"
    )
    assert history_text([]) == ""


def test_history_over_the_cap_keeps_the_newest_whole_cells_and_says_so() -> None:
    cells = ["x" * 50] * 5
    text = history_text(cells, max_bytes=130)
    first, body = text.split("\n", 1)
    assert first == (
        "# mltrack: history truncated to max 130 bytes (305 in all): the 3 oldest of 5 "
        "cells were left out; the rest was not stored."
    )
    assert body == "".join(f"# In[{n}]:\n{'x' * 50}\n\n" for n in (4, 5))
    assert len(body.encode()) <= 130


def test_history_of_one_huge_cell_keeps_its_end_from_a_line_start() -> None:
    cell = "".join(f"line {i}\n" for i in range(1000)) + "é" * 10
    text = history_text([cell], max_bytes=100)
    first, body = text.split("\n", 1)
    assert "only the end of the last cell, In[1], is kept" in first
    assert len(body.encode()) <= 100
    assert body.startswith("line ") and body.endswith("é" * 10 + "\n\n")
