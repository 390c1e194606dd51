"""``is``/``as``, ``&``, ``+`` of a string literal and repeated subexpressions in the direct form.

Four rules of the example submission were evaluated by the node form: ``entry.first().resource is
MessageHeader`` and two ``….is(Composition)``-like ones (the direct form refused ``is``/``as``), the
Bundle rule ``….select(fullUrl&resource.meta.versionId).isDistinct()`` (it refused ``&``) and the
MessageHeader rule of the profiles, whose subexpression ``%resource.entry.where(…)….value.first()``
stands twice and is concatenated to a string literal with ``+`` (it refused both). They now have
direct forms (adapter.fhirpath.direct ``type_test``, ``string_operand``/``amp_values``,
``plus_values``; a repeated subexpression remembered by the generated function,
adapter.fhirpath.codegen ``_Gen.once``).

Held to the node form and fhirpathpy (``direct_disagreement``: direct form, the same on JSON as
``adapter.validation.invariants`` evaluates it, node form, fhirpathpy) on the inputs of the oracle
tests, on fhirpathpy's typed objects of each resource, on generated Bundles and on mutated examples;
deliberately wrong forms must be caught.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhirpath_oracle import direct_problems, ours, outcome, resources, theirs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_direct_plus import INPUTS
from test_oracle import CORE, PROFILE
from test_oracle_mutations import mutated

from adapter import fhirpath
from adapter.fhirpath import codegen, direct
from adapter.fhirpath.upstream import FP_Quantity, TypeInfo

MESSAGE_RULE = next(e for e in PROFILE if "'urn:lisn:kommunkod:' +" in e)
PROFILE_NEW = [e for e in PROFILE + [c["expression"] for c in CORE]
               if (e == MESSAGE_RULE or " is " in e or ".is(" in e or "&" in e or "aggregate(" in e or " days" in e)
               and fhirpath.compile(e).direct is not None]
EXPRESSIONS = PROFILE_NEW + [
    "entry.first().resource is MessageHeader",
    "entry.first().resource is Resource",
    "entry.first().resource as MessageHeader",
    "entry.resource is Patient",
    "entry.resource.first().is(DomainResource)",
    "entry.first().resource.as(FHIR.MessageHeader).id",
    "entry.is(BackboneElement)",
    "entry.first() is BackboneElement",
    "id is string",
    "id is System.String",
    "id.as(id)",
    "type.is(code)",
    "'x' is String",
    "1 is Integer",
    "meta.lastUpdated is instant",
    "identifier.value is string",
    "identifier.first() is Identifier",
    "name.given.first() is string",
    "entry.select(resource is Patient)",
    "item.answer.value.first() is Coding",
    "item.where(answer.value is date).linkId",
    "entry.select(fullUrl & resource.meta.versionId)",
    "entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
    "id & '-' & type",
    "id & {}",
    "entry.fullUrl & 'x'",
    "meta.versionId & meta.lastUpdated",
    "identifier.value & identifier.system",
    "item.select(linkId & text)",
    "'urn:x:' + id",
    "id + '#'",
    "'a' + entry.fullUrl.first()",
    "'a' + meta.lastUpdated",
    "'a' + identifier.value",
    "entry.all(fullUrl = 'urn:uuid:' + %resource.id)",
    "%resource.entry.first().fullUrl.exists() implies entry.all(fullUrl != 'x' + %resource.entry.first().fullUrl)",
    "%resource.entry.count() > 1 and entry.count() = %resource.entry.count()",
    "(%resource.entry.fullUrl.first() & id) = (%resource.entry.fullUrl.first() & id)",
    "entry.where(resource.id = %resource.entry.resource.id.first()).count() = %resource.entry.resource.id.first().length()",
    "meta.lastUpdated + 1 day",
    "'2020-01-01' + 7 days",
    "(item.answer.value.first() + 7 days) < item.answer.value.last()",
    "item.answer.value.where(($this + 2 weeks) > '2020-01-01').exists()",
    "item.answer.value.aggregate(iif($total.empty() or $this < $total, $this, $total))",
    "item.item.answer.value.aggregate(iif($total.empty() or $this > $total, $this, $total)) > '2020'",
    "entry.aggregate($index)",
    "entry.aggregate(fullUrl)",
    "name.given.aggregate($this & $total)",
    "identifier.aggregate($total.count() + 1)",
    "meta.lastUpdated < '2030'",
    "meta.lastUpdated >= meta.lastUpdated",
    "item.answer.value.first() <= item.answer.value.last()",
    "item.answer.value > 1",
]
ON_TYPED = ["id is string", "%resource is Bundle", "identifier.where($this is Identifier).count()", "value is string", "value & system",
            "'p:' + value", "system.as(uri)", "reference & display", "start <= end", "(start + 1 day) > end",
            "end < start", "value.aggregate($total.count() + $index)"]
REFUSED = ["value.count() + 1 > 0", "name.given.first() + name.family.first()", "id + 1", "entry.aggregate($this, 0)",
           "entry.aggregate(%resource.id)", "entry.aggregate(iif($total.empty(), %resource, $total))"]


def test_the_profile_rules_have_direct_forms() -> None:
    assert len(PROFILE_NEW) >= 4, PROFILE_NEW
    assert all(fhirpath.compile(e).direct is not None for e in EXPRESSIONS), \
        [e for e in EXPRESSIONS if fhirpath.compile(e).direct is None]


@pytest.mark.parametrize("text", REFUSED)
def test_other_forms_are_left_to_the_node_form(text: str) -> None:
    assert fhirpath.compile(text).direct is None


def test_a_repeated_subexpression_is_computed_once() -> None:
    """The generated function of the MessageHeader rule remembers ``%resource.entry.where(…)…``
    and the term ``'urn:…' + …`` (it reads only ``%resource``): computed once for 3 destinations."""
    expression = fhirpath.compile(MESSAGE_RULE)
    form = expression.direct
    assert form is not None and hasattr(form.body, "source")
    assert "_TI.model" in form.body.source
    calls = []
    real = direct.plus_values

    def counted(a: Any, b: Any) -> Any:
        calls.append(b)
        return real(a, b)

    bundle = _message_bundle(3)
    form.body.__globals__["_plus_values"] = counted
    assert expression.direct_form(bundle, {"resource": bundle}) == [True]
    assert len(calls) == 1
    form.body.__globals__["_plus_values"] = real
    assert expression.direct_form(bundle, {"resource": bundle}) == expression.node_form(bundle, {"resource": bundle})


def _problems(resource_list: list[Any], first: bool = False) -> list[str]:
    return direct_problems(resource_list, EXPRESSIONS, ON_TYPED, first=first)


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


def _message_bundle(destinations: int, endpoint: str = "urn:lisn:kommunkod:0180") -> dict[str, Any]:
    return {
        "resourceType": "Bundle", "id": "b", "type": "message",
        "entry": [
            {"fullUrl": "urn:uuid:h", "resource": {
                "resourceType": "MessageHeader", "id": "h",
                "destination": [{"endpoint": endpoint, "receiver": {"reference": "urn:uuid:o"}}] * destinations}},
            {"fullUrl": "urn:uuid:o", "resource": {
                "resourceType": "Organization", "id": "o",
                "identifier": [{"system": "https://lisn.se/fhir/sid/kommunkod", "value": "0180"}]}},
        ],
    }


_STRINGS = st.sampled_from(["urn:uuid:h", "urn:uuid:o", "x", "", "0180", "urn:lisn:kommunkod:0180"])
_ODD = st.sampled_from([None, 1, True, 1.5, [], ["a", "b"], {"x": 1}, [{"a": 1}]])


@st.composite
def _bundles(draw: st.DrawFn) -> dict[str, Any]:
    doc = _message_bundle(draw(st.integers(0, 3)), draw(_STRINGS))
    if draw(st.booleans()):
        doc["entry"].reverse()
    for entry in doc["entry"]:
        resource = entry["resource"]
        if draw(st.booleans()):
            entry["fullUrl"] = draw(st.one_of(_STRINGS, _ODD))
        if draw(st.integers(0, 3)) == 0:
            entry["_fullUrl"] = {"extension": [{"url": "http://example.org/x", "valueString": "e"}]}
        if draw(st.booleans()):
            resource["meta"] = {"versionId": draw(st.one_of(_STRINGS, _ODD))}
        if draw(st.integers(0, 3)) == 0:
            resource["resourceType"] = draw(st.sampled_from(["Patient", "Composition", "Basic"]))
        if draw(st.integers(0, 3)) == 0 and resource.get("identifier"):
            resource["identifier"][0]["value"] = draw(st.one_of(_STRINGS, _ODD))
        if draw(st.integers(0, 3)) == 0 and resource.get("destination"):
            resource["destination"][0] = {**resource["destination"][0], "receiver": {"reference": draw(_STRINGS)}}
    if draw(st.integers(0, 4)) == 0:
        doc["entry"].append(copy.deepcopy(doc["entry"][-1]))
    if draw(st.integers(0, 4)) == 0:
        doc["entry"].append(draw(_ODD))
    if draw(st.booleans()):
        doc["id"] = draw(st.one_of(_STRINGS, _ODD))
    return doc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bundles())
def test_equals_fhirpathpy_on_generated_bundles(doc: dict[str, Any]) -> None:
    problems = _problems([(doc, {"resource": doc, "rootResource": doc})])
    assert not problems, "\n".join(problems[:5])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_equals_fhirpathpy_on_mutated_resources(doc: Any) -> None:
    problems = _problems(list(resources(doc)))
    assert not problems, "\n".join(problems[:5])


# A subexpression standing twice that gives another result once an ``is`` has set fhirpathpy's model
# (a dotted type path is a BackboneElement with the model, an "object" without; the raw %resource is no
# Bundle to fhirpathpy, a System.Object, but the test sets the model all the same): the node form
# computes it again after the ``is``; so must the generated function.
MODEL_RULE = ("%resource.entry.ofType(BackboneElement).exists().toString() & (%resource is Bundle).toString()"
              " & %resource.entry.ofType(BackboneElement).exists().toString()")


def _without_model(expression: str, doc: Any) -> list[Any]:
    """``expression`` by the direct form, the node form and fhirpathpy, each starting without a model."""
    variables = {"resource": doc, "rootResource": doc}
    found = []
    for fn in (ours(expression, False).direct_form, ours(expression, False).node_form, theirs(expression, False)):
        TypeInfo.model = None
        found.append(outcome(fn, doc, variables))
    return found


def test_a_remembered_subexpression_is_computed_again_under_another_model() -> None:
    saved = TypeInfo.model
    try:
        ours.cache_clear()
        assert ours(MODEL_RULE, False).direct is not None
        mine, nodes, reference = _without_model(MODEL_RULE, _message_bundle(1))
        assert mine == nodes == reference == ("ok", [("str", "'FalseFalseTrue'")])
    finally:
        TypeInfo.model = saved
        ours.cache_clear()


def _caught(monkeypatch: pytest.MonkeyPatch, inputs: list[Any], generated_only: bool = False) -> None:
    for generated in (True,) if generated_only else (True, False):
        monkeypatch.setattr(codegen, "ENABLED", generated)
        ours.cache_clear()
        try:
            assert _problems(inputs, first=True), generated
        finally:
            ours.cache_clear()


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_type_test_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: ``is`` answering the opposite on a pair must disagree somewhere."""
    real = direct.type_test

    def wrong(name: str, info: Any) -> Any:
        test = real(name, info)
        return lambda a: [not r if type(r) is bool else r for r in test(a)]

    monkeypatch.setattr(direct, "type_test", wrong)
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_string_operand_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: an empty operand of ``&`` read as a string ``"-"``."""
    real = direct.string_operand
    monkeypatch.setattr(direct, "string_operand", lambda a: "-" if not a else real(a))
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_addition_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: ``+`` with its operands swapped."""
    real = direct.plus_values
    monkeypatch.setattr(direct, "plus_values", lambda a, b: real(b, a))
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_ordering_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the node form's comparison (a date, a Quantity) with its operands swapped."""
    real = direct.order_general
    monkeypatch.setattr(direct, "order_general", lambda op: (lambda a, b, f=real(op): f(b, a)))
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_quantity_literal_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: ``+ 7 days`` read as one day more."""
    real = direct._quantity_literal

    def wrong(ast: Any) -> Any:
        found = real(ast)
        return None if found is None else [FP_Quantity(found[0].value + 1, found[0].unit)]

    monkeypatch.setattr(direct, "_quantity_literal", wrong)
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_aggregate_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: ``aggregate(…)`` giving its first item."""
    monkeypatch.setattr(direct, "_aggregate", lambda ast: lambda items, v: items[:1])
    _caught(monkeypatch, INPUTS)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_memo_shared_by_different_subexpressions_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: every remembered subexpression given one memo (its key the same)."""
    monkeypatch.setattr(codegen, "key_of", lambda ast: 0)
    _caught(monkeypatch, [(d, v) for d, v in INPUTS if d.get("resourceType") == "Bundle"], generated_only=True)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_memo_kept_across_models_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the memo reused whatever the model (its guard made always true)."""
    real = codegen._Gen.once

    def unguarded(self: Any, ast: Any, key: int, focus: bool, inp: str, depth: int) -> Any:
        at = len(self.lines)
        found = real(self, ast, key, focus, inp, depth)
        self.lines[at] = self.lines[at].replace(" is _TI.model:", " is not _UNSET or True:")
        return found

    monkeypatch.setattr(codegen._Gen, "once", unguarded)
    saved = TypeInfo.model
    try:
        ours.cache_clear()
        mine, nodes, _ = _without_model(MODEL_RULE, _message_bundle(1))
        assert mine != nodes, mine
    finally:
        TypeInfo.model = saved
        ours.cache_clear()
