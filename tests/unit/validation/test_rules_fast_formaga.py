"""The work-capacity rule's short way (``invariants._formaga_holds``) gives what fhirpathpy and the general way give.

``((… formaga.period.start ….answer.value.first() + 7 days) < … grund.datum ….answer.value.aggregate(iif(…)))
implies … formaga.period.motivering ….answer.value.exists()`` is answered ``True`` by :func:`invariants.holds`
without FHIRPath on plain full dates. Wherever the short way answers, fhirpathpy itself (the oracle,
R4 model) gives ``[True]`` and the general way (``RULES_SHORT = False``: the quick plan's direct
form) holds too: on every QuestionnaireResponse of the examples, the validation cases and both HL7
corpora, and on mutated certificates (dates of every precision, dateTimes with time zones, strings,
invalid and boundary dates, missing and extra answers, several periods and formaga items, odd JSON).
Deliberately wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import invariants
from tests.unit.validation import rule_kit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
RULE = invariants._FORMAGA
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))
_QR = json.loads(EXAMPLE.read_text(encoding="utf-8"))["entry"][1]["resource"]


def test_the_rule_is_the_profiles() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "profiles").glob("StructureDefinition-*.json"))
    assert json.dumps(RULE)[1:-1] in text


def _files() -> list[Path]:
    files = sorted((ROOT / "profiles" / "examples").glob("*.json"))
    files += sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))
    corpus = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")
    for name in ("hl7-base", "hl7-questionnaire"):
        files += sorted((corpus / name / "cases").glob("*.json"))
    return files


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


_objects = partial(rule_kit.objects, having="item")  # every object with an item: a response, an item


_oracle = partial(rule_kit.oracle, _ORACLE)


def _general(node: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(invariants, "RULES_SHORT", False)
        return invariants.holds(RULE, node, resource=node)


def _disagreement(node: Any, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` where the short way declines, or answers as the oracle and the general way do."""
    if type(node) is not dict or not invariants._formaga_holds(node):
        return None
    oracle, general = _oracle(node), _general(node, monkeypatch)
    fast = invariants.holds(RULE, node, resource=node)
    if oracle == ("ok", [True]) and general is True and fast is True:
        return None
    return f"short way True, fhirpathpy {oracle}, general {general}, holds {fast}: {json.dumps(node)[:300]}"


def test_the_short_way_answers_on_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    assert invariants._formaga_holds(_QR)
    assert _oracle(_QR) == ("ok", [True])
    monkeypatch.setattr(invariants, "_QUICK", {})  # holds answers before any plan is looked up
    monkeypatch.setattr(invariants, "_PLANS", {})
    assert invariants.holds(RULE, _QR, resource=_QR) is True
    assert invariants._QUICK == {}


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    assert len(files) > 20
    problems, answered = [], 0
    for path in files:
        for node in _objects(_load(path)):
            answered += invariants._formaga_holds(node)
            problem = _disagreement(node, monkeypatch)
            if problem:
                problems.append(problem)
    assert answered >= 5  # (the certificates; without a start and a grund date the rule gives empty)
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def _items(node: Any, link: str) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("linkId") == link:
            found.append(node)
        for v in node.values():
            found += _items(v, link)
    elif isinstance(node, list):
        for v in node:
            found += _items(v, link)
    return found


_DATES = ["2026-09-14", "2026-08-24", "2026-08-25", "2026-08-26", "2026-09-01", "2026-09-02",
          "2026-09-07", "2026-09-06", "2026-09-08", "2026-08-31", "2026-12-28", "2026-02-28",
          "2028-02-22", "2026-02-30", "2026-13-01", "0000-01-01", "9999-12-30", "2026", "2026-09", "2026-9-14",
          "2026-09-14T00:00:00+02:00", "2026-09-14T23:00:00Z", " 2026-09-14", "", "2026-09-021"]
_VALUES = st.one_of(
    st.tuples(st.sampled_from(["valueDate", "valueDateTime", "valueString", "_valueDate", "value", "valueFoo"]),
              st.one_of(st.sampled_from(_DATES), st.integers(0, 3), st.none(), st.just({"extension": []}))),
    st.tuples(st.just("valueDate"), st.sampled_from(_DATES)))
