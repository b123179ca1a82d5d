"""``GET /mltrack/api/lab/runs/{run_id}/artifact/table`` of a real ``jupyter server`` over a
real DuckDB store: CSV, TSV and Parquet artifacts read as the first rows of a JSON table (the
run view's table previews), the row count of the whole file, and its errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.tracking.core import TrackingCore

pytestmark = pytest.mark.slow

LAB = "mltrack/api/lab"


@pytest.fixture(scope="module")
def lab(start_jupyter, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-table")
    store_path = root / "store.duckdb"
    store = DuckDBStore(f"duckdb://{store_path}")
    core = TrackingCore(store)
    eid = core.create_experiment("tables")
    rid = core.create_run(eid, run_name="tables").info.run_id
    files = root / "files"
    files.mkdir()
    (files / "scores.csv").write_text("name,score,ok\nalpha,0.5,true\nbeta,,false\ngamma,2,true\n")
    (files / "scores.tsv").write_text("a\tb\n1\tx\n2\ty\n")
    (files / "broken.csv").write_text('a,b\n1,2,3\n"unterminated\n')
    big = pa.table(
        {
            "step": pa.array(range(25_000), pa.int64()),
            "loss": pa.array([1.0 / (i + 1) for i in range(25_000)]),
            "when": pa.array([1_700_000_000_000 + i for i in range(25_000)], pa.timestamp("ms")),
        }
    )
    big = big.set_column(1, "loss", pa.array([float("nan"), *big["loss"].to_pylist()[1:]]))
    pq.write_table(big, files / "history.parquet", row_group_size=4096)
    for name in ("scores.csv", "scores.tsv", "broken.csv", "history.parquet"):
        core.log_artifact(rid, str(files / name), "tables")
    core.log_text(rid, "not a table", "notes.txt")
    store.close()
    server = start_jupyter(
        "server",
        env={"MLTRACK_TRACKING_URI": f"duckdb://{store_path}", "MLTRACK_STORE_MODE": None},
        base_url="/base/",
    )
    server.run_id = rid  # type: ignore[attr-defined]
    yield server
    server.stop()


def get(server, route: str, token: bool = True, **query: Any) -> tuple[int, Any]:
    url = server.url + f"{LAB}{route}?" + urllib.parse.urlencode(query, doseq=True)
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {server.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        return err.code, json.loads(body) if body.startswith(b"{") else body


def test_csv_and_tsv_become_json_tables(lab) -> None:
    route = f"/runs/{lab.run_id}/artifact/table"
    status, table = get(lab, route, path="tables/scores.csv")
    assert status == 200, table
    assert table == {
        "path": "tables/scores.csv",
        "columns": ["name", "score", "ok"],
        "rows": [["alpha", 0.5, True], ["beta", None, False], ["gamma", 2.0, True]],
        "total_rows": 3,
    }
    status, table = get(lab, route, path="tables/scores.csv", limit=2)
    assert status == 200 and len(table["rows"]) == 2 and table["total_rows"] == 3
    status, table = get(lab, route, path="tables/scores.tsv")
    assert status == 200 and table["columns"] == ["a", "b"]
    assert table["rows"] == [[1, "x"], [2, "y"]]


def test_parquet_is_decoded_on_the_server_first_rows_only(lab) -> None:
    status, table = get(
        lab, f"/runs/{lab.run_id}/artifact/table", path="tables/history.parquet", limit=5000
    )
    assert status == 200, table
    assert table["columns"] == ["step", "loss", "when"]
    assert table["total_rows"] == 25_000 and len(table["rows"]) == 5000
    assert table["rows"][0][:2] == [0, "NaN"]  # a non-finite float as its wire string
    assert table["rows"][4999][0] == 4999 and table["rows"][1][1] == pytest.approx(0.5)
    assert table["rows"][0][2].startswith("2023-11-14")  # a timestamp as its text


def test_errors_are_the_json_error_shape(lab) -> None:
    route = f"/runs/{lab.run_id}/artifact/table"
    status, error = get(lab, route, path="notes.txt")
    assert status == 400 and error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "not a table artifact" in error["message"]
    status, error = get(lab, route, path="tables/missing.csv")
    assert status == 404 and error["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, error = get(lab, route, path="tables/broken.csv")
    assert status == 400 and "could not be read as CSV" in error["message"]
    status, error = get(lab, route, path="tables/scores.csv", limit=0)
    assert status == 400 and "limit must be in 1..10000" in error["message"]
    status, error = get(lab, route)
    assert status == 400 and "path" in error["message"]
    status, error = get(lab, "/runs/nope/artifact/table", path="tables/scores.csv")
    assert status == 404 and error["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, _ = get(lab, route, token=False, path="tables/scores.csv")
    assert status == 403
