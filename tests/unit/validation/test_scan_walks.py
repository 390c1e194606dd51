"""The walks of :mod:`adapter.validation.scan` give what the walks before them gave (``walks_before``).

What changed (issue 15): an entry of a document or message Bundle is walked once for its references
and its identifiers/codings (``scan.references_and_marks``), the marks kept for the entry's own
identifier check (``scan.keep``/``take``, per Issues collector, dropped when the Bundle's walk
ends); the walks keep no step list; a Bundle's fullUrl index is made once per validation and also
resolves the references the structure walk checks (``references.check_reference``); the
``/_history/`` pattern is tried only on a reference that holds that text.

Compared, with the old functions put back where the validator calls them:

- the whole outcome (issues, order, texts, positions) of every pinned input (examples, XML, cases,
  profile cases, the HL7 corpora when present) and of the examples with identifiers, codings and
  references planted in odd places (extensions, contained and nested resources, Parameters, arrays
  with nulls and arrays in arrays, wrong JSON types, unresolvable and ambiguous references);
- the references and identifier issues of every resource of those documents, and of made values.

Negative controls: a walk that skips an array's last item, one that looks into a nested resource, a
cache that hands back nothing, a fullUrl index that misses an entry: each changes some outcome.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import bundle, bundle_rules, identifiers, scan, validate_into
from tests.unit.validation import outcome_pin, walks_before
from tests.unit.validation.doc_paths import objects

ROOT = Path(__file__).resolve().parents[3]
PNR = "http://electronichealth.se/identifier/personnummer"
HSA = "urn:oid:1.2.752.29.4.19"
ORGNR = "urn:oid:2.5.4.97"
ICD = "urn:oid:1.2.752.116.1.1.1"
BAD_PNR = {"system": PNR, "value": "191212121213"}
BAD_HSA = {"system": HSA, "value": "TSTNMT2321000156-1"}  # good only in a test environment
BAD_ORGNR = {"system": "2.5.4.97", "value": "1234567890"}
KOMMUN = {"system": "https://lisn.se/fhir/sid/kommunkod", "value": "0000"}
F_CODE = {"system": ICD, "code": "F32"}
UNKNOWN_ICD = {"system": "1.2.752.116.1.1.1.1.3", "code": "U99.9"}

# What is planted (key, value) into an object of a document.
PLANTS: list[tuple[str, Any]] = [
    ("identifier", copy.deepcopy(BAD_PNR)),
    ("valueIdentifier", [None, BAD_HSA, [BAD_ORGNR, "x", None], KOMMUN]),
    ("coding", [F_CODE, None, UNKNOWN_ICD]),
    ("valueCoding", {"system": ICD, "code": "F3", "extension": [{"url": "http://x", "valueCoding": F_CODE}]}),
    ("subject", {"reference": "urn:uuid:00000000-0000-0000-0000-000000000000", "identifier": BAD_PNR}),
    ("author", [{"reference": "Patient/nowhere"}, {"reference": "#local"}, {"reference": 12}, None,
                [{"reference": "http://x/fhir/Practitioner/1/_history/2"}]]),
    ("patient", {"resourceType": "Patient", "identifier": [BAD_PNR],
                 "managingOrganization": {"reference": "urn:uuid:00000000-0000-0000-0000-00000000000a"}}),
    ("holder", [{"resourceType": "Patient", "identifier": BAD_PNR, "link": [{"other": {"reference": "Patient/x"}}]}]),
    ("contained", [{"resourceType": "Patient", "id": "c1", "identifier": [BAD_PNR],
                    "generalPractitioner": [{"reference": "urn:uuid:00000000-0000-0000-0000-00000000000b"}]}]),
    ("extension", [{"url": "http://x/a", "valueIdentifier": BAD_ORGNR},
                   {"url": "http://x/b", "valueReference": {"reference": "urn:uuid:gone", "identifier": BAD_HSA}},
                   {"url": "http://x/c", "extension": [{"url": "d", "valueCoding": UNKNOWN_ICD}]}]),
    ("_status", {"extension": [{"url": "http://x/e", "valueIdentifier": BAD_PNR}]}),
    ("identifier", "191212121213"),
    ("identifier", [["x", [BAD_PNR]], 5, True]),
    ("coding", 5),
    ("reference", {"reference": "urn:uuid:q", "coding": [F_CODE]}),
    ("parameters", {"resourceType": "Parameters", "parameter": [
        {"name": "a", "resource": {"resourceType": "Patient", "identifier": [BAD_PNR]}},
        {"name": "b", "valueIdentifier": BAD_HSA},
        {"name": "c", "valueReference": {"reference": "urn:uuid:x"}, "part": [{"name": "d", "valueCoding": F_CODE}]}]}),
]


def _planted(doc: Any, path: tuple[Any, ...], n: int) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for step in path:
        target = target[step]
    key, value = PLANTS[n % len(PLANTS)]
    target[key] = copy.deepcopy(value)
    return out


def _bundle_cases() -> Iterator[tuple[str, Any]]:
    """Bundles made to exercise the Bundle rules: every type, duplicates, versions, nested Bundles."""
    example = json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_text())
    for kind in ("document", "message", "collection", "history", "transaction", "searchset"):
        doc = copy.deepcopy(example)
        doc["type"] = kind
        yield f"type {kind}", doc
    doc = copy.deepcopy(example)
    doc["entry"].append(copy.deepcopy(doc["entry"][2]))  # the same fullUrl twice: ambiguous references
    yield "fullUrl twice", doc
    doc = copy.deepcopy(example)
    doc["entry"][3]["resource"]["resourceType"] = "NoSuchType"  # no walk of its own: its marks are dropped
    doc["entry"][3]["resource"]["identifier"] = [BAD_PNR]
    yield "unknown entry type", doc
    doc = copy.deepcopy(example)
    doc["entry"][2]["resource"] = [BAD_PNR]  # not an object
    doc["entry"].insert(1, None)
    yield "entry not an object", doc
    doc = copy.deepcopy(example)
    inner = copy.deepcopy(example)
    inner["entry"][2]["resource"]["identifier"] = [BAD_PNR]
    doc["entry"].append({"fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111", "resource": inner})
    yield "nested message", doc
    restful = {"resourceType": "Bundle", "type": "document", "entry": [
        {"fullUrl": "http://x/fhir/Composition/1", "resource": {
            "resourceType": "Composition", "id": "1", "status": "final", "type": {"text": "t"}, "date": "2024-01-01",
            "title": "t", "author": [{"reference": "Practitioner/1/_history/2"}], "subject": {"reference": "Patient/1"}}},
        {"fullUrl": "http://x/fhir/Patient/1", "resource": {"resourceType": "Patient", "id": "1", "identifier": [BAD_PNR]}},
        {"fullUrl": "http://x/fhir/Practitioner/1", "resource": {"resourceType": "Practitioner", "id": "1",
                                                                  "meta": {"versionId": "2"}, "identifier": [BAD_HSA]}},
        {"fullUrl": "http://x/fhir/Practitioner/1", "resource": {"resourceType": "Practitioner", "id": "1",
                                                                  "meta": {"versionId": "3"}}},
        {"fullUrl": "http://x/fhir/Organization/9", "resource": {"resourceType": "Organization", "id": "9",
                                                                  "partOf": {"reference": "Organization/8"}}}]}
    yield "restful document", restful


def _planted_documents() -> Iterator[tuple[str, bytes, Any]]:
    lisn = default_registry()
    for path in sorted((ROOT / "profiles" / "examples").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        places = list(objects(doc))
        step = max(1, len(places) // 24)
        for n, place in enumerate(places[::step]):
            yield f"{path.name} {place} #{n}", json.dumps(_planted(doc, place, n), indent=1).encode(), lisn
    for name, doc in _bundle_cases():
        yield name, json.dumps(doc, indent=1).encode(), lisn


PLANTED = list(_planted_documents())
DOCUMENTS = list(outcome_pin.inputs()) + PLANTED


def _outcomes(documents: list[tuple[str, bytes, Any]], test_environment: bool = False) -> list[Any]:
    from adapter.validation import validate_bytes

    return [json.loads(json.dumps(validate_bytes(raw, registry, test_environment=test_environment),
                                  sort_keys=True, default=str)) for _, raw, registry in documents]


@functools.cache
def _before(planted_only: bool, test_environment: bool = False) -> list[Any]:
    """The outcomes with the walks before (made once for the tests here)."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        with walks_before.installed(monkeypatch):
            return _outcomes(PLANTED if planted_only else DOCUMENTS, test_environment)
    finally:
        monkeypatch.undo()


