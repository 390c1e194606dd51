"""parse_json decodes with ``parse._decode``: the decoder's ``scan_once`` called directly, blanks
matched only where the text has them. It must give what ``_DECODER.decode`` gives (the same value
or the same error, message and position) on any text, valid or not; a negative control shows a
wrong shortcut is noticed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir import parse

_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                       max_leaves=10)
_BLANK = st.text(alphabet=" \t\r\n", max_size=3)


def _outcome(decode: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", decode(text)
    except json.JSONDecodeError as exc:
        return "JSONDecodeError", (exc.msg, exc.pos, exc.lineno, exc.colno)
    except ValueError as exc:  # duplicate keys, NaN
        return type(exc).__name__, str(exc)


def _texts() -> st.SearchStrategy[str]:
    valid = st.builds(lambda b1, v, b2, i: b1 + json.dumps(v, indent=i) + b2, _BLANK, _VALUES, _BLANK,
                      st.sampled_from([None, 0, 2]))
    broken = st.builds(lambda t, cut, tail: t[:cut] + tail, valid, st.integers(0, 40),
                       st.sampled_from(["", " ", "x", "}", "]", ",", " 1", "NaN", '{"a":1,"a":2}', "\ufeff"]))
    return valid | broken | st.text(alphabet=' {}[]",:1a\t\n', max_size=12)


@settings(max_examples=500, deadline=None)
@given(_texts())
def test_decode_is_the_decoders_decode(text: str) -> None:
    assert _outcome(parse._decode, text) == _outcome(parse._DECODER.decode, text)


@pytest.mark.parametrize("text", ["", " ", "{}", " {} ", "{} x", "[1,", '"a"', "1 2", '\n\t{"a":1}\r\n', "nul",
                                  '{"a":NaN}', '{"a":1,"a":2}', "[1] \n"])
def test_decode_on_edges(text: str) -> None:
    assert _outcome(parse._decode, text) == _outcome(parse._DECODER.decode, text)


def test_a_wrong_decode_is_noticed() -> None:
    """Negative control: a shortcut that forgets the trailing-data check fails the comparison."""
    def lax(text: str) -> Any:
        return parse._SCAN(text, parse._BLANKS.match(text).end())[0]  # type: ignore[union-attr]

    assert _outcome(lax, "{} x") != _outcome(parse._DECODER.decode, "{} x")
    assert _outcome(parse._decode, "{} x") == _outcome(parse._DECODER.decode, "{} x")
