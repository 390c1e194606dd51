"""Constraints a generated shape's keys settle (``walkgen.SETTLED``, :func:`walkgen.settle`) are left out
of its visit without changing any outcome.

1. Every R4 constraint :func:`walkgen.settle` reads (``name.exists()``, ``empty()``, ``not()``, ``and``,
   ``or``, ``implies``), on objects with every subset of its names, each given values of every kind
   (objects, empty ones, strings, arrays, nulls): where it leaves a constraint out, or its guard
   holds, the constraint reports nothing when run (``run_constraints``).
2. Inputs made for the constraints it settles (qrs-1, bdl-5, qty-3, att-1, ppc-1, ...), right and
   wrong, and for the required bindings of primitives (``walkgen.BINDINGS``: codes in and out of the
   ValueSet, MIME types), and the pinned inputs (the examples, tests/cases, the profile cases, the HL7 corpora)
   give the same outcome (issues, order, texts, positions) with ``SETTLED`` and ``BINDINGS`` on
   and off, the shapes generated at their first visit; with the generator off too.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import structure, walkgen
from adapter.validation.constraints import run_constraints
from tests.unit.validation import outcome_pin


def _visits() -> Iterator[structure._Visit]:
    """The visit of every R4 resource's root and of every owner below it (complex types, backbones)."""
    seen: set[str] = set()
    todo = [v for v in (structure._root_visit(t) for t in sorted(defs.resource_type_names())) if v is not None]
    while todo:
        visit = todo.pop()
        key = f"{visit.table.owner}|{visit.root}"
        if key in seen:
            continue
        seen.add(key)
        yield visit
        for name in visit.table.names:
            plan = visit.table.plan(name)
            if plan is not None and plan.visit is not None:
                todo.append(plan.visit)


def _values(visit: structure._Visit, name: str) -> list[Any]:
    hit = visit.table.names[name]
    if hit[1] in defs.PRIMITIVES:
        one: list[Any] = ["x", "", None, 1, True, {"id": "a"}]
    else:
        one = [{"id": "a"}, {"text": "t"}, {}, None, "x", {"x": None}]
    return one + [[v] for v in one if v is not None] + [[], [None], [{"id": "a"}, None], [None, {"id": "a"}]]


def test_settled_constraints_hold() -> None:
    settled = guarded = checked = 0
    for visit in _visits():
        constraints = visit.constraints
        for c in constraints:
            names = walkgen._names(c.expression)
            if names is None or len(names) > 3 or not all(walkgen._plain(visit, n) for n in names):
                continue
            ordered = sorted(names)
            for size in range(len(ordered) + 1):
                for chosen in itertools.combinations(ordered, size):
                    for values in itertools.product(*(_values(visit, n) for n in chosen)):
                        obj = dict(zip(chosen, values))
                        if not obj:
                            continue
                        rest, held, guard = walkgen.settle((c,), tuple(obj), visit)
                        if c in rest and not (c in held and eval(guard, {}, {"obj": obj})):  # noqa: S307
                            continue
                        settled += c not in rest
                        guarded += c in held
                        issues = Issues()
                        run_constraints((c,), obj, visit.table.owner, obj, issues, set(),
                                        type_path=None if visit.root else visit.table.owner)
                        checked += 1
                        assert not issues.items, (visit.table.owner, c.key, c.expression, obj, issues.items)
    assert settled > 1000 and guarded > 100, (settled, guarded)
    assert checked == settled + guarded


def test_settle_reads_its_form_only() -> None:
    assert walkgen._names("(answer.exists() and item.exists()).not()") == {"answer", "item"}
    assert walkgen._names("fullUrl.exists() implies fullUrl.contains('/_history/').not()") is None
    assert walkgen._names("name.count() > 0") is None
    assert walkgen._names("a.exists() or") is None
    assert walkgen._names("(a.exists()") is None
    assert walkgen._truth("(answer.exists() and item.exists()).not()", {"item": False}) is True
    assert walkgen._truth("(answer.exists() and item.exists()).not()", {"item": True}) is None
    assert walkgen._truth("a.exists() implies b.empty()", {"a": False}) is True
    assert walkgen._truth("a.exists() implies b.empty()", {"a": True, "b": True}) is False
    assert walkgen._truth("a.empty() or b.exists()", {"b": True}) is True


# -- the outcomes ---------------------------------------------------------------------------------

def _bundle(resources: list[dict[str, Any]]) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:0000000{i}-0000-4000-8000-000000000000", "resource": r}
               for i, r in enumerate(resources)]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


_ANSWERS: list[Any] = [[{"valueString": "a"}], [], [None], None, {"valueString": "a"}, [{}], "x"]
_ITEMS: list[Any] = [[{"linkId": "x"}], [], [None], None, {"linkId": "x"}, [{}]]


