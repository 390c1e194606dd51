"""The targetProfile checks of a Bundle's entries take the references the Bundle's walk listed.

In a document or message Bundle, ``bundle.validate_bundle`` walks each entry once for its references
and marks (``scan.references_marks_and_skipped``); when that walk passed over nothing that may hold a
reference (no ``contained``, no ``#id`` reference), the list is every object with a ``reference``
string below the entry, and ``profiles.check_reference_targets`` walks a profile only when one of
them resolves to a type some targetProfile of its name does not allow (``profiles._may_fail``).
``profiles.REFS_LISTED = False`` always walks (the general way). Both ways must give the same
outcome (issues, order, texts, positions) for every pinned input (examples, XML, cases, profile
cases, both HL7 corpora when present) and for the example submission mutated: each reference
pointed at every entry (wrong types), moved under ``_key``, under another key, made an object or a
number, removed; references under extensions (``valueReference``), in nested and contained
resources, ``#id`` references with a ``#`` fullUrl, odd fullUrls (``Type/id``, none, not a text),
entries that are no objects, and the Bundle as a document, a collection and a transaction.

Negative controls: a short way that never walks (105 outcomes differ), one that reads only the key
holding the reference, not ``_key`` nor choices (28), and a scan that says it passed over nothing
(``#id`` references and ``contained`` then not handed over: 5) must each change some outcome.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.validation import profiles, scan
from tests.unit.validation import outcome_pin

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_bytes())


def _ref_holders(doc: dict[str, Any]) -> list[tuple[int, list[Any]]]:
    """(entry index, steps to the object holding a reference string) for every reference of the example."""
    out: list[tuple[int, list[Any]]] = []
    for i, entry in enumerate(doc["entry"]):
        for _ref, node in scan.references(entry["resource"]):
            steps: list[Any] = []
            while node is not None:
                node, step = node
                steps.append(step)
            out.append((i, ["entry", i, "resource", *reversed(steps)]))
    return out


def _at(doc: Any, steps: list[Any]) -> Any:
    for s in steps:
        doc = doc[s]
    return doc


def _mutants() -> Iterator[tuple[str, Any]]:
    urls = [e["fullUrl"] for e in EXAMPLE["entry"]]
    holders = _ref_holders(EXAMPLE)
    assert len(holders) >= 10
    for n, (_i, steps) in enumerate(holders):
        for url in urls:  # pointed at every entry: most of them a type not allowed there
            doc = copy.deepcopy(EXAMPLE)
            _at(doc, steps)["reference"] = url
            yield f"ref {n} -> {url}", doc
        parent, key = steps[:-1], steps[-1]
        while not isinstance(key, str):
            parent, key = parent[:-1], parent[-1]
        for what, change in (
            ("under _key", lambda p, k: p.__setitem__("_" + k, p.pop(k))),
            ("under author", lambda p, k: p.__setitem__("author", p.pop(k))),
            ("under extension valueReference",
             lambda p, k: p.setdefault("extension", []).append({"url": "http://x", "valueReference": p.pop(k)})),
            ("removed", lambda p, k: p.pop(k)),
        ):
            for url in (urls[0], urls[2], urls[8]):
                doc = copy.deepcopy(EXAMPLE)
                _at(doc, steps)["reference"] = url
                change(_at(doc, parent), key)
                yield f"ref {n} {what} -> {url}", doc
        for value in ({"reference": urls[8]}, 5, None, "#p"):
            doc = copy.deepcopy(EXAMPLE)
            _at(doc, steps)["reference"] = value
            yield f"ref {n} made {value!r}", doc
    for i in range(len(urls)):
        for url in (urls[0], urls[3], urls[8]):
            for where in ("contained", "nested"):
                doc = copy.deepcopy(EXAMPLE)
                inner = {"resourceType": "Patient", "id": "c1",
                         "generalPractitioner": [{"reference": url}], "managingOrganization": {"reference": url}}
                res = doc["entry"][i]["resource"]
                if where == "contained":
                    res["contained"] = [inner]
                else:
                    res["patient"] = inner
                yield f"entry {i} {where} -> {url}", doc
        doc = copy.deepcopy(EXAMPLE)  # a '#' reference resolving to an entry by its fullUrl
        doc["entry"][8]["fullUrl"] = "#p"
        res = doc["entry"][i]["resource"]
        res.setdefault("extension", []).append({"url": "http://x", "valueReference": {"reference": "#p"}})
        for _j, steps in _ref_holders(EXAMPLE):
            if steps[1] == i:
                _at(doc, steps)["reference"] = "#p"
        yield f"entry {i} '#' fullUrl", doc
    for i in range(len(urls)):
        for url in ("Patient/x", "Consent/x", None, 5):
            doc = copy.deepcopy(EXAMPLE)
            res = doc["entry"][i]["resource"]
            doc["entry"][8]["fullUrl"] = url
            for _j, steps in _ref_holders(EXAMPLE):
                _at(doc, steps)["reference"] = url if isinstance(url, str) else "Consent/" + str(res.get("id"))
            yield f"fullUrl {url!r} at 8, entry {i}", doc
    for kind in ("document", "collection", "transaction"):
        for _n, steps in holders[::3]:
            doc = copy.deepcopy(EXAMPLE)
            doc["type"] = kind
            _at(doc, steps)["reference"] = urls[8]
            yield f"type {kind} {steps}", doc
    doc = copy.deepcopy(EXAMPLE)
    doc["entry"].insert(3, None)
    doc["entry"].append([1])
    doc["entry"].append({"fullUrl": "urn:uuid:x", "resource": "Patient"})
    _at(doc, holders[0][1])["reference"] = urls[8]
    yield "entries no objects", doc


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    yield from outcome_pin.inputs()
    lisn = default_registry()
    for name, doc in _mutants():
        yield name, json.dumps(doc).encode(), lisn


INPUTS = list(_inputs())


def _outcomes(monkeypatch: pytest.MonkeyPatch, listed: bool) -> list[Any]:
    monkeypatch.setattr(profiles, "REFS_LISTED", listed)
    return [outcome_pin.outcome(raw, registry) for _name, raw, registry in INPUTS]


def _differ(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    fast = _outcomes(monkeypatch, True)
    general = _outcomes(monkeypatch, False)
    return [name for (name, _r, _g), a, b in zip(INPUTS, fast, general, strict=True) if a != b]


def test_the_listed_references_give_the_general_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _differ(monkeypatch) == []


def test_the_mutants_report_wrong_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    found = _outcomes(monkeypatch, True)
    wrong = sum('"Reference_REF_BadTargetType"' in json.dumps(o) for o in found)
    assert wrong >= 20, wrong


def _never_walks(limits: Any, refs: Any, resolver: Any) -> bool:
    return False


def _key_only(limits: Any, refs: list[tuple[str, Any]], resolver: Any) -> bool:
    if limits is None:
        return True
    names = limits[0]
    for ref, node in refs:
        target = resolver(ref)
        if target is None:
            continue
        while node is not None and not isinstance(node[1], str):
            node = node[0]
        allowed = names.get(node[1]) if node is not None else None
        if allowed is not None and target.get("resourceType") not in allowed:
            return True
    return False


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("wrong", [_never_walks, _key_only], ids=["never walks", "key only"])
def test_a_wrong_short_way_is_caught(monkeypatch: pytest.MonkeyPatch, wrong: Any) -> None:
    monkeypatch.setattr(profiles, "_may_fail", wrong)
    assert _differ(monkeypatch)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_scan_that_says_it_skipped_nothing_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = scan.references_marks_and_skipped

    def wrong(resource: dict[str, Any]) -> tuple[Any, Any, bool]:
        refs, marks, _skipped = real(resource)
        return refs, marks, False

    monkeypatch.setattr(scan, "references_marks_and_skipped", wrong)
    assert _differ(monkeypatch)
