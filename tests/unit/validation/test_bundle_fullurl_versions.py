"""bdl-7's duplicate-fullUrl check keys entries by fullUrl and ``meta.versionId``: a versionId of the
wrong type (an array, an object) is bad input, and bad input gets an OperationOutcome, never a crash.

Found by a probe: ``versionId: ["1"]`` on two entries with one fullUrl raised ``TypeError: unhashable
type: 'list'`` out of ``validate_bytes`` (and a 500 from the HTTP API)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from adapter import errors
from adapter.validation import bundle, validate_bytes

URL = "urn:uuid:11111111-1111-4111-8111-111111111111"


def _bundle(first: Any, second: Any) -> bytes:
    def entry(version: Any) -> dict[str, Any]:
        return {"fullUrl": URL, "resource": {"resourceType": "Basic", "meta": {"versionId": version},
                                              "code": {"text": "x"}}}
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [entry(first), entry(second)]}).encode()


def _duplicates(oo: errors.OperationOutcome) -> list[str]:
    return [i["expression"][0] for i in oo["issue"]
            if any(c.get("code") == "LISN_BUNDLE_FULLURL_DUPLICATE" for c in i["details"].get("coding", []))]


@pytest.mark.parametrize("version", [["1"], {"v": "1"}, [["1"], {"a": None}]])
def test_a_version_of_the_wrong_type_is_an_outcome_not_a_crash(version: Any) -> None:
    oo = validate_bytes(_bundle(version, version))
    assert errors.has_errors(oo)
    assert _duplicates(oo) == ["Bundle.entry[1].fullUrl"]  # the same content is still the same version
    assert any("versionId" in (i.get("expression") or [""])[0] for i in oo["issue"])  # and its type is reported


@pytest.mark.parametrize(("first", "second"), [(["1"], ["2"]), (["1"], '["1"]'), ({"v": "1"}, ["1"])])
def test_different_wrong_versions_are_different(first: Any, second: Any) -> None:
    assert _duplicates(validate_bytes(_bundle(first, second))) == []


def test_plain_versions_as_before() -> None:
    assert _duplicates(validate_bytes(_bundle("1", "1"))) == ["Bundle.entry[1].fullUrl"]
    assert _duplicates(validate_bytes(_bundle("1", "2"))) == []


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_without_the_protection_the_probe_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with the wrong-typed versionId kept as it is (no text made of it), the
    probe's input raises again."""
    monkeypatch.setattr(bundle, "json", SimpleNamespace(dumps=lambda value, **_: value))
    with pytest.raises(TypeError, match="unhashable"):
        validate_bytes(_bundle(["1"], ["1"]))
