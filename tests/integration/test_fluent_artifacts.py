"""Artifacts and datasets through the fluent API, against a real store and real files."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

import jupyter_mltrack as mt
from jupyter_mltrack.errors import ArtifactNotFound, InvalidParameter, RunNotFound

matplotlib.use("Agg")


def _paths(run_id, path=None):
    return [f.path for f in mt.list_artifacts(run_id, path)]


def test_files_text_dict_and_download(tracking_store, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    with mt.start_run() as run:
        mt.log_artifact(src / "a.txt")
        mt.log_artifact(src / "a.txt", artifact_path="copies")
        mt.log_artifacts(src, artifact_path="tree")
        mt.log_text("hello", "notes/readme.md")
        mt.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.yaml")
        mt.log_dict({"lr": 0.1}, "config.json")
    rid = run.info.run_id
    assert {"a.txt", "copies", "tree", "notes", "config.yaml", "config.json"} <= set(_paths(rid))
    assert _paths(rid, "tree") == ["tree/a.txt", "tree/sub"]
    out = mt.download_artifacts(rid, "notes/readme.md", dst_path=tmp_path / "dl")
    assert Path(out).read_text() == "hello"
    tree = mt.download_artifacts(rid, "tree", dst_path=tmp_path / "dl2")
    assert Path(tree, "sub", "b.txt").read_text() == "beta"
    cfg = mt.download_artifacts(rid, "config.yaml", dst_path=tmp_path / "dl3")
    assert yaml.safe_load(Path(cfg).read_text()) == {"lr": 0.1, "layers": [1, 2]}
    got = Path(mt.download_artifacts(rid, "config.json", tmp_path / "dl4")).read_text()
    assert json.loads(got) == {"lr": 0.1}
    with pytest.raises(ArtifactNotFound):
        mt.download_artifacts(rid, "missing.txt", dst_path=tmp_path / "dl5")


def test_context_artifacts_are_captured(tracking_store):
    with mt.start_run() as run:
        pass
    assert "environment" in _paths(run.info.run_id)
    assert "environment/requirements.txt" in _paths(run.info.run_id, "environment")


def test_figures_images_tables(tracking_store, tmp_path):
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mt.start_run() as run:
        mt.log_figure(fig, "plots/line.png")
        mt.log_figure(go.Figure(go.Scatter(y=[1, 3, 2])), "plots/line.html")
        mt.log_image(np.zeros((8, 8, 3), dtype=np.uint8), "images/black.png")
        for step in range(3):
            mt.log_image(np.full((4, 4), step / 3.0), key="samples", step=step)
        mt.log_table({"a": [1, 2], "b": ["x", "y"]}, "table.json")
        mt.log_table(pd.DataFrame({"a": [3], "b": ["z"]}), "table.json")
    plt.close(fig)
    rid = run.info.run_id
    assert _paths(rid, "plots") == ["plots/line.html", "plots/line.png"]
    png = mt.download_artifacts(rid, "plots/line.png", tmp_path / "p")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    series = list(mt.list_artifacts(rid, "images/samples"))
    assert len(series) == 3
    table = json.loads(Path(mt.download_artifacts(rid, "table.json", tmp_path / "t")).read_text())
    assert table["columns"] == ["a", "b"]
    assert table["data"] == [[1, "x"], [2, "y"], [3, "z"]]


def test_bad_artifact_input_is_a_clear_error(tracking_store, tmp_path):
    with mt.start_run():
        with pytest.raises(InvalidParameter, match=r"\.\."):
            mt.log_text("x", "../escape.txt")
        with pytest.raises(InvalidParameter):
            mt.log_text("x", "/etc/passwd")
        with pytest.raises(InvalidParameter, match=r"not JSON|serializ"):
            mt.log_dict({"ok": 1, "bad": object()}, "d.json")
        with pytest.raises(InvalidParameter, match="existing file"):
            mt.log_artifact(tmp_path / "nope.txt")
        with pytest.raises(InvalidParameter):
            mt.log_figure("not a figure", "f.png")
        with pytest.raises(InvalidParameter):
            mt.log_image(np.zeros((2, 2, 7)), "bad.png")


def test_log_input_records_dataset(tracking_store):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    ds = mt.data.from_pandas(df, name="toy", targets="y")
    with mt.start_run() as run:
        mt.log_input(ds, context="training")
        mt.log_input(mt.data.from_numpy(np.arange(12).reshape(3, 4), name="arr"))
    inputs = mt.get_run(run.info.run_id).inputs.dataset_inputs
    assert sorted(i.dataset.name for i in inputs) == ["arr", "toy"]
    toy = next(i for i in inputs if i.dataset.name == "toy")
    assert toy.context == "training" and toy.dataset.digest == ds.digest
    found = mt.search_runs(filter_string="datasets.name = 'toy' AND datasets.context = 'training'")
    assert found["run_id"].tolist() == [run.info.run_id]
    with mt.start_run(), pytest.raises(InvalidParameter):
        mt.log_input(df)


def test_gc_removes_every_deleted_run_and_its_artifacts(tracking_store):
    from jupyter_mltrack.artifacts.local import local_path_from_uri

    runs = []
    for name in ("keep", "drop-1", "drop-2"):
        with mt.start_run(run_name=name) as run:
            mt.log_text(name, "note.txt")
        runs.append(mt.get_run(run.info.run_id))
    keep, *drop = runs
    for run in drop:
        mt.delete_run(run.info.run_id)
    removed = mt.TrackingClient().gc()
    assert sorted(removed) == sorted(r.info.run_id for r in drop)
    for run in drop:
        assert not any(local_path_from_uri(run.info.artifact_uri).rglob("*.txt"))
        with pytest.raises(RunNotFound, match="No run with id"):
            mt.get_run(run.info.run_id)
    assert local_path_from_uri(keep.info.artifact_uri).joinpath("note.txt").read_text() == "keep"
    assert mt.TrackingClient().gc() == []
