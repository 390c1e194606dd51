"""Slices told apart by one ``type`` discriminator are looked up by the value's type (``profiles._one_type_index``).

For a value of one resource type, :meth:`adapter.validation.profiles.Walk.slice` takes the slices
that name that type from an index made once per node, instead of testing every slice. Here the
entries of every Bundle example, and odd ones (no resource, a type that is no text, an unknown
type, several of the same type, no object), are matched against the submission profile's
``Bundle.entry`` slices with the index and without it (the comparison with every slice): the
slices matched and the issues must be the same. Negative control: a wrong index is caught.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import profiles

ROOT = Path(__file__).resolve().parents[3]
SUBMISSION = "https://lisn.se/fhir/StructureDefinition/lisn-submission"
BUNDLES = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json"))]
ODD: list[Any] = [
    {"fullUrl": "urn:uuid:x"},
    {"resource": {"resourceType": ["Patient"]}},
    {"resource": {"resourceType": None}},
    {"resource": {"resourceType": "Basic"}},
    {"resource": {"resourceType": "Organization", "id": "extra"}},
    {"resource": {"resourceType": "Provenance"}},
    {"resource": "Patient"},
    "entry",
    None,
]


def _entries() -> list[list[Any]]:
    out: list[list[Any]] = []
    for doc in BUNDLES:
        entries = doc.get("entry") or []
        out.append(copy.deepcopy(entries))
        out.append(copy.deepcopy(entries) + ODD)
        out.append(list(reversed(copy.deepcopy(entries))))
    return out


def _slices(entries: list[Any]) -> tuple[list[tuple[str | None, list[str]]], list[dict[str, Any]]]:
    registry = default_registry()
    sd = registry.resolve(SUBMISSION, "StructureDefinition")
    assert sd is not None
    profile = profiles.compile_profile(sd)
    issues = Issues()
    walk = profiles.Walk(profile, registry, issues, {"resourceType": "Bundle", "entry": entries})
    matched = walk.slice(profile.root.children["entry"], [(e, f"Bundle.entry[{i}]") for i, e in enumerate(entries)])
    return [(sl.slice_name, [p for _, p in found]) for sl, found in matched.items()], issues.items


def _all(monkeypatch: pytest.MonkeyPatch, index: Any) -> list[Any]:
    with monkeypatch.context() as m:
        if index is not None:
            m.setattr(profiles, "_one_type_index", index)
        return [_slices(entries) for entries in _entries()]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_the_index_matches_as_every_slice_tested(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[bool] = []
    real = profiles._one_type_index

    def watched(node: profiles.Node, by_type: Any) -> Any:
        found = real(node, by_type)
        used.append(found is not None)
        return found

    indexed = _all(monkeypatch, watched)
    assert used and all(used)
    every = _all(monkeypatch, lambda node, by_type: None)
    assert indexed == every
    assert sum(len(paths) for result in every for _, paths in result[0]) > 20


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_index_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: an index that leaves out each type's first slice changes what is matched."""
    real = profiles._one_type_index

    def wrong(node: profiles.Node, by_type: Any) -> Any:
        index = real(node, by_type)
        return None if index is None else {code: found[1:] for code, found in index.items()}

    assert _all(monkeypatch, wrong) != _all(monkeypatch, lambda node, by_type: None)
