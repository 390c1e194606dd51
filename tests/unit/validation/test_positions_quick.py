"""The short ways of issue positions in a small checked text (``positions._walked``): the root's
type read in one match where ``resourceType`` is the root's first key with a string value
(``_HEAD``), and an expression's first steps read in one match where the members before each key
are plain and each index is 0 (``_quick_route``). Against the walk without them (the general
way: ``_member`` and ``_elements`` step by step, ``resourceType`` looked for as any key), on every
example, test and conformance case, every location of those documents laid out otherwise, and
made documents; negative controls show that a pattern that passes nested members, one that
takes any index for 0, and one that takes any first key for ``resourceType`` are noticed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
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

QUESTIONNAIRE_CASES = [c for c in CASES if c[0].startswith("hl7-questionnaire/")]


@contextmanager
def _changed(**replaced: Any) -> Iterator[None]:
    """``positions`` with some of its names replaced (each expression's route, remembered with its
    pattern, forgotten before and after)."""
    positions._route_from.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as m:
            for name, value in replaced.items():
                m.setattr(positions, name, value)
            yield
    finally:
        positions._route_from.cache_clear()


def _general() -> Any:
    """The walk without its short ways: no quick route, ``resourceType`` looked for as any key."""
    return _changed(_quick_route=lambda steps: (None, 0), _HEAD=re.compile(r"(?!)"))


def _walked(oo: dict[str, Any], text: str) -> dict[str, Any] | None:
    walked = copy.deepcopy(oo)
    return walked if positions._walked(walked.get("issue", []), text) else None


def _same(oo: dict[str, Any], text: str) -> bool:
    """Whether the walk gives the same outcome with and without its short ways."""
    quick = _walked(oo, text)
    with _general():
        general = _walked(oo, text)
    return quick == general


def _asked(resource: dict[str, Any]) -> list[str]:
    root = str(resource.get("resourceType"))
    every = sorted(dict(_locations(resource)))
    return [root + p + extra for p in every for extra in ("", ".x", "[0]", "[2]", ".value.ofType(string)")]


def _layouts(resource: dict[str, Any], text: str) -> list[str]:
    return [text, json.dumps(resource), json.dumps(resource, indent=3, ensure_ascii=False),
            _dumps(resource, ["\n", " ", "", "\t "], [0]), _dumps(resource, ["", "\r\n  "], [0])]


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_case_and_location_has_the_walk_of_the_general_way(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    oo = _unplaced(raw, igs)
    if oo is None:
        return
    text = decode_utf8_sig(raw)
    assert _same(oo, text)
    resource = read_resource(raw)
    asked = _asked(resource)
    layouts = _layouts(resource, text) if name.startswith("hl7-questionnaire/") else [text]
    for laid_out in layouts:
        for n in range(0, len(asked), 16):
            assert _same({"issue": [{"expression": [e]} for e in asked[n:n + 16]]}, laid_out)


def test_the_corpus_issues_take_the_short_ways() -> None:
    """Not a vacuous comparison: the head is read in one match in every corpus response, and the
    quick route reads the first steps of most issues (each one at least one step)."""
    routes = read = 0
    for _name, raw, igs in QUESTIONNAIRE_CASES:
        oo = _unplaced(raw, igs)
        text = decode_utf8_sig(raw)
        head = positions._HEAD.match(text, 0 if text[0] == "{" else positions._BLANK.match(text).end())  # type: ignore[union-attr]
        assert head is not None
        for iss in (oo or {}).get("issue", []):
            for expr in iss.get("expression") or ():
                route = positions._route_from(expr, head.group(1))
                if route is not None and route[0]:
                    routes += 1
                    read += route[2] is not None and route[2].match(text, head.start()) is not None
    assert routes > 50 and read >= 0.9 * routes


# Plain members before the key, nested objects and arrays holding the same keys, strings holding
# brackets, commas and colons, literals, empty arrays: each asked for at every location.
_TRICKY = [
    {"resourceType": "R", "a": {"c": 1, "b": [{"c": 2}]}, "s": "{[,:]} c", "n": -1.5e3, "t": True, "z": None,
     "c": [{"b": "x", "c": {"c": 3}}, {"c": 4}], "e": [], "f": [[], [{"c": 5}]]},
    {"id": "x", "resourceType": "R", "c": {"a": [1, {"b": 2}], "b": 3}},
    {"resourceType": "R", "e": [], "f": [[], [[]]], "g": {"e": [], "c": [{"e": [[], []]}]}, "c": [[{"e": []}]]},
    {"resourceType": 3, "c": 1},
    {"resourceType": "R.odd", "c": 1},
    {"c": [{"resourceType": "R"}], "resourceType": "R", "b": {"resourceType": "Q"}},
    {"resourceType": "R", "item": [{"linkId": "1", "answer": [{"valueCoding": {"code": "a"}}, {"valueString": "b"}]},
                                   {"linkId": "2", "item": [{"linkId": "2.1", "answer": []}]}]},
]


@pytest.mark.parametrize("resource", _TRICKY)
def test_tricky_documents_have_the_walk_of_the_general_way(resource: dict[str, Any]) -> None:
    asked = _asked(resource) + ["R.c[0].c.c", "R.f[1][0].c", "R.e[0]", "R.item[1].item[0].answer[0]", "R.f[0][0]",
                                "R.f[1][0][0]", "R.g.c[0].e[0][0]", "R.c[0][0].e[0]"]
    for text in _layouts(resource, json.dumps(resource, indent=2)):
        for n in range(0, len(asked), 16):
            assert _same({"issue": [{"expression": [e]} for e in asked[n:n + 16]]}, text)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_made_documents_have_the_walk_of_the_general_way(data: st.DataObject) -> None:
    oo, raw = made_document(data, ("R", "R.odd", "Q"))
    assert _same(oo, decode_utf8_sig(raw))


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_wrong_short_ways_are_noticed() -> None:
    """Negative controls: a member pattern that passes into nested objects, a quick route that
    takes any index for 0, one that takes the end of an empty array for its first element, and a
    head that takes the first key's value for the type."""
    nested = json.dumps({"resourceType": "R", "a": {"b": 1, "c": 2}, "c": 3}, indent=2)
    second = json.dumps({"resourceType": "R", "a": [{"b": 1}, {"b": 2}]}, indent=2)
    empty = json.dumps({"resourceType": "R", "a": [ ]}, indent=2)
    first_key = json.dumps({"id": "x", "resourceType": "R", "c": 1})
    cases = [({"issue": [{"expression": ["R.c"]}]}, nested), ({"issue": [{"expression": ["R.a[1].b"]}]}, second),
             ({"issue": [{"expression": ["R.a[0]"]}]}, empty), ({"issue": [{"expression": ["R.c"]}]}, first_key)]
    assert all(_same(oo, text) for oo, text in cases)
    real = positions._quick_route
    with _changed(_PLAIN_MEMBER=r"[^,]*+,"):
        assert not _same(*cases[0])
    with _changed(_quick_route=lambda steps: real(tuple((key, 0) for key, _ in steps))):
        assert not _same(*cases[1])
    with _changed(_quick_route=lambda steps: (re.compile(real(steps)[0].pattern.replace("(?!\\])", "")), real(steps)[1])
                  if real(steps)[0] is not None else (None, 0)):
        assert not _same(*cases[2])
    with _changed(_HEAD=re.compile(r'\{[ \t\r\n]*+"[^"]*+"[ \t\r\n]*+:[ \t\r\n]*+"([^"]*+)"')):
        assert not _same(*cases[3])
