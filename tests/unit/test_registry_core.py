"""The registry on the client (TrackingCore's RegistryMethods) and the fluent functions, on a
real DuckDB store: input validation with clear errors, model URIs, copy, download URIs,
``mt.register_model`` lineage and ``mt.last_logged_model``."""

from __future__ import annotations

import pytest

import jupyter_mltrack as mt
from jupyter_mltrack.errors import (
    AlreadyExists,
    InvalidFilter,
    InvalidParameter,
    NotFound,
    RunNotFound,
)
from jupyter_mltrack.tracking.registry_core import ModelUri, parse_model_uri


@pytest.fixture
def client(tracking_store: str) -> mt.MlflowClient:
    return mt.MlflowClient()


def test_parse_model_uri_forms():
    mid = "m-" + "a" * 32
    assert parse_model_uri("models:/churn/3") == ModelUri("churn", version=3)
    assert parse_model_uri("models:/churn@champion") == ModelUri("churn", alias="champion")
    assert parse_model_uri("models:/churn/latest") == ModelUri("churn")
    assert parse_model_uri(f"models:/{mid}") == ModelUri(None, model_id=mid)
    for bad in ("runs:/x/model", "models:/churn", "models:/churn/x", "models:/@a", 3):
        with pytest.raises(InvalidParameter, match="models:/<name>"):
            parse_model_uri(bad)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.create_registered_model(""), "non-empty"),
        (lambda c: c.create_registered_model("a/b"), "cannot contain '/'"),
        (lambda c: c.create_registered_model("x", tags=[1]), "key"),
        (lambda c: c.create_registered_model("x", description=3), "description"),
        (lambda c: c.get_model_version("x", "one"), "positive integer"),
        (lambda c: c.get_model_version("x", 0), "positive integer"),
        (lambda c: c.set_registered_model_alias("x", "latest", 1), "reserved"),
        (lambda c: c.set_registered_model_alias("x", "v2", 1), "reserved"),
        (lambda c: c.set_registered_model_alias("x", "a b", 1), "letters, digits"),
        (lambda c: c.create_model_version("x", ""), "source"),
        (lambda c: c.search_registered_models(max_results=0), "max_results"),
        (lambda c: c.finalize_logged_model("m-1", "DONE"), "READY"),
        (lambda c: c.create_logged_model("0", name=""), "non-empty"),
        (lambda c: c.get_latest_versions("x", stages=["Production"]), "stages"),
        (lambda c: c.search_logged_models(datasets={"dataset_name": "d"}), "list of"),
        (lambda c: c.search_logged_models(datasets=["d"]), "must be a dict"),
        (lambda c: c.search_logged_models(datasets=[{"dataset_digest": "1"}]), "dataset_name"),
        (lambda c: c.search_logged_models(datasets=[{"dataset_name": ""}]), "non-empty"),
        (lambda c: c.search_logged_models(datasets=[{"name": "d"}]), "takes only"),
        (
            lambda c: c.search_logged_models(datasets=[{"dataset_name": "d", "dataset_digest": 1}]),
            "dataset_digest must be a string",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, call, message):
    with pytest.raises(InvalidParameter, match=message):
        call(client)


def test_a_logged_model_of_an_unknown_run_is_refused(client):
    with pytest.raises(RunNotFound, match=r"'no-such-run' \(source_run_id of the logged model\)"):
        client.create_logged_model("0", name="m", source_run_id="no-such-run")
    assert client.search_logged_models(["0"]) == []


def test_string_versions_and_mlflow_tag_lists(client):
    from mlflow.entities.model_registry import ModelVersionTag

    client.create_registered_model("churn")
    mv = client.create_model_version("churn", "/tmp/m", tags=[ModelVersionTag("k", "v")])
    assert mv.version == "1" and mv.tags == {"k": "v"}
    assert client.get_model_version("churn", "1") == mv
    client.set_registered_model_alias("churn", "champion", "1")
    assert client.get_model_version_by_alias("churn", "champion").aliases == ["champion"]