def _differ(a: list[Any], b: list[Any], documents: list[tuple[str, bytes, Any]]) -> list[str]:
    assert len(a) == len(b) == len(documents)
    return [name for (name, _, _), x, y in zip(documents, a, b) if x != y]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_the_outcomes_are_those_of_the_walks_before(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {"kept": 0}
    real_take = scan.take

    def counted(issues: Issues, resource: dict[str, Any], path: str) -> list[scan.Mark] | None:
        found = real_take(issues, resource, path)
        taken["kept"] += found is not None
        return found

    monkeypatch.setattr(scan, "take", counted)
    now = _outcomes(DOCUMENTS)
    assert taken["kept"] > 1000  # the kept marks are used
    assert len(DOCUMENTS) > 500 and len(PLANTED) > 200
    assert not _differ(now, _before(False), DOCUMENTS)
    issues = [i for outcome in now for i in outcome.get("issue", [])]
    for text in ("Reference_REF_CantResolve", "Bundle_BUNDLE_MultipleMatches", "LISN_PERSONNUMMER_CHECKSUM",
                 "LISN_HSAID_TEST_PREFIX", "LISN_ICD10SE_F_FOUR_POSITIONS", "LISN_ICD10SE_UNKNOWN",
                 "Bundle_BUNDLE_Entry_Orphan_DOCUMENT", "Reference_REF_BadTargetType"):
        assert any(text in json.dumps(i) for i in issues), text  # the planted problems are found


def test_in_a_test_environment_too() -> None:
    assert not _differ(_outcomes(PLANTED, test_environment=True), _before(True, True), PLANTED)


def test_nothing_is_kept_after_a_validation() -> None:
    registry = default_registry()
    for _, raw, _ in PLANTED:
        doc = json.loads(raw)
        issues = Issues()
        validate_into(doc, registry, issues, path="R")
        kept = scan._held(issues)
        assert kept is None or not (kept.marks or kept.made)
        if doc.get("type") == "message":
            assert kept is not None  # (something was kept)


def test_an_issues_collector_used_twice_gets_no_stale_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry the structure walk does not check (unknown type) has its marks dropped with the Bundle's
    walk: the same resource, changed and validated at the same place with the same collector, is walked."""
    registry = default_registry()

    def run() -> list[dict[str, Any]]:
        doc = dict(_bundle_cases())["unknown entry type"]
        issues = Issues()
        validate_into(doc, registry, issues, path="Bundle")
        entry = doc["entry"][3]["resource"]
        entry["resourceType"] = "Practitioner"
        entry["identifier"] = [BAD_HSA]
        validate_into(entry, registry, issues, path="Bundle.entry[3].resource")
        return issues.items

    now = run()
    with walks_before.installed(monkeypatch):
        before = run()
    assert now == before and any("LISN_HSAID_TEST_PREFIX" in json.dumps(i) for i in now)


# -- each resource --------------------------------------------------------------------------------

def _resources(node: Any) -> Iterator[Any]:
    """Every object with a resourceType (at any depth), and some arrays, of ``node``."""
    if isinstance(node, dict):
        if "resourceType" in node:
            yield node
        for child in node.values():
            yield from _resources(child)
    elif isinstance(node, list):
        if any(isinstance(x, dict) for x in node):
            yield node
        for child in node:
            yield from _resources(child)


def _every_resource() -> list[Any]:
    found: list[Any] = []
    for _, raw, _ in DOCUMENTS:
        try:
            found.extend(_resources(json.loads(raw)))
        except ValueError:
            continue  # (XML and malformed JSON)
    return found


RESOURCES = _every_resource()


def _identifier_issues(resource: dict[str, Any], test_environment: bool, *, kept: bool = False,
                       before: bool = False) -> list[dict[str, Any]]:
    issues = Issues()
    if before:
        walks_before.validate_identifiers(resource, issues, path="R", test_environment=test_environment)
        return issues.items
    if kept:
        scan.keep(issues, resource, "R", scan.references_and_marks(resource)[1])
    identifiers.validate_identifiers(resource, issues, path="R", test_environment=test_environment)
    return issues.items


def _agree(resource: Any) -> bool:
    refs = bundle.references(resource, "R")
    if refs != walks_before.bundle_references(resource, "R"):
        return False
    if not isinstance(resource, dict):
        return True
    both = scan.references_and_marks(resource)
    if both[0] != scan.references(resource) or both[1] != scan.marks(resource):
        return False
    return all(_identifier_issues(resource, env) == _identifier_issues(resource, env, kept=True)
               == _identifier_issues(resource, env, before=True) for env in (False, True))


def test_the_walks_of_every_resource_are_those_before() -> None:
    assert len(RESOURCES) > 3000
    assert sum(len(scan.references(r)) for r in RESOURCES) > 1000
    assert sum(len(_identifier_issues(r, False)) for r in RESOURCES if isinstance(r, dict)) > 250
    assert all(_agree(r) for r in RESOURCES)


def _holders(inner: Any) -> Any:
    keys = st.sampled_from(["identifier", "valueIdentifier", "coding", "valueCoding", "contained", "reference",
                            "resourceType", "item", "extension"])
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4)


_LEAF = st.none() | st.integers() | st.sampled_from(["#a", "Patient/1", "urn:uuid:1", "", "Patient"]) \
    | st.sampled_from([BAD_PNR, BAD_HSA, BAD_ORGNR, KOMMUN, F_CODE, UNKNOWN_ICD, {"reference": "Patient/1"}])
MADE = st.recursive(_LEAF, _holders, max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(MADE, st.sampled_from(["Patient", "QuestionnaireResponse"]))
def test_the_walks_of_made_values_are_those_before(value: Any, rtype: str) -> None:
    assert _agree(value)
    assert _agree({"resourceType": rtype, "x": value, "y": [value]})


# -- negative controls ------------------------------------------------------------------------------

def _skips_last_item(real: Any) -> Any:
    def wrong(value: list[Any], *args: Any) -> None:
        real(value[:-1], *args)
    return wrong


def _looks_into_resources(value: dict[str, Any], node: scan.Node, found: list[scan.Mark]) -> None:
    for key, child in value.items():
        if key == "contained":
            continue
        if isinstance(child, dict):
            sub = (node, key)
            if scan._KINDS.get(key):
                found.append((scan._KINDS[key], child, sub))
            _looks_into_resources(child, sub, found)
        elif isinstance(child, list):
            scan._marks_in_array(child, (node, key), scan._KINDS.get(key), found)


def _misses_an_entry(entries: list[Any], issues: Issues) -> dict[str, list[int]]:
    return {url: found[1:] for url, found in bundle_rules.entries_by_full_url(entries).items()}


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize(("where", "name", "wrong"), [
    (scan, "_both_in_array", _skips_last_item(scan._both_in_array)),
    (scan, "_marks_in_array", _skips_last_item(scan._marks_in_array)),
    (scan, "_marks_in", _looks_into_resources),
    (scan, "take", lambda issues, resource, path: [] if scan._held(issues) else None),
    (bundle_rules, "full_url_index", _misses_an_entry),
])
def test_a_wrong_walk_is_caught(monkeypatch: pytest.MonkeyPatch, where: Any, name: str, wrong: Any) -> None:
    before = _before(True)
    monkeypatch.setattr(where, name, wrong)
    assert any(_outcomes([doc]) != [outcome] for doc, outcome in zip(PLANTED, before))  # (stops at the first)
