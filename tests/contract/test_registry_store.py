"""RegistryStore contract: logged models, registered models, versions, aliases, search.

Every test runs against ``direct`` (DuckDB), ``remote`` (the store API on a unix socket in
front of DuckDB) and ``postgres`` (a real server) with the same assertions (fixtures in
conftest.py). The stores get validated input; ``TrackingCore`` checks are tested in
tests/unit/test_registry_core.py.
"""

from __future__ import annotations

import time

import pytest

from jupyter_mltrack.entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelOutput,
    ModelVersion,
    RegisteredModel,
)
from jupyter_mltrack.errors import (
    AlreadyExists,
    ExperimentNotFound,
    InvalidFilter,
    InvalidParameter,
    NotFound,
    ParamOverwrite,
    RunNotFound,
)
from jupyter_mltrack.store.base import RunQuery
from jupyter_mltrack.store.registry_base import LoggedModelQuery, RegistryQuery, RegistryStore


@pytest.fixture
def reg(store) -> RegistryStore:
    assert isinstance(store, RegistryStore)
    return store


def _run(store) -> str:
    return store.create_run("0", "r", 1_000, "alice", {}, None).info.run_id


def _version(reg, name: str, source: str = "s3://b/m", run_id=None, **kw) -> ModelVersion:
    return reg.create_model_version(
        name,
        source,
        run_id,
        kw.get("tags", {}),
        kw.get("description", ""),
        kw.get("model_id"),
        "alice",
        "",
    )


# ------------------------------------------------------------------ logged models
def test_logged_model_lifecycle(reg):
    run_id = _run(reg)
    lm = reg.create_logged_model("0", "model", run_id, {"t": "1"}, {"alpha": "0.5"}, "sklearn")
    assert isinstance(lm, LoggedModel)
    assert lm.model_id.startswith("m-") and len(lm.model_id) == 34
    assert lm.status == "PENDING" and lm.source_run_id == run_id and lm.model_type == "sklearn"
    assert lm.artifact_location.endswith(f"/0/models/{lm.model_id}/artifacts")
    assert lm.tags == {"t": "1"} and lm.params == {"alpha": "0.5"} and lm.metrics == []
    assert lm.model_uri == f"models:/{lm.model_id}"

    ready = reg.finalize_logged_model(lm.model_id, "READY")
    assert ready.status == "READY"
    assert ready.last_updated_timestamp >= lm.creation_timestamp

    reg.set_logged_model_tags(lm.model_id, {"t": "2", "u": "x"})
    reg.delete_logged_model_tag(lm.model_id, "u")
    reg.log_model_params(lm.model_id, {"beta": "1", "alpha": "0.5"})  # same value: fine
    got = reg.get_logged_model(lm.model_id)
    assert got.tags == {"t": "2"} and got.params == {"alpha": "0.5", "beta": "1"}
    with pytest.raises(ParamOverwrite):
        reg.log_model_params(lm.model_id, {"alpha": "0.9"})

    reg.delete_logged_model(lm.model_id)
    with pytest.raises(NotFound):
        reg.get_logged_model(lm.model_id)
    with pytest.raises(NotFound):
        reg.delete_logged_model(lm.model_id)


def test_logged_model_refuses_a_missing_experiment_and_keeps_any_source_run(reg):
    """The store keeps any source_run_id, as MLflow's does (our client checks it first,
    tests/unit/test_registry_core.py); a missing experiment or model is refused."""
    with pytest.raises(ExperimentNotFound):
        reg.create_logged_model("424242", "m", None, {}, {}, None)
    kept = reg.create_logged_model("0", "m", "nope", {}, {}, None)
    assert reg.get_logged_model(kept.model_id).source_run_id == "nope"
    with pytest.raises(NotFound):
        reg.finalize_logged_model("m-" + "0" * 32, "READY")


