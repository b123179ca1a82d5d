"""The JupyterLab API's OpenAPI document and TypeScript types: generated from the Python
request and reply types, committed, and up to date (the CI check)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

from jupyter_mltrack import _schema_ts
from jupyter_mltrack.service import lab_types
from jupyter_mltrack.service.lab_api import LAB_ROUTES, tornado_pattern
from jupyter_mltrack.service.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def test_committed_document_and_types_are_up_to_date() -> None:
    assert _schema_ts.OPENAPI_OUTPUT == ROOT / "docs" / "lab-api.openapi.json"
    assert _schema_ts.LAB_OUTPUT == ROOT / "src" / "api" / "lab.generated.ts"
    stale = f"out of date; regenerate with `{_schema_ts.COMMAND}` and commit it"
    assert _schema_ts.OPENAPI_OUTPUT.read_text() == _schema_ts.generate_openapi(), stale
    assert _schema_ts.LAB_OUTPUT.read_text() == _schema_ts.generate_lab(), stale
    assert _schema_ts.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_lab_file(tmp_path: Path) -> None:
    out = tmp_path / "types.generated.ts"
    assert _schema_ts.main([str(out)]) == 0
    lab = tmp_path / "lab.generated.ts"
    assert lab.is_file() and (tmp_path / "lab-api.openapi.json").is_file()
    lab.write_text(lab.read_text().replace("child_count", "children_count"))
    assert _schema_ts.main(["--check", str(out)]) == 1


def test_every_route_is_documented_with_its_types() -> None:
    doc = openapi_document()
    for route in LAB_ROUTES:
        op = doc["paths"][route.path][route.method]
        assert op["summary"] == route.summary
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorReply"
        }
        if route.query is not None:
            names = [p["name"] for p in op["parameters"] if p["in"] == "query"]
            assert names == [f.name for f in dataclasses.fields(route.query)]
        if route.reply is not None:
            ref = op["responses"]["200"]["content"][route.content_type]["schema"]["$ref"]
            assert ref.endswith("/" + route.reply.__name__)
        assert re.fullmatch(tornado_pattern(route.path), route.path.replace("{run_id}", "abc"))
    assert len({(r.method, r.path) for r in LAB_ROUTES}) == len(LAB_ROUTES)


def test_the_typescript_interfaces_have_every_field() -> None:
    text = _schema_ts.generate_lab()
    for name in lab_types.__all__:
        cls = getattr(lab_types, name)
        if not dataclasses.is_dataclass(cls):
            continue
        body = re.search(rf"export interface I{name} \{{\n(.*?)\n\}}", text, re.S)
        assert body is not None, name
        members = re.findall(r"^  (\w+)\??:", body.group(1), re.M)
        assert members == [f.name for f in dataclasses.fields(cls)], name
    assert "values: Record<string, string | number | null>;" in text
    assert "run: IRun;" in text and "from './types.generated';" in text
    assert "  filter?: string;" in text  # a query field with a default is optional


def test_the_document_is_json_and_prettier_accepts_the_types(tmp_path: Path) -> None:
    json.loads(_schema_ts.generate_openapi())
    prettier = ROOT / "node_modules" / ".bin" / "prettier"
    node = shutil.which("node")
    assert prettier.is_file() and node is not None, "jlpm install first"
    path = tmp_path / "lab.generated.ts"
    path.write_text(_schema_ts.generate_lab())
    run = subprocess.run(
        [node, prettier, "--check", "--config", ROOT / ".prettierrc", path],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
