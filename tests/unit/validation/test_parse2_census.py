"""Two changes to parse_json held to what it did before (branch perf-parse).

- ``parse._census_short`` (switch ``parse.CENSUS_SHORT``), the census of the long-text short way
  (``parse._quick``) with its work per value in C (gc.get_referents, map, filter), gives
  ``parse._census``'s answer (keys and strings counted, or None when too deep): compared on the value
  of every pinned input, example, test case and HL7 corpus document (the mutated ones one in ten) and
  of their bad variants (keys twice, deep values, NaN, huge numbers, escapes, ...), at depth limits
  1, 2, 3, 8, 64 and each value's own depth and one less, and on hypothesis-made values (every JSON
  kind, empty containers, nesting around the limit).
- ``parse_json`` written out (no calls for the size check, the decoding and the short text's depth
  count; a backslash looked for before ``\\u``) gives the value or the whole rejection of
  ``parse_json`` as it was at 5df1305 (copied below, helpers shared) with its short way off (the
  general way), on the same texts with the default and small limits, with the census short and
  general.

Negative controls: a census that lets values one level deeper through (a text one too deep is then
read as a value), and one that counts the keys of an object once each whatever the text had: both
are caught.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import errors, messages
from adapter.fhir import parse
from adapter.settings import Limits
from tests.unit.core.test_parse_fast_quick import _INPUTS, _raws

LIMIT = Limits().max_json_depth
_LIMITS = [Limits(), Limits(max_json_depth=8), Limits(max_json_depth=3), Limits(max_json_depth=1)]


def _before(raw: bytes | str, limits: Limits = Limits()) -> Any:
    """parse_json as it was at 5df1305."""
    data_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    parse.check_size(data_bytes, limits)
    try:
        text = parse.decode_utf8_sig(data_bytes)
    except UnicodeDecodeError as exc:
        raise parse._reject(messages.text("LISN_INPUT_NOT_UTF8", position=exc.start), "LISN_INPUT_NOT_UTF8") from None
    try:
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        quick = (parse._quick(text, limits.max_json_depth) if parse.QUICK and len(text) > parse._COUNTED * limits.max_json_depth
                 else parse._UNSURE)
        data = parse._decode(text) if quick is parse._UNSURE else quick
    except parse._NotJsonConstant as exc:
        line, column = parse._constant_position(text, exc.token)
        raise parse._reject(f"Ogiltig JSON: {exc.token} är inget JSON-tal (rad {line}, kolumn {column}). "
                            f"(Invalid JSON: {exc.token} is not a JSON number, at line {line}, column {column}.)",
                            "LISN_INPUT_NOT_JSON", line=line, column=column) from None
    except json.JSONDecodeError as exc:
        raise parse._reject(messages.text("LISN_INPUT_NOT_JSON_AT", detail=exc.msg, line=exc.lineno, column=exc.colno),
                            "LISN_INPUT_NOT_JSON", line=exc.lineno, column=exc.colno) from None
    except ValueError as exc:
        raise parse._reject(messages.text("LISN_INPUT_NOT_JSON", detail=exc), "LISN_INPUT_NOT_JSON") from None
    except RecursionError:
        raise parse._reject(messages.text("LISN_INPUT_TOO_DEEP", limit=limits.max_json_depth),
                            "LISN_INPUT_TOO_DEEP") from None
    if quick is parse._UNSURE and parse._too_deep(data, limits.max_json_depth, text):
        raise parse._reject(messages.text("LISN_INPUT_TOO_DEEP", limit=limits.max_json_depth), "LISN_INPUT_TOO_DEEP")
    if "\\u" in text:
        parse._check_characters(data)
    return data


def _outcome(read: Any, raw: bytes, limits: Limits) -> tuple[str, Any]:
    try:
        value = read(raw, limits)
    except errors.InputRejected as exc:
        return "rejected", (exc.message_id, json.dumps(exc.outcome, sort_keys=True), str(exc))
    return "value", json.dumps(value)  # (the text of the value: its key order too)


def _texts(part: int = 0, parts: int = 1) -> Iterator[tuple[str, bytes]]:
    for name, raw in _INPUTS[part::parts]:
        for variant, text in _raws(raw):
            yield f"{name} / {variant}", text
    for n in sorted({0, 1, 2, 3, 4, 7, 8, 9, LIMIT - 2, LIMIT - 1, LIMIT, LIMIT + 1}):  # near each limit
        yield f"short deep {n}", ('{"a": ' + "[" * n + "]" * n + "}").encode()
        yield f"long deep {n}", ('{"pad": "' + "y" * 5000 + '", "a": ' + "[" * n + "1" + "]" * n + "}").encode()
        yield f"long deep {n} objects", ('{"pad": "' + "y" * 5000 + '", "a": ' + '{"b": ' * n + "1" + "}" * n + "}").encode()
        yield f"long deep {n}, a key twice", ('{"pad": "' + "y" * 5000 + '", "a": ' + '{"b": 1, "b": ' * n + "1" + "}" * n + "}").encode()
        yield f"short deep {n} in strings", ('{"a": "' + "[" * n + '", "b": [1]}').encode()
    yield "many keys", json.dumps({f"k{i}": i for i in range(20000)}).encode()
    yield "many keys, one twice", (json.dumps({f"k{i}": i for i in range(20000)})[:-1] + ', "k7": 1}').encode()


def _values(parts: int = 1) -> Iterator[Any]:
    for _name, raw in _texts(0, parts):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if type(value) is dict or type(value) is list:
            yield value


def _depth(value: Any) -> int:
    """Containers' nesting (1: a container of scalars)."""
    level, depth = [value], 0
    while level:
        depth += 1
        level = [c for v in level for c in (v.values() if type(v) is dict else v) if type(c) in (dict, list)]
    return depth