def test_run_model_links_are_the_runs_inputs_and_outputs(reg):
    run_id = _run(reg)
    own = reg.create_logged_model("0", "own", run_id, {}, {}, None).model_id  # source run
    out = reg.create_logged_model("0", "out", None, {}, {}, None).model_id
    used = reg.create_logged_model("0", "used", None, {}, {}, None).model_id
    run = reg.get_run(run_id)
    assert run.inputs.model_inputs == [] and run.outputs.model_outputs == [
        LoggedModelOutput(own, 0)  # derived from source_run_id
    ]

    reg.log_model_links(run_id, [("output", out, 3), ("input", used, 0), ("input", used, 0)])
    run = reg.get_run(run_id)
    assert run.inputs.model_inputs == [LoggedModelInput(used)]  # recorded once
    assert sorted(run.outputs.model_outputs, key=lambda m: m.model_id) == sorted(
        [LoggedModelOutput(own, 0), LoggedModelOutput(out, 3)], key=lambda m: m.model_id
    )
    reg.log_model_links(run_id, [("output", own, 5)])  # an explicit row replaces the derived
    (page_run,) = reg.search_runs(RunQuery(("0",))).runs
    for got in (reg.get_run(run_id), page_run):
        assert {(m.model_id, m.step) for m in got.outputs.model_outputs} == {(own, 5), (out, 3)}
        assert got.inputs.model_inputs == [LoggedModelInput(used)]

    other = _run(reg)
    with pytest.raises(RunNotFound):
        reg.log_model_links("0" * 32, [("output", out, 0)])
    with pytest.raises(NotFound):  # nothing of the batch is recorded
        reg.log_model_links(other, [("output", out, 1), ("output", "m-" + "0" * 32, 0)])
    assert reg.get_run(other).outputs.model_outputs == []

    reg.delete_logged_model(used)  # its links go with it
    assert reg.get_run(run_id).inputs.model_inputs == []
    reg.delete_run(run_id)
    assert reg.gc([run_id]) == [run_id]  # its links go with it (run_model_links in gc)
    reg.log_model_links(other, [("input", out, 0)])
    assert reg.get_run(other).inputs.model_inputs == [LoggedModelInput(out)]


def test_logged_model_metrics_come_from_linked_points(reg):
    run_id = _run(reg)
    lm = reg.create_logged_model("0", "model", run_id, {}, {}, None)
    other = reg.create_logged_model("0", "other", run_id, {}, {}, None)
    reg.log_batch(
        [
            (run_id, "acc", 0.5, 10, 1, None, None, lm.model_id),
            (run_id, "acc", 0.7, 11, 2, None, None, lm.model_id),
            (run_id, "acc", 0.6, 12, 2, "eval", "d1", lm.model_id),
            (run_id, "acc", 0.1, 13, 1, None, None, other.model_id),
            (run_id, "loss", 9.0, 14, 1),  # not linked to a model
        ],
        [],
        [],
    )
    got = reg.get_logged_model(lm.model_id)
    seen = sorted((m.key, m.value, m.step, m.dataset_name, m.run_id) for m in got.metrics)
    assert seen == [("acc", 0.6, 2, "eval", run_id), ("acc", 0.7, 2, None, run_id)]
    assert all(m.model_id == lm.model_id for m in got.metrics)
    assert [m.value for m in reg.get_logged_model(other.model_id).metrics] == [0.1]


