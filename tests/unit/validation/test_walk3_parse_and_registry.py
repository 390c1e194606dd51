"""Two short ways of issue 15 held to their general ways (branch walk3).

- ``parse._too_deep`` counts the text's ``{`` and ``[`` (an early "not too deep") only in a text of
  at most ``_COUNTED`` characters per level allowed; a longer text has its tree visited straight
  away. The general way counts every text, or none (the tree visit alone answers). Compared: the
  answer of every text (examples, cases, HL7 corpora, mutated documents made deep or long) and
  ``parse_json``'s value or error, with the count used everywhere, nowhere and as shipped.
- ``Registry.resolve`` remembers its answers (forgotten when a url is indexed); the general way is
  ``Registry.looked_up``. Compared: every canonical of the registries in use (each url alone, with
  each version, with a version's prefix, unknown ones, each resource type asked for), before and
  after more resources are added; and the whole outcome of every pinned input and mutated document
  with ``resolve`` replaced by ``looked_up``.

Negative controls: a count that misses ``[`` (a deep array of arrays then passes as not too deep),
and a registry that does not forget when a newer version is added: each comparison catches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.fhir import parse
from adapter.fhir.registry import Registry, default_registry
from adapter.settings import Limits
from adapter.validation import profiles
from tests.unit.validation import outcome_pin
from tests.unit.validation.test_walkgen import INPUTS

ROOT = Path(__file__).resolve().parents[3]
LIMIT = Limits().max_json_depth


def _deep(depth: int, opener: str, pad: int) -> str:
    """A document with a value ``depth`` containers deep (``opener``: ``[`` or ``{``), padded with a
    long string so that its text is long (the count is passed over) or short."""
    inner: Any = "x"
    for _ in range(depth - 1):
        inner = [inner] if opener == "[" else {"a": inner}
    return json.dumps({"resourceType": "Basic", "text": "y" * pad, "extension": inner})


def _texts() -> Iterator[tuple[str, str]]:
    for name, raw, _ in INPUTS:
        try:
            yield name, raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
    for depth in (LIMIT - 2, LIMIT - 1, LIMIT, LIMIT + 1, LIMIT + 5):
        for opener in "[{":
            for pad in (0, 10 * parse._COUNTED * LIMIT):
                yield f"deep {depth} {opener} {pad}", _deep(depth, opener, pad)
    submission = (ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_text(encoding="utf-8")
    # a long text whose brackets are mostly inside strings (the count overstates them)
    yield "brackets in strings", json.dumps({"resourceType": "Basic", "text": "{[" * 5000})
    yield "submission with a deep extension", submission.replace(
        '"resourceType": "Bundle",', f'"resourceType": "Bundle", "extension": {_deep(LIMIT + 1, "[", 0)},', 1)


TEXTS = list(_texts())


def _parsed(raw: bytes) -> Any:
    try:
        return ("value", parse.parse_json(raw))
    except errors.InputRejected as exc:
        return ("rejected", exc.message_id, str(exc), exc.outcome)


def _answers(monkeypatch: pytest.MonkeyPatch, counted: int) -> list[Any]:
    """The depth answer (by both limits around the default) and parse_json's result of every text,
    with the count done on texts of at most ``counted`` characters per level."""
    with monkeypatch.context() as m:
        m.setattr(parse, "_COUNTED", counted)
        out = []
        for _, text in TEXTS:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            out.append((parse._too_deep(data, LIMIT, text), parse._too_deep(data, 3, text),
                        _parsed(text.encode("utf-8"))))
        return out


def test_the_depth_check_gives_the_same_answer_whether_the_text_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = _answers(monkeypatch, parse._COUNTED)
    assert shipped == _answers(monkeypatch, 0)  # never counted: the tree visit alone
    assert shipped == _answers(monkeypatch, 1 << 40)  # always counted first
    # the comparison sees both kinds of answer, on long texts and short ones
    assert {a[0] for a in shipped} == {True, False}
    assert any(a[2][0] == "rejected" and a[2][1] == "LISN_INPUT_TOO_DEEP" for a in shipped)
    assert any(len(text) > parse._COUNTED * LIMIT for _, text in TEXTS)


def test_a_wrong_count_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a count that misses ``[``, used on every text, calls a deep array shallow."""

    class Text(str):
        def count(self, sub: str, *args: Any) -> int:
            return 0 if sub == "[" else str.count(self, sub, *args)

    shipped = _answers(monkeypatch, parse._COUNTED)
    real = parse._too_deep
    with monkeypatch.context() as m:
        m.setattr(parse, "_too_deep", lambda data, limit, text=None: real(data, limit, None if text is None
                                                                          else Text(text)))
        wrong = _answers(monkeypatch, 1 << 40)
    assert wrong != shipped


# -- Registry.resolve -------------------------------------------------------------------------------

TYPES = (None, "StructureDefinition", "Questionnaire", "ValueSet", "CodeSystem", "Patient")


def _canonicals(registry: Registry) -> list[str]:
    out = {"", "|", "http://nowhere.example/x", "http://nowhere.example/x|1.0"}
    for resource in registry.all():
        url, version = resource.get("url"), resource.get("version")
        if not isinstance(url, str):
            continue
        out.update({url, url + "|", url + "|0", url + "|9.9.9"})
        if isinstance(version, str):
            out.add(f"{url}|{version}")
            parts = version.split(".")
            out.add(f"{url}|{'.'.join(parts[:2])}")  # a prefix of the version (major.minor)
            out.add(f"{url}|{version}.1")
    return sorted(out)


def _registries() -> Iterator[Registry]:
    yield default_registry()
    folder = outcome_pin.corpus_root() / "hl7-questionnaire"
    if (folder / "manifest.json").is_file():
        for case in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["cases"][::7]:
            yield default_registry([str(folder / ig) for ig in case["ig"]])


def _agrees(registry: Registry) -> bool:
    canonicals = _canonicals(registry)
    for _ in range(2):  # (the second time from what was remembered)
        for canonical in canonicals:
            for rtype in TYPES:
                if registry.resolve(canonical, rtype) is not registry.looked_up(canonical, rtype):
                    return False
    return True


def _newer_versions(registry: Registry) -> list[dict[str, Any]]:
    """A copy of some definitions with a newer version, and one of a url not yet known."""
    out: list[dict[str, Any]] = [{"resourceType": "ValueSet", "url": "http://nowhere.example/x", "version": "1.0"}]
    for resource in list(registry.all())[::5]:
        if isinstance(resource.get("url"), str):
            out.append({**resource, "version": "999.0.0"})
    return out


@pytest.mark.parametrize("registry", list(_registries()), ids=lambda r: str(len(r.sources)))
def test_resolve_gives_what_the_indexes_give(registry: Registry) -> None:
    assert _agrees(registry)
    for resource in _newer_versions(registry):
        registry.add(resource)
    assert _agrees(registry)


def test_a_wrong_value_fails_as_it_did() -> None:
    registry = default_registry()
    for wrong in (12, ["http://x"], None):
        with pytest.raises(AttributeError):
            registry.resolve(wrong)  # type: ignore[arg-type]
        with pytest.raises(AttributeError):
            registry.looked_up(wrong)  # type: ignore[arg-type]


def test_a_registry_that_does_not_forget_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: answers kept when a url gains a version are stale, and the comparison sees it."""
    registry = default_registry()
    assert _agrees(registry)  # (everything remembered)
    monkeypatch.setattr(registry, "_resolved", _Unforgetting(registry._resolved))
    for resource in _newer_versions(registry):
        registry.add(resource)
    assert not _agrees(registry)


class _Unforgetting(dict):  # type: ignore[type-arg]
    def clear(self) -> None:
        pass


def test_outcomes_with_resolve_remembered_are_those_of_the_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    remembered = [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS]
    with monkeypatch.context() as m:
        m.setattr(Registry, "resolve", Registry.looked_up)
        m.setattr(profiles, "DECLARED_KEPT", False)  # (else the declarations kept by the first run are not resolved)
        looked_up = [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS]
    assert [name for (name, _, _), a, b in zip(INPUTS, remembered, looked_up) if a != b] == []
    assert len(INPUTS) > 500
