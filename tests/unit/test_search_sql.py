"""Compiled search SQL against a real DuckDB store: which runs each filter and order returns."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.store.duckdb.migrations import migrate
from jupyter_mltrack.store.search import (
    compile_filter,
    compile_order_by,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
    search_fingerprint,
)

NAN, INF = math.nan, math.inf
INJECTION = "'); DROP TABLE store.runs; --"

# run_id, experiment_id, run_name, status, start, end, user, stage, parent
RUNS = [
    ("r1", "1", "alpha-1", "FINISHED", 1000, 2000, "ann", "active", None),
    ("r2", "1", "alpha-2", "FAILED", 2000, None, "bob", "active", "r1"),
    ("r3", "2", "Beta", "RUNNING", 3000, None, "ann", "active", "r1"),
    ("r4", "2", "gamma", "FINISHED", 4000, 5000, "cy", "deleted", None),
    ("r5", "1", "it's", "FINISHED", 5000, 6000, "bob", "active", None),
    ("r6", "1", "tie", "FINISHED", 5000, 6000, "bob", "active", None),
]
METRICS = {
    "acc": {"r1": 0.9, "r2": 0.5, "r3": NAN, "r4": 0.95, "r6": 0.5},
    "loss": {"r1": 0.1, "r2": INF, "r3": -INF, "r5": 0.3},
    "f1 score": {"r1": 0.8, "r4": 0.7},
}
PARAMS = {
    "lr": {"r1": "0.01", "r2": "0.1", "r3": "0.01", "r4": "1e-3"},
    "opt": {"r1": "adam", "r2": "SGD", "r5": "sgd"},
    "model/name": {"r1": "resnet-50", "r2": 'it\'s "quoted"'},
}
TAGS = {
    "team": {"r1": "vision", "r2": "nlp", "r3": "Vision"},
    "mlflow.runName": {"r1": "alpha-1", "r2": "alpha-2"},
    "note": {"r5": INJECTION, "r6": "50%_off"},
}
DATASETS = [("d1", "mnist", "abc"), ("d2", "cifar", "def")]
RUN_INPUTS = [
    ("r1", "d1", {"mlflow.data.context": "train"}),
    ("r1", "d2", {"mlflow.data.context": "eval"}),
    ("r2", "d1", {"mlflow.data.context": "eval"}),
    ("r3", "d2", {}),
]
ALL = {"r1", "r2", "r3", "r4", "r5", "r6"}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path: Path = tmp_path_factory.mktemp("search") / "s.duckdb"
    connection = duckdb.connect(str(path))
    migrate(connection)
    for run_id, exp, name, status, start, end, user, stage, parent in RUNS:
        connection.execute(
            "INSERT INTO store.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [run_id, exp, name, status, start, end, user, stage, f"file:///a/{run_id}", parent],
        )
    for key, numbers in METRICS.items():
        for run_id, number in numbers.items():
            connection.execute(
                "INSERT INTO store.latest_metrics VALUES (?, ?, ?, 0, 0)", [run_id, key, number]
            )
    for table, rows in (("params", PARAMS), ("tags", TAGS)):
        for key, values in rows.items():
            for run_id, value in values.items():
                connection.execute(
                    f"INSERT INTO store.{table} VALUES (?, ?, ?)", [run_id, key, value]
                )
    for dataset_id, name, digest in DATASETS:
        connection.execute(
            "INSERT INTO store.datasets VALUES (?, '1', ?, ?, 'local', 'file:///d', NULL, NULL)",
            [dataset_id, name, digest],
        )
    for run_id, dataset_id, tags in RUN_INPUTS:
        connection.execute(
            "INSERT INTO store.run_inputs VALUES (?, ?, ?)", [run_id, dataset_id, json.dumps(tags)]
        )
    # A malformed tags document must not break a search on dataset context.
    connection.execute("INSERT INTO store.run_inputs VALUES ('r4', 'd2', 'not json')")
    yield connection
    connection.close()


def run_ids(
    con: duckdb.DuckDBPyConnection, text: str | None, order_by: Sequence[str] = ()
) -> list[str]:
    where, where_params = compile_filter(parse_filter(text))
    order, order_params = compile_order_by(parse_order_by(order_by))
    sql = f"SELECT r.run_id FROM store.runs r WHERE {where} ORDER BY {order}"
    return [row[0] for row in con.execute(sql, where_params + order_params).fetchall()]


FILTERS = [
    # metrics
    ("metrics.acc > 0.8", {"r1", "r3", "r4"}),  # NaN is above every number in DuckDB
    ("metrics.acc >= 0.9", {"r1", "r3", "r4"}),
    ("metrics.acc < 0.9", {"r2", "r6"}),
    ("metrics.acc <= 0.5", {"r2", "r6"}),
    ("metrics.acc = 0.5", {"r2", "r6"}),
    ("metrics.acc != 0.5", {"r1", "r3", "r4"}),  # runs without acc never match
    ("metrics.acc = NaN", {"r3"}),
    ("metrics.acc != NaN", {"r1", "r2", "r4", "r6"}),
    ("metrics.loss > 1e308", {"r2"}),
    ("metrics.loss = inf", {"r2"}),
    ("metrics.loss < -1e308", {"r3"}),
    ("metrics.loss = -Infinity", {"r3"}),
    ("metrics.loss >= -1", {"r1", "r2", "r5"}),
    ("metrics.`f1 score` > 0.75", {"r1"}),
    ('metrics."f1 score" < 0.75', {"r4"}),
    ("metric.acc > 100000000000000000000000000000000", {"r3"}),
    # params and tags
    ("params.lr = '0.01'", {"r1", "r3"}),
    ('params.lr = "0.01"', {"r1", "r3"}),
    ("params.lr != '0.01'", {"r2", "r4"}),
    ("params.lr > '0.05'", {"r2", "r4"}),  # strings compare as strings
    ("params.opt LIKE 's%'", {"r5"}),
    ("params.opt ILIKE 's%'", {"r2", "r5"}),
    ("params.opt NOT ILIKE 's%'", {"r1"}),
    ("params.opt NOT LIKE 's%'", {"r1", "r2"}),
    ("params.opt IN ('adam', 'sgd')", {"r1", "r5"}),
    ("params.opt NOT IN ('adam', 'sgd')", {"r2"}),
    ("params.`model/name` = 'resnet-50'", {"r1"}),
    ("params.`model/name` = 'it''s \"quoted\"'", {"r2"}),
    ('params.`model/name` = "it\'s \\"quoted\\""', {"r2"}),
    ("tags.team = 'vision'", {"r1"}),
    ("tags.team ILIKE 'VISION'", {"r1", "r3"}),
    ("tags.mlflow.runName = 'alpha-2'", {"r2"}),
    ("tags.`mlflow.runName` LIKE 'alpha-%'", {"r1", "r2"}),
    ("tags.note = '''); DROP TABLE store.runs; --'", {"r5"}),
    ("tags.note LIKE '50\\%%'", set()),  # no escape character: the backslash is literal
    ("tags.note LIKE '50%\\_off'", set()),
    ("tags.note LIKE '50%_off'", {"r6"}),
    # IS NULL on keys: absent / present
    ("params.opt IS NULL", {"r3", "r4", "r6"}),
    ("params.opt IS NOT NULL", {"r1", "r2", "r5"}),
    ("metrics.loss IS NULL", {"r4", "r6"}),
    ("metrics.acc IS NOT NULL", {"r1", "r2", "r3", "r4", "r6"}),
    ("tags.team IS NULL", {"r4", "r5", "r6"}),
    ("params.missing IS NULL", ALL),
    ("params.missing = 'x'", set()),
    # attributes
    ("status = 'FINISHED'", {"r1", "r4", "r5", "r6"}),
    ("attributes.status != 'FINISHED'", {"r2", "r3"}),
    ("attribute.status IN ('FAILED', 'RUNNING')", {"r2", "r3"}),
    ("run.status NOT IN ('FAILED', 'RUNNING')", {"r1", "r4", "r5", "r6"}),
    ("run_id = 'r2'", {"r2"}),
    ("run_id IN ('r1', 'r3', 'nope')", {"r1", "r3"}),
    ("attr.run_name LIKE 'alpha%'", {"r1", "r2"}),
    ("run_name ILIKE 'b%'", {"r3"}),
    ("run_name = 'it''s'", {"r5"}),
    ("user_id = 'ann'", {"r1", "r3"}),
    ("experiment_id = '2'", {"r3", "r4"}),
    ("lifecycle_stage = 'deleted'", {"r4"}),
    ("artifact_uri = 'file:///a/r1'", {"r1"}),
    ("start_time > 2000", {"r3", "r4", "r5", "r6"}),
    ("created <= 2000", {"r1", "r2"}),
    ("start_time = 2000.0", {"r2"}),
    ("start_time < 1500.5", {"r1"}),
    ("end_time >= 5000", {"r4", "r5", "r6"}),
    ("end_time != 2000", {"r4", "r5", "r6"}),  # a NULL end time never compares
    ("end_time IS NULL", {"r2", "r3"}),
    ("parent_run_id = 'r1'", {"r2", "r3"}),
    ("parent_run_id != 'r1'", set()),
    ("parent_run_id IS NOT NULL", {"r2", "r3"}),
    ("parent_run_id NOT IN ('x')", {"r2", "r3"}),
    # datasets: any of the run's inputs matches
    ("datasets.name = 'mnist'", {"r1", "r2"}),
    ("datasets.name IN ('cifar')", {"r1", "r3", "r4"}),
    ("datasets.digest LIKE 'd%'", {"r1", "r3", "r4"}),
    ("datasets.context = 'train'", {"r1"}),
    ("datasets.context IN ('train', 'eval')", {"r1", "r2"}),
    ("datasets.context IS NULL", {"r3", "r4", "r5", "r6"}),
    ("datasets.name IS NULL", {"r5", "r6"}),
    ("dataset.name = 'mnist' AND datasets.context = 'eval'", {"r1", "r2"}),
    # boolean structure
    ("metrics.acc > 0.8 AND params.lr = '0.01'", {"r1", "r3"}),
    ("metrics.acc > 0.92 OR params.opt = 'sgd'", {"r3", "r4", "r5"}),
    ("(metrics.acc > 0.92 OR params.opt = 'sgd') AND status = 'FINISHED'", {"r4", "r5"}),
    ("metrics.acc > 0.92 OR params.opt = 'sgd' AND status = 'FINISHED'", {"r3", "r4", "r5"}),
    ("NOT params.opt = 'adam'", {"r2", "r3", "r4", "r5", "r6"}),  # includes runs without opt
    ("NOT end_time = 2000", {"r2", "r3", "r4", "r5", "r6"}),
    ("NOT parent_run_id = 'r1'", {"r1", "r4", "r5", "r6"}),
    ("NOT (tags.team IS NULL OR user_id = 'ann')", {"r2"}),
    ("not not user_id = 'ann'", {"r1", "r3"}),
    ("((user_id = 'ann') and ((metrics.acc > 0.95)))", {"r3"}),
    ("   ", ALL),
]


@pytest.mark.parametrize("text, expected", FILTERS)
def test_filter_selects_runs(con: duckdb.DuckDBPyConnection, text: str, expected: set[str]) -> None:
    assert set(run_ids(con, text)) == expected


def test_not_is_the_exact_complement_of_every_filter(con: duckdb.DuckDBPyConnection) -> None:
    for text, expected in FILTERS:
        if text.strip():
            assert set(run_ids(con, f"NOT ({text})")) == ALL - expected, text


def test_injection_text_is_data_not_sql(con: duckdb.DuckDBPyConnection) -> None:
    assert run_ids(con, f"params.`{INJECTION}` IS NULL", ["params.`x'); --`"])
    assert run_ids(con, "run_name IN ('x''); DROP TABLE store.params; --')") == []
    assert con.execute("SELECT count(*) FROM store.runs").fetchone() == (6,)
    assert con.execute("SELECT count(*) FROM store.params").fetchone() == (9,)


ORDERS = [
    ([], ["r5", "r6", "r4", "r3", "r2", "r1"]),  # tie-break: start_time DESC, run_id ASC
    # NaN after every number, missing last, in both directions (as MLflow)
    (["metrics.acc"], ["r6", "r2", "r1", "r4", "r3", "r5"]),
    (["metrics.acc ASC"], ["r6", "r2", "r1", "r4", "r3", "r5"]),
    (["metrics.acc DESC"], ["r4", "r1", "r6", "r2", "r3", "r5"]),
    (["metrics.loss DESC"], ["r2", "r5", "r1", "r3", "r6", "r4"]),
    (["metrics.loss"], ["r3", "r1", "r5", "r2", "r6", "r4"]),
    (["metrics.`f1 score` DESC"], ["r1", "r4", "r5", "r6", "r3", "r2"]),
    (["params.lr"], ["r3", "r1", "r2", "r4", "r5", "r6"]),
    (["params.lr DESC"], ["r4", "r2", "r3", "r1", "r5", "r6"]),
    (["params.lr DESC", "metrics.acc DESC"], ["r4", "r2", "r1", "r3", "r6", "r5"]),
    (["tags.team"], ["r3", "r2", "r1", "r5", "r6", "r4"]),  # binary collation
    (["tags.team DESC"], ["r1", "r2", "r3", "r5", "r6", "r4"]),
    (["start_time ASC"], ["r1", "r2", "r3", "r4", "r5", "r6"]),
    (["attributes.run_name"], ["Beta", "alpha-1", "alpha-2", "gamma", "it's", "tie"]),
    (["end_time DESC"], ["r5", "r6", "r4", "r1", "r3", "r2"]),  # NULL end times last
    (["end_time"], ["r1", "r4", "r5", "r6", "r3", "r2"]),
    (["status DESC", "user_id"], ["r3", "r1", "r5", "r6", "r4", "r2"]),
]


@pytest.mark.parametrize("order_by, expected", ORDERS)
def test_order_by(con: duckdb.DuckDBPyConnection, order_by: list[str], expected: list[str]) -> None:
    names = {run[0]: run[2] for run in RUNS}
    got = run_ids(con, None, order_by)
    assert (got if expected[0] in ALL else [names[r] for r in got]) == expected


def test_filter_and_order_compose(con: duckdb.DuckDBPyConnection) -> None:
    got = run_ids(con, "metrics.acc > 0.1 AND status != 'RUNNING'", ["metrics.acc DESC"])
    assert got == ["r4", "r1", "r6", "r2"]


def test_custom_run_alias(con: duckdb.DuckDBPyConnection) -> None:
    where, wp = compile_filter(parse_filter("params.lr = '0.01' OR end_time IS NULL"), "runs_1")
    order, op = compile_order_by(parse_order_by(["params.lr DESC"]), run_alias="runs_1")
    sql = f"SELECT runs_1.run_id FROM store.runs runs_1 WHERE {where} ORDER BY {order}"
    assert [row[0] for row in con.execute(sql, wp + op).fetchall()] == ["r2", "r3", "r1"]


@pytest.mark.parametrize("alias", ["", "r;", "r r", "1r", "mt_k", "MT_x", "r.x"])
def test_bad_run_alias_is_refused(alias: str) -> None:
    with pytest.raises(ValueError, match="run_alias"):
        compile_filter(None, alias)
    with pytest.raises(ValueError, match="run_alias"):
        compile_order_by([], alias)


def test_no_filter_compiles_to_true() -> None:
    assert compile_filter(None) == ("TRUE", [])
    assert compile_order_by([]) == ("r.start_time_ms DESC, r.run_id ASC", [])


def test_keys_and_values_are_bound_parameters() -> None:
    sql, params = compile_filter(parse_filter("metrics.`zz top` > 3 AND params.qq IN ('u', 'v')"))
    assert params == ["zz top", 3.0, "qq", "u", "v"]
    assert "zz" not in sql and "qq" not in sql and "'u'" not in sql
    assert sql.count("?") == len(params)
    assert isinstance(params[1], float)  # metrics bind as DOUBLE


# ----------------------------------------------------------------------------- paging


def test_paging_with_tokens_walks_the_whole_order(con: duckdb.DuckDBPyConnection) -> None:
    order_by = ["metrics.acc DESC"]
    fingerprint = search_fingerprint(["1", "2"], "", order_by)
    where, wp = compile_filter(None)
    order, op = compile_order_by(parse_order_by(order_by))
    sql = f"SELECT r.run_id FROM store.runs r WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    seen: list[str] = []
    token: str | None = None
    while True:
        offset = decode_page_token(token, fingerprint) if token else 0
        page = [row[0] for row in con.execute(sql, [*wp, *op, 4, offset]).fetchall()]
        seen += page[:2]
        if len(page) <= 2:
            break
        token = encode_page_token(offset + 2, fingerprint)
    assert seen == run_ids(con, None, order_by)


def test_page_token_round_trip_and_fingerprint() -> None:
    fp = search_fingerprint(["2", "1"], "metrics.a > 1", ["metrics.a DESC"], "ACTIVE_ONLY")
    assert fp == search_fingerprint(["1", "2"], "metrics.a > 1", ["metrics.a DESC"], "ACTIVE_ONLY")
    assert fp != search_fingerprint(["1", "2"], "metrics.a > 2", ["metrics.a DESC"], "ACTIVE_ONLY")
    assert fp != search_fingerprint(["1", "2"], "metrics.a > 1", ["metrics.a"], "ACTIVE_ONLY")
    assert fp != search_fingerprint(["1"], "metrics.a > 1", ["metrics.a DESC"], "ACTIVE_ONLY")
    assert fp != search_fingerprint(["1", "2"], "metrics.a > 1", ["metrics.a DESC"], "ALL")
    for offset in (0, 1, 100, 10**12):
        token = encode_page_token(offset, fp)
        assert token.isascii() and "=" not in token.rstrip("=")
        assert decode_page_token(token, fp) == offset
        assert decode_page_token(token.rstrip("="), fp) == offset


def test_page_token_from_another_search_is_refused() -> None:
    token = encode_page_token(10, search_fingerprint(["1"], "", None))
    with pytest.raises(InvalidParameter, match="different search"):
        decode_page_token(token, search_fingerprint(["1"], "metrics.a > 1", None))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage!!",
        "ünïcode",
        "eyJ2IjoxfQ",  # {"v":1}
        "eyJ2IjoxLCJvZmZzZXQiOi0xLCJmcCI6ImZwIn0",  # offset -1
        "eyJ2IjoxLCJvZmZzZXQiOnRydWUsImZwIjoiZnAifQ",  # offset true
        "eyJ2IjoyLCJvZmZzZXQiOjEsImZwIjoiZnAifQ",  # version 2
        "WzEsMl0",  # [1,2]
        "//79",  # not UTF-8
        "A" * 5000,
    ],
)
def test_garbled_page_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidParameter, match="page token is malformed"):
        decode_page_token(token, "fp")


@pytest.mark.parametrize("offset", [-1, True, 1.5])
def test_encode_page_token_checks_the_offset(offset: int) -> None:
    with pytest.raises(ValueError, match="offset"):
        encode_page_token(offset, "fp")