def test_search_logged_models(reg):
    run_a, run_b = _run(reg), _run(reg)
    a = reg.create_logged_model("0", "forest", run_a, {"team": "x"}, {"depth": "3"}, None)
    b = reg.create_logged_model("0", "linear", run_b, {"team": "y"}, {"depth": "1"}, None)
    reg.finalize_logged_model(a.model_id, "READY")
    reg.log_batch([(run_a, "acc", 0.9, 1, 0, None, None, a.model_id)], [], [])
    reg.log_batch([(run_b, "acc", 0.4, 1, 0, None, None, b.model_id)], [], [])

    def ids(text: str = "", **kw) -> list[str]:
        query = LoggedModelQuery(kw.pop("experiment_ids", ("0",)), text, **kw)
        return [m.model_id for m in reg.search_logged_models(query).items]

    assert ids() == [b.model_id, a.model_id]  # newest first
    assert ids(order_by=("name ASC",)) == [a.model_id, b.model_id]
    assert ids("name = 'forest'") == [a.model_id]
    assert ids("status = 'READY'") == [a.model_id]
    assert ids(f"source_run_id = '{run_b}'") == [b.model_id]
    assert ids("params.depth = '3'") == [a.model_id]
    assert ids("tags.team != 'x'") == [b.model_id]
    assert ids("metrics.acc > 0.5") == [a.model_id]
    assert ids("name LIKE '%ea%' AND metrics.acc < 0.5") == [b.model_id]
    assert ids(experiment_ids=()) == [b.model_id, a.model_id]
    assert ids(experiment_ids=("999",)) == []
    page = reg.search_logged_models(LoggedModelQuery(("0",), "", 1))
    assert len(page.items) == 1 and page.next_page_token
    rest = reg.search_logged_models(LoggedModelQuery(("0",), "", 1, (), page.next_page_token))
    assert [m.model_id for m in rest.items] == [a.model_id] and rest.next_page_token is None
    with pytest.raises(InvalidFilter):
        ids("nosuch = 'x'")


def test_search_logged_models_by_dataset(reg):
    run_id = _run(reg)
    a = reg.create_logged_model("0", "a", run_id, {}, {}, None)
    b = reg.create_logged_model("0", "b", run_id, {}, {}, None)
    c = reg.create_logged_model("0", "c", run_id, {}, {}, None)
    reg.log_batch(
        [
            (run_id, "acc", 0.9, 1, 0, "eval", "123", a.model_id),
            (run_id, "acc", 0.8, 1, 0, "eval", "456", b.model_id),
            (run_id, "loss", 0.1, 1, 0, "train", "t1", b.model_id),
            (run_id, "acc", 0.7, 1, 0, None, None, c.model_id),
        ],
        [],
        [],
    )

    def names(*datasets: tuple[str, str | None], text: str = "") -> list[str]:
        query = LoggedModelQuery(("0",), text, order_by=("name ASC",), datasets=datasets)
        return [m.name for m in reg.search_logged_models(query).items]

    assert names() == ["a", "b", "c"]
    assert names(("eval", "123")) == ["a"]
    assert names(("eval", None)) == ["a", "b"]
    assert names(("train", None), ("eval", "123")) == ["a", "b"]
    assert names(("eval", "999")) == [] and names(("nosuch", None)) == []
    assert names(("eval", None), text="name != 'a'") == ["b"]
    # a metrics.<key> comparison counts only the points on those datasets (MLflow's)
    assert names(text="metrics.acc > 0.75") == ["a", "b"]
    assert names(("eval", None), text="metrics.acc > 0.75") == ["a", "b"]
    assert names(("eval", "456"), text="metrics.acc > 0.85") == []
    assert names(("train", None), text="metrics.acc > 0.5") == []
    assert names(("train", None), ("eval", "456"), text="metrics.acc > 0.5") == ["b"]
    assert names(("train", None), text="metrics.loss < 0.5 AND name = 'b'") == ["b"]
    first = reg.search_logged_models(
        LoggedModelQuery(("0",), "", 1, ("name ASC",), datasets=(("eval", None),))
    )
    assert [m.name for m in first.items] == ["a"] and first.next_page_token
    rest = reg.search_logged_models(
        LoggedModelQuery(("0",), "", 1, ("name ASC",), first.next_page_token, (("eval", None),))
    )
    assert [m.name for m in rest.items] == ["b"] and rest.next_page_token is None
    with pytest.raises(InvalidParameter):  # a page token belongs to its datasets
        reg.search_logged_models(
            LoggedModelQuery(("0",), "", 1, ("name ASC",), first.next_page_token)
        )


