"""``invariants.holds`` with a typed element (``type_path``) and a root Bundle (``root``)."""

from __future__ import annotations

from adapter.validation import invariants

ELE_1 = "hasValue() or (children().count() > id.count())"
PATIENT = {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:x", "value": "1"}, {"id": "only-id"}]}


def test_element_invariant_needs_the_element_type() -> None:
    ident, empty = PATIENT["identifier"]
    assert invariants.holds(ELE_1, ident, resource=PATIENT, type_path="Identifier") is True
    assert invariants.holds(ELE_1, empty, resource=PATIENT, type_path="Identifier") is False  # only an id
    untyped = invariants.holds(ELE_1, ident, resource=PATIENT)
    assert isinstance(untyped, invariants.FhirPathProblem) and "TypeError" in untyped.detail  # as fhirpathpy


def test_root_is_where_resolve_looks() -> None:
    observation = {"resourceType": "Observation", "subject": {"reference": "urn:uuid:1"}}
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1", "resource": PATIENT},
                                                  {"resource": observation}]}
    rule = "subject.resolve().is(Patient)"
    assert invariants.holds(rule, observation, resource=observation, root=bundle) is True
    # Nothing to resolve against: the result is empty, and an empty result fails, as the HL7 validator
    # reads a constraint (FHIRPathEngine.convertToBoolean) and as the core invariants are read.
    assert invariants.evaluate(rule, observation, resource=observation) == []
    assert invariants.holds(rule, observation, resource=observation) is False
    assert invariants.evaluate("subject.resolve().id", observation, resource=observation, root=bundle) == ["p1"]
    assert invariants.evaluate("subject.resolve().id", observation, resource=observation) == []
