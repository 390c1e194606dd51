"""Crashes the compiled-against-pure comparison's mutated inputs found (tests/unit/native), in the pure
modules too: each input now gets an OperationOutcome, and each test shows the crash on the old line.

- dom-3 (``core_rules.check_contained``) asked a set whether it held a contained resource's ``id``;
  an ``id`` that was an array or object raised ``TypeError: unhashable type``.
- The SDC messages (``sdc._show``) joined the codes of the answers they quote; a ``code`` that was
  an array raised ``TypeError: sequence item 0: expected str instance``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.fhir.registry import default_registry
from adapter.validation import core_rules, sdc, validate_bytes

CASES = Path(__file__).resolve().parents[2] / "cases" / "validation"
NESTED = json.loads((CASES / "inputs" / "base" / "base-contained-nested.json").read_text(encoding="utf-8"))
MISMATCH = json.loads((CASES / "inputs" / "sdc-calculated-mismatch.json").read_text(encoding="utf-8"))
SDC_REGISTRY = default_registry([str(CASES / "definitions" / "Questionnaire-sdc.json")])
ODD = [["x"], {"a": 1}]


def _ids(oo: dict[str, Any]) -> set[str]:
    return {c["code"] for i in oo["issue"] for c in i.get("details", {}).get("coding", [])}


@pytest.mark.parametrize("odd", ODD, ids=["array", "object"])
def test_a_contained_id_that_is_not_a_string_is_an_error_not_a_crash(odd: Any) -> None:
    doc = copy.deepcopy(NESTED)
    assert doc["contained"], "the case holds contained resources"
    doc["contained"][0]["id"] = odd
    oo = validate_bytes(json.dumps(doc).encode())
    assert errors.has_errors(oo)
    assert "CONTAINED_ORPHAN_DOM3" in _ids(oo)  # no reference can name it


@pytest.mark.parametrize("odd", ODD, ids=["array", "object"])
def test_a_code_that_is_not_a_string_in_an_sdc_message_is_shown_not_a_crash(odd: Any) -> None:
    doc = copy.deepcopy(MISMATCH)
    liked = next(i for i in doc["item"] if i["linkId"] == "liked")
    liked["answer"][0]["valueCoding"]["code"] = odd
    oo = validate_bytes(json.dumps(doc).encode(), SDC_REGISTRY)
    assert errors.has_errors(oo)
    assert _show_called_with_odd(odd)


def _show_called_with_odd(odd: Any) -> bool:
    return sdc._show([{"code": odd}, {"code": "red"}]) == f"{odd}, red"


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_without_the_fix_the_contained_probe_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the old set comprehension (the id asked as it is) raises again."""
    doc = copy.deepcopy(NESTED)
    doc["contained"][0]["id"] = ["x"]

    def old(resource: dict[str, Any], path: str, local_refs: dict[int, set[str]], issues: Any) -> None:
        items = [c for c in resource.get("contained", []) if isinstance(c, dict)]
        base = local_refs.get(id(resource), set())
        {id(c) for c in items if c.get("id") in base}

    monkeypatch.setattr(core_rules, "check_contained", old)
    with pytest.raises(TypeError, match="unhashable"):
        validate_bytes(json.dumps(doc).encode())


def test_without_the_fix_the_sdc_probe_crashes() -> None:
    """Negative control: the old join (the code taken as it is) raises on the same values."""
    values = [{"code": ["x"]}, {"code": "red"}]
    with pytest.raises(TypeError, match="expected str instance"):
        ", ".join([(v.get("code") or "?") for v in values])