# ------------------------------------------------------------- registered models
def test_registered_model_crud(reg):
    rm = reg.create_registered_model("churn", {"team": "ml"}, "first")
    assert isinstance(rm, RegisteredModel)
    assert (rm.name, rm.description, rm.tags, rm.aliases, rm.latest_versions) == (
        "churn",
        "first",
        {"team": "ml"},
        {},
        [],
    )
    with pytest.raises(AlreadyExists):
        reg.create_registered_model("churn", {}, "")
    assert reg.update_registered_model("churn", "second").description == "second"
    reg.set_registered_model_tag("churn", "stage", "dev")
    reg.delete_registered_model_tag("churn", "team")
    assert reg.get_registered_model("churn").tags == {"stage": "dev"}
    reg.delete_registered_model("churn")
    with pytest.raises(NotFound):
        reg.get_registered_model("churn")
    with pytest.raises(NotFound):
        reg.delete_registered_model("churn")
    with pytest.raises(NotFound):
        reg.update_registered_model("churn", "x")
    with pytest.raises(NotFound):
        reg.set_registered_model_tag("churn", "k", "v")


def test_versions_numbering_lineage_and_tags(reg):
    run_id = _run(reg)
    lm = reg.create_logged_model("0", "model", run_id, {}, {}, None)
    reg.create_registered_model("churn", {}, "")
    v1 = _version(reg, "churn", "s3://b/1", run_id, tags={"k": "v"}, model_id=lm.model_id)
    v2 = _version(reg, "churn", "s3://b/2")
    assert (v1.version, v2.version) == ("1", "2")
    assert (v1.source, v1.run_id, v1.model_id, v1.status, v1.user_id) == (
        "s3://b/1",
        run_id,
        lm.model_id,
        "READY",
        "alice",
    )
    assert v1.tags == {"k": "v"}
    got = reg.get_model_version("churn", 1)
    assert got == v1
    reg.set_model_version_tag("churn", 1, "k", "w")
    reg.set_model_version_tag("churn", 1, "x", "y")
    reg.delete_model_version_tag("churn", 1, "x")
    assert reg.get_model_version("churn", 1).tags == {"k": "w"}
    assert reg.update_model_version("churn", 2, "better").description == "better"
    assert [v.version for v in reg.get_latest_versions("churn")] == ["2"]
    assert [v.version for v in reg.get_registered_model("churn").latest_versions] == ["2"]

    reg.delete_model_version("churn", 2)
    assert [v.version for v in reg.get_latest_versions("churn")] == ["1"]
    v3 = _version(reg, "churn")
    assert v3.version == "3"  # a deleted number is not given out again
    with pytest.raises(NotFound):
        reg.get_model_version("churn", 2)
    with pytest.raises(NotFound):
        reg.delete_model_version("churn", 2)
    with pytest.raises(NotFound):
        _version(reg, "missing")
    with pytest.raises(NotFound):
        reg.get_model_version("missing", 1)


def test_a_version_of_a_logged_model_is_listed_in_its_model_versions_tag(reg):
    lm = reg.create_logged_model("0", "model", None, {"mlflow.modelVersions": "not json"}, {}, None)
    for name in ("a", "b"):
        reg.create_registered_model(name, {}, "")
    _version(reg, "a", "s3://b/1", model_id=lm.model_id)
    _version(reg, "b", "s3://b/2", model_id=lm.model_id)
    _version(reg, "a", "s3://b/3")  # no model_id: not listed
    _version(reg, "a", "s3://b/4", model_id="m-" + "0" * 32)  # no such logged model: no tag
    assert reg.get_logged_model(lm.model_id).tags == {
        "mlflow.modelVersions": '[{"name": "a", "version": 1}, {"name": "b", "version": 1}]'
    }


