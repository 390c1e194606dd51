"""The tree is the data flow: pure stages never import the edges (api, store, flask, cli)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTER = Path(__file__).resolve().parents[3] / "adapter"
STAGES = ["inbound", "fhir", "validation", "consent", "outbound", "signing"]
FORBIDDEN = ("adapter.api", "adapter.store", "adapter.cli", "flask", "sqlalchemy", "requests")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_stage_has_no_io_imports(stage: str) -> None:
    folder = ADAPTER / stage
    offenders = {
        f"{f.relative_to(ADAPTER)}: {name}"
        for f in folder.rglob("*.py")
        for name in _imports(f)
        if name.startswith(FORBIDDEN)
    }
    assert not offenders, f"stage {stage} imports an edge: {sorted(offenders)}"


@pytest.mark.parametrize("stage", STAGES + ["delivery"])
def test_stage_states_its_rule(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((ADAPTER / stage / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "Takes:" in doc and "Gives:" in doc, f"adapter/{stage}/__init__.py must say what it takes and gives"


def test_architecture_check_catches_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from adapter.store import db\nimport flask\n")
    assert {n for n in _imports(bad) if n.startswith(FORBIDDEN)} == {"adapter.store", "flask"}
