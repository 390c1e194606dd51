"""Issue positions in a small text read by parse_json: the wanted keys are searched for
(``positions._plain_offsets``) instead of the text being scanned (``_Scanner``). Both must give the
same outcome on every example, every test and conformance case, and on made documents (odd
layouts and whitespace, quotes, brackets, dots and escapes in keys and strings, unicode, a byte
order mark, deep nesting, large strings); negative controls show a wrong search is noticed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation import positions
from adapter.validation.entry import read_resource, validate_bytes, validate_read
from tests.unit.validation.test_passes_shortcuts import CASES, _registry, _unplaced
from tests.unit.validation.test_positions import JSON, _locations


def _both(oo: dict[str, Any], raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcome with positions searched for (checked text) and scanned (the general path)."""
    searched, scanned = copy.deepcopy(oo), copy.deepcopy(oo)
    positions.add_positions(searched, raw, checked=True)
    positions.add_positions(scanned, raw)
    return searched, scanned


def _same(oo: dict[str, Any], raw: bytes) -> bool:
    searched, scanned = _both(oo, raw)
    return searched == scanned


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_case_has_the_positions_of_the_scan(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    oo = _unplaced(raw, igs)
    if oo is None:
        return
    assert _same(oo, raw)
    # and every location of the document asked for at once, one issue each
    every = sorted(dict(_locations(read_resource(raw))))[:positions._PLAIN_ISSUES]
    root = str(read_resource(raw).get("resourceType"))
    assert _same({"issue": [{"expression": [root + p]} for p in every]}, raw)


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_validate_bytes_searches_and_gives_the_outcome_of_validate_read(name: str, raw: bytes,
                                                                        igs: tuple[str, ...]) -> None:
    try:
        resource = read_resource(raw)
    except Exception:  # noqa: BLE001 - refused at reading: no positions
        return
    assert validate_bytes(raw, _registry(igs)) == validate_read(resource, raw, _registry(igs))


def _dumps(value: Any, blanks: list[str], at: list[int]) -> str:
    """JSON text with the blanks drawn between every two tokens (no escapes but json.dumps' own)."""
    def blank() -> str:
        at[0] += 1
        return blanks[at[0] % len(blanks)]
    if isinstance(value, dict):
        inner = ("," + blank()).join(f"{json.dumps(k, ensure_ascii=False)}{blank()}:{blank()}{_dumps(v, blanks, at)}"
                                     for k, v in value.items())
        return "{" + blank() + inner + blank() + "}"
    if isinstance(value, list):
        return "[" + blank() + ("," + blank()).join(_dumps(v, blanks, at) for v in value) + blank() + "]"
    return json.dumps(value, ensure_ascii=False)


# Keys and strings without escapes (the searched way applies) but with every character that matters.
_PLAIN_TEXT = st.text(alphabet=st.sampled_from('ab.[]{}:, 0é\u2028x'), max_size=6)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _PLAIN_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PLAIN_TEXT, inner, max_size=4),
    max_leaves=30)