def test_aliases(reg):
    reg.create_registered_model("churn", {}, "")
    _version(reg, "churn")
    _version(reg, "churn")
    reg.set_registered_model_alias("churn", "champion", 1)
    reg.set_registered_model_alias("churn", "challenger", 2)
    assert reg.get_model_version_by_alias("churn", "champion").version == "1"
    assert reg.get_model_version("churn", 1).aliases == ["champion"]
    assert reg.get_registered_model("churn").aliases == {"challenger": "2", "champion": "1"}
    reg.set_registered_model_alias("churn", "champion", 2)  # moves
    assert sorted(reg.get_model_version("churn", 2).aliases) == ["challenger", "champion"]
    assert reg.get_model_version("churn", 1).aliases == []
    reg.delete_registered_model_alias("churn", "challenger")
    with pytest.raises(NotFound):
        reg.get_model_version_by_alias("churn", "challenger")
    with pytest.raises(NotFound):
        reg.set_registered_model_alias("churn", "x", 9)
    reg.delete_model_version("churn", 2)  # its aliases go with it
    assert reg.get_registered_model("churn").aliases == {}
    with pytest.raises(NotFound):
        reg.get_model_version_by_alias("churn", "champion")


def test_rename_carries_versions_and_aliases_and_delete_cascades(reg):
    reg.create_registered_model("old", {"t": "1"}, "d")
    _version(reg, "old", tags={"k": "v"})
    reg.set_registered_model_alias("old", "prod", 1)
    reg.create_registered_model("taken", {}, "")
    with pytest.raises(AlreadyExists):
        reg.rename_registered_model("old", "taken")
    renamed = reg.rename_registered_model("old", "new")
    assert (renamed.name, renamed.tags, renamed.aliases) == ("new", {"t": "1"}, {"prod": "1"})
    mv = reg.get_model_version_by_alias("new", "prod")
    assert (mv.name, mv.version, mv.tags) == ("new", "1", {"k": "v"})
    with pytest.raises(NotFound):
        reg.get_registered_model("old")
    assert _version(reg, "new").version == "2"  # numbering continues

    reg.delete_registered_model("new")
    assert reg.search_model_versions(RegistryQuery("name = 'new'")).items == []
    reg.create_registered_model("new", {}, "")  # the name is free again, from version 1
    assert reg.get_registered_model("new").aliases == {}
    assert _version(reg, "new").version == "1"
    assert reg.get_model_version("new", 1).tags == {}


def test_search_registered_models(reg):
    for name, team in (("alpha-forest", "a"), ("beta-forest", "b"), ("gamma", "a")):
        reg.create_registered_model(name, {"team": team}, "")

    def names(text: str = "", **kw) -> list[str]:
        return [m.name for m in reg.search_registered_models(RegistryQuery(text, **kw)).items]

    assert names() == ["alpha-forest", "beta-forest", "gamma"]
    assert names("name LIKE '%forest%'") == ["alpha-forest", "beta-forest"]
    assert names("name ILIKE '%FOREST'") == ["alpha-forest", "beta-forest"]
    assert names("name = 'gamma'") == ["gamma"]
    assert names("name != 'gamma'") == ["alpha-forest", "beta-forest"]
    assert names("tags.team = 'a'") == ["alpha-forest", "gamma"]
    assert names("tags.team = 'a' AND name LIKE 'g%'") == ["gamma"]
    assert names("tags.missing = 'a'") == []
    assert names(order_by=("name DESC",)) == ["gamma", "beta-forest", "alpha-forest"]

    first = reg.search_registered_models(RegistryQuery("", 2))
    assert [m.name for m in first.items] == ["alpha-forest", "beta-forest"]
    second = reg.search_registered_models(RegistryQuery("", 2, (), first.next_page_token))
    assert [m.name for m in second.items] == ["gamma"] and second.next_page_token is None
    with pytest.raises(InvalidParameter):  # a token of another search
        reg.search_registered_models(RegistryQuery("name = 'x'", 2, (), first.next_page_token))
    with pytest.raises(InvalidFilter):
        names("version = 1")
    with pytest.raises(InvalidFilter):
        names("name = 'a' OR name = 'b'")
    with pytest.raises(InvalidFilter):
        names(order_by=("size DESC",))


