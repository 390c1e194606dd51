"""Issue positions in a small checked text found by following each expression from the root
(``positions._walked``), against the general way: the forward scan (``_Scanner``, which every
other text takes). Both must give the same outcome on every example, every test and conformance
case, every location of those documents, and made documents (odd layouts and whitespace, keys
holding ``.`` or ``[``, quotes, brackets and unicode in strings); negative controls show that a
walk that loses a step, or one that ignores keys holding a separator, is noticed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.parse import decode_utf8_sig
from adapter.validation import positions
from adapter.validation.entry import read_resource
from tests.unit.validation.test_passes_shortcuts import CASES, _unplaced
from tests.unit.validation.test_positions import _locations
from tests.unit.validation.test_positions_plain import _dumps, made_document


def _walked(oo: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
    """The outcome with the positions the walk gives (None where the walk does not apply)."""
    walked = copy.deepcopy(oo)
    return walked if positions._walked(walked.get("issue", []), decode_utf8_sig(raw)) else None


def _scanned(oo: dict[str, Any], raw: bytes) -> dict[str, Any]:
    scanned = copy.deepcopy(oo)
    positions.add_positions(scanned, raw)  # not checked: always the scan
    return scanned


def _same(oo: dict[str, Any], raw: bytes) -> bool | None:
    """Whether the walk gives the scan's outcome; None where it does not apply."""
    walked = _walked(oo, raw)
    return None if walked is None else walked == _scanned(oo, raw)


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_case_has_the_positions_of_the_scan(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    oo = _unplaced(raw, igs)
    if oo is None:
        return
    assert _same(oo, raw) is not False
    if name.startswith("hl7-questionnaire/"):
        assert _same(oo, raw) is True  # the way these small documents take
    resource = read_resource(raw)
    root = str(resource.get("resourceType"))
    every = sorted(dict(_locations(resource)))
    for n in range(0, len(every), positions._PLAIN_ISSUES):  # every location, one issue each
        assert _same({"issue": [{"expression": [root + p]} for p in every[n:n + positions._PLAIN_ISSUES]]},
                     raw) is not False


@pytest.mark.parametrize("name,raw,igs", [c for c in CASES if c[0].startswith("hl7-questionnaire/")],
                         ids=[c[0] for c in CASES if c[0].startswith("hl7-questionnaire/")])
def test_corpus_documents_mutated(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    """Each corpus response laid out otherwise (indented, on one line, with blanks everywhere),
    and with each of its locations asked for with a step too many or a wrong index."""
    resource = read_resource(raw)
    root = str(resource.get("resourceType"))
    every = sorted(dict(_locations(resource)))
    asked = [root + p + extra for p in every for extra in ("", ".x", "[3]", ".value.ofType(string)")]
    for text in (json.dumps(resource), json.dumps(resource, indent=3, ensure_ascii=False),
                 _dumps(resource, ["\n", " ", "", "\t "], [0])):
        for n in range(0, len(asked), 8):
            oo = {"issue": [{"expression": [e]} for e in asked[n:n + 8]]}
            assert _same(oo, text.encode()) is not False


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_made_documents_have_the_positions_of_the_scan(data: st.DataObject) -> None:
    oo, raw = made_document(data, ("R", "R.odd", "Q"))
    assert _same(oo, raw) is not False
    checked = copy.deepcopy(oo)
    positions.add_positions(checked, raw, checked=True)  # the walk, or the ways after it
    assert checked == _scanned(oo, raw)


def test_a_key_holding_a_separator_is_left_to_the_search() -> None:
    raw = json.dumps({"resourceType": "R", "a.b": 1, "a": {"b": 2}}).encode()
    oo = {"issue": [{"expression": ["R.a.b"]}]}
    assert _same(oo, raw) is None  # ("a.b" is found first in the text: the search for every location)
    checked = copy.deepcopy(oo)
    positions.add_positions(checked, raw, checked=True)
    assert checked == _scanned(oo, raw)


def test_a_wrong_walk_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: a walk that drops the last step of each expression, and one that
    ignores keys holding a separator, fail the comparison."""
    case = next(c for c in CASES if c[0].startswith("hl7-questionnaire/"))
    oo = _unplaced(case[1], case[2])
    assert oo is not None and _same(oo, case[1]) is True
    real = positions._route.__wrapped__

    def short(rest: str) -> Any:
        steps, odd = real(rest)
        return steps[:-1], odd

    # (each expression's route is remembered with its steps: forgotten while _route is replaced)
    positions._route_from.cache_clear()
    try:
        monkeypatch.setattr(positions, "_route", short)
        assert _same(oo, case[1]) is False
        positions._route_from.cache_clear()
        monkeypatch.setattr(positions, "_route", lambda rest: (real(rest)[0], ()))
        raw = json.dumps({"resourceType": "R", "a.b": 1, "a": {"b": 2}}).encode()
        assert _same({"issue": [{"expression": ["R.a.b"]}]}, raw) is False
    finally:
        monkeypatch.undo()
        positions._route_from.cache_clear()
