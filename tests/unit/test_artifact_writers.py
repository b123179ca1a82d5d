"""artifact_writers: user objects -> artifact bytes, with real matplotlib, plotly, PIL, pandas."""

from __future__ import annotations

import enum
import io
import json
import math
import subprocess
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display in tests

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest
import yaml
from matplotlib.figure import Figure
from PIL import Image

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.tracking import artifact_writers as writers
from jupyter_mltrack.tracking.artifact_writers import (
    dict_bytes,
    figure_bytes,
    image_bytes,
    image_series_file,
    merge_table_json,
    table_bytes,
    text_bytes,
)


def test_all_names_exist() -> None:
    for name in writers.__all__:
        assert callable(getattr(writers, name)), name


def test_heavy_libraries_are_not_imported_until_an_object_needs_them() -> None:
    # Compare sys.modules before and after the calls: the package itself may import pandas.
    code = (
        "import sys\n"
        "from jupyter_mltrack.tracking import artifact_writers as w\n"
        "from jupyter_mltrack.errors import InvalidParameter\n"
        "before = set(sys.modules)\n"
        "w.text_bytes('x'); w.dict_bytes({'a': 1}, 'a.yaml'); w.image_series_file('k', 1, 2)\n"
        "for f, name in ((w.figure_bytes, 'x.png'), (w.image_bytes, 'x.png'),\n"
        "                (w.table_bytes, 'x.json')):\n"
        "    try: f(object(), name)\n"
        "    except InvalidParameter: pass\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new & {'matplotlib', 'plotly', 'PIL', 'pandas', 'numpy'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# log_text


def test_text_is_utf8() -> None:
    assert text_bytes("héllo ✓") == "héllo ✓".encode()


def test_text_rejects_non_strings() -> None:
    with pytest.raises(InvalidParameter, match="log_text expects a str; got dict"):
        text_bytes({"a": 1})  # type: ignore[arg-type]


# log_dict


_NESTED = {"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "betas": (0.9, 0.999)}}


def test_dict_as_json_with_indent_two() -> None:
    raw = dict_bytes(_NESTED, "config.json")
    assert raw.startswith(b'{\n  "lr": 0.01,')
    assert json.loads(raw) == {**_NESTED, "opt": {"name": "adam", "betas": [0.9, 0.999]}}


@pytest.mark.parametrize("name", ["config.yaml", "dir/config.YML"])
def test_dict_as_yaml_parses_back(name: str) -> None:
    raw = dict_bytes({**_NESTED, "text": "ünïcode"}, name)
    assert yaml.safe_load(raw) == {
        **_NESTED,
        "opt": {"name": "adam", "betas": [0.9, 0.999]},
        "text": "ünïcode",
    }
    assert list(yaml.safe_load(raw)) == ["lr", "layers", "opt", "text"]  # insertion order kept


@pytest.mark.parametrize("name", ["notes.txt", "noext"])
def test_other_extensions_get_json(name: str) -> None:
    assert json.loads(dict_bytes({"a": 1}, name)) == {"a": 1}


def test_nan_and_infinity_are_kept_as_in_mlflow() -> None:
    loaded = json.loads(dict_bytes({"a": math.nan, "b": -math.inf}, "m.json"))
    assert math.isnan(loaded["a"])
    assert loaded["b"] == -math.inf
    assert math.isnan(yaml.safe_load(dict_bytes({"a": math.nan}, "m.yaml"))["a"])


class _Color(enum.StrEnum):
    RED = "red"


def test_numpy_values_and_builtin_subclasses_are_converted() -> None:
    data = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "arr": np.arange(3),
        "color": _Color.RED,
        1: "int key",
    }
    expected: dict[Any, Any] = {"i": 3, "f": 0.5, "b": True, "arr": [0, 1, 2], "color": "red"}
    assert yaml.safe_load(dict_bytes(data, "d.yaml")) == {**expected, 1: "int key"}
    assert json.loads(dict_bytes(data, "d.json")) == {**expected, "1": "int key"}


@pytest.mark.parametrize(
    ("value", "where", "type_name"),
    [
        ({"a": {"b": [1, object()]}}, "dictionary['a']['b'][1]", "object"),
        ({"tags": {"x", "y"}}, "dictionary['tags']", "set"),
        ({"fn": len}, "dictionary['fn']", "builtin_function_or_method"),
        ({"x": [np.datetime64("2024-01-01")]}, "dictionary['x'][0]", "numpy.datetime64"),
    ],
)
@pytest.mark.parametrize("name", ["d.json", "d.yaml"])
def test_unserializable_values_are_named_by_key_path(
    value: dict[str, Any], where: str, type_name: str, name: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        dict_bytes(value, name)
    message = str(info.value)
    assert where in message
    assert f"a {type_name} cannot be written as" in message
    assert ("YAML" if name.endswith("yaml") else "JSON") in message
    assert info.value.details == {"key_path": where}


def test_set_error_suggests_a_list() -> None:
    with pytest.raises(InvalidParameter, match="use a list: sets have no order"):
        dict_bytes({"s": {1}}, "d.json")


def test_unserializable_keys_are_named() -> None:
    with pytest.raises(InvalidParameter, match=r"a key of dictionary\['m'\]: \(1, 2\) is a tuple"):
        dict_bytes({"m": {(1, 2): "pair"}}, "d.json")


def test_reference_cycles_are_reported() -> None:
    looped: dict[str, Any] = {"a": []}
    looped["a"].append(looped)
    with pytest.raises(InvalidParameter, match=r"dictionary\['a'\]\[0\]: it contains itself"):
        dict_bytes(looped, "d.json")


def test_shared_but_acyclic_values_are_fine() -> None:
    shared = [1, 2]
    assert json.loads(dict_bytes({"a": shared, "b": shared}, "d.json")) == {
        "a": shared,
        "b": shared,
    }


@pytest.mark.parametrize("value", [[1, 2], "text", None])
def test_non_dicts_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidParameter, match="log_dict expects a dict"):
        dict_bytes(value, "d.json")


def test_dict_file_name_is_validated() -> None:
    with pytest.raises(InvalidParameter, match=r"'\.\.' segment"):
        dict_bytes({"a": 1}, "../d.json")


# log_figure


@pytest.fixture
def mpl_figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1, 2], [1, 0, 1])
    return figure


