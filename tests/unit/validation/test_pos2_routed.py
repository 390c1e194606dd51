"""Issue positions in a small checked text by one match per expression (``positions._routed``,
switch ``positions.ROUTE_SHORT``), against the general way of such a text (``positions._walked``,
the switch off) and the scan (``add_positions`` of an unchecked text): the whole outcome, on every
example, test and conformance case (each also asked for every location of its document, laid out
otherwise), tricky and made documents (members and elements nested deeper than the patterns read,
keys holding ``.`` or ``[``, escapes in keys and strings, unicode, odd blanks, other roots); negative
controls show that a wrong pattern is noticed.
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
from tests.unit.validation.test_positions_plain import _dumps

QUESTIONNAIRE_CASES = [c for c in CASES if c[0].startswith("hl7-questionnaire/")]


@contextmanager
def _changed(**replaced: Any) -> Iterator[None]:
    """``positions`` with some of its names replaced (the remembered routes forgotten before and after)."""
    positions._whole_route.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as m:
            for name, value in replaced.items():
                m.setattr(positions, name, value)
            yield
    finally:
        positions._whole_route.cache_clear()


def _placed(oo: dict[str, Any], raw: bytes, *, short: bool, checked: bool = True) -> dict[str, Any]:
    placed = copy.deepcopy(oo)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(positions, "ROUTE_SHORT", short)
        positions.add_positions(placed, raw, checked=checked)
    return placed


def _same(oo: dict[str, Any], raw: bytes) -> bool:
    """Whether the short way gives the outcome of the general way (and of the scan)."""
    short = _placed(oo, raw, short=True)
    return short == _placed(oo, raw, short=False) == _placed(oo, raw, short=True, checked=False)


def _routed(oo: dict[str, Any], raw: bytes) -> bool:
    """Whether the short way placed the issues (not the general way after it)."""
    return positions._routed(copy.deepcopy(oo).get("issue", []), decode_utf8_sig(raw))


def _asked(resource: dict[str, Any]) -> list[str]:
    root = str(resource.get("resourceType"))
    every = sorted(dict(_locations(resource)))
    return [root + p + extra for p in every for extra in ("", ".x", "[0]", "[3]", ".value.ofType(string)")]


def _layouts(resource: dict[str, Any], text: str) -> list[str]:
    return [text, json.dumps(resource), json.dumps(resource, indent=3, ensure_ascii=False),
            _dumps(resource, ["\n", " ", "", "\t "], [0]), _dumps(resource, ["", "\r\n  "], [0])]


def _all_same(asked: list[str], text: str, *, alone: bool = True) -> None:
    """Every expression asked for in issues of 16, and (``alone``) each in an issue alone."""
    raw = text.encode()
    for n in range(0, len(asked), 16):
        oo = {"issue": [{"expression": [e]} for e in asked[n:n + 16]]}
        assert _same(oo, raw), asked[n:n + 16]
    for e in asked if alone else ():  # one issue alone: the usual error path
        assert _same({"issue": [{"expression": [e]}]}, raw), e


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_case_and_location_has_the_positions_of_the_general_way(name: str, raw: bytes,
                                                                      igs: tuple[str, ...]) -> None:
    oo = _unplaced(raw, igs)
    if oo is None:
        return
    assert _same(oo, raw)
    if len(raw) > positions._PLAIN_UP_TO:
        return
    resource = read_resource(raw)
    text = decode_utf8_sig(raw)
    if name.startswith("hl7-questionnaire/"):
        for laid_out in _layouts(resource, text):
            _all_same(_asked(resource), laid_out)
    else:  # (larger documents: a part of their locations here, every one in the slow test below)
        _all_same(_asked(resource)[:200], text, alone=False)


@pytest.mark.slow
@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_location_of_every_case_alone_has_the_positions_of_the_general_way(name: str, raw: bytes,
                                                                                  igs: tuple[str, ...]) -> None:
    try:
        resource = read_resource(raw)
    except Exception:  # noqa: BLE001 - refused at reading: no positions
        return
    if len(raw) <= positions._PLAIN_UP_TO:  # (each location alone, up to 300 of them, in five layouts)
        for laid_out in _layouts(resource, decode_utf8_sig(raw)):
            _all_same(_asked(resource)[:300], laid_out)


def test_the_corpus_issues_take_the_short_way() -> None:
    """Not a vacuous comparison: every corpus outcome with an expression is placed by the short way."""
    placed = with_expression = 0
    for _name, raw, igs in QUESTIONNAIRE_CASES:
        oo = _unplaced(raw, igs)
        if oo is None or not any(iss.get("expression") for iss in oo["issue"]):
            continue
        with_expression += 1
        placed += _routed(oo, raw)
    assert with_expression > 50 and placed == with_expression


_TRICKY: list[dict[str, Any]] = [
    {"resourceType": "R", "a": {"c": 1, "b": [{"c": 2}]}, "s": "{[,:]} c", "n": -1.5e3, "t": True, "z": None,
     "c": [{"b": "x", "c": {"c": 3}}, {"c": 4}], "e": [], "f": [[], [{"c": 5}]]},
    {"id": "x", "resourceType": "R", "c": {"a": [1, {"b": 2}], "b": 3}},
    {"resourceType": "R", "e": [], "f": [[], [[]]], "g": {"e": [], "c": [{"e": [[], []]}]}, "c": [[{"e": []}]]},
    {"resourceType": 3, "c": 1},
    {"resourceType": "R.odd", "c": 1},
    {"resourceType": "R[0]", "c": 1},
    {"resourceType": "Rx", "c": 1},
    {"resourceType": "R"},
    {"c": [{"resourceType": "R"}], "resourceType": "R", "b": {"resourceType": "Q"}},
    {"resourceType": "R", "item": [{"linkId": "1", "answer": [{"valueCoding": {"code": "a"}}, {"valueString": "b"}]},
                                   {"linkId": "2", "item": [{"linkId": "2.1", "answer": []}]}]},
    # keys holding separators, reachable by two ways (the first in the text counts)
    {"resourceType": "R", "item[0].answer": 1, "item": [{"answer": 2}], "a.b": {"c": 1}, "a": {"b": {"c": 2}}},
    {"resourceType": "R", "item": [{"answer": 2}], "item[0]": {"answer": 3}, "x.y[1]": [0, 1]},
    # escapes: in strings (no escaped quote: the short way applies), an escaped quote, a key with an escape
    {"resourceType": "R", "s": "c:\\temp\\a\r\n", "item": [{"a": "\u00e9\u2028 \U0001d11e"}, {"a": 2}]},
    {"resourceType": "R", "s": "say \"item\": [", "item": [{"a": 1}, {"a": 2}]},
    {"resourceType": "R", "it\nem": 1, "item": [{"a": 1}]},
    {"resourceType": "R", "q": "\"", "item": [1]},
    # strings equal to a key, a value that looks like a key, literals
    {"resourceType": "R", "status": "item", "x": ["item", {"item": 0}], "item": [False, None, -0.5e-3, {"item": "a"}]},
    # elements and members nested at and beyond the depth the patterns read
    {"resourceType": "R", "deep": [[[[[[1]]]]]], "item": [[[[[[3]]]]], [[[[[[4]]]]]], 5], "deeper": [[[[[[[2]]]]]]]},
    {"resourceType": "R", "o": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "item": [{"a": {"b": {"c": {"d": {}}}}}, 6]},
    {"resourceType": "R", "item": [{"a": [{"b": [{"c": [1, 2]}, 3]}]}, {"a": [{"b": []}]}, {"a": 0}], "z": 1},
]


@pytest.mark.parametrize("resource", _TRICKY)
def test_tricky_documents_have_the_positions_of_the_general_way(resource: dict[str, Any]) -> None:
    asked = _asked(resource) + ["R.c[0].c.c", "R.f[1][0].c", "R.e[0]", "R.item[1].item[0].answer[0]", "R.f[0][0]",
                                "R.item[0].answer", "R.a.b.c", "R.x.y[1]", "R.item[2]", "R.item[1][0][0][0][0][0]",
                                "R.item[0].a[0].b[0].c[1]", "R.item[2].a", "R.deeper[0]", "R", "R[0]", "R.odd.c",
                                "Rx.c", "R.item[01]", "R.item[-1]", "R.item[0]x", "R..c", ".c", "R.it\nem"]
    for text in _layouts(resource, json.dumps(resource, indent=2)):
        _all_same(asked, text)


def test_tricky_documents_take_the_short_way_where_they_can() -> None:
    """Not a vacuous comparison: found whole, deep elements and members passed, a string with brackets."""
    resource = _TRICKY[17]
    raw = json.dumps(resource, indent=2).encode()
    for expr in ("R.item[2]", "R.item[1][0][0][0][0][0]", "R.deep[0][0]"):
        assert _routed({"issue": [{"expression": [expr]}]}, raw), expr
    raw = json.dumps(_TRICKY[0]).encode()
    assert _routed({"issue": [{"expression": ["R.c[1].c"]}, {"expression": ["R.f[1][0].c"]}]}, raw)
    # a member nested deeper than the patterns read before the key: the general way
    assert not _routed({"issue": [{"expression": ["R.item[0]"]}]}, json.dumps(_TRICKY[17]).replace(
        '"deep"', '"x": [[[[[[[0]]]]]]], "deep"').encode())


# Keys and strings drawn from the characters that matter to the patterns (quotes and backslashes
# are escaped by json.dumps: the short way then applies or not, as the text says).
_KEY = st.text(alphabet=st.sampled_from('ab.[]{}:, 0é\u2028"\\x'), max_size=4)
_KEYS = st.sampled_from(["a", "b", "item", "answer", "a.b", "item[0]", "resourceType"]) | _KEY
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _KEY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=40)
_BLANKS = st.lists(st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \n    "]), min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6), st.sampled_from(["R", "R.odd", "Q", "Rx"]),
       st.integers(0, 6), _BLANKS, st.booleans(), st.data())
def test_made_documents_have_the_positions_of_the_general_way(document: dict[str, Any], root: str, at: int,
                                                              blanks: list[str], ascii_only: bool,
                                                              data: st.DataObject) -> None:
    items = [(k, v) for k, v in document.items() if k != "resourceType"]
    items.insert(min(at, len(items)), ("resourceType", root))
    resource = dict(items)
    text = (_dumps(resource, blanks, [0]) if data.draw(st.booleans())
            else json.dumps(resource, ensure_ascii=ascii_only, indent=data.draw(st.sampled_from([None, 0, 2]))))
    every = sorted(dict(_locations(resource)))
    step = st.sampled_from([".a", ".b", ".item", "[0]", "[1]", "[2]", ".a.b", ".value.ofType(string)"])
    chosen = data.draw(st.lists(st.sampled_from(every) | st.builds(lambda p, s: p + s, st.sampled_from(every), step),
                                min_size=1, max_size=6))
    issues: list[dict[str, Any]] = [{"expression": ["R" + p for p in chosen[i:i + 2]]} for i in range(0, len(chosen), 2)]
    issues.append({"code": "no-expression"})
    assert _same({"issue": issues}, text.encode())
    for p in chosen:
        assert _same({"issue": [{"expression": ["R" + p]}]}, text.encode())


def test_wrong_patterns_are_noticed() -> None:
    """Negative controls: a member pattern that passes into nested objects, an element pattern that
    ends at any comma, a nested value that ends at the first closing bracket, and odd keys not
    looked for."""
    nested = json.dumps({"resourceType": "R", "a": {"b": 1, "c": 2}, "c": 3}, indent=2).encode()
    second = json.dumps({"resourceType": "R", "a": [{"b": 1, "x": 0}, {"b": 2}, {"b": 3}]}, indent=2).encode()
    past = json.dumps({"resourceType": "R", "a": {"b": {"c": 1}, "c": 2}, "c": 3}).encode()
    odd = json.dumps({"resourceType": "R", "a[0]": 1, "a": [{"b": 2}]}).encode()
    cases = [({"issue": [{"expression": ["R.c"]}]}, nested), ({"issue": [{"expression": ["R.a[2].b"]}]}, second),
             ({"issue": [{"expression": ["R.c"]}]}, past), ({"issue": [{"expression": ["R.a[0]"]}]}, odd)]
    assert all(_same(oo, raw) for oo, raw in cases)
    with _changed(_MEMBER=r'[ \t\r\n]*+"[^"]*+"[ \t\r\n]*+:[^,]*+,'):
        assert not _same(*cases[0])
    with _changed(_ELEMENT=r"[ \t\r\n]*+[^,]*+,"):
        assert not _same(*cases[1])
    with _changed(_MEMBER=positions._MEMBER.replace(positions._nested(positions._ROUTE_DEPTH), r"[{\[].*?[}\]]")):
        assert not _same(*cases[2])
    real = positions._whole_route.__wrapped__

    def no_odd(expr: str) -> Any:
        plan = real(expr)
        return plan if plan is None else (plan[0], ())

    with _changed(_whole_route=no_odd):
        assert not _same(*cases[3])


def test_the_patterns_are_what_the_docs_say() -> None:
    """The root's type is matched whole (``R`` is not ``Rx``) and its first key must be ``resourceType``."""
    plan = positions._whole_route("R.a[1].value.ofType(string)")
    assert plan is not None
    pattern, odd = plan
    assert set(odd) == {'"a['}
    assert pattern.match('{"resourceType": "R", "a": [1, {"valueString": "x"}]}') is not None
    assert pattern.match('{"resourceType": "Rx", "a": [1, {"valueString": "x"}]}') is None
    assert pattern.match('{"id": "1", "resourceType": "R", "a": [1, {"valueString": "x"}]}') is None
    assert positions._whole_route("R") is None and positions._whole_route("R[0].a") is None
    assert re.fullmatch(positions._VALUE, "[" * positions._ROUTE_DEPTH + "]" * positions._ROUTE_DEPTH)
    assert not re.fullmatch(positions._VALUE, "[" * (positions._ROUTE_DEPTH + 1) + "]" * (positions._ROUTE_DEPTH + 1))
