"""The direct form (adapter.fhirpath.direct): where it is used, and where it must not be.

Its results are held to the node form's and fhirpathpy's by the oracle tests (``test_oracle.py``,
``test_oracle_mutations.py``: every expression with a direct form, on every input, also as
``adapter.validation.invariants`` evaluates an element); ``test_oracle_can_fail.py`` shows that a
wrong direct evaluator is caught there. Here: what it accepts is decided when compiling.
"""

from __future__ import annotations

import json

import pytest
from fhirpath_oracle import HERE

from adapter import fhirpath

CORE = json.loads((HERE / "r4_core_invariants.json").read_text(encoding="utf-8"))["invariants"]


def test_most_core_invariants_have_a_direct_form() -> None:
    accepted = [i for i in CORE if fhirpath.compile(i["expression"]).direct is not None]
    assert len(accepted) >= 200, len(accepted)


@pytest.mark.parametrize("text", [
    "$this.id.exists()",  # $this where no operator or criterion has set it
    "id.exists() and name.$this.exists()", "name.where(given.$this = 'x').exists()",  # not name's items
    "name.where($index = 0).exists()", "entry.aggregate($total + 1, 0)",
    "%foo.exists()", "today() > birthDate", "subject.resolve().exists()", "birthDate = @2020-01-01",
    "Patient.name.exists()", "name.given.length > 1", "(identifier | name).count() > 0", "value.count() + 1 > 0",
    "%resource.entry.fullUrl.last().exists() and entry.fullUrl contains %resource.entry.fullUrl.last()",
    "code.coding.where(system = %system).exists()", "descendants().count() > 0", "iif(id.exists(), 1, 2) = 1",
    "name.given.first().substring(id.count()) = 'x'", "entry.select(fullUrl).trace('x').exists()",
])
def test_refused(text: str) -> None:
    expression = fhirpath.compile(text)
    assert expression.direct is None


def test_a_criterion_reading_variables_has_a_direct_form_only_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hoisted by the node form: the closures would evaluate it per item (slower), the generated
    function once (test_codegen.py)."""
    from adapter.fhirpath import codegen

    text = "entry.where(fullUrl = %resource.entry.fullUrl.last()).count()"
    form = fhirpath.compile(text).direct
    assert form is not None and form.body is not form.closure
    monkeypatch.setattr(codegen, "ENABLED", False)
    assert fhirpath.compile(text).direct is None


def test_decided_once_not_per_call() -> None:
    expression = fhirpath.compile("identifier.where(system = 'x').count() = 1")
    form = expression.direct
    assert form is not None
    assert expression({"resourceType": "Patient", "identifier": [{"system": "x"}]}) == [True]
    assert expression({"resourceType": "Patient", "identifier": [{"system": "x", "_system": {}}]}) == [False]
    assert expression.direct is form
    assert expression.node_form({"resourceType": "Patient", "identifier": [{"system": "x", "_system": {}}]}) == [False]


def test_raw_results_never_direct() -> None:
    assert fhirpath.compile("identifier.exists()", raw=True).direct is None


def test_an_invalid_regular_expression_is_left_to_the_node_form() -> None:
    expression = fhirpath.compile("id.matches('(')")
    assert expression.direct is None
    with pytest.raises(Exception, match="missing"):
        expression({"resourceType": "Patient", "id": "x"})
