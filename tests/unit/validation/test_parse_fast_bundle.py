"""Two short ways in the Bundle rules held to their general ways (branch perf-parse).

- ``bundle_rules.resolve_reference`` with the fullUrl index answers an absolute reference with no
  ``/_history/`` from the index straight away; the general way is the same function without the
  index (every entry looked at). Compared on every pair of reference and referencing fullUrl made
  from the examples' fullUrls and references and from awkward ones (relative and versioned
  fullUrls, a relative fullUrl equal to a relative reference, fullUrls twice, versions).
- ``bundle_rules.is_restful`` says no to a url without ``/`` before matching; compared with the
  pattern's own answer.

Negative control: an index short way that does not check that the reference is absolute (a relative
fullUrl would then match a relative reference) is caught.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.validation import bundle_rules, scan

ROOT = Path(__file__).resolve().parents[3]

_AWKWARD_URLS = ["Patient/1", "http://x/fhir/Patient/1", "http://x/fhir/Patient/1/_history/2", "urn:uuid:1",
                 "http://x/fhir/Observation/o", "https://y/Patient/1", "", "x", "urn:uuid:1", "Patient/1"]
_AWKWARD_REFS = ["Patient/1", "Patient/1/_history/2", "Patient/1/_history/3", "http://x/fhir/Patient/1",
                 "http://x/fhir/Patient/1/_history/2", "urn:uuid:1", "urn:uuid:2", "Observation/o", "#x", "",
                 "http://x/fhir/Patient/1/_history/", "x", "/_history/2", "https://y/Patient/1"]


def _bundles() -> Iterator[list[Any]]:
    for source in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")):
        yield json.loads(source.read_bytes()).get("entry", [])
    entries = []
    for n, url in enumerate(_AWKWARD_URLS):
        entries.append({"fullUrl": url, "resource": {"resourceType": "Patient", "id": "1",
                                                      "meta": {"versionId": str(n % 3 + 1)}}})
    entries.append({"resource": {"resourceType": "Patient"}})
    entries.append("not an entry")
    yield entries


def _pairs(entries: list[Any]) -> Iterator[tuple[str, Any]]:
    refs = list(_AWKWARD_REFS)
    for e in entries:
        if isinstance(e, dict):
            refs += [r for r, _ in scan.references(e.get("resource"))]
            if isinstance(e.get("fullUrl"), str):
                refs.append(e["fullUrl"])
    froms = [e.get("fullUrl") if isinstance(e, dict) else None for e in entries] + [None, 3, "http://x/fhir/Patient/9"]
    for ref in refs:
        for from_url in froms:
            yield ref, from_url


def _differences() -> list[tuple[str, Any]]:
    differ = []
    for entries in _bundles():
        by_url = bundle_rules.entries_by_full_url(entries)
        for ref, from_url in _pairs(entries):
            if bundle_rules.resolve_reference(entries, ref, from_url, by_url) != \
                    bundle_rules.resolve_reference(entries, ref, from_url):
                differ.append((ref, from_url))
    return differ


def test_the_index_short_way_gives_what_every_entry_gives() -> None:
    assert not _differences()


def test_a_short_way_that_forgets_absolute_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bundle_rules.resolve_reference

    def lax(entries: list[Any], reference: str, from_full_url: Any, by_url: dict[str, list[int]] | None = None) -> list[int]:
        if by_url is not None and reference in by_url:
            return list(by_url[reference])
        return real(entries, reference, from_full_url, by_url)

    monkeypatch.setattr(bundle_rules, "resolve_reference", lax)
    assert _differences()


def test_is_restful_is_the_patterns_answer() -> None:
    urls = list(_AWKWARD_URLS) + list(_AWKWARD_REFS) + ["Patient", "urn:uuid:a/b", "http:/Patient/1", "Patient/" + "1" * 65]
    for entries in _bundles():
        urls += [e["fullUrl"] for e in entries if isinstance(e, dict) and isinstance(e.get("fullUrl"), str)]
    for url in urls:
        found = bundle_rules._RESTFUL.fullmatch(url)
        assert bundle_rules.is_restful(url) == (found is not None and found.group(1) in defs.resource_type_names()), url