@pytest.mark.parametrize(
    ("name", "magic"),
    [
        ("fig.png", b"\x89PNG\r\n\x1a\n"),
        ("plots/fig.PNG", b"\x89PNG\r\n\x1a\n"),
        ("fig.pdf", b"%PDF"),
        ("fig.jpg", b"\xff\xd8\xff"),
        ("fig.svg", b"<?xml"),
    ],
)
def test_matplotlib_formats_follow_the_extension(
    mpl_figure: Figure, name: str, magic: bytes
) -> None:
    assert figure_bytes(mpl_figure, name).startswith(magic)


def test_matplotlib_png_decodes_to_the_figure_size(mpl_figure: Figure) -> None:
    with Image.open(io.BytesIO(figure_bytes(mpl_figure, "fig.png"))) as image:
        assert image.size == (200, 200)  # 2 in x 100 dpi


def test_pyplot_figure_with_agg(mpl_figure: Figure) -> None:
    figure, axes = plt.subplots()
    try:
        axes.bar(["a", "b"], [1, 2])
        assert b"<svg" in figure_bytes(figure, "bar.svg")
    finally:
        plt.close(figure)


@pytest.mark.parametrize("name", ["fig.docx", "fig"])
def test_matplotlib_unsupported_extension_lists_supported(mpl_figure: Figure, name: str) -> None:
    with pytest.raises(InvalidParameter, match=r"must be one of .*\.pdf.*\.png.*\.svg"):
        figure_bytes(mpl_figure, name)


def test_matplotlib_axes_get_a_hint(mpl_figure: Figure) -> None:
    with pytest.raises(InvalidParameter, match=r"pass ax\.figure"):
        figure_bytes(mpl_figure.axes[0], "fig.png")


@pytest.fixture
def plotly_figure() -> go.Figure:
    return go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="loss"))


def test_plotly_html_loads_plotlyjs_from_the_cdn(plotly_figure: go.Figure) -> None:
    html = figure_bytes(plotly_figure, "loss.html").decode()
    assert html.lstrip().lower().startswith("<!doctype html>") or "<html>" in html
    assert "cdn.plot.ly" in html
    assert len(html) < 100_000  # plotly.js itself is not embedded


def test_plotly_json_round_trips(plotly_figure: go.Figure) -> None:
    loaded = json.loads(figure_bytes(plotly_figure, "loss.json"))
    assert loaded["data"][0]["y"] == [3, 1, 2]
    assert go.Figure(loaded).data[0].name == "loss"


def test_plotly_png_without_kaleido_says_what_to_do(plotly_figure: go.Figure) -> None:
    import importlib.util

    if importlib.util.find_spec("kaleido") is not None:
        assert figure_bytes(plotly_figure, "loss.png").startswith(b"\x89PNG")
        return
    with pytest.raises(InvalidParameter, match=r"needs the 'kaleido' package.*pip install kaleido"):
        figure_bytes(plotly_figure, "loss.png")