_REASONS = st.tuples(st.sampled_from(["valueString", "valueString", "valueInteger", "_valueString", "valueCoding"]),
                     st.one_of(st.just("Motiv"), st.just(""), st.integers(0, 2), st.none()))


@st.composite
def _mutations(draw: st.DrawFn) -> dict[str, Any]:
    qr = copy.deepcopy(_QR)
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["start", "ground", "reason", "drop", "copy", "odd", "answers"]))
        with contextlib.suppress(IndexError, KeyError, TypeError, AttributeError):
            if kind in ("start", "ground", "reason"):
                link = {"start": "formaga.period.start", "ground": "grund.datum",
                        "reason": "formaga.period.motivering"}[kind]
                targets = _items(qr, link)
                if kind == "reason" and not targets:
                    period = _items(qr, "formaga.period")[0]
                    period["item"].append({"linkId": link})
                    targets = [period["item"][-1]]
                target = draw(st.sampled_from(targets))
                key, value = draw(_REASONS if kind == "reason" else _VALUES)
                answers = [{key: value}] + ([{draw(_VALUES)[0]: draw(st.sampled_from(_DATES))}]
                                            if draw(st.booleans()) else [])
                target["answer"] = answers if draw(st.integers(0, 5)) else []
            elif kind == "drop":
                link = draw(st.sampled_from(["formaga.period.start", "grund.datum", "formaga.period", "grund"]))
                for item in _items(qr, link):
                    item.pop(draw(st.sampled_from(["answer", "linkId", "item"])), None)
            elif kind == "copy":
                link = draw(st.sampled_from(["formaga.period", "formaga", "grund", "formaga.period.start"]))
                parents = [p for p in _objects(qr) if any(i.get("linkId") == link for i in p["item"])]
                parent = draw(st.sampled_from(parents))
                index = [i for i, it in enumerate(parent["item"]) if it.get("linkId") == link][0]
                parent["item"].insert(draw(st.integers(0, len(parent["item"]))), copy.deepcopy(parent["item"][index]))
            elif kind == "answers":
                target = draw(st.sampled_from(_items(qr, "formaga.period.start") + _items(qr, "grund.datum")))
                target["answer"] = draw(st.sampled_from([None, {}, [None], [[]], "2026-09-14", [{}],
                                                         [{"item": []}]]))
            else:
                link = draw(st.sampled_from(["formaga.period.start", "grund.datum", "formaga.period", "formaga"]))
                target = draw(st.sampled_from(_items(qr, link)))
                key, value = draw(st.sampled_from([("_linkId", {"id": "x"}), ("linkId", 5), ("_item", []),
                                                   ("item", {}), ("_answer", []), ("item", None)]))
                target[key] = value
    return qr


_CASES = [[("valueDate", d)] for d in _DATES] + [[("valueDateTime", "2026-09-14T10:00:00+01:00")],
                                                 [("valueString", "2026-09-14")], [("valueDateTime", "2026-08-25")],
                                                 [("valueDate", "2026-08-25"), ("valueDate", "2026-09-14")],
                                                 [("valueDate", "2026-09-14"), ("valueDate", "2026-08-25")], []]
# (the example's grund dates are 2026-09-14 and 2026-09-02: a start before 2026-08-26 needs a motivering)
_REASON_CASES = [None, ("valueString", "x"), ("valueString", None), ("valueString", ""), ("valueInteger", 0),
                 ("valueCoding", {"code": "x"}), ("_valueString", {"extension": []})]


def test_each_start_and_ground(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = 0
    for link in ("formaga.period.start", "grund.datum"):
        for values in _CASES:
            for reason in _REASON_CASES:
                qr = copy.deepcopy(_QR)
                _items(qr, link)[-1]["answer"] = [{key: value} for key, value in values]
                if reason is not None:
                    _items(qr, "formaga.period")[0]["item"].append(
                        {"linkId": "formaga.period.motivering", "answer": [dict([reason])]})
                answered += invariants._formaga_holds(qr)
                problem = _disagreement(qr, monkeypatch)
                assert problem is None, problem
    assert answered >= 40


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations())
def test_mutated_certificates(monkeypatch: pytest.MonkeyPatch, qr: dict[str, Any]) -> None:
    problem = _disagreement(qr, monkeypatch)
    assert problem is None, problem
