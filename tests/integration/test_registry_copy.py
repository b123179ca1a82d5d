"""``mltrack db copy`` carries logged models, the runs' links to them and the model registry:
DuckDB to PostgreSQL and back, with the logged models' artifact locations moved along with
their experiments'."""

from __future__ import annotations

from pathlib import Path

from pg_support import postgres_server_fixture  # noqa: F401 - the postgres_server fixture

from jupyter_mltrack.store.copy import copy_store, open_direct
from jupyter_mltrack.tracking.core import TrackingCore


def _fill(uri: str) -> tuple[str, str]:
    store = open_direct(uri)
    try:
        core = TrackingCore(store)
        run = core.create_run("0", run_name="r")
        lm = core.create_logged_model("0", "model", run.info.run_id, {"t": "1"}, {"p": "2"})
        core.log_metric(run.info.run_id, "acc", 0.9, step=1, model_id=lm.model_id)
        core.finalize_logged_model(lm.model_id, "READY")
        core.log_model_links(
            run.info.run_id, [("output", lm.model_id, 3), ("input", lm.model_id, 0)]
        )
        core.create_registered_model("churn", {"team": "x"}, "desc")
        core.create_model_version("churn", lm.model_uri, run.info.run_id, model_id=lm.model_id)
        core.create_model_version("churn", "s3://b/2", tags={"k": "v"})
        core.delete_model_version("churn", 2)
        core.create_model_version("churn", "s3://b/3")
        core.set_registered_model_alias("churn", "champion", 1)
        return lm.model_id, run.info.run_id
    finally:
        store.close()


def _check(uri: str, model_id: str, run_id: str, root: Path, versions: list[str]) -> None:
    store = open_direct(uri)
    try:
        core = TrackingCore(store)
        lm = core.get_logged_model(model_id)
        assert (lm.status, lm.tags, lm.params, lm.source_run_id) == (
            "READY",
            {"t": "1", "mlflow.modelVersions": '[{"name": "churn", "version": 1}]'},
            {"p": "2"},
            run_id,
        )
        assert [(m.key, m.value) for m in lm.metrics] == [("acc", 0.9)]
        assert lm.artifact_location.startswith(root.as_uri())
        run = core.get_run(run_id)  # the run's links to the model (run_model_links)
        assert [(m.model_id, m.step) for m in run.outputs.model_outputs] == [(model_id, 3)]
        assert [m.model_id for m in run.inputs.model_inputs] == [model_id]
        rm = core.get_registered_model("churn")
        assert (rm.tags, rm.description, rm.aliases) == ({"team": "x"}, "desc", {"champion": "1"})
        assert [v.version for v in core.search_model_versions("name = 'churn'")] == versions
        assert core.get_model_version_by_alias("churn", "champion").model_id == model_id
        following = str(int(versions[0]) + 1)  # numbering kept: 2 is never given out again
        assert core.create_model_version("churn", "s3://b/n").version == following
    finally:
        store.close()


def test_copy_carries_the_registry_both_ways(tmp_path: Path, postgres_server) -> None:
    source = "duckdb://" + str(tmp_path / "a" / "store.duckdb")
    model_id, run_id = _fill(source)
    pg = postgres_server.create_database("registrycopy")
    report = copy_store(source, pg, artifacts_destination=str(tmp_path / "pg-artifacts"))
    assert report["model_versions"] == 2 and report["registered_model_aliases"] == 1
    assert report["logged_models"] == 1 and report["run_model_links"] == 2
    _check(pg, model_id, run_id, tmp_path / "pg-artifacts", ["3", "1"])

    back = "duckdb://" + str(tmp_path / "b" / "store.duckdb")
    copy_store(pg, back, artifacts_destination=str(tmp_path / "b-artifacts"))
    _check(back, model_id, run_id, tmp_path / "b-artifacts", ["4", "3", "1"])
