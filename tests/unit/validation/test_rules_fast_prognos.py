"""The prognosis rule's short way (``invariants._prognos_holds``) gives what fhirpathpy and the general way give.

``item.where(linkId='prognos').all(item.where(linkId='prognos.typ').answer.value.where(code in ('oklar' |
'ej-aterfa')).exists() implies item.where(linkId='prognos.beskrivning').answer.value.exists())`` is
answered ``True`` by :func:`invariants.holds` without FHIRPath on plain answers. Wherever the short
way answers, fhirpathpy (the oracle, R4 model) gives ``[True]`` and the general way
(``RULES_SHORT = False``) holds too: on every object with items of the examples, the validation
cases and both HL7 corpora, and on mutated certificates (codes, descriptions of every kind, several
prognosis items, odd JSON). Deliberately wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

import contextlib
import copy
import json
from functools import partial
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import invariants
from tests.unit.validation import rule_kit
from tests.unit.validation.test_rules_fast_formaga import _QR, ROOT, _files, _items, _load, _objects

RULE = invariants._PROGNOS
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))


def test_the_rule_is_the_profiles() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "profiles").glob("StructureDefinition-*.json"))
    assert json.dumps(RULE)[1:-1] in text


_oracle = partial(rule_kit.oracle, _ORACLE)


def _disagreement(node: Any, monkeypatch: pytest.MonkeyPatch) -> str | None:
    return rule_kit.disagreement(RULE, invariants._prognos_holds, _ORACLE, node, monkeypatch)


def test_the_short_way_answers_on_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    assert invariants._prognos_holds(_QR)
    assert _oracle(_QR) == ("ok", [True])
    monkeypatch.setattr(invariants, "_QUICK", {})
    monkeypatch.setattr(invariants, "_PLANS", {})
    assert invariants.holds(RULE, _QR, resource=_QR) is True
    assert invariants._PLANS == {}


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    problems, answered = [], 0
    for path in _files():
        for node in _objects(_load(path)):
            answered += invariants._prognos_holds(node)
            problem = _disagreement(node, monkeypatch)
            if problem:
                problems.append(problem)
    assert answered > 50
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


_CODES = st.one_of(st.sampled_from(["oklar", "ej-aterfa", "aterfar-delvis", "", "OKLAR"]), st.integers(0, 1),
                   st.none())
_TYPES = st.one_of(
    st.builds(lambda c: {"valueCoding": {"system": "s", "code": c}}, _CODES),
    st.builds(lambda c: {"valueCoding": {"system": "s"}, **c}, st.just({})),
    st.builds(lambda c: {"valueCoding": {"code": "oklar", "_code": {"id": "x"}}}, st.just(0)),
    st.builds(lambda c: {"valueString": c}, _CODES),
    st.builds(lambda c: {"valueCoding": [{"code": c}]}, _CODES),
    st.just({}), st.just({"item": []}))
_TEXTS = st.one_of(
    st.builds(lambda v: {"valueString": v}, st.one_of(st.just("Beskrivning"), st.just(""), st.none(), st.integers(0, 1))),
    st.just({"valueInteger": 2}), st.just({"_valueString": {"extension": []}}), st.just({}),
    st.just({"valueString": "a", "valueInteger": 1}))


@st.composite
def _mutations(draw: st.DrawFn) -> dict[str, Any]:
    qr = copy.deepcopy(_QR)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["typ", "text", "copy", "drop", "odd"]))
        with contextlib.suppress(IndexError, KeyError, TypeError, AttributeError):
            if kind in ("typ", "text"):
                link = "prognos.typ" if kind == "typ" else "prognos.beskrivning"
                target = draw(st.sampled_from(_items(qr, link)))
                target["answer"] = draw(st.lists(_TYPES if kind == "typ" else _TEXTS, max_size=3))
            elif kind == "copy":
                index = [i for i, it in enumerate(qr["item"]) if it.get("linkId") == "prognos"][0]
                qr["item"].insert(draw(st.integers(0, len(qr["item"]))), copy.deepcopy(qr["item"][index]))
            elif kind == "drop":
                link = draw(st.sampled_from(["prognos.typ", "prognos.beskrivning", "prognos"]))
                for item in _items(qr, link):
                    item.pop(draw(st.sampled_from(["answer", "linkId", "item"])), None)
            else:
                target = draw(st.sampled_from(_items(qr, draw(st.sampled_from(
                    ["prognos.typ", "prognos.beskrivning", "prognos"])))))
                key, value = draw(st.sampled_from([("_linkId", {"id": "x"}), ("linkId", 5), ("_item", []),
                                                   ("item", {}), ("_answer", []), ("answer", {})]))
                target[key] = value
    return qr


def test_each_code_and_text(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = 0
    for code in ["oklar", "ej-aterfa", "aterfar-delvis", None]:
        for text in [None, {"valueString": "x"}, {"valueString": None}, {"valueString": ""}, {"valueInteger": 1}]:
            qr = copy.deepcopy(_QR)
            _items(qr, "prognos.typ")[0]["answer"] = [{"valueCoding": {"code": code} if code else {}}]
            _items(qr, "prognos.beskrivning")[0]["answer"] = [text] if text else []
            answered += invariants._prognos_holds(qr)
            problem = _disagreement(qr, monkeypatch)
            assert problem is None, problem
    assert answered >= 8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations())
def test_mutated_certificates(monkeypatch: pytest.MonkeyPatch, qr: dict[str, Any]) -> None:
    problem = _disagreement(qr, monkeypatch)
    assert problem is None, problem
