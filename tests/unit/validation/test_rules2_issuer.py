"""The issuer rule's short way (``invariants._issuer_holds``, lisn-sub-6) gives what fhirpathpy and the general way give.

``entry.resource.ofType(QuestionnaireResponse).where(questionnaire = '…lisn|1.0').exists() or
entry.resource.ofType(Practitioner).all(qualification.code.coding.where(system = '…' and code =
'LK').exists())`` is answered ``True`` by :func:`invariants.holds` (its one entry point,
``_SHORT_RULES``) without FHIRPath on plain data. Wherever the short way answers, fhirpathpy itself
(the oracle, R4 model) gives ``[True]`` and the general way (``RULES_SHORT = False``) holds too: on
every object of the examples, the validation cases and both HL7 corpora, every resource of them put
in a Bundle of its own and beside the example's entries, and on mutated submissions (template
versions, qualifications, codings, odd JSON). The whole OperationOutcome is the same with
``RULES_SHORT`` on and off on every input. Deliberately wrong short ways are caught (the negative
controls).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invariant_quick import EXAMPLE, _inputs, _registry

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import invariants
from tests.unit.validation import rule_kit
from tests.unit.validation.test_rules_fast_formaga import ROOT, _files, _load

RULE = invariants._ISSUER
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))
_BUNDLE = json.loads(EXAMPLE.read_text(encoding="utf-8"))
_BUNDLE_1_1 = _load(ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission-1.1.json")
LK = {"system": "urn:oid:1.2.752.116.3.1.3", "code": "LK"}


def test_the_rule_is_the_profiles() -> None:
    text = (ROOT / "profiles" / "StructureDefinition-lisn-submission.json").read_text(encoding="utf-8")
    assert json.dumps(RULE)[1:-1] in text


def _short(node: dict[str, Any]) -> bool:
    """The short way :func:`invariants.holds` takes for the rule."""
    return invariants._SHORT_RULES[RULE][0](node)


_oracle = partial(rule_kit.oracle, _ORACLE)


def _disagreement(node: Any, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` where the short way declines, or answers as the oracle and the general way do."""
    if type(node) is not dict or not _short(node):
        return None
    oracle = _oracle(node)
    with monkeypatch.context() as m:
        m.setattr(invariants, "RULES_SHORT", False)
        general = invariants.holds(RULE, node, resource=node), invariants.evaluate(RULE, node, resource=node)
    fast = invariants.holds(RULE, node, resource=node)
    if oracle == ("ok", [True]) and general == (True, [True]) and fast is True:
        return None
    return f"short way True, fhirpathpy {oracle}, general {general}, holds {fast}: {json.dumps(node, default=str)[:300]}"


_objects = rule_kit.objects


def _bundles(document: Any) -> Iterator[Any]:
    """Every object of the document; each resource in it in a Bundle of its own and beside the
    example's entries (after its response made one to template 1.1)."""
    for node in _objects(document):
        yield node
        if isinstance(node, dict) and "resourceType" in node:
            yield {"resourceType": "Bundle", "entry": [{"resource": node}]}
            yield {"resourceType": "Bundle", "entry": [*_BUNDLE_1_1["entry"], {"resource": node}]}


def test_the_short_way_answers_on_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    for bundle in (_BUNDLE, _BUNDLE_1_1):
        assert _short(bundle)
        assert _oracle(bundle) == ("ok", [True])
        assert _disagreement(bundle, monkeypatch) is None
    monkeypatch.setattr(invariants, "_QUICK", {})
    monkeypatch.setattr(invariants, "_PLANS", {})
    assert invariants.holds(RULE, _BUNDLE, resource=_BUNDLE) is True
    assert invariants._PLANS == {}  # (answered before any plan is made)


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    problems, answered = [], 0
    for path in _files():
        for node in _bundles(_load(path)):
            answered += type(node) is dict and _short(node)
            problem = _disagreement(node, monkeypatch)
            if problem:
                problems.append(problem)
    assert answered > 100
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def _of_type(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"]
                                 if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                                 and e["resource"].get("resourceType") == rtype)
    return found


def _qr(b: dict[str, Any]) -> dict[str, Any]:
    return _of_type(b, "QuestionnaireResponse")


def _doctor(b: dict[str, Any]) -> dict[str, Any]:
    return _of_type(b, "Practitioner")