def _made() -> Iterator[tuple[str, bytes, Any]]:
    lisn = default_registry()
    for n, (answer, item) in enumerate(itertools.product([*_ANSWERS, "-"], [*_ITEMS, "-"])):
        one: dict[str, Any] = {"linkId": f"q{n}"}
        if answer != "-":
            one["answer"] = answer
        if item != "-":
            one["item"] = item
        qr = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": [one, dict(one)]}
        yield f"qr #{n}", json.dumps(qr).encode(), lisn
    entries: list[Any] = [{"resourceType": "Basic", "code": {"text": "x"}}, {}, None, [], "x", [{}],
                          {"resourceType": "Nope"}, {"id": "x"}]
    for n, resource in enumerate(entries):
        for extra in ({}, {"request": {"method": "GET", "url": "x"}}, {"request": None}):
            entry = {"fullUrl": "urn:uuid:00000001-0000-4000-8000-000000000000", "resource": resource, **extra}
            doc = {"resourceType": "Bundle", "type": "collection", "entry": [entry, dict(entry)]}
            yield f"entry #{n} {sorted(extra)}", json.dumps(doc).encode(), lisn
    for n, extra in enumerate(({}, {"request": {"method": "GET", "url": "x"}}, {"response": {"status": "200"}})):
        doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:x", **extra}] * 2}
        yield f"entry without resource #{n}", json.dumps(doc).encode(), lisn
    quantities: list[Any] = [{"value": 1, "code": "mg"}, {"value": 1, "unit": "mg"}, {"value": 1, "system": "x"},
                             {"value": 1, "system": "http://unitsofmeasure.org", "code": "mg"},
                             {"value": 1, "system": None, "code": "mg"}, {"code": "mg"}]
    attachments: list[Any] = [{"data": "aGk="}, {"contentType": "text/plain", "data": "aGk="}, {"size": 2},
                              {"contentType": None, "data": "aGk="}]
    obs = [{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": q}
           for q in quantities]
    media = [{"resourceType": "Media", "status": "completed", "content": a} for a in attachments]
    yield "quantities", _bundle(obs + obs), lisn
    yield "attachments", _bundle(media + media), lisn
    rules: list[Any] = [{"text": "r"}, {}, None, [{"text": "r"}], "x"]
    consents = []
    for rule in rules:
        for policy in (None, [{"uri": "http://x"}]):
            consent: dict[str, Any] = {"resourceType": "Consent", "status": "active",
                                       "scope": {"text": "s"}, "category": [{"text": "c"}], "policyRule": rule}
            if policy is not None:
                consent["policy"] = policy
            consents.append(consent)
    yield "consents", _bundle(consents + consents), lisn
    # required bindings of primitives (walkgen.BINDINGS): codes in and out of the ValueSet, MIME types
    for n, (status, gender, system, mime) in enumerate(itertools.product(
            ("completed", "done", "Completed"), ("male", "boy"), ("phone", "telephone"),
            ("text/plain", "text", "x/y z"))):
        qr = {"resourceType": "QuestionnaireResponse", "status": status, "item": [{"linkId": "a", "answer": [
            {"valueAttachment": {"contentType": mime, "data": "aGk="}}]}]}
        patient = {"resourceType": "Patient", "gender": gender, "telecom": [{"system": system, "value": "1"}]}
        yield f"bindings #{n}", _bundle([qr, patient, qr, patient]), lisn


MADE = list(_made())


def _outcomes(monkeypatch: pytest.MonkeyPatch, enabled: bool, short: bool,
              inputs: list[tuple[str, bytes, Any]]) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(walkgen, "ENABLED", enabled)
        m.setattr(walkgen, "SETTLED", short)
        m.setattr(walkgen, "BINDINGS", short)
        m.setattr(walkgen, "AFTER", 0)
        m.setattr(structure, "_TABLES", {})  # (visits of their own: shapes generated as the switch says)
        m.setattr(structure, "_ROOTS", {})
        m.setattr(structure, "_ELEMENT", [])
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in inputs]


def _differ(a: list[Any], b: list[Any], inputs: list[tuple[str, bytes, Any]]) -> list[str]:
    assert len(a) == len(b) == len(inputs)
    return [name for (name, _, _), x, y in zip(inputs, a, b) if x != y]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_made_inputs_give_the_same_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    left_out = [0]
    real = walkgen.settle

    def counted(constraints: Any, keys: tuple[str, ...], visit: Any) -> Any:
        got = real(constraints, keys, visit)
        left_out[0] += len(constraints) - len(got[0]) + len(got[1])
        return got

    monkeypatch.setattr(walkgen, "settle", counted)
    on = _outcomes(monkeypatch, True, True, MADE)
    assert left_out[0] > 8, left_out  # (the short way is taken)
    assert not _differ(_outcomes(monkeypatch, True, False, MADE), on, MADE)[:10]
    assert not _differ(_outcomes(monkeypatch, False, False, MADE), on, MADE)[:10]
    # the inputs are not all valid: qrs-1, qty-3, att-1, bdl-5, ppc-1 fail in some
    failed = {i.get("diagnostics", "").split(":")[0] for out in on for i in out["issue"]}
    assert {"qrs-1", "qty-3", "att-1", "bdl-5", "ppc-1"} <= failed, failed
    codes = {i["details"]["coding"][0]["code"] for out in on for i in out["issue"] if "details" in i}
    assert {"Terminology_TX_NoValid_16"} <= codes, codes


PINNED = list(outcome_pin.inputs())


def test_pinned_inputs_give_the_same_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(PINNED) > 300
    on = _outcomes(monkeypatch, True, True, PINNED)
    off = _outcomes(monkeypatch, True, False, PINNED)
    assert not _differ(off, on, PINNED)[:10]
