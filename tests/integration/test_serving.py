"""``mltrack models serve`` as a real process: MLflow's payloads, errors, metrics, auth, workers.

One server per module for the payload and error tests (a start costs a few seconds on a
busy machine); the tests that need their own options start their own.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_support import (
    ScoringServer,
    save_sklearn_model,
    save_test_pyfunc,
    start_scoring_server,
    training_frame,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("models")
    sk = save_sklearn_model(root / "sk")
    save_test_pyfunc(root / "py")
    return {"root": root, "sk": root / "sk", "py": root / "py", "estimator": sk}


@pytest.fixture(scope="module")
def sk_server(models: dict[str, object]) -> Iterator[ScoringServer]:
    root = models["root"]
    assert isinstance(root, Path)
    with start_scoring_server(
        root, "-m", str(models["sk"]), "--workers", "2", "--max-body-mb", "1"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def py_server(models: dict[str, object]) -> Iterator[ScoringServer]:
    root = models["root"]
    assert isinstance(root, Path)
    with start_scoring_server(
        root, "-m", str(models["py"]), "--timeout", "1.5", "--max-batch-rows", "100"
    ) as server:
        yield server


def _expected(models: dict[str, object], frame: pd.DataFrame) -> list[int]:
    est = models["estimator"]
    return [int(v) for v in est.predict(frame)]  # type: ignore[attr-defined]


def test_every_mlflow_payload_scores_the_same(
    sk_server: ScoringServer, models: dict[str, object]
) -> None:
    x, _ = training_frame(30, seed=3)
    want = _expected(models, x)
    bodies = {
        "dataframe_split": {"dataframe_split": x.to_dict(orient="split")},
        "split_no_index": {
            "dataframe_split": {"columns": list(x.columns), "data": x.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": x.to_dict(orient="records")},
        "instances_records": {"instances": x.to_dict(orient="records")},
        "instances_rows": {"instances": x.values.tolist()},
        "inputs_columns": {"inputs": x.to_dict(orient="list")},
    }
    for name, body in bodies.items():
        r = sk_server.post(body)
        assert r.status_code == 200, (name, r.text)
        assert r.json() == {"predictions": want}, name
    r = sk_server.post(x.to_csv(index=False), "text/csv")
    assert r.status_code == 200 and r.json() == {"predictions": want}
    r = sk_server.post(x.to_csv(index=False), "text/csv; charset=utf-8")
    assert r.status_code == 200 and r.json() == {"predictions": want}
    buf = io.BytesIO()
    x.to_parquet(buf)
    r = sk_server.post(buf.getvalue(), "application/vnd.apache.parquet")
    assert r.status_code == 200 and r.json() == {"predictions": want}


def test_mlflow_client_payloads_are_accepted(
    sk_server: ScoringServer, models: dict[str, object]
) -> None:
    """The body MLflow's own helper writes for a DataFrame scores here."""
    from mlflow.models.utils import convert_input_example_to_serving_input

    x, _ = training_frame(5, seed=4)
    with warnings.catch_warnings():  # pandas deprecations inside MLflow's helper, not ours
        warnings.simplefilter("ignore")
        body = convert_input_example_to_serving_input(x)
    assert body is not None
    r = sk_server.post(body)
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == _expected(models, x)


def test_bad_input_is_a_400_naming_the_column(sk_server: ScoringServer) -> None:
    r = sk_server.post({"dataframe_records": [{"a": 0.1, "b": 0.2}]})
    assert r.status_code == 400
    body = r.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert "'c'" in body["message"] and "long" in body["message"]
    r = sk_server.post({"dataframe_records": [{"a": "high", "b": 0.2, "c": 1}]})
    assert r.status_code == 400
    assert "'a'" in r.json()["message"] and "double" in r.json()["message"]
    r = sk_server.post(b"{not json", "application/json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = sk_server.post({"dataframe_split": {"columns": ["a"], "data": [[1]]}, "inputs": [1]})
    assert r.status_code == 400 and "exactly one of" in r.json()["message"]
    r = sk_server.post({"records": []})
    assert r.status_code == 400 and "dataframe_split" in r.json()["message"]
    r = sk_server.post({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2]]}})
    assert r.status_code == 400 and "dataframe_split.data[0]" in r.json()["message"]
    r = sk_server.post({"dataframe_records": [{"a": 1, "b": 2, "c": 3}], "params": [1]})
    assert r.status_code == 400 and "'params'" in r.json()["message"]
    r = sk_server.post(b"a,b\n1,2\n", "text/csv")
    assert r.status_code == 400 and "'c'" in r.json()["message"]
    r = sk_server.post(b"PAR1garbage", "application/vnd.apache.parquet")
    assert r.status_code == 400 and "Parquet" in r.json()["message"]


