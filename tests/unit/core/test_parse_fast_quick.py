"""parse_json's short way for long texts (``parse._quick``, switch ``parse.QUICK``) held to the general way.

The short way decodes without the duplicate-key hook and proves from one walk (depth, keys and
strings counted) and the text's quotes that no object had a key twice; on any doubt the general way
reads the text. Compared: the value (with its key order) or the whole rejection (outcome, message
id) of every pinned input, example, test case and HL7 corpus document, of texts mutated into bad
input (a key twice, near and beyond the depth limit, escaped quotes, NaN, huge numbers, trailing
data, blanks, byte order marks, invalid UTF-8, lone surrogates, control characters, truncation), with
the default depth limit and with small limits (so that short texts take the short way too), and of
hypothesis-made texts with keys drawn from a few letters (many twice). Negative control: a short way
that leaves out the quote count lets a key twice through, and the comparison says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import errors
from adapter.fhir import parse
from adapter.settings import Limits
from tests.unit.validation.test_walkgen import INPUTS

LIMIT = Limits().max_json_depth
# every pinned input (examples, test cases, both HL7 corpora) and handmade document; one in ten of
# test_walkgen's structural mutations (they differ from each other little, as texts)
_INPUTS = [(name, raw) for n, (name, raw, _) in enumerate(INPUTS) if " #" not in name or n % 10 == 0]


def _outcome(raw: bytes, limits: Limits) -> tuple[str, Any]:
    try:
        value = parse.parse_json(raw, limits)
    except errors.InputRejected as exc:
        return "rejected", (exc.message_id, json.dumps(exc.outcome, sort_keys=True), str(exc))
    return "value", json.dumps(value)  # (the text of the value: its key order too)


def _both(monkeypatch: pytest.MonkeyPatch, raw: bytes, limits: Limits) -> tuple[Any, Any]:
    monkeypatch.setattr(parse, "QUICK", True)
    short = _outcome(raw, limits)
    monkeypatch.setattr(parse, "QUICK", False)
    general = _outcome(raw, limits)
    monkeypatch.setattr(parse, "QUICK", True)
    return short, general


def _mutations(text: str) -> Iterator[tuple[str, str]]:
    """Bad (and some good) variants of a JSON object text."""
    yield "as is", text
    yield "key twice at the root", '{"resourceType": "X", ' + text.lstrip()[1:]
    inner = text.find("{", 1)
    if inner > 0:
        yield "key twice inside", text[:inner + 1] + '"zz": 1, "zz": 2, ' + text[inner + 1:]
        yield "same key twice inside", text[:inner + 1] + '"zz": 1, "zz": 1, ' + text[inner + 1:]
        yield "escaped quote", text[:inner + 1] + '"q": "a\\"b", ' + text[inner + 1:]
        yield "escaped quote and a key twice", text[:inner + 1] + '"q": "a\\"b", "q": "\\"", ' + text[inner + 1:]
        yield "NaN", text[:inner + 1] + '"n": NaN, ' + text[inner + 1:]
        yield "-Infinity", text[:inner + 1] + '"n": [-Infinity], ' + text[inner + 1:]
        yield "huge number", text[:inner + 1] + '"n": ' + "9" * 5000 + ", " + text[inner + 1:]
        yield "huge float", text[:inner + 1] + '"n": 1e999, ' + text[inner + 1:]
        yield "lone surrogate", text[:inner + 1] + '"s": "\\ud800", ' + text[inner + 1:]
        yield "control character", text[:inner + 1] + '"s": "a\\u0001", ' + text[inner + 1:]
        yield "raw control character", text[:inner + 1] + '"s": "a\x01", ' + text[inner + 1:]
        yield "unicode-escaped key twice", text[:inner + 1] + '"k": 1, "\\u006b": 2, ' + text[inner + 1:]
        for depth in (LIMIT - 1, LIMIT, LIMIT + 1, 8, 9):
            yield f"deep {depth}", text[:inner + 1] + '"d": ' + "[" * depth + "]" * depth + ", " + text[inner + 1:]
        yield "deep with a key twice", text[:inner + 1] + '"d": ' + '{"a":' * 70 + "1" + "}" * 70 + ', "d": 1, ' + text[inner + 1:]
    yield "trailing data", text + " x"
    yield "trailing object", text + "{}"
    yield "trailing blanks", text + " \n\t\r"
    yield "leading blanks", "\n  " + text
    yield "BOM char", "\ufeff" + text
    for cut in (1, len(text) // 3, len(text) // 2, len(text) - 1):
        yield f"cut at {cut}", text[:cut]
    yield "unclosed", text.rstrip()[:-1]
    yield "array root", "[" + text + ", " + text + "]"
    yield "string root", json.dumps(text)


def _raws(raw: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield "not UTF-8", raw
        return
    for name, variant in _mutations(text):
        try:
            yield name, variant.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate written raw: give it as bytes that are not UTF-8
            yield name, variant.encode("utf-8", "surrogatepass")
    yield "BOM", b"\xef\xbb\xbf" + raw
    yield "two BOMs", b"\xef\xbb\xbf\xef\xbb\xbf" + raw
    yield "invalid UTF-8", raw[:len(raw) // 2] + b"\xff" + raw[len(raw) // 2:]


_LIMITS = [Limits(), Limits(max_json_depth=8), Limits(max_json_depth=3)]
_TOOK: list[int] = [0]


def _counting(real: Any) -> Any:
    def quick(text: str, limit: int) -> Any:
        value = real(text, limit)
        if value is not parse._UNSURE:
            _TOOK[0] += 1
        return value
    return quick


@pytest.mark.parametrize("part", range(4))
def test_the_short_way_gives_what_the_general_way_gives(monkeypatch: pytest.MonkeyPatch, part: int) -> None:
    monkeypatch.setattr(parse, "_quick", _counting(parse._quick))
    _TOOK[0] = 0
    differ, seen, kinds = [], 0, set()
    for name, raw in _INPUTS[part::4]:
        for variant, text in _raws(raw):
            for limits in _LIMITS:
                short, general = _both(monkeypatch, text, limits)
                seen += 1
                kinds.add(general[0] if general[0] == "value" else general[1][0])
                if short != general:
                    differ.append(f"{name} / {variant} / depth {limits.max_json_depth}")
    assert not differ, differ[:10]
    assert seen > 1000 and _TOOK[0] > 100  # the short way was taken, often
    assert {"value", "LISN_INPUT_NOT_JSON", "LISN_INPUT_TOO_DEEP", "LISN_INPUT_NOT_UTF8",
            "LISN_INPUT_BAD_CHARACTER"} <= kinds


def test_the_submission_takes_the_short_way(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = next(r for n, r in _INPUTS if "Bundle-lisn-example-submission" in n)
    monkeypatch.setattr(parse, "_quick", _counting(parse._quick))
    _TOOK[0] = 0
    short, general = _both(monkeypatch, raw, Limits())
    assert short == general and short[0] == "value" and _TOOK[0] == 1


_KEYS = st.sampled_from(["a", "b", "c", "\\u0061", 'a\\"'])
_SCALAR = st.sampled_from(['"x"', '"a"', '"\\""', "1", "-2.5", "true", "null", "NaN", '""'])


def _text(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _SCALAR
    inner = _text(depth - 1)
    obj = st.lists(st.tuples(_KEYS, inner), max_size=4).map(
        lambda pairs: "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}")
    arr = st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
    return _SCALAR | obj | arr


@settings(max_examples=400, deadline=None)
@given(_text(5), st.sampled_from([1, 2, 3, 4, 64]), st.sampled_from(["", " ", "\n", " x", "}"]))
def test_hypothesis_texts(text: str, limit: int, tail: str) -> None:
    raw = (text + tail).encode()
    limits = Limits(max_json_depth=limit)
    with pytest.MonkeyPatch.context() as mp:
        short, general = _both(mp, raw, limits)
    assert short == general


def _without_the_quote_count(text: str, limit: int) -> Any:
    """A wrong short way: no proof that no key came twice."""
    try:
        data, end = parse._PLAIN_SCAN(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return parse._UNSURE
    if end != len(text) or parse._census(data, limit) is None:
        return parse._UNSURE
    return data


def test_a_short_way_without_the_quote_count_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "_quick", _without_the_quote_count)
    caught = 0
    for _name, raw in _INPUTS[:10]:
        for _variant, text in _raws(raw):
            short, general = _both(monkeypatch, text, Limits())
            caught += short != general
    assert caught > 0
