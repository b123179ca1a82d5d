"""``src/api/types.generated.ts``: up to date with the entities, and true to the wire JSON."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack import _schema_ts, entities
from jupyter_mltrack.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from jupyter_mltrack.store.remote.wire import experiment_to_dict, file_info_to_dict, run_to_dict

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "api" / "types.generated.ts"
PRETTIER = ROOT / "node_modules" / ".bin" / "prettier"


def test_committed_file_is_up_to_date() -> None:
    assert _schema_ts.DEFAULT_OUTPUT == GENERATED
    assert GENERATED.read_text() == _schema_ts.generate(), (
        f"{GENERATED.relative_to(ROOT)} is out of date with jupyter_mltrack/entities.py; "
        f"regenerate it with `{_schema_ts.COMMAND}` and commit it."
    )


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "types.ts"
    assert _schema_ts.main([str(out)]) == 0
    assert _schema_ts.main(["--check", str(out)]) == 0
    out.write_text(out.read_text() + "// edited\n")
    assert _schema_ts.main(["--check", str(out)]) == 1
    assert _schema_ts.COMMAND in capsys.readouterr().err


def test_every_entity_dataclass_has_an_interface() -> None:
    interfaces = parse_interfaces(_schema_ts.generate())
    for name in entities.__all__:
        cls = getattr(entities, name)
        if dataclasses.is_dataclass(cls):
            fields = [f.name for f in dataclasses.fields(cls)]
            assert list(interfaces[f"I{name}"]) == fields, name


def test_prettier_accepts_the_generated_text(tmp_path: Path) -> None:
    if not PRETTIER.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{PRETTIER} is missing (jlpm install).")
        pytest.skip(f"{PRETTIER} is missing (jlpm install)")
    node = shutil.which("node")
    assert node is not None
    path = tmp_path / "types.generated.ts"
    path.write_text(_schema_ts.generate())
    run = subprocess.run(
        [node, PRETTIER, "--check", "--config", ROOT / ".prettierrc", path],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


# ------------------------------------------------- the types against the real serializer
def parse_interfaces(text: str) -> dict[str, dict[str, str]]:
    """``{"IRun": {"info": "IRunInfo", ...}, ...}`` from the generated TypeScript."""
    out: dict[str, dict[str, str]] = {}
    for name, body in re.findall(r"export interface (\w+) \{\n(.*?)\n\}", text, re.S):
        members = re.findall(r"^  (\w+):\s*(.*?);$", body, re.S | re.M)
        out[name] = {key: " ".join(ts.split()).lstrip("| ") for key, ts in members}
    return out


def conforms(value: Any, ts: str, interfaces: dict[str, dict[str, str]]) -> bool:
    """Whether a JSON value has the (generated subset of) TypeScript type ``ts``."""
    if " | " in ts and not ts.startswith(("Record<", "(")):
        return any(conforms(value, t, interfaces) for t in ts.split(" | "))
    if ts.startswith("Record<string, "):
        return isinstance(value, dict) and all(
            isinstance(k, str) and conforms(v, ts[len("Record<string, ") : -1], interfaces)
            for k, v in value.items()
        )
    if ts.endswith("[]"):
        item = ts[:-2].removeprefix("(").removesuffix(")")
        return isinstance(value, list) and all(conforms(v, item, interfaces) for v in value)
    if ts in interfaces:
        fields = interfaces[ts]
        return (
            isinstance(value, dict)
            and set(value) == set(fields)
            and all(conforms(value[k], t, interfaces) for k, t in fields.items())
        )
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "string": isinstance(value, str),
        "number": number,
        "boolean": isinstance(value, bool),
        "null": value is None,
        "unknown": True,
        "WireFloat": number or value in ("NaN", "Infinity", "-Infinity"),
    }[ts]


def test_the_types_describe_what_the_serializer_sends() -> None:
    interfaces = parse_interfaces(_schema_ts.generate())
    info = RunInfo("r1", "0", "calm-owl", "FINISHED", 1, None, "me", "active", "file:///a")
    data = RunData({"loss": float("nan"), "acc": 0.5, "up": float("inf")}, {"lr": "0.1"}, {})
    inputs = RunInputs([DatasetInput(Dataset("d", "abc", "local", "file:///d"), {"k": "v"})])
    run = run_to_dict(Run(info, data, inputs))
    assert conforms(run, "IRun", interfaces), run
    assert not conforms({**run, "extra": 1}, "IRun", interfaces)  # the check can fail
    experiment = experiment_to_dict(Experiment("0", "Default", "file:///a", "active"))
    assert conforms(experiment, "IExperiment", interfaces), experiment
    assert conforms(file_info_to_dict(FileInfo("a.txt", False, 3)), "IFileInfo", interfaces)