def test_plotly_unknown_extension(plotly_figure: go.Figure) -> None:
    with pytest.raises(InvalidParameter, match=r"use \.html or \.json"):
        figure_bytes(plotly_figure, "loss.txt")


@pytest.mark.parametrize("value", [object(), np.zeros((2, 2)), "fig"])
def test_other_objects_are_not_figures(value: Any) -> None:
    with pytest.raises(InvalidParameter, match=r"supports matplotlib\.figure\.Figure and plotly"):
        figure_bytes(value, "fig.png")


# log_image


def _decode(raw: bytes) -> tuple[str, np.ndarray[Any, Any]]:
    with Image.open(io.BytesIO(raw)) as image:
        return image.mode, np.asarray(image)


def test_float_array_is_scaled_to_8_bits() -> None:
    pixels = np.array([[0.0, 0.5], [0.25, 1.0]])
    mode, decoded = _decode(image_bytes(pixels, "img.png"))
    assert mode == "L"
    assert decoded.tolist() == [[0, 128], [64, 255]]


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_uint8_channels_round_trip_exactly(channels: int, mode: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    decoded_mode, decoded = _decode(image_bytes(pixels, "img.png"))
    assert decoded_mode == mode
    assert np.array_equal(decoded, pixels[:, :, 0] if channels == 1 else pixels)


def test_int_and_bool_arrays() -> None:
    assert _decode(image_bytes(np.array([[0, 255]], dtype=np.int64), "i.png"))[1].tolist() == [
        [0, 255]
    ]
    assert _decode(image_bytes(np.array([[True, False]]), "b.png"))[1].tolist() == [[255, 0]]


@pytest.mark.parametrize(
    "shape", [(4,), (2, 3, 2), (2, 3, 5), (1, 2, 3, 3), (0, 3), (3, 0, 3), (3, 4, 4, 1)]
)
def test_bad_shapes_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidParameter, match=r"expected \(H, W\), \(H, W, 1\)"):
        image_bytes(np.zeros(shape), "img.png")


