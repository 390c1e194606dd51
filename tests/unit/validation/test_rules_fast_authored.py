"""The grund-date rule's short way (``invariants._authored_holds``) gives what fhirpathpy and the general way give.

``authored.exists() implies item.where(linkId='grund').item.where(linkId='grund.datum').answer.value.all(
$this.toString() <= %resource.authored.toString().substring(0, 10))`` is answered ``True`` by
:func:`invariants.holds` without FHIRPath on plain dates. Wherever the short way answers, fhirpathpy
(the oracle, R4 model) gives ``[True]`` and the general way (``RULES_SHORT = False``) holds too: on
every object with items of the examples, the validation cases and both HL7 corpora, and on mutated
certificates (authored of every precision and time zone, absent, odd; grund dates as in
``test_rules_fast_formaga``). Deliberately wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

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
from tests.unit.validation.test_rules_fast_formaga import _CASES, _QR, ROOT, _files, _items, _load, _mutations, _objects

RULE = invariants._AUTHORED
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))
_AUTHORED = [None, "2026-09-14T10:32:00+02:00", "2026-09-14", "2026-09-13T23:59:59Z", "2026-09-15T00:00:00.5-01:00",
             "2026-09-14T10:32:00", "2026-09", "2026", "2026-09-14T10:32+02:00", "x", "", 20260914,
             "2026-09-02T00:00:00Z", "2026-09-01T23:00:00-05:00", "2027-01-01T00:00:00Z"]


def test_the_rule_is_the_profiles() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "profiles").glob("StructureDefinition-*.json"))
    assert json.dumps(RULE)[1:-1] in text


_oracle = partial(rule_kit.oracle, _ORACLE)


def _disagreement(node: Any, monkeypatch: pytest.MonkeyPatch) -> str | None:
    return rule_kit.disagreement(RULE, invariants._authored_holds, _ORACLE, node, monkeypatch)


def test_the_short_way_answers_on_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    assert invariants._authored_holds(_QR)
    assert _oracle(_QR) == ("ok", [True])
    monkeypatch.setattr(invariants, "_QUICK", {})
    monkeypatch.setattr(invariants, "_PLANS", {})
    assert invariants.holds(RULE, _QR, resource=_QR) is True
    assert invariants._PLANS == {}  # answered before any plan
    invariants.holds(RULE, _QR, resource={})  # (another %resource: the general way)
    assert invariants._PLANS != {}


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    problems, answered = [], 0
    for path in _files():
        for node in _objects(_load(path)):
            answered += invariants._authored_holds(node)
            problem = _disagreement(node, monkeypatch)
            if problem:
                problems.append(problem)
    assert answered > 50
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def test_each_authored_and_ground(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = 0
    for authored in _AUTHORED + ["_authored"]:
        for values in _CASES:
            qr = copy.deepcopy(_QR)
            _items(qr, "grund.datum")[-1]["answer"] = [{key: value} for key, value in values]
            if authored is None:
                del qr["authored"]
            elif authored == "_authored":
                qr["_authored"] = {"extension": []}
            else:
                qr["authored"] = authored
            answered += invariants._authored_holds(qr)
            problem = _disagreement(qr, monkeypatch)
            assert problem is None, problem
    assert answered >= 40


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations(), st.sampled_from(_AUTHORED))
def test_mutated_certificates(monkeypatch: pytest.MonkeyPatch, qr: dict[str, Any], authored: Any) -> None:
    if authored is None:
        qr.pop("authored", None)
    else:
        qr["authored"] = authored
    problem = _disagreement(qr, monkeypatch)
    assert problem is None, problem
