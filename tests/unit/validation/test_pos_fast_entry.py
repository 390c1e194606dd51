"""Two short ways of the entry and the issue collector against their general ways:

- ``validate_bytes`` of JSON starting with ``{`` in the current language (``entry.JSON_SHORT``:
  parsed and validated without sniff and ``_read``) must give the very outcome of the general way,
  for every example, every validation case, both HL7 corpora and made and broken inputs;
- the 'all OK' outcome written out (``issues.all_ok``, ``issues.ALL_OK_SHORT``) must be
  ``errors.outcome([])`` in both languages, and share nothing with another outcome.

Each has a negative control: a wrong short way is caught by the comparison."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from adapter import errors, messages
from adapter import issues as issues_module
from adapter.issues import Issues
from adapter.validation import entry
from tests.unit.validation.test_passes_shortcuts import CASES, _registry

BROKEN = [b"{", b"{}", b'{"resourceType": 3}', b'{"resourceType": "Basic", "a": NaN}', b'{"a": 1, "a": 2}',
          b'{"resourceType":"Basic","code":{"text":"x"}}', b'{"resourceType":"Basic"} x', b"{\xff}",
          b'{"resourceType":"Basic","code":{"text":"\\ud800"}}', b"{" * 300 + b"}" * 300, b"{\x00}",
          b'{"resourceType":"Patient","name":[{"family":null}]}', b'{"resourceType":"Basic","code":[]}']


def _both(raw: bytes, registry: Any = None) -> tuple[Any, Any]:
    short = entry.validate_bytes(raw, registry)
    entry.JSON_SHORT = False
    try:
        general = entry.validate_bytes(raw, registry)
    finally:
        entry.JSON_SHORT = True
    return short, general


def _mutants(raw: bytes) -> list[bytes]:
    out = [raw, raw[:-1], raw + b" ", raw.replace(b'"', b"'", 1), raw.replace(b":", b": null,", 1)]
    try:
        data = json.loads(raw)
    except ValueError:
        return out
    if isinstance(data, dict):
        out.append(json.dumps(data).encode())  # one line
        out.append(json.dumps({**data, "extra": {"x": [1]}}, indent=1).encode())
        out.append(json.dumps(dict(list(data.items())[1:])).encode())  # resourceType last or gone
    return out


@pytest.mark.parametrize("name, raw, igs", CASES, ids=[c[0] for c in CASES])
def test_json_short_way_gives_the_general_outcome(name: str, raw: bytes, igs: tuple[str, ...]) -> None:
    registry = _registry(igs)
    for variant in _mutants(raw):
        short, general = _both(variant, registry)
        assert short == general, (name, variant[:80])


@pytest.mark.parametrize("raw", BROKEN)
def test_json_short_way_on_broken_input(raw: bytes) -> None:
    short, general = _both(raw)
    assert short == general


def test_a_language_or_other_start_takes_the_general_way() -> None:
    raw = b'{"resourceType":"Basic"}'
    for lang in ("sv", "en"):
        assert entry.validate_bytes(raw, lang=lang) == _both(raw)[1] if lang == messages.current_lang() else True
    for other in (b" " + raw, b"\xef\xbb\xbf" + raw, b"[1]", b"null", b"<x/>", b""):
        short, general = _both(other)
        assert short == general


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_negative_control_json_short_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short way that loses the positions (passes no text on) is caught."""
    real = entry._validate

    def without_text(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 6:  # (the short way passes text_checked by position, the general way by name)
            args = (args[0], args[1], None, *args[3:])
        return real(*args, **kwargs)

    monkeypatch.setattr(entry, "_validate", without_text)
    raw = next(raw for name, raw, igs in CASES if name.startswith("cases/") and raw[:1] == b"{"
               and entry.validate_bytes(raw, _registry(igs))["issue"][0]["severity"] != "information")
    short, general = _both(raw, _registry(next(igs for n, r, igs in CASES if r == raw)))
    assert short != general


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_all_ok_is_the_general_outcome(lang: str) -> None:
    with messages.use_lang(lang):
        assert Issues().outcome() == errors.outcome([])
        assert issues_module.all_ok() == errors.outcome([])
        assert entry.validate_bytes(b'{"resourceType":"Basic","code":{"text":"x"}}') == errors.outcome([])
    assert Issues(lang=lang).outcome() == errors.outcome([])  # (the current language's text, as errors.outcome)


def test_all_ok_outcomes_share_nothing() -> None:
    one, two = Issues().outcome(), Issues().outcome()
    pristine = copy.deepcopy(two)
    one["issue"][0]["extension"].append({"url": "x"})
    one["issue"][0]["details"]["coding"][0]["code"] = "changed"
    one["issue"][0]["details"]["text"] = "changed"
    one["issue"].append({})
    assert two == pristine == Issues().outcome()


def test_negative_control_all_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """A written-out outcome with the wrong issue code is caught."""
    real = issues_module.all_ok

    def wrong() -> Any:
        oo = real()
        oo["issue"][0]["code"] = "information"
        return oo

    monkeypatch.setattr(issues_module, "all_ok", wrong)
    assert Issues().outcome() != errors.outcome([])
    monkeypatch.setattr(issues_module, "ALL_OK_SHORT", False)
    assert Issues().outcome() == errors.outcome([])
