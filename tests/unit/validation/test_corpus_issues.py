"""``Issues.add`` builds an issue with a message id and one expression itself instead of calling
``errors.issue`` (the general way, still taken for anything else). Both must give the same issue
for every message of the catalogue in both languages, with every severity, code, expression and
diagnostics, and the same outcome for every example, test and conformance case and mutated
documents; a negative control shows that an altered issue is noticed.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

import pytest

from adapter import errors, issues, messages
from adapter.issues import Issues
from adapter.validation import validate_bytes
from tests.unit.validation.test_passes_shortcuts import CASES, _registry


def _general_add(self: Issues, message_id: str, *, expression: str | None = None, severity: str = "error",
                 code: str = "invalid", diagnostics: str | None = None, **args: Any) -> None:
    """``Issues.add`` the general way: every issue built by ``errors.issue``."""
    if "linkId" in args and "label" not in args:
        args["label"] = self.label(args["linkId"])
    self.items.append(errors.issue(severity, code, messages.text(message_id, self.lang, **args),
                                   expression=expression, message_id=message_id, diagnostics=diagnostics))


_WAYS: list[dict[str, Any]] = [
    {}, {"expression": "Patient.name[0]", "severity": "warning", "code": "value"},
    {"expression": "", "diagnostics": "why", "severity": "fatal"}, {"diagnostics": "", "severity": "information"},
    {"expression": "Q.item[0]", "linkId": "q1", "value": "x", "count": 2}, {"expression": None, "linkId": 3}]


def _one(add: Any, lang: str, message_id: str, way: dict[str, Any]) -> list[dict[str, Any]]:
    collected = Issues(lang)
    collected.questions = {"q1": {"text": "Question one"}}
    add(collected, message_id, **copy.deepcopy(way))
    return collected.items


@pytest.mark.parametrize("lang", messages.LANGS)
def test_every_message_is_the_general_issue(lang: str) -> None:
    ids = sorted(messages.catalogue()) + ["NOT_A_MESSAGE", ""]
    for message_id in ids:
        for way in _WAYS:
            assert _one(Issues.add, lang, message_id, way) == _one(_general_add, lang, message_id, way)
    # an expression that is not one string: the general way, as before
    listed = {"expression": ["A.b", "A.c"]}
    assert _one(Issues.add, lang, "ALL_OK", listed) == _one(_general_add, lang, "ALL_OK", listed)


def _outcome(raw: bytes, igs: tuple[str, ...]) -> str:
    return json.dumps(validate_bytes(raw, _registry(igs)), sort_keys=False, ensure_ascii=False)


def _mutated(raw: bytes) -> list[bytes]:
    """The document with each top-level value and each answer's value made wrong in a few ways."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    out = []
    for key in list(doc)[:6]:
        for wrong in (None, 3, "", [], {"x": 1}):
            out.append(json.dumps({**doc, key: wrong}).encode())
    for item in doc.get("item") or []:
        for answer in (item.get("answer") or []) if isinstance(item, dict) else []:
            if isinstance(answer, dict):
                for wrong in ({"valueString": ""}, {"valueInteger": "1"}, {"valueCoding": {"code": 1}}, {}):
                    saved = dict(answer)
                    answer.clear()
                    answer.update(wrong)
                    out.append(json.dumps(doc, indent=1).encode())
                    answer.clear()
                    answer.update(saved)
    return out


@pytest.mark.parametrize("name,raw,igs", CASES, ids=[c[0] for c in CASES])
def test_every_case_has_the_outcome_of_the_general_way(name: str, raw: bytes, igs: tuple[str, ...],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    documents = [raw] + (_mutated(raw) if name.startswith("hl7-questionnaire/") else [])
    short = [_outcome(d, igs) for d in documents]
    monkeypatch.setattr(Issues, "add", _general_add)
    assert short == [_outcome(d, igs) for d in documents]


def test_an_altered_issue_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the short way naming another CodeSystem fails the comparison."""
    assert _one(Issues.add, "sv", "ALL_OK", _WAYS[1]) == _one(_general_add, "sv", "ALL_OK", _WAYS[1])
    monkeypatch.setattr(issues, "messages", SimpleNamespace(**{**vars(messages), "SYSTEM": "urn:other"}))
    assert _one(Issues.add, "sv", "ALL_OK", _WAYS[1]) != _one(_general_add, "sv", "ALL_OK", _WAYS[1])


def _rendered(message_id: str, lang: str, args: dict[str, Any]) -> str:
    """A message's text worked out from the catalogue directly (not by ``messages``' functions)."""
    texts = messages.catalogue().get(message_id)
    if texts is None:
        return message_id + (" " + ", ".join(f"{k}={v}" for k, v in sorted(args.items())) if args else "")
    return (texts.get(lang) or texts.get(messages.DEFAULT_LANG) or message_id).format_map(messages._Default(args))


def _texts_from_dicts(text_of: Any) -> bool:
    """Whether ``text_of`` renders every message as the catalogue has it, in both languages, with
    all, some, other and no arguments, and leaves the caller's dict as it was."""
    for lang in messages.LANGS:
        for message_id in sorted(messages.catalogue()) + ["NOT_A_MESSAGE"]:
            for way in _WAYS:
                args = {k: v for k, v in way.items() if k not in ("expression", "severity", "code", "diagnostics")}
                args |= {"label": "'Question one'", "min": 1, "max": 2, "type": "group", "human": "h"}
                for given in (args, {}, {"value": "x"}):
                    kept = dict(given)
                    if text_of(message_id, lang, given) != _rendered(message_id, lang, kept) or given != kept:
                        return False
    return True


def test_a_text_from_a_dict_is_the_catalogues(monkeypatch: pytest.MonkeyPatch) -> None:
    """``messages.text_of`` (the issue collector's: its arguments passed as a dict, not copied into
    keywords) against the catalogue read directly, and against ``messages.text``; negative
    controls: one that ignores the language, and one that drops an argument it was given, are noticed."""
    assert _texts_from_dicts(messages.text_of)
    assert all(messages.text_of(m, "en", {"value": "x"}) == messages.text(m, "en", value="x")
               for m in messages.catalogue())
    real = messages.text_of
    assert not _texts_from_dicts(lambda m, lang, args: real(m, messages.DEFAULT_LANG, args))

    def dropping(m: str, lang: str, args: dict[str, Any]) -> str:
        args.pop("value", None)
        return real(m, lang, args)

    assert not _texts_from_dicts(dropping)
