"""``a + b`` of two counts in the direct form (adapter.fhirpath.direct._plus_integers).

``(identifier.count() + name.count()) > 0`` (an Organization/Practitioner rule of the profiles) was
evaluated by the node form: the direct form refused every ``+``. It now adds two counts itself.
Here it is held to the node form and fhirpathpy (``direct_disagreement``: direct form, the same on
JSON as ``adapter.validation.invariants`` evaluates it, node form, fhirpathpy) on the inputs of the
oracle tests and on generated resources; a deliberately wrong addition must be caught.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from fhirpath_oracle import direct_problems, input_files, load, ours, resources
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import fhirpath
from adapter.fhirpath import codegen, direct

EXPRESSIONS = [
    "(identifier.count() + name.count()) > 0",
    "identifier.count() + name.count() = 2",
    "(identifier.where(system = 'x').count() + telecom.count()) > 1",
    "name.given.count() + name.family.count()",
    "entry.where(resource.exists()).count() + entry.count()",
    "name.where(($this.given.count() + count()) > 1).exists()",
    "id.count() + count() > 1",
]
REFUSED = ["value.count() + 1 > 0", "(identifier | name).count() + 1", "name.count() + name.given",
           "name.count() - identifier.count() > 0", "name.given.first() + name.family.first()"]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_two_counts_added_have_a_direct_form(text: str) -> None:
    assert fhirpath.compile(text).direct is not None


@pytest.mark.parametrize("text", REFUSED)
def test_other_additions_are_left_to_the_node_form(text: str) -> None:
    assert fhirpath.compile(text).direct is None


def _inputs() -> list[Any]:
    out = []
    for path in input_files(None):
        doc = load(path)
        if doc is not None:
            out += list(resources(doc))
    return out


INPUTS = _inputs()


def _problems(resource_list: list[Any]) -> list[str]:
    return direct_problems(resource_list, EXPRESSIONS, EXPRESSIONS[:4])


@pytest.mark.parametrize("generated", [True, False])
def test_equals_fhirpathpy_on_the_examples_and_cases(generated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(INPUTS) > 20
    monkeypatch.setattr(codegen, "ENABLED", generated)
    ours.cache_clear()
    try:
        problems = _problems(INPUTS)
    finally:
        ours.cache_clear()
    assert not problems, "\n".join(problems[:5])


_ORG = {"resourceType": "Organization", "id": "o"}
_MEMBER_VALUES = st.sampled_from([
    None, [], {}, "x", 1, True, [{}], [{"system": "x"}], [{"system": "x"}, {"system": "y", "value": "1"}],
    [{"text": "a", "given": ["a", "b"], "family": "f"}], [{"given": ["a"]}, {"family": "g"}], [[]], [1, "a"],
])


@st.composite
def _resources(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(_ORG) if draw(st.booleans()) else {"resourceType": "Practitioner"}
    for key in ("identifier", "name", "telecom", "id"):
        value = draw(_MEMBER_VALUES)
        if value is not None:
            doc[key] = copy.deepcopy(value)
        if draw(st.booleans()):
            doc["_" + key] = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_resources())
def test_equals_fhirpathpy_on_generated_resources(doc: dict[str, Any]) -> None:
    problems = _problems([(doc, {"resource": doc, "rootResource": doc})])
    assert not problems, "\n".join(problems[:5])


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_addition_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the left count only (``b`` ignored) must disagree somewhere, in the closures
    (``_plus_integers``) and in the generated code (which adds the two counts itself)."""
    real = direct._plus_integers
    monkeypatch.setattr(direct, "_plus_integers", lambda left, right, general: real(left, lambda i, v: [0], general))
    emit = codegen._Gen.emit
    monkeypatch.setattr(codegen._Gen, "emit", lambda self, depth, line: emit(
        self, depth, re.sub(r"= \[(r\d+)\[0\] \+ (r\d+)\[0\]\]$", r"= [\1[0]]", line)))
    for generated in (True, False):
        monkeypatch.setattr(codegen, "ENABLED", generated)
        ours.cache_clear()
        try:
            assert _problems(INPUTS), generated
        finally:
            ours.cache_clear()