def test_content_type_size_and_route_errors(sk_server: ScoringServer) -> None:
    r = sk_server.post(b"a=1", "application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert "text/csv" in r.json()["message"]
    r = sk_server.post(b"{}", "application/json; charset=latin-1")
    assert r.status_code == 415
    big = {"dataframe_records": [{"a": 0.5, "b": 0.5, "c": 1}] * 40_000}  # ~1.2 MB > 1 MiB
    r = sk_server.post(big)
    assert r.status_code == 413 and "at most" in r.json()["message"]
    assert httpx.get(sk_server.url + "/invocations").status_code == 405
    assert sk_server.get("/nope").status_code == 404
    # after every error, it still scores
    r = sk_server.post({"dataframe_records": [{"a": 0.5, "b": 0.5, "c": 1}]})
    assert r.status_code == 200


def test_ping_health_version_metrics(sk_server: ScoringServer, models: dict[str, object]) -> None:
    assert sk_server.get("/ping").status_code == 200
    health = sk_server.get("/health").json()
    assert health["status"] == "ok" and health["model_uri"] == str(models["sk"])
    version = sk_server.get("/version").json()
    assert re.match(r"\d+\.\d+", version["version"])
    before = _metric(sk_server, "mltrack_serving_rows_scored_total")
    for _ in range(6):  # two workers: the metrics are summed over both
        assert (
            sk_server.post({"dataframe_records": [{"a": 0.5, "b": 0.5, "c": 1}] * 3}).status_code
            == 200
        )
    sk_server.post({"dataframe_records": [{"a": 0.5}]})
    text = sk_server.get("/metrics").text
    assert _metric(sk_server, "mltrack_serving_rows_scored_total") == before + 18
    assert re.search(r'mltrack_serving_requests_total\{status="400"\} [1-9]', text)
    assert re.search(r'mltrack_serving_errors_total\{kind="bad_request"\} [1-9]', text)
    assert "mltrack_serving_request_seconds_bucket" in text


def _metric(server: ScoringServer, name: str) -> float:
    text = server.get("/metrics").text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_params_timeout_model_error_and_row_cap(py_server: ScoringServer) -> None:
    rows = {"dataframe_records": [{"x": 1.0, "sleep": 0.0}, {"x": 2.0, "sleep": 0.0}]}
    r = py_server.post(rows)
    assert r.status_code == 200
    assert r.json() == {"predictions": [{"y": 2.0, "z": 2.0}, {"y": 4.0, "z": 3.0}]}
    r = py_server.post({**rows, "params": {"scale": 10.0}})
    assert r.json()["predictions"][1]["y"] == 20.0
    r = py_server.post({**rows, "params": {"scale": "abc"}})
    assert r.status_code == 400, r.text
    assert "'scale'" in r.json()["message"] and "double" in r.json()["message"]
    # a model bug: 500 with a request id, nothing of the model's internals
    r = py_server.post(
        {"dataframe_records": [{"x": -1.0, "sleep": 0.0}]}, headers={"x-request-id": "req-42"}
    )
    assert r.status_code == 500
    body = r.json()
    assert body["request_id"] == "req-42" and "req-42" in body["message"]
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret internals" in py_server.log()  # the traceback is in the server's log
    # too many rows
    r = py_server.post({"dataframe_records": [{"x": 1.0, "sleep": 0.0}] * 101})
    assert r.status_code == 413 and "--max-batch-rows" in r.json()["message"]
    # past the timeout: 504, then the server answers again (the stuck worker is replaced)
    r = py_server.post({"dataframe_records": [{"x": 1.0, "sleep": 4.0}]})
    assert r.status_code == 504 and "--timeout" in r.json()["message"]
    r = py_server.post(rows)
    assert r.status_code == 200


def test_bearer_token(models: dict[str, object], tmp_path: Path) -> None:
    token = "s3cret-token-value"
    with start_scoring_server(
        tmp_path, "-m", str(models["sk"]), env={"MLTRACK_SERVE_TOKEN": token}
    ) as server:
        body = {"dataframe_records": [{"a": 0.5, "b": 0.5, "c": 1}]}
        r = server.post(body)
        assert r.status_code == 401 and "Bearer" in r.json()["message"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert server.post(body, headers={"authorization": "Bearer wrong-token"}).status_code == 401
        assert server.get("/metrics").status_code == 401
        assert server.get("/ping").status_code == 200  # health checks need no token
        r = server.post(body, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert "s3cret" not in " ".join(server.proc.args)  # type: ignore[arg-type]


def test_graceful_shutdown_finishes_requests_in_flight(
    models: dict[str, object], tmp_path: Path
) -> None:
    with start_scoring_server(tmp_path, "-m", str(models["py"]), "--workers", "2") as server:
        result: dict[str, httpx.Response] = {}

        def slow() -> None:
            result["r"] = server.post({"dataframe_records": [{"x": 3.0, "sleep": 2.0}]})

        t = threading.Thread(target=slow)
        t.start()
        deadline = time.monotonic() + 30
        while _metric(server, "mltrack_serving_requests_in_flight") < 1:
            assert time.monotonic() < deadline, "the slow request never arrived"
            time.sleep(0.05)
        code = server.stop()
        t.join(30)
        assert result["r"].status_code == 200
        assert result["r"].json()["predictions"][0]["y"] == 6.0
        assert code == 0
        assert "Server stopped." in server.log()


def test_a_second_model_error_kind_keeps_the_workers(py_server: ScoringServer) -> None:
    """Many failing requests in a row never take the server down."""
    for _ in range(20):
        assert py_server.post({"dataframe_records": [{"x": -1.0, "sleep": 0.0}]}).status_code == 500
    ok = py_server.post({"dataframe_records": [{"x": 1.0, "sleep": 0.0}]})
    assert ok.status_code == 200
    assert np.isclose(ok.json()["predictions"][0]["y"], 2.0)
    assert json.loads(py_server.get("/health").text)["status"] == "ok"
