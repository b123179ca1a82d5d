"""The official ``mlflow`` client, unchanged, against a real ``mltrack server`` process.

Everything goes over HTTP: MLflow's REST routes (``jupyter_mltrack.mlflow_rest``) and its
``mlflow-artifacts`` proxy. Each test asserts the values that come back, and where it
matters, what our own client reads from the same store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from server_support import ServerProcess, start_mltrack_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException, RestException  # noqa: E402

pytestmark = [
    # MLflow's client warns about things of its own (pydantic, pkg_resources, signatures)
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_mltrack_server(tmp_path_factory.mktemp("mlflow-rest")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    yield MlflowClient(server.url)
    while mlflow.active_run():
        mlflow.end_run()


def test_experiments_create_get_search_rename_delete_restore(client: MlflowClient) -> None:
    exp_id = client.create_experiment("rest-exp", tags={"team": "vision"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tags) == ("rest-exp", "active", {"team": "vision"})
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert client.get_experiment_by_name("rest-exp").experiment_id == exp_id
    assert client.get_experiment_by_name("no-such-experiment") is None
    found = client.search_experiments(filter_string="name LIKE 'rest-%'")
    assert [e.name for e in found] == ["rest-exp"]
    assert [e.name for e in client.search_experiments(filter_string="tags.team = 'vision'")] == [
        "rest-exp"
    ]
    client.rename_experiment(exp_id, "rest-exp-2")
    client.set_experiment_tag(exp_id, "stage", "dev")
    assert client.get_experiment(exp_id).tags == {"team": "vision", "stage": "dev"}
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    active = {e.experiment_id for e in client.search_experiments()}
    deleted = {e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)}
    assert exp_id not in active and exp_id in deleted
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    with pytest.raises(RestException) as err:
        client.create_experiment("rest-exp-2")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RestException) as err:
        client.get_experiment("987654")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_experiment_tag_client_fluent_and_errors(client: MlflowClient) -> None:
    exp_id = client.create_experiment("tag-deletes", tags={"a": "1", "b/c d": "2", "keep": "3"})
    client.delete_experiment_tag(exp_id, "a")
    client.delete_experiment_tag(exp_id, "b/c d")
    assert client.get_experiment(exp_id).tags == {"keep": "3"}
    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_experiment_tag("fluent", "x")
    mlflow.delete_experiment_tag("fluent")
    assert client.get_experiment(exp_id).tags == {"keep": "3"}
    # MLflow's codes and message: a missing tag or experiment is RESOURCE_DOES_NOT_EXIST,
    # a deleted experiment INVALID_PARAMETER_VALUE (checked before the tag)
    with pytest.raises(RestException) as err:
        client.delete_experiment_tag(exp_id, "a")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert f"No tag with name: a in experiment with id {exp_id}" in err.value.message
    with pytest.raises(RestException) as err:
        client.delete_experiment_tag("987654", "keep")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_experiment(exp_id)
    with pytest.raises(RestException) as err:
        client.delete_experiment_tag(exp_id, "keep")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"The experiment {exp_id} must be in the 'active' state" in err.value.message
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).tags == {"keep": "3"}


def test_fluent_runs_params_metrics_tags_nested_and_async(client: MlflowClient) -> None:
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.01, "layers": 3})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "nan": float("nan"), "inf": float("inf")})
        mlflow.set_tags({"team": "a", "stage": "dev"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            for step in range(20):
                mlflow.log_metric("async", float(step), step=step, synchronous=False)
            mlflow.log_param("k", "v", synchronous=False)
            mlflow.set_tag("async-tag", "yes", synchronous=False)
        mlflow.flush_async_logging()
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "parent"
    assert run.data.params == {"lr": "0.01", "layers": "3"}
    assert run.data.metrics["loss"] == pytest.approx(0.2)
    assert run.data.metrics["acc"] == 0.9 and np.isnan(run.data.metrics["nan"])
    assert run.data.metrics["inf"] == float("inf")
    assert {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")} == {
        "team": "a",
        "stage": "dev",
    }
    kid = client.get_run(child.info.run_id)
    assert kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert kid.data.params == {"k": "v"} and kid.data.tags["async-tag"] == "yes"
    history = client.get_metric_history(child.info.run_id, "async")
    assert [(m.step, m.value) for m in history] == [(s, float(s)) for s in range(20)]
    loss = client.get_metric_history(parent.info.run_id, "loss")
    assert [m.value for m in loss] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    latest = {m.key: m for m in run.data._metric_objs}
    assert latest["loss"].step == 4


def test_our_client_sees_what_mlflow_logged(client: MlflowClient, server: ServerProcess) -> None:
    from jupyter_mltrack.tracking.core import TrackingCore

    exp_id = client.create_experiment("both-clients")
    run = client.create_run(exp_id, run_name="shared")
    client.log_batch(
        run.info.run_id,
        metrics=[mlflow.entities.Metric("m", 2.5, 1000, 3)],
        params=[mlflow.entities.Param("p", "x")],
        tags=[mlflow.entities.RunTag("t", "y")],
    )
    client.set_terminated(run.info.run_id)
    from jupyter_mltrack.store.remote.store import remote_store_factory

    ours = TrackingCore(remote_store_factory(server.url))
    try:
        got = ours.get_run(run.info.run_id)
        assert got.data.metrics == {"m": 2.5} and got.data.params == {"p": "x"}
        assert got.data.tags["t"] == "y" and got.info.status == "FINISHED"
    finally:
        ours.store.close()


def test_artifacts_text_dict_file_table_image(client: MlflowClient, tmp_path: Path) -> None:
    mlflow.set_experiment("artifacts")
    local = tmp_path / "weights.bin"
    local.write_bytes(bytes(range(256)) * 100)
    with mlflow.start_run() as run:
        mlflow.log_text("hello world", "notes/hello.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
        mlflow.log_artifact(str(local), artifact_path="files")
        mlflow.log_table({"x": [1, 2], "y": ["a", "b"]}, "table.json")
        mlflow.log_image(np.full((8, 8, 3), 200, dtype=np.uint8), "img/square.png")
    run_id = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    top = sorted(f.path for f in client.list_artifacts(run_id))
    assert top == ["config.json", "files", "img", "notes", "table.json"]
    assert [f.path for f in client.list_artifacts(run_id, "files")] == ["files/weights.bin"]
    uri = client.get_run(run_id).info.artifact_uri
    assert mlflow.artifacts.load_text(f"{uri}/notes/hello.txt") == "hello world"
    assert mlflow.artifacts.load_dict(f"{uri}/config.json") == {"a": 1, "b": [1, 2]}
    path = client.download_artifacts(run_id, "files/weights.bin", str(tmp_path / "dl"))
    assert Path(path).read_bytes() == local.read_bytes()
    table = json.loads(mlflow.artifacts.load_text(f"{uri}/table.json"))
    assert table["columns"] == ["x", "y"] and table["data"] == [[1, "a"], [2, "b"]]
    image = mlflow.artifacts.load_image(f"{uri}/img/square.png")
    assert np.asarray(image).shape == (8, 8, 3) and np.asarray(image)[0, 0, 0] == 200


def test_datasets_as_run_inputs(client: MlflowClient) -> None:
    import pandas as pd

    mlflow.set_experiment("datasets")
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    dataset = mlflow.data.from_pandas(frame, name="train", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    got = inputs[0]
    assert (got.dataset.name, got.dataset.digest) == ("train", dataset.digest)
    entity = dataset._to_mlflow_entity()
    assert (got.dataset.source_type, got.dataset.source) == (entity.source_type, entity.source)
    assert json.loads(got.dataset.schema) == json.loads(entity.schema)
    assert json.loads(got.dataset.profile) == json.loads(entity.profile)
    assert {t.key: t.value for t in got.tags}["mlflow.data.context"] == "training"


def test_search_filters_order_and_paging(client: MlflowClient) -> None:
    exp_id = client.create_experiment("search")
    ids = []
    for i in range(7):
        run = client.create_run(
            exp_id, run_name=f"r{i}", tags={"parity": "even" if i % 2 == 0 else "odd"}
        )
        client.log_metric(run.info.run_id, "acc", i / 10, step=0)
        client.log_param(run.info.run_id, "i", str(i))
        ids.append(run.info.run_id)
    found = client.search_runs([exp_id], "metrics.acc > 0.25 and tags.parity = 'even'")
    assert sorted(r.data.params["i"] for r in found) == ["4", "6"]
    ordered = client.search_runs([exp_id], order_by=["metrics.acc DESC"])
    assert [r.data.params["i"] for r in ordered] == ["6", "5", "4", "3", "2", "1", "0"]
    page = client.search_runs([exp_id], order_by=["params.i ASC"], max_results=3)
    assert [r.data.params["i"] for r in page] == ["0", "1", "2"] and page.token
    rest = client.search_runs(
        [exp_id], order_by=["params.i ASC"], max_results=3, page_token=page.token
    )
    assert [r.data.params["i"] for r in rest] == ["3", "4", "5"]
    # our superset: OR and IN are accepted on MLflow's route too
    either = client.search_runs([exp_id], "params.i IN ('1', '2') OR attributes.run_name = 'r6'")
    assert sorted(r.info.run_name for r in either) == ["r1", "r2", "r6"]
    frame = mlflow.search_runs([exp_id], filter_string="params.i = '3'")
    assert list(frame["run_id"]) == [ids[3]] and frame["metrics.acc"][0] == pytest.approx(0.3)
    with pytest.raises(MlflowException) as err:
        client.search_runs([exp_id], "metrics.acc >>> 1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_metric_history_and_bulk_interval(client: MlflowClient) -> None:
    exp_id = client.create_experiment("history")
    run = client.create_run(exp_id)
    metrics = [mlflow.entities.Metric("x", float(s) * 2, 1_000 + s, s) for s in range(1000)]
    for start in range(0, 1000, 1000):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    history = client.get_metric_history(run.info.run_id, "x")
    assert len(history) == 1000 and history[999].value == 1998.0
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request_safe

    creds = get_default_host_creds(mlflow.get_tracking_uri())
    response = http_request_safe(
        creds,
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        "GET",
        params={"run_ids": [run.info.run_id], "metric_key": "x", "max_results": 10},
    )
    got = response.json()["metrics"]
    steps = [m["step"] for m in got]
    # MLflow's sampling: every (n / max_results)-th step, then the last one
    assert steps == [*range(0, 1000, 100), 999]
    assert all(m["run_id"] == run.info.run_id and m["value"] == 2 * m["step"] for m in got)


def test_delete_and_restore_runs(client: MlflowClient) -> None:
    exp_id = client.create_experiment("lifecycle")
    run = client.create_run(exp_id)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([exp_id]) == []
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run.info.run_id]
    with pytest.raises(MlflowException):
        client.log_param(run.info.run_id, "p", "1")  # a deleted run refuses writes
    client.restore_run(run.info.run_id)
    client.log_param(run.info.run_id, "p", "1")
    assert client.get_run(run.info.run_id).data.params == {"p": "1"}
    with pytest.raises(RestException) as err:
        client.get_run("0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_sklearn_log_model_and_load_it_back(client: MlflowClient) -> None:
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment("models")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.9]])
    y = np.array([0, 1, 1, 0])
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="clf", input_example=x[:2])
    assert info.model_uri == f"models:/{info.model_id}"
    logged = client.get_logged_model(info.model_id)
    assert logged.status == "READY" and logged.source_run_id == run.info.run_id
    assert logged.name == "clf"
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/clf"):
        loaded = mlflow.sklearn.load_model(uri)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(pyfunc.predict(x), model.predict(x))
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]
    found = client.search_logged_models([run.info.experiment_id], filter_string="name = 'clf'")
    assert [m.model_id for m in found] == [info.model_id]


def _raw(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_version_unknown_path_and_ajax_alias(server: ServerProcess) -> None:
    from jupyter_mltrack import __version__

    assert server.get("/health") == b"OK"
    assert server.get("/version").decode() == __version__
    status, body = _raw(server, "GET", "/api/2.0/mlflow/no/such/route")
    assert status == 404 and body["error_code"] == "ENDPOINT_NOT_FOUND"
    status, body = _raw(server, "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
    assert status == 200 and body["experiment"]["name"] == "Default"
