"""The QR walk's short path on made lists of siblings, beside test_qr_short_path's corpus comparisons.

The short path reads a list of *regular* sibling definitions (objects, each with a non-empty linkId
of its own) by a first pass that only reads the items, and goes to the general item loop when that
loop would report something; irregular definitions (a repeated linkId, one missing or empty, a
value that is not an object) always take the general loop. Each made Questionnaire and response
here is compared with ``validate_response(..., general=True)``; the cases cover every branch of
the first pass (repeats, order, unknown and misplaced items, no linkId) and enableWhen ``!=`` and
``exists`` over several answers, including answers below answers. A negative control shows that
a short path taking irregular siblings as regular is caught.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import answers, questionnaire_response
from adapter.validation.questionnaire_response import validate_response

Node = dict[str, Any]
URL = "http://example.org/q"


def _q(items: list[Any]) -> Node:
    return {"resourceType": "Questionnaire", "url": URL, "status": "active", "item": items}


def _outcome(q: Node, qr: Node, general: bool) -> Any:
    issues = Issues()
    try:
        validate_response(qr, Registry([q]), issues, general=general)
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike, too
        return ("raised", type(exc).__name__, issues.items)
    return issues.items


_QUESTION = {"linkId": "a", "type": "string", "required": True}
_DEFINITIONS: list[list[Any]] = [
    [_QUESTION, {"linkId": "b", "type": "integer", "repeats": True}, {"linkId": "c", "type": "boolean"}],
    [_QUESTION, {"linkId": "a", "type": "integer"}, {"linkId": "c", "type": "boolean"}],  # a linkId twice
    [_QUESTION, {"type": "integer"}, {"linkId": "c", "type": "boolean"}],  # no linkId
    [_QUESTION, {"linkId": "", "type": "integer"}, {"linkId": "c", "type": "boolean"}],  # an empty one
    [_QUESTION, "not an item", {"linkId": "c", "type": "boolean"}],  # not an object
    [_QUESTION, {"linkId": 7, "type": "integer"}, {"linkId": "c", "type": "boolean"}],  # not a string
    [{"linkId": "g", "type": "group", "repeats": True, "item": [
        {"linkId": "a", "type": "string"},
        {"linkId": "b", "type": "integer", "repeats": True,
         "enableWhen": [{"question": "a", "operator": "!=", "answerString": "x"}]},
        {"linkId": "c", "type": "boolean", "required": True,
         "enableWhen": [{"question": "b", "operator": "exists", "answerBoolean": True}]}]}],
]
_VALUES = {"a": {"valueString": "x"}, "b": {"valueInteger": 1}, "c": {"valueBoolean": True},
           "": {"valueInteger": 2}, "7": {"valueInteger": 3}, "zz": {"valueString": "y"}}


def _responses(definitions: list[Any]) -> list[Node]:
    """Responses with the items in many orders, repeated, missing, unknown, without linkId."""
    links = ["a", "b", "c", "", "7", "zz"]
    out = []
    for n in range(4):
        for chosen in itertools.permutations(links, n):
            items: list[Any] = [{"linkId": link, "answer": [copy.deepcopy(_VALUES[link])]} for link in chosen]
            out.append(items)
            if items:
                out.append([*items, copy.deepcopy(items[-1])])  # the last one again
                out.append([{"answer": [{"valueString": "no link"}]}, *items])
                out.append([*items, {"linkId": "a", "answer": [{"valueString": "x"}, {"valueString": "y"}]}])
    wrapped = []
    for items in out:
        if definitions[0].get("type") == "group":
            wrapped.append({"item": [{"linkId": "g", "item": copy.deepcopy(items)},
                                     {"linkId": "g", "item": [{"linkId": "a", "answer": [
                                         {"valueString": "z", "item": [{"linkId": "b", "answer": [
                                             {"valueInteger": 4}]}]}]}]}]})
        wrapped.append({"item": items})
    return [{"resourceType": "QuestionnaireResponse", "questionnaire": URL, "status": "completed", **w}
            for w in wrapped]


_CASES = [(i, _q(copy.deepcopy(d)), r) for i, d in enumerate(_DEFINITIONS) for r in _responses(d)]


@pytest.fixture(autouse=True)
def _fresh_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "_MEMO", {})


def _differences() -> int:
    return sum(_outcome(q, qr, False) != _outcome(q, qr, True) for _i, q, qr in _CASES)


def test_made_siblings_walk_as_the_general_path() -> None:
    assert len(_CASES) >= 1000
    assert _differences() == 0


def test_the_made_siblings_take_both_ways() -> None:
    """Regular and irregular definition lists both occur, so both ways of the first pass are compared."""
    kinds = {questionnaire_response.compiled(q).top.regular for _i, q, _qr in _CASES}
    assert kinds == {True, False}


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_negative_control_irregular_siblings_taken_as_regular_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    former = questionnaire_response._Siblings.__init__

    def regular_always(self: Any, defs: Any, positions: Any, qitems: Any) -> None:
        former(self, defs, positions, qitems)
        self.regular = True

    monkeypatch.setattr(questionnaire_response._Siblings, "__init__", regular_always)
    assert _differences() > 0
