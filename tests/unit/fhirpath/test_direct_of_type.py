"""``ofType(T)`` in the direct form (adapter.fhirpath.direct._of_type).

``entry.resource.ofType(QuestionnaireResponse).where(...).exists() or ...`` (a Bundle rule of the
profiles) was evaluated by the node form: the direct form refused every ``ofType``. It now tests the
type of each pair as the node form's ``functions._of_type`` tests its node (remembered per type
path). Held to the node form and fhirpathpy (``direct_disagreement``) on the inputs of the oracle
tests, on fhirpathpy's typed objects of each resource and on mutated examples; a deliberately wrong
type test must be caught.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhirpath_oracle import direct_problems, ours
from hypothesis import HealthCheck, given, settings
from test_direct_plus import INPUTS
from test_oracle import PROFILE
from test_oracle_mutations import mutated

from adapter import fhirpath
from adapter.fhirpath import codegen, direct

PROFILE_OF_TYPE = [e for e in PROFILE if "ofType(" in e and fhirpath.compile(e).direct is not None]
EXPRESSIONS = PROFILE_OF_TYPE + [
    "entry.resource.ofType(QuestionnaireResponse).exists()",
    "entry.resource.ofType(Patient).id",
    "entry.resource.ofType(FHIR.Patient).count()",
    "entry.resource.ofType(Resource).count()",
    "entry.resource.ofType(DomainResource).count()",
    "contained.ofType(Patient).exists()",
    "ofType(Bundle).count()",
    "entry.ofType(BackboneElement).count()",
    "identifier.ofType(Identifier).count()",
    "name.given.ofType(string).count()",
    "name.given.ofType(System.String).count()",
    "id.ofType(id).count()",
    "entry.where(resource.ofType(MessageHeader).exists()).fullUrl",
    "item.answer.value.ofType(Coding).code",
    "item.answer.value.ofType(date).exists()",
    "extension.value.ofType(string).exists()",
]


def test_the_profile_rule_has_a_direct_form() -> None:
    assert PROFILE_OF_TYPE, "no profile expression with ofType has a direct form"
    assert all(fhirpath.compile(e).direct is not None for e in EXPRESSIONS)


def _problems(resource_list: list[Any]) -> list[str]:
    return direct_problems(resource_list, EXPRESSIONS, EXPRESSIONS[-8:])


@pytest.mark.parametrize("generated", [True, False])
def test_equals_fhirpathpy_on_the_examples_and_cases(generated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "ENABLED", generated)
    ours.cache_clear()
    try:
        problems = _problems(INPUTS)
    finally:
        ours.cache_clear()
    assert not problems, "\n".join(problems[:5])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_equals_fhirpathpy_on_mutated_resources(doc: Any) -> None:
    from fhirpath_oracle import resources

    problems = _problems(list(resources(doc)))
    assert not problems, "\n".join(problems[:5])


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_type_test_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a type test that keeps every pair must disagree somewhere."""
    monkeypatch.setattr(direct, "_of_type", lambda info, general: lambda items, v: list(items))
    for generated in (True, False):
        monkeypatch.setattr(codegen, "ENABLED", generated)
        ours.cache_clear()
        try:
            assert _problems(INPUTS), generated
        finally:
            ours.cache_clear()