def test_search_model_versions(reg):
    run_a, run_b = _run(reg), _run(reg)
    reg.create_registered_model("a", {}, "")
    reg.create_registered_model("b", {}, "")
    for name, source, run in (("a", "s3://a/1", run_a), ("a", "s3://a/2", run_b)):
        _version(reg, name, source, run, tags={"ok": "y"} if source == "s3://a/1" else {})
        time.sleep(0.003)  # distinct update times: the default order is MLflow's, newest first
    _version(reg, "b", "s3://b/1", run_a)

    def found(text: str = "", **kw) -> list[tuple[str, str]]:
        page = reg.search_model_versions(RegistryQuery(text, **kw))
        return [(v.name, v.version) for v in page.items]

    assert found() == [("b", "1"), ("a", "2"), ("a", "1")]
    assert found("name = 'a'") == [("a", "2"), ("a", "1")]
    assert found(f"run_id = '{run_a}'") == [("b", "1"), ("a", "1")]
    assert found(order_by=("name ASC",)) == [("a", "2"), ("a", "1"), ("b", "1")]
    assert found(f"run_id IN ('{run_b}', 'zzz')") == [("a", "2")]
    assert found("name = 'a' AND version_number > 1") == [("a", "2")]
    assert found("tags.ok = 'y'") == [("a", "1")]
    assert found("source LIKE 's3://b/%'") == [("b", "1")]
    assert found(order_by=("version_number ASC",)) == [("a", "1"), ("b", "1"), ("a", "2")]
    page = reg.search_model_versions(RegistryQuery("", 2))
    assert len(page.items) == 2 and page.next_page_token is not None
    rest = reg.search_model_versions(RegistryQuery("", 2, (), page.next_page_token))
    assert [(v.name, v.version) for v in rest.items] == [("a", "1")]


def test_every_store_implements_the_registry_protocol_with_its_signatures():
    import inspect

    from jupyter_mltrack.store.duckdb.store import DuckDBStore
    from jupyter_mltrack.store.postgres.store import PostgresStore
    from jupyter_mltrack.store.remote import RemoteStore

    names = [n for n in dir(RegistryStore) if not n.startswith("_")]
    assert "search_registered_models" in names and "create_logged_model" in names
    for cls in (DuckDBStore, PostgresStore, RemoteStore):
        for name in names:
            want = inspect.signature(getattr(RegistryStore, name))
            have = inspect.signature(getattr(cls, name))
            assert list(have.parameters) == list(want.parameters), (cls.__name__, name)


def test_sql_views_of_the_registry(reg):
    run_id = _run(reg)
    lm = reg.create_logged_model("0", "model", run_id, {"t": "1"}, {}, None)
    reg.create_registered_model("churn", {"team": "x"}, "")
    _version(reg, "churn", run_id=run_id, model_id=lm.model_id)
    reg.set_registered_model_alias("churn", "champion", 1)
    rows = reg.sql(
        "SELECT v.name, v.version, v.run_id, l.name AS logged, a.alias "
        "FROM model_versions v JOIN logged_models l ON l.model_id = v.model_id "
        "JOIN registered_model_aliases a ON a.name = v.name AND a.version = v.version"
    ).fetchall()
    assert rows == [("churn", 1, run_id, "model", "champion")]
    assert reg.sql("SELECT * FROM registered_models").columns == [
        "name",
        "creation_timestamp",
        "last_updated_timestamp",
        "description",
    ]