_BLANKS = st.lists(st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \n    "]), min_size=1, max_size=5)


def _expressions(data: st.DataObject, text: str, root: str) -> list[dict[str, Any]]:
    every = sorted(dict(_locations(json.loads(text))))
    step = st.sampled_from(["a", "b", "a.b", "resourceType", "valueString", "[0]", "[1]", ".a[0]"])
    chosen = data.draw(st.lists(st.sampled_from(every) | st.builds(lambda s, i: f".{s}[{i}]", step, st.integers(0, 2))
                                | st.builds(lambda p, s: p + s, st.sampled_from(every), step), max_size=5))
    issues: list[dict[str, Any]] = [{"expression": [root + p for p in chosen[i:i + 2]]} for i in range(0, len(chosen), 2)]
    issues.append({"expression": [root + ".a.value.ofType(string)", root + ".b"]})
    issues.append({"code": "no-expression"})
    return issues


def made_document(data: st.DataObject, roots: tuple[str, ...] = ("R", "R.odd", "R[0]", "Q")) -> tuple[dict[str, Any], bytes]:
    """A made-up document (plain keys, odd blanks, perhaps a byte order mark) as raw bytes, and an
    outcome asking for positions in it (:func:`_expressions`)."""
    document = data.draw(st.dictionaries(_PLAIN_TEXT, PLAIN, max_size=5))
    blanks, root = data.draw(_BLANKS), data.draw(st.sampled_from(roots))
    items = list(document.items())
    items.insert(min(data.draw(st.integers(0, 6)), len(items)), ("resourceType", root))
    text = _dumps(dict(items), blanks, [0])
    raw = (b"\xef\xbb\xbf" if data.draw(st.booleans()) else b"") + text.encode()
    return {"issue": _expressions(data, text, root)}, raw


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_made_documents_have_the_positions_of_the_scan(data: st.DataObject) -> None:
    oo, raw = made_document(data)
    assert _same(oo, raw)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=2), JSON, max_size=5),
       st.sampled_from([None, 0, 2]), st.data())
def test_documents_with_escapes_have_the_positions_of_the_scan(document: dict[str, Any], indent: int | None,
                                                               data: st.DataObject) -> None:
    text = json.dumps({"resourceType": "R", **document}, indent=indent, ensure_ascii=data.draw(st.booleans()))
    assert _same({"issue": _expressions(data, text, "R")}, text.encode())


def test_deep_nesting_large_strings_and_unicode() -> None:
    deep: Any = {"leaf": "x"}
    for _ in range(60):
        deep = {"a": [deep, {"a": 1}], "b": "]}[{"}
    doc = {"resourceType": "R", "pad": "é" * 30000, "a.b": {"c": 1}, "a": {"b": {"c": 2}}, "deep": deep,
           "s": "\u2028 \"q\" 𝄞"}
    path = ".deep" + ".a[0]" * 60 + ".leaf"
    for text in (json.dumps(doc, ensure_ascii=False, indent=1), json.dumps({**doc, "s": "plain"}, ensure_ascii=False)):
        raw = text.encode()
        issues = [{"expression": ["R" + path]}, {"expression": ["R.a.b.c"]}, {"expression": ["R.deep.a[1].a"]},
                  {"expression": ["R.deep.a[2]"]}, {"expression": ["R.pad"]}]
        searched, scanned = _both({"issue": issues}, raw)
        assert searched == scanned
        assert all("extension" in iss for iss in searched["issue"])
    # the plain text (no escaped quote) is searched: every issue placed by the search
    assert positions._plain_offsets(text, [[positions._normalised(e) for e in i["expression"]] for i in issues])


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_search_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: a search that takes a key of a nested object (no bracket count), or
    one that misses the first element of an array, fails the comparison."""
    # the step walk these break is the one under test: the one-match route (positions.ROUTE_SHORT,
    # test_pos2_routed.py) would answer this text before reaching it
    monkeypatch.setattr(positions, "ROUTE_SHORT", False)
    raw = json.dumps({"resourceType": "R", "x": {"item": 1}, "item": [{"a": 1}, {"a": 2}]}, indent=2).encode()
    oo = {"issue": [{"expression": ["R.item[0].a"]}, {"expression": ["R.item[1]"]}]}
    assert _same(oo, raw)
    real_member, real_elements = positions._member, positions._elements

    def first_found(text: str, start: int, needle: str) -> int | None:
        at = text.find(needle, start)
        return None if at < 0 else positions._COLON.match(text, at + len(needle)).end()  # type: ignore[union-attr]

    monkeypatch.setattr(positions, "_member", first_found)
    assert not _same(oo, raw)
    monkeypatch.setattr(positions, "_member", real_member)
    monkeypatch.setattr(positions, "_elements", lambda text, start, indices: real_elements(
        text, start, tuple((i + 1, loc) for i, loc in indices)))
    assert not _same(oo, raw)
