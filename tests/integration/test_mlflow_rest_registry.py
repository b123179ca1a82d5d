"""The model registry over MLflow's REST API: the official ``mlflow`` client, unchanged,
against a real ``mltrack server`` process (registered models, versions, aliases, tags,
search, logged models in the store's table, loading ``models:/name@alias``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from server_support import ServerProcess, start_mltrack_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_mltrack_server(tmp_path_factory.mktemp("mlflow-registry")) as proc:
        yield proc


@pytest.fixture
def client(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(server.url, registry_uri=server.url)
    while mlflow.active_run():
        mlflow.end_run()


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def _add_n(n: float) -> Any:
    """A pyfunc model adding ``n`` (mlflow.pyfunc is imported here: its import warns)."""
    import mlflow.pyfunc

    class AddN(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def predict(self, model_input: Any, params: Any = None) -> Any:
            return model_input + n

    return AddN()


def test_registered_model_crud_tags_search_and_paging(client: MlflowClient) -> None:
    created = client.create_registered_model(
        "reg-crud", tags={"team": "vision"}, description="first"
    )
    assert (created.name, created.description, created.tags) == (
        "reg-crud",
        "first",
        {"team": "vision"},
    )
    assert created.creation_timestamp > 0
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model("reg-crud")
    assert _code(exc) == "RESOURCE_ALREADY_EXISTS"

    client.update_registered_model("reg-crud", description="second")
    client.set_registered_model_tag("reg-crud", "stage", "dev")
    client.delete_registered_model_tag("reg-crud", "team")
    got = client.get_registered_model("reg-crud")
    assert (got.description, got.tags) == ("second", {"stage": "dev"})

    for name in ("reg-crud-b", "reg-crud-c", "other"):
        client.create_registered_model(name)
    found = client.search_registered_models(filter_string="name LIKE 'reg-crud%'")
    assert [m.name for m in found] == ["reg-crud", "reg-crud-b", "reg-crud-c"]
    tagged = client.search_registered_models(filter_string="tags.stage = 'dev'")
    assert [m.name for m in tagged] == ["reg-crud"]
    first = client.search_registered_models("name LIKE 'reg-crud%'", max_results=2)
    assert [m.name for m in first] == ["reg-crud", "reg-crud-b"] and first.token
    rest = client.search_registered_models(
        "name LIKE 'reg-crud%'", max_results=2, page_token=first.token
    )
    assert [m.name for m in rest] == ["reg-crud-c"] and not rest.token

    client.rename_registered_model("reg-crud-c", "reg-renamed")
    assert client.get_registered_model("reg-renamed").name == "reg-renamed"
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("reg-crud-c")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model("reg-renamed")
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("reg-renamed")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_versions_aliases_and_load_by_alias(client: MlflowClient, server: ServerProcess) -> None:
    import numpy as np

    mlflow.set_experiment("registry-load")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=_add_n(5))
    assert info.model_id.startswith("m-")
    logged = client.get_logged_model(info.model_id)
    assert logged.source_run_id == run.info.run_id and str(logged.status) in (
        "READY",
        "LoggedModelStatus.READY",
    )

    v1 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "reg-alias")
    # MLflow's client resolves runs:/<run>/model to the logged model's files
    assert (v1.name, v1.version, v1.run_id) == ("reg-alias", "1", run.info.run_id)
    assert info.model_id in v1.source
    v2 = mlflow.register_model(f"models:/{info.model_id}", "reg-alias", tags={"k": "v"})
    assert (v2.version, v2.tags) == ("2", {"k": "v"})
    # the lineage is kept (MLflow 3.17's ModelVersion.from_proto drops model_id: read it raw)
    raw = requests.get(
        f"{server.url}/api/2.0/mlflow/model-versions/get",
        params={"name": "reg-alias", "version": "2"},
        timeout=30,
    ).json()["model_version"]
    assert (raw["model_id"], raw["run_id"]) == (info.model_id, run.info.run_id)

    client.set_registered_model_alias("reg-alias", "champion", "1")
    by_alias = client.get_model_version_by_alias("reg-alias", "champion")
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])
    assert client.get_registered_model("reg-alias").aliases == {"champion": "1"}

    uri = client.get_model_version_download_uri("reg-alias", "1")
    assert uri.startswith("mlflow-artifacts:/") and info.model_id in uri

    loaded = mlflow.pyfunc.load_model("models:/reg-alias@champion")
    assert np.allclose(loaded.predict(np.array([1.0, 2.0])), [6.0, 7.0])

    client.update_model_version("reg-alias", "2", description="better")
    client.set_model_version_tag("reg-alias", "2", "checked", "yes")
    client.delete_model_version_tag("reg-alias", "2", "k")
    got = client.get_model_version("reg-alias", "2")
    assert (got.description, got.tags) == ("better", {"checked": "yes"})

    versions = client.search_model_versions("name = 'reg-alias'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    by_run = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert {v.name for v in by_run} == {"reg-alias"}
    latest = client.get_latest_versions("reg-alias")
    assert [v.version for v in latest] == ["2"]

    client.delete_registered_model_alias("reg-alias", "champion")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias("reg-alias", "champion")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    client.delete_model_version("reg-alias", "1")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version("reg-alias", "1")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"

    # our own client reads the same registry from the same store
    from jupyter_mltrack.tracking.client import TrackingClient

    ours = TrackingClient(server.url)
    try:
        mv = ours.get_model_version("reg-alias", "2")
        assert (mv.description, mv.model_id) == ("better", info.model_id)
    finally:
        ours.close()


def test_logged_models_in_the_store_table(client: MlflowClient) -> None:
    exp_id = client.create_experiment("logged-models-table")
    run = client.create_run(exp_id)
    model = client.create_logged_model(
        exp_id, name="lm", source_run_id=run.info.run_id, params={"alpha": "0.5"}
    )
    other = client.create_logged_model(exp_id, name="other", tags={"t": "1"})
    client.finalize_logged_model(model.model_id, mlflow.entities.LoggedModelStatus.READY)
    client.set_logged_model_tags(model.model_id, {"kind": "tree"})
    client.log_metric(run.info.run_id, "acc", 0.9, model_id=model.model_id)

    got = client.get_logged_model(model.model_id)
    assert got.params == {"alpha": "0.5"} and got.tags == {"kind": "tree"}
    assert [(m.key, m.value) for m in got.metrics] == [("acc", 0.9)]
    ready = client.search_logged_models([exp_id], filter_string="name = 'lm'")
    assert [m.model_id for m in ready] == [model.model_id]
    found = client.search_logged_models([exp_id], filter_string="metrics.acc > 0.5")
    assert [m.model_id for m in found] == [model.model_id]
    by_name = client.search_logged_models([exp_id], order_by=[{"field_name": "name"}])
    assert [m.name for m in by_name] == ["lm", "other"]
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [model.model_id]

    client.delete_logged_model(other.model_id)
    with pytest.raises(MlflowException) as exc:
        client.get_logged_model(other.model_id)
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_search_logged_models_by_dataset(client: MlflowClient) -> None:
    exp_id = client.create_experiment("logged-models-datasets")
    run_id = client.create_run(exp_id).info.run_id
    a, b, c = (client.create_logged_model(exp_id, name=n) for n in ("a", "b", "c"))
    client.log_metric(
        run_id, "acc", 0.9, dataset_name="eval", dataset_digest="123", model_id=a.model_id
    )
    client.log_metric(
        run_id, "acc", 0.8, dataset_name="eval", dataset_digest="456", model_id=b.model_id
    )
    client.log_metric(run_id, "acc", 0.7, model_id=c.model_id)

    def names(datasets: list[dict[str, str]], **kw: Any) -> list[str]:
        order = [{"field_name": "name"}]
        found = client.search_logged_models([exp_id], datasets=datasets, order_by=order, **kw)
        return [m.name for m in found]

    assert names([{"dataset_name": "eval", "dataset_digest": "123"}]) == ["a"]
    assert names([{"dataset_name": "eval"}]) == ["a", "b"]
    assert names([{"dataset_name": "eval", "dataset_digest": "9"}]) == []
    assert names([{"dataset_name": "eval"}], filter_string="name != 'a'") == ["b"]
    on_456 = [{"dataset_name": "eval", "dataset_digest": "456"}]
    assert names(on_456, filter_string="metrics.acc > 0.75") == ["b"]
    assert names(on_456, filter_string="metrics.acc > 0.85") == []
    page = client.search_logged_models(
        [exp_id],
        datasets=[{"dataset_name": "eval"}],
        max_results=1,
        order_by=[{"field_name": "name"}],
    )
    assert [m.name for m in page] == ["a"] and page.token
    rest = client.search_logged_models(
        [exp_id],
        datasets=[{"dataset_name": "eval"}],
        max_results=1,
        order_by=[{"field_name": "name"}],
        page_token=page.token,
    )
    assert [m.name for m in rest] == ["b"] and not rest.token
    with pytest.raises(MlflowException) as exc:
        client.search_logged_models(
            [exp_id], datasets=[{"dataset_name": "", "dataset_digest": "1"}]
        )
    assert _code(exc) == "INVALID_PARAMETER_VALUE" and "dataset_name" in str(exc.value)


def test_run_outputs_and_model_inputs_are_recorded(
    client: MlflowClient, server: ServerProcess
) -> None:
    from mlflow.entities import Dataset, DatasetInput, LoggedModelInput, LoggedModelOutput

    exp_id = client.create_experiment("run-model-links")
    run_id = client.create_run(exp_id).info.run_id
    own = client.create_logged_model(exp_id, name="own", source_run_id=run_id).model_id
    out = client.create_logged_model(exp_id, name="out").model_id
    used = client.create_logged_model(exp_id, name="used").model_id

    client.log_outputs(run_id, [LoggedModelOutput(out, 7)])
    dataset = Dataset(name="d", digest="x1", source_type="local", source="/tmp/d")
    client.log_inputs(run_id, datasets=[DatasetInput(dataset)], models=[LoggedModelInput(used)])
    client.log_inputs(run_id, models=[LoggedModelInput(used)])  # once, not twice

    def links(run: Any) -> tuple[list[str], set[tuple[str, int]]]:
        inputs = [m.model_id for m in run.inputs.model_inputs]
        return inputs, {(m.model_id, m.step) for m in run.outputs.model_outputs}

    want = ([used], {(own, 0), (out, 7)})  # `own` from its source_run_id, at step 0
    got = client.get_run(run_id)
    assert links(got) == want and [d.dataset.name for d in got.inputs.dataset_inputs] == ["d"]
    (found,) = client.search_runs([exp_id])
    assert links(found) == want
    client.log_outputs(run_id, [LoggedModelOutput(own, 2)])  # recorded: replaces the derived
    assert links(client.get_run(run_id))[1] == {(own, 2), (out, 7)}

    from jupyter_mltrack.tracking.client import TrackingClient

    ours = TrackingClient(server.url)
    try:
        run = ours.get_run(run_id)
        assert [m.model_id for m in run.inputs.model_inputs] == [used]
        assert {(m.model_id, m.step) for m in run.outputs.model_outputs} == {(own, 2), (out, 7)}
    finally:
        ours.close()

    missing = "m-" + "0" * 32
    for call in (
        lambda: client.log_outputs(run_id, [LoggedModelOutput(missing, 0)]),
        lambda: client.log_inputs(run_id, models=[LoggedModelInput(missing)]),
        lambda: client.log_outputs("0" * 32, [LoggedModelOutput(out, 0)]),
        lambda: client.log_inputs("0" * 32, models=[LoggedModelInput(out)]),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert links(client.get_run(run_id))[1] == {(own, 2), (out, 7)}
    client.delete_run(run_id)  # a deleted run refuses links as it refuses params
    with pytest.raises(MlflowException) as refused:
        client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException) as exc:
        client.log_outputs(run_id, [LoggedModelOutput(out, 1)])
    assert _code(exc) == _code(refused)


def test_requests_are_checked_like_mlflow(server: ServerProcess) -> None:
    api = f"{server.url}/api/2.0/mlflow"
    missing = requests.post(f"{api}/registered-models/create", json={}, timeout=30)
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "name" in missing.json()["message"]
    bad = requests.get(
        f"{api}/model-versions/get", params={"name": "x", "version": "one"}, timeout=30
    )
    assert bad.status_code == 400 and "version" in bad.json()["message"]
    too_many = requests.get(
        f"{api}/registered-models/search", params={"max_results": 5000}, timeout=30
    )
    assert too_many.status_code == 400 and "max_results" in too_many.json()["message"]
    wrong_verb = requests.delete(f"{api}/registered-models/set-tag", json={}, timeout=30)
    assert wrong_verb.status_code == 405
    none = requests.get(f"{api}/registered-models/get", params={"name": "nope"}, timeout=30)
    assert none.status_code == 404 and none.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_version_sources_are_checked_as_mlflow_3_17_does(
    client: MlflowClient, server: ServerProcess
) -> None:
    client.create_registered_model("sources")
    exp_id = client.create_experiment("sources")
    run = client.create_run(exp_id)
    run_id, root = run.info.run_id, run.info.artifact_uri
    assert root.startswith("mlflow-artifacts:/")
    # under the run's proxied artifact root, naming the run: accepted
    ok = client.create_model_version("sources", f"{root}/model", run_id)
    assert (ok.source, ok.run_id) == (f"{root}/model", run_id)
    # runs:/ must name the request's run (MLflow checks no more: the run need not exist)
    fake = client.create_model_version("sources", "runs:/run_id/model", "run_id")
    assert fake.run_id == "run_id"
    assert client.get_model_version_download_uri("sources", fake.version) == "runs:/run_id/model"
    # object stores pass as in MLflow
    assert client.create_model_version("sources", "s3://bucket/model").source == "s3://bucket/model"

    identify = "request parameter must identify the resource that contains the source"
    refused = [
        (f"{root}/model", "no-such-run", f"The run_id {identify}"),  # the run must exist
        (f"{root}/../../other/model", run_id, "without relative path references"),
        ("mlflow-artifacts:/0/elsewhere/model", run_id, f"The run_id {identify}"),
        ("runs:/run_id/model", "run_id_1", f"The run_id {identify}"),
        ("/tmp/model", run_id, "To use a local path as a model version source"),
        ("file:///tmp/model", None, "To use a local path as a model version source"),
        ("models:/m-" + "0" * 32, None, f"The model_id {identify}"),
    ]
    for source, rid, message in refused:
        with pytest.raises(MlflowException) as exc:
            client.create_model_version("sources", source, rid)
        assert _code(exc) == "INVALID_PARAMETER_VALUE", source
        assert message in str(exc.value.message), source
    # a version of another version takes its lineage, which a request must not contradict
    copy = client.create_model_version("sources", f"models:/sources/{ok.version}")
    assert (copy.source, copy.run_id) == (f"models:/sources/{ok.version}", run_id)
    resp = requests.post(
        f"{server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "sources", "source": f"models:/sources/{ok.version}", "run_id": "x"},
        timeout=30,
    )
    assert resp.status_code == 400
    assert "must match the referenced model version" in resp.json()["message"]
    versions = client.search_model_versions("name = 'sources'")
    assert len(versions) == 4  # the refused requests created nothing


def test_a_version_of_a_logged_model_tags_it_and_takes_its_run(client: MlflowClient) -> None:
    client.create_registered_model("tagged-by-versions")
    exp_id = client.create_experiment("tagged-by-versions")
    run = client.create_run(exp_id)
    model = client.create_logged_model(exp_id, source_run_id=run.info.run_id)
    for expected in ("1", "2"):
        mv = client.create_model_version(
            "tagged-by-versions", model.artifact_location, model_id=model.model_id
        )
        # (MLflow's ModelVersion.from_proto drops model_id; the run comes from the model)
        assert (mv.version, mv.run_id) == (expected, run.info.run_id)
    tag = client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert tag == (
        '[{"name": "tagged-by-versions", "version": 1}, '
        '{"name": "tagged-by-versions", "version": 2}]'
    )
    # the source must lie in that logged model's artifacts, the logged model must exist
    with pytest.raises(MlflowException) as exc:
        client.create_model_version(
            "tagged-by-versions", run.info.artifact_uri, model_id=model.model_id
        )
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert "The model_id request parameter must identify" in str(exc.value.message)
    with pytest.raises(MlflowException) as exc:
        client.create_model_version("tagged-by-versions", "s3://b/m", model_id="m-" + "1" * 32)
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_logged_model_source_run_and_experiment_are_checked(client: MlflowClient) -> None:
    exp_id = client.create_experiment("logged-model-checks")
    # MLflow's server keeps any source_run_id; so does ours on MLflow's routes
    assert client.create_logged_model(exp_id, source_run_id="123").source_run_id == "123"
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as exc:
        client.create_logged_model(exp_id)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert f"The experiment {exp_id} must be in the 'active' state" in str(exc.value.message)
