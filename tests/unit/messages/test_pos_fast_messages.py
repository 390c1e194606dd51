"""The short way of rendering a message text (``messages._renderer``: an f-string function made once
per template whose placeholders are all plain names) must give what ``template.format_map`` gives
(the general way) for every text of the catalogue, in both languages, with values of every kind,
placeholders missing and extra ones; for made-up templates with quotes, backslashes, escaped braces,
control and non-ASCII characters; and for templates hypothesis makes. A template the short way cannot
say keeps ``format_map``. The negative controls show that a wrong short way is noticed."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import messages


class _Formatted:
    """A value whose ``format`` differs from its ``str``: the short way must use ``format``."""

    def __format__(self, spec: str) -> str:
        return f"formatted[{spec}]"

    def __str__(self) -> str:
        return "str"


def _values() -> list[Any]:
    return ["text", "", "å\u00e4\u20ac\U0001f600", 3, -2.5, True, None, [1, "a"], {"k": 1}, Decimal("1.50"),
            _Formatted(), "{label}", "\\", '"']


def _argument_sets(template: str) -> list[dict[str, Any]]:
    names = sorted(set(re.findall(r"\{(\w+)", template)))
    sets: list[dict[str, Any]] = [{}, {n: f"<{n}>" for n in names}, {**{n: n for n in names}, "extra": 1}]
    sets.extend(dict.fromkeys(names, value) for value in _values())
    if names:
        sets.append(dict(zip(names[1:], _values(), strict=False)))  # the first one missing
    return sets


def _general(template: str, args: dict[str, Any]) -> str | type[BaseException]:
    try:
        try:
            return template.format_map(args)
        except KeyError:
            return template.format_map(messages._Default(args))
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc)


def _short(template: str, args: dict[str, Any]) -> str | type[BaseException]:
    render = messages._renderer(template)
    try:
        try:
            return render(args)
        except KeyError:
            return template.format_map(messages._Default(args))
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc)


def _templates() -> list[str]:
    return [t for texts in messages.catalogue().values() for t in texts.values() if "{" in t or "}" in t]


def test_almost_every_catalogue_text_takes_the_short_way() -> None:
    templates = _templates()
    short = [t for t in templates if messages._renderer(t) != t.format_map]
    assert len(short) >= len(templates) - 5, [t for t in templates if t not in short]


def test_every_catalogue_text_renders_as_format_map() -> None:
    for template in _templates():
        for args in _argument_sets(template):
            assert _short(template, args) == _general(template, args), (template, args)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_text_of_every_id_is_the_general_text(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [(message_id, args) for message_id, texts in messages.catalogue().items()
             for args in _argument_sets(" ".join(texts.values()))]
    fast = [messages.text_of(message_id, lang, args) for message_id, args in pairs]
    monkeypatch.setattr(messages, "_TEMPLATES", {})
    monkeypatch.setattr(messages, "_COMPILED", False)
    assert fast == [messages.text_of(message_id, lang, args) for message_id, args in pairs]


ODD = [
    'a "quoted" {x} and \'single\' {y}', "back\\slash {x} \\n not a newline", "{{literal}} {x} }} {{",
    "line\nbreak\r\ttab {x}", "\u2028sep\x00nul {x}\x7f", "{x}{y}{x}", "{x}", "no brace}}", "{x!r}", "{x:>4}",
    "{0}", "{x.real}", "{x[0]}", "{ x }", "{", "}", "a { b", "{x", "f'{x}'", '"""{x}"""', "\\{x}\\",
    "{x} \\N{BULLET}", "\\u00e5 {y}", "{lambda}", "{__class__}", "ends with backslash \\",
]


@pytest.mark.parametrize("template", ODD)
def test_odd_templates(template: str) -> None:
    for args in [{}, {"x": "X", "y": 2, "lambda": "L", "__class__": "C"}, {"x": _Formatted(), "y": None}]:
        assert _short(template, args) == _general(template, args), (template, args)


_pieces = st.one_of(st.text(max_size=6), st.sampled_from(["{a}", "{b}", "{{", "}}", '"', "\\", "{", "}", "\n",
                                                          "{a!s}", "{b:3}", "\\x41", "\\\"", "{lambda}"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=8), st.sampled_from(_values()))
def test_made_templates(pieces: list[str], value: Any) -> None:
    template = "".join(pieces)
    for args in [{}, {"a": value}, {"a": value, "b": "B", "lambda": 1}]:
        assert _short(template, args) == _general(template, args), (template, args)


def _mismatches() -> int:
    return sum(_short(template, args) != _general(template, args)
               for template in _templates() for args in _argument_sets(template))


def test_negative_control_str_instead_of_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short way that formats with ``str`` (``{a['x']!s}``), unchecked, is caught by the comparison."""
    assert _mismatches() == 0
    monkeypatch.setattr(messages, "_PLACEHOLDER", "{a[%r]!s}")
    monkeypatch.setattr(messages, "_PROBE", False)
    assert _mismatches() > 0


def test_the_probe_sends_a_wrong_function_back_to_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the escaping of quotes lost, the made function cannot be compiled or differs: the
    general way is kept; with the check off as well, the comparison fails."""
    template = 'a "quoted" {x} and {y}'
    real = messages._formatter_parser
    monkeypatch.setattr(messages, "_formatter_parser",
                        lambda t: ((literal.replace('"', "'"), n, s, c) for literal, n, s, c in real(t)))
    assert messages._renderer(template) == template.format_map
    monkeypatch.setattr(messages, "_PROBE", False)
    assert _short(template, {"x": 1, "y": 2}) != _general(template, {"x": 1, "y": 2})
