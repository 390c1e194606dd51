"""The tree is the data flow: each stage folder, and the use-case layer, states its rule.

The import rules themselves (stages import no face and no storage, storage no stage, the use
cases no face) are import-linter contracts in pyproject.toml, checked by
``test_import_contracts.py`` and by ``.ci/run``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTER = Path(__file__).resolve().parents[3] / "adapter"
STAGES = ["inbound", "fhir", "validation", "consent", "outbound", "signing", "delivery"]


@pytest.mark.parametrize("package", STAGES + ["flows"])
def test_package_states_its_rule(package: str) -> None:
    doc = ast.get_docstring(ast.parse((ADAPTER / package / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "Takes:" in doc and "Gives:" in doc, f"adapter/{package}/__init__.py must say what it takes and gives"