def _coding(b: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = _doctor(b)["qualification"][0]["code"]["coding"][0]
    return found


# Each mutation changes a copy of a submission in place.
_MUTATIONS: list[Callable[[dict[str, Any]], None]] = [
    lambda b: _qr(b).update(questionnaire="https://lisn.se/fhir/Questionnaire/lisn|1.1"),
    lambda b: _qr(b).update(questionnaire="https://lisn.se/fhir/Questionnaire/lisn|1.0"),
    lambda b: _qr(b).update(questionnaire=["https://lisn.se/fhir/Questionnaire/lisn|1.0"]),
    lambda b: _qr(b).update(questionnaire=None),
    lambda b: _qr(b).update(questionnaire=1),
    lambda b: _qr(b).update(_questionnaire={"id": "q"}),
    lambda b: _qr(b).pop("questionnaire"),
    lambda b: _qr(b).update(resourceType="Questionnaire"),
    lambda b: _coding(b).update(code="SJ"),
    lambda b: _coding(b).update(code=["LK"]),
    lambda b: _coding(b).update(code=None),
    lambda b: _coding(b).pop("code"),
    lambda b: _coding(b).update(_code={"id": "c"}),
    lambda b: _coding(b).update(system="urn:oid:1.2.752.116.3.1.4"),
    lambda b: _coding(b).update(system=5),
    lambda b: _coding(b).pop("system"),
    lambda b: _coding(b).update(_system={"id": "s"}),
    lambda b: _coding(b).update(resourceType="Coding"),
    lambda b: _doctor(b)["qualification"][0]["code"]["coding"].insert(0, {"system": "x", "code": "y"}),
    lambda b: _doctor(b)["qualification"][0]["code"]["coding"].append("x"),
    lambda b: _doctor(b)["qualification"][0]["code"].update(coding=dict(LK)),
    lambda b: _doctor(b)["qualification"][0]["code"].update(_coding=[{"id": "c"}]),
    lambda b: _doctor(b)["qualification"][0].update(code=[{"coding": [dict(LK)]}]),
    lambda b: _doctor(b)["qualification"][0].pop("code"),
    lambda b: _doctor(b)["qualification"][0].update(code={"resourceType": "Patient", "coding": [dict(LK)]}),
    lambda b: _doctor(b)["qualification"].append({"code": {"coding": [{"system": "x", "code": "LK"}]}}),
    lambda b: _doctor(b)["qualification"].insert(0, {"code": {"coding": [dict(LK)]}}),
    lambda b: _doctor(b).update(qualification=_doctor(b)["qualification"][0]),
    lambda b: _doctor(b).update(qualification=[]),
    lambda b: _doctor(b).pop("qualification"),
    lambda b: _doctor(b).update(_qualification=[{"id": "q"}]),
    lambda b: _doctor(b).update(resourceType="PractitionerRole"),
    lambda b: b["entry"].append({"resource": {"resourceType": "Practitioner"}}),
    lambda b: b["entry"].append({"resource": {"resourceType": "Practitioner", "qualification": [
        {"code": {"coding": [dict(LK)]}}]}}),
    lambda b: b["entry"].append({"resource": {"resourceType": "QuestionnaireResponse",
                                              "questionnaire": "https://lisn.se/fhir/Questionnaire/lisn|1.0"}}),
    lambda b: b["entry"].append({"resource": {"resourceType": "Unknown"}}),
    lambda b: b["entry"].append({"resource": {"resourceType": 5}}),
    lambda b: b["entry"].append({"resource": None}),
    lambda b: b["entry"].append({"resource": [{"resourceType": "Practitioner"}]}),
    lambda b: b["entry"].append({"resourceType": "Practitioner", "resource": {"resourceType": "Practitioner"}}),
    lambda b: b["entry"].append({"_resource": {"id": "r"}}),
    lambda b: b["entry"].append("x"),
    lambda b: b["entry"].append({}),
    lambda b: b.update(_entry=[{"id": "e"}]),
    lambda b: b.update(entry=b["entry"][0]),
    lambda b: b.update(entry=[]),
    lambda b: b.pop("entry"),
    lambda b: b.update(resourceType="Parameters"),
]


def _mutated(indexes: list[int], base: dict[str, Any] | None = None) -> dict[str, Any]:
    bundle = copy.deepcopy(_BUNDLE_1_1 if base is None else base)
    for i in indexes:
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError, StopIteration):
            _MUTATIONS[i](bundle)  # (an earlier mutation may have taken away what this one changes)
    return bundle


def test_each_mutation(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = 0
    for base in (_BUNDLE, _BUNDLE_1_1):
        for i in range(len(_MUTATIONS)):
            bundle = _mutated([i], base)
            answered += _short(bundle)
            assert _disagreement(bundle, monkeypatch) is None, i
    assert answered >= 40


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(_MUTATIONS) - 1), max_size=4), st.booleans())
def test_mutated_submissions(monkeypatch: pytest.MonkeyPatch, indexes: list[int], first: bool) -> None:
    assert _disagreement(_mutated(indexes, _BUNDLE if first else None), monkeypatch) is None


def _outcome(resource: Any, igs: tuple[str, ...] | None, short: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    return rule_kit.outcome(resource, _registry(igs), monkeypatch, invariants, "RULES_SHORT", short)


@pytest.mark.parametrize(("path", "igs"), list(_inputs()))
def test_the_outcome_is_the_same(path: Path, igs: tuple[str, ...] | None, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = _load(path)
    if not isinstance(resource, dict):
        pytest.skip("not a JSON object")
    assert _outcome(resource, igs, True, monkeypatch) == _outcome(resource, igs, False, monkeypatch)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(_MUTATIONS) - 1), max_size=3))
def test_the_outcome_is_the_same_on_mutated_submissions(monkeypatch: pytest.MonkeyPatch, indexes: list[int]) -> None:
    bundle = _mutated(indexes)
    assert _outcome(bundle, None, True, monkeypatch) == _outcome(bundle, None, False, monkeypatch)


def test_wrong_short_ways_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a short way taking any Practitioner as a physician is caught on a 1.1
    submission whose physician is coded otherwise."""
    wrong = _mutated([_MUTATIONS.index(_MUTATIONS[8])])  # code SJ
    assert not _short(wrong)
    assert "lisn-sub-6" in _outcome(wrong, None, True, monkeypatch)
    with monkeypatch.context() as m:
        m.setitem(invariants._SHORT_RULES, RULE, (lambda bundle: True, False))
        assert _disagreement(wrong, m)
        assert _outcome(wrong, None, True, m) != _outcome(wrong, None, False, m)