def test_search_pages_and_all(client):
    for i in range(5):
        client.create_registered_model(f"m{i}")
    first = client.search_registered_models(max_results=2)
    assert [m.name for m in first] == ["m0", "m1"] and first.token
    second = client.search_registered_models(max_results=2, page_token=first.token)
    assert [m.name for m in second] == ["m2", "m3"]
    with pytest.raises(InvalidFilter, match="position"):
        client.search_registered_models("name == 'x'")
    client.create_model_version("m0", "/a")
    client.create_model_version("m0", "/b")
    assert [v.version for v in client.search_model_versions("name = 'm0'")] == ["2", "1"]


def test_register_model_lineage_copy_and_download_uri(client):
    with mt.start_run() as run:
        pass
    run_id = run.info.run_id
    lm = client.create_logged_model("0", name="model", source_run_id=run_id)
    client.finalize_logged_model(lm.model_id, "READY")
    assert mt.last_logged_model().model_id == lm.model_id

    mv = mt.register_model(lm.model_uri, "churn", tags={"by": "test"})
    assert (mv.name, mv.version, mv.run_id, mv.model_id) == ("churn", "1", run_id, lm.model_id)
    assert mv.tags == {"by": "test"}
    assert client.get_model_version_download_uri("churn", 1) == lm.artifact_location

    # runs:/<run>/<name> finds the run's logged model of that name
    mv2 = mt.register_model(f"runs:/{run_id}/model", "churn")
    assert (mv2.version, mv2.model_id, mv2.source) == ("2", lm.model_id, lm.model_uri)
    # without a logged model of that name it is the run's artifacts at that path
    mv3 = mt.register_model(f"runs:/{run_id}/elsewhere", "churn")
    assert mv3.model_id is None and mv3.source.endswith(f"{run_id}/artifacts/elsewhere")

    client.set_registered_model_alias("churn", "champion", 1)
    copy = client.copy_model_version("models:/churn@champion", "churn-prod")
    assert (copy.name, copy.version, copy.source) == ("churn-prod", "1", "models:/churn/1")
    assert (copy.run_id, copy.model_id, copy.tags) == (run_id, lm.model_id, {"by": "test"})
    assert client.get_model_version_download_uri("churn-prod", 1) == lm.artifact_location
    again = client.copy_model_version("models:/churn/latest", "churn-prod")  # dst exists
    assert (again.version, again.source) == ("2", "models:/churn/3")
    with pytest.raises(NotFound, match="no alias"):
        client.copy_model_version("models:/churn@nope", "x")
    with pytest.raises(AlreadyExists):
        client.create_registered_model("churn")


def test_fluent_search_logged_models(client):
    exp = mt.set_experiment("models")
    with mt.start_run() as run:
        lm = client.create_logged_model(exp.experiment_id, "m", run.info.run_id, params={"a": 1})
    frame = mt.search_logged_models()
    assert list(frame["model_id"]) == [lm.model_id]
    assert frame["params"][0] == {"a": "1"}
    listed = mt.search_logged_models(filter_string="params.a = '1'", output_format="list")
    assert [m.model_id for m in listed] == [lm.model_id]
    client.log_metric(
        run.info.run_id, "acc", 0.9, dataset_name="eval", dataset_digest="1", model_id=lm.model_id
    )
    on_eval = mt.search_logged_models(datasets=[{"dataset_name": "eval"}], output_format="list")
    assert [m.model_id for m in on_eval] == [lm.model_id]
    assert mt.search_logged_models(datasets=[{"dataset_name": "train"}]).empty
    assert mt.get_logged_model(lm.model_id).artifact_location.endswith(
        f"/models/{lm.model_id}/artifacts"
    )
    with pytest.raises(InvalidParameter, match="output_format"):
        mt.search_logged_models(output_format="json")