@pytest.mark.parametrize(
    ("pixels", "fragment"),
    [
        (
            np.array([[0.0, 1.5]]),
            r"Float pixel values must be in \[0, 1\]; got values from 0 to 1.5",
        ),
        (np.array([[-0.1, 0.5]]), "Divide 0-255 data by 255"),
        (np.array([[0.0, np.nan]]), "must be finite"),
        (np.array([[0, 256]]), r"Integer pixel values must be in \[0, 255\]"),
        (np.array([[-1, 3]]), "from -1 to 3"),
        (np.array([[1 + 2j]]), "dtype complex128"),
        (np.array([["a"]]), "dtype <U1"),
    ],
)
def test_bad_pixel_values_are_rejected(pixels: np.ndarray[Any, Any], fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        image_bytes(pixels, "img.png")


def test_pil_image_is_encoded_by_extension() -> None:
    image = Image.new("RGB", (4, 3), (10, 20, 30))
    assert image_bytes(image, "a.png").startswith(b"\x89PNG")
    assert image_bytes(image, "a.JPG").startswith(b"\xff\xd8\xff")
    assert image_bytes(image, "a.webp")[8:12] == b"WEBP"
    mode, decoded = _decode(image_bytes(image, "a.png"))
    assert (mode, decoded[0, 0].tolist()) == ("RGB", [10, 20, 30])


def test_no_extension_means_png() -> None:
    assert image_bytes(np.zeros((2, 2)), "images/raw").startswith(b"\x89PNG")


def test_rgba_as_jpeg_is_a_clear_error() -> None:
    with pytest.raises(InvalidParameter, match=r"Cannot save a RGBA image as JPEG.*Use \.png"):
        image_bytes(np.zeros((2, 2, 4)), "a.jpg")


def test_unknown_image_extension() -> None:
    with pytest.raises(InvalidParameter, match=r"Pillow knows no '\.docx' format"):
        image_bytes(np.zeros((2, 2)), "a.docx")


@pytest.mark.parametrize("value", [[[0, 1]], "img", None])
def test_other_objects_are_not_images(value: Any) -> None:
    with pytest.raises(InvalidParameter, match="supports numpy arrays and PIL images"):
        image_bytes(value, "a.png")


def test_image_series_file_layout_sorts_by_step() -> None:
    assert (
        image_series_file("val/sample", 3, 1_700_000_000_000)
        == "images/val/sample/step_000000000003_1700000000000.png"
    )
    names = [image_series_file("k", step, 5) for step in (10, 2, 100)]
    assert sorted(names) == [names[1], names[0], names[2]]
    assert image_series_file("k", np.int64(7), 0) == "images/k/step_000000000007_0.png"


@pytest.mark.parametrize(
    "key", ["", "../x", "a/../b", "a//b", "/a", "a/", ".", "bad*char", "tab\t", "x" * 251, 3, None]
)
def test_image_series_keys_are_validated(key: Any) -> None:
    with pytest.raises(InvalidParameter, match="Image key"):
        image_series_file(key, 0, 0)


@pytest.mark.parametrize(
    ("step", "timestamp_ms"), [(-1, 0), (0, -5), (True, 0), (1.0, 0), (0, "1")]
)
def test_image_series_step_and_time_are_validated(step: Any, timestamp_ms: Any) -> None:
    with pytest.raises(InvalidParameter, match="must be a non-negative int"):
        image_series_file("k", step, timestamp_ms)


# log_table


def test_dict_of_columns_as_mlflow_table_json() -> None:
    raw = table_bytes({"x": [1, 2], "y": ["a", None], "z": [0.5, math.nan]}, "t.json")
    assert json.loads(raw) == {"columns": ["x", "y", "z"], "data": [[1, "a", 0.5], [2, None, None]]}


def test_dataframe_as_json_drops_the_index_and_writes_iso_dates() -> None:
    frame = pd.DataFrame(
        {"when": pd.to_datetime(["2024-01-02"]), "v": [1.5]}, index=pd.Index([42], name="id")
    )
    table = json.loads(table_bytes(frame, "t.json"))
    assert table["columns"] == ["when", "v"]
    assert table["data"][0][0].startswith("2024-01-02T00:00:00")


def test_parquet_round_trips() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    back = pd.read_parquet(io.BytesIO(table_bytes(frame, "t.parquet")))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_table_errors() -> None:
    with pytest.raises(InvalidParameter, match=r"writes \.json .* or \.parquet; got 't.csv'"):
        table_bytes({"x": [1]}, "t.csv")
    with pytest.raises(InvalidParameter, match=r"same length; got \{'x': 2, 'y': 1\}"):
        table_bytes({"x": [1, 2], "y": [3]}, "t.json")
    with pytest.raises(InvalidParameter, match="column 'x' is a int, not a list"):
        table_bytes({"x": 1}, "t.json")
    with pytest.raises(InvalidParameter, match="column 'x' is a str"):
        table_bytes({"x": "abc"}, "t.json")
    with pytest.raises(InvalidParameter, match="DataFrame or a non-empty dict"):
        table_bytes([[1, 2]], "t.json")
    with pytest.raises(InvalidParameter, match="DataFrame or a non-empty dict"):
        table_bytes({}, "t.json")


def test_parquet_rejects_mixed_columns_clearly() -> None:
    with pytest.raises(InvalidParameter, match=r"Cannot write the table as 't\.parquet'"):
        table_bytes({"x": [1, "a", 2.5]}, "t.parquet")


def test_merge_appends_rows_and_unions_columns() -> None:
    first = table_bytes({"step": [0, 1], "loss": [1.0, 0.5]}, "t.json")
    second = table_bytes({"step": [2], "acc": [0.9]}, "t.json")
    merged = json.loads(merge_table_json(first, second))
    assert merged == {
        "columns": ["step", "loss", "acc"],
        "data": [[0, 1.0, None], [1, 0.5, None], [2, None, 0.9]],
    }
    again = json.loads(merge_table_json(json.dumps(merged).encode(), second))
    assert again["data"][-1] == [2, None, 0.9]
    assert len(again["data"]) == 4


def test_merge_keeps_types_exactly() -> None:
    merged = merge_table_json(
        table_bytes({"n": [1]}, "t.json"), table_bytes({"n": [2], "s": ["x"]}, "t.json")
    )
    assert json.loads(merged)["data"] == [[1, None], [2, "x"]]


@pytest.mark.parametrize(
    "bad",
    [b"not json", b"[1, 2]", b'{"columns": ["a"]}', b'{"columns": ["a"], "data": [[1, 2]]}'],
)
def test_merge_rejects_tables_in_another_format(bad: bytes) -> None:
    good = table_bytes({"a": [1]}, "t.json")
    with pytest.raises(InvalidParameter, match="existing table is not in MLflow's table format"):
        merge_table_json(bad, good)
    with pytest.raises(InvalidParameter, match="new table is not in MLflow's table format"):
        merge_table_json(good, bad)