def _census_differences(census: Any, parts: int = 1) -> list[str]:
    differ = []
    for n, value in enumerate(_values(parts)):
        depth = _depth(value)
        for limit in sorted({1, 2, 3, 8, LIMIT, depth, max(depth - 1, 0)}):
            if census(value, limit) != parse._census(value, limit):
                differ.append(f"value {n} limit {limit}")
    return differ


def test_the_census_in_c_gives_the_census_in_python() -> None:
    assert not _census_differences(parse._census_short)[:10]
    assert parse.CENSUS_SHORT  # (this Python's dicts give their values alone to gc.get_referents)


_SCALARS = st.one_of(st.text(max_size=3), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4),
                     max_leaves=40)


@settings(max_examples=500, deadline=None)
@given(_JSON, st.integers(0, 8))
def test_hypothesis_values(value: Any, limit: int) -> None:
    if type(value) is dict or type(value) is list:
        assert parse._census_short(value, limit) == parse._census(value, limit)


def _read_differences(monkeypatch: pytest.MonkeyPatch, part: int = 0, parts: int = 1) -> tuple[list[str], int, set[str]]:
    differ, seen, kinds = [], 0, set()
    for name, raw in _texts(part, parts):
        for limits in _LIMITS:
            for census_short in (True, False):
                monkeypatch.setattr(parse, "CENSUS_SHORT", census_short)
                now = _outcome(parse.parse_json, raw, limits)
                monkeypatch.setattr(parse, "QUICK", False)  # the general way (no short way of a long text)
                before = _outcome(_before, raw, limits)
                monkeypatch.setattr(parse, "QUICK", True)
                seen += 1
                kinds.add(before[0] if before[0] == "value" else before[1][0])
                if now != before:
                    differ.append(f"{name} / depth {limits.max_json_depth} / census short {census_short}")
    monkeypatch.setattr(parse, "CENSUS_SHORT", True)
    return differ, seen, kinds


@pytest.mark.parametrize("part", range(4))
def test_parse_json_gives_what_it_gave(monkeypatch: pytest.MonkeyPatch, part: int) -> None:
    differ, seen, kinds = _read_differences(monkeypatch, part, 4)
    assert not differ, differ[:10]
    assert seen > 5000
    assert {"value", "LISN_INPUT_NOT_JSON", "LISN_INPUT_TOO_DEEP", "LISN_INPUT_NOT_UTF8",
            "LISN_INPUT_BAD_CHARACTER"} <= kinds


def test_parse_json_of_a_str_gives_what_it_gave() -> None:
    for _name, raw in _INPUTS[:50]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert _outcome(parse.parse_json, text, Limits()) == _outcome(_before, text, Limits())  # type: ignore[arg-type]


def test_the_submission_takes_the_census_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = next(r for n, r in _INPUTS if "Bundle-lisn-example-submission" in n)
    taken = [0]
    real = parse._census_short

    def counted(data: Any, limit: int) -> int | None:
        taken[0] += 1
        return real(data, limit)

    monkeypatch.setattr(parse, "_census_short", counted)
    now = _outcome(parse.parse_json, raw, Limits())
    assert taken[0] == 1 and now == _outcome(_before, raw, Limits())


def _one_level_more(data: Any, limit: int) -> int | None:
    """A wrong census: lets values one level deeper through."""
    return parse._census(data, limit + 1)


def _keys_once(data: Any, limit: int) -> int | None:
    """A wrong census: counts the key the mutations put twice (``zz``) twice, as if the value still
    had both, so that a key twice passes."""
    counted = parse._census(data, limit)
    return None if counted is None else counted + sum(1 for _ in _keys(data))


def _keys(data: Any) -> Iterator[str]:
    stack = [data]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            yield from (k for k in v if k == "zz")  # the mutations' key twice
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)


@pytest.mark.parametrize("wrong", [_one_level_more, _keys_once])
def test_a_wrong_census_is_caught(monkeypatch: pytest.MonkeyPatch, wrong: Any) -> None:
    monkeypatch.setattr(parse, "_census_short", wrong)
    differ, _seen, _kinds = _read_differences(monkeypatch, 0, 8)  # (an eighth of the texts)
    assert differ
    assert _census_differences(wrong, 8)
    gc.collect()
