"""The reference pruning's fast walk (``invariants._refs``) gives what its general walk gives.

``_refs`` dispatches on ``type()`` (plain ``dict``/``list``/primitives) where ``_refs_general``
tests ``isinstance``: on every resource of the examples, of the validation cases and of the HL7
corpora, and on hypothesis-made JSON (nested lists, odd ``resourceType``s, ``reference`` and
``_reference`` at any depth, dict subclasses), both give equal copies keeping the same original
objects, or both raise. A deliberately wrong fast walk is caught (the negative control).
"""

from __future__ import annotations

import json
import os
from collections import UserDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation import invariants

ROOT = Path(__file__).resolve().parents[3]


def _files() -> list[Path]:
    files = sorted((ROOT / "profiles" / "examples").glob("*.json"))
    files += sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))
    corpus = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")
    for name in ("hl7-base", "hl7-questionnaire"):
        files += sorted((corpus / name / "cases").glob("*.json"))
    return files


def _values(node: Any) -> Iterator[Any]:
    """Every object and array of a document (each is a walk's input somewhere)."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)


def _walk(fn: Any, node: Any) -> Any:
    originals: dict[int, Any] = {}
    try:
        kept = fn(node, originals)
    except invariants._Unprunable:
        return "unprunable"
    # the copies differ between the two walks; what they stand for must not
    return kept, _identities(kept), sorted(id(v) for v in originals.values())


def _identities(kept: Any) -> Any:
    """The objects kept whole (a Reference with a reference): by identity."""
    if isinstance(kept, dict):
        return ("dict", id(kept) if "reference" in kept or "_reference" in kept else None,
                [(k, _identities(v)) for k, v in kept.items()])
    if isinstance(kept, list):
        return ("list", [_identities(v) for v in kept])
    return kept


def _disagreements(document: Any) -> list[str]:
    out = []
    for value in _values(document):
        if isinstance(value, (dict, list)) and _walk(invariants._refs, value) != _walk(invariants._refs_general, value):
            out.append(json.dumps(value, default=repr)[:200])
    return out


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def test_fast_walk_equals_general_walk_on_the_inputs() -> None:
    files = _files()
    assert len(files) > 20
    problems = [f"{path.name}: {p}" for path in files for p in _disagreements(_load(path))]
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


class _Mapping(UserDict):  # type: ignore[type-arg]
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


_KEYS = st.sampled_from(["reference", "_reference", "resourceType", "subject", "item", "answer", "valueReference",
                         "contained", "text", "_x", "extension"])
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False), st.text(max_size=2))
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.dictionaries(_KEYS, inner, max_size=3).map(_Dict),
        st.dictionaries(_KEYS, inner, max_size=2).map(_Mapping),
        st.dictionaries(st.just("resourceType"), st.sampled_from(["Patient", "Observation"]), min_size=1)),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fast_walk_equals_general_walk_on_generated_data(value: Any) -> None:
    assert _walk(invariants._refs, value) == _walk(invariants._refs_general, value)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_fast_walk_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a fast walk that drops ``_reference``-only objects disagrees."""
    real = invariants._refs_dict

    def wrong(node: dict[str, Any], originals: dict[int, Any]) -> Any:
        if "_reference" in node and "reference" not in node:
            return None
        return real(node, originals)

    monkeypatch.setattr(invariants, "_refs_dict", wrong)
    document = {"resourceType": "Observation", "subject": {"_reference": {"extension": []}}}
    assert _disagreements(document)
    example = _load(ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json")
    for entry in example["entry"]:
        entry["resource"]["focus"] = {"_reference": {"id": "x"}}
    assert _disagreements(example)


def test_item_pruning_only_for_expressions_without_a_direct_form() -> None:
    """A direct form reads ``item.where(linkId = 'x')`` on the items as they are (no copy); the node
    form still gets the pruned copy. (Either way the outcome is plain fhirpathpy's: see
    ``test_invariant_speed_equivalence.py``.)"""
    bundle = _load(ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json")
    qr = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
    direct = "item.where(linkId='diagnos').item.where(linkId='diagnos.kod').answer.value.exists()"
    node_form = "item.where(linkId='diagnos').item.where(linkId='diagnos.kod').answer.value.aggregate($total + 1, 0) > 0"
    assert invariants._direct(direct) and not invariants._direct(node_form)
    assert invariants._pruned(direct, qr, qr, {}) == (qr, qr)
    slim, root = invariants._pruned(node_form, qr, qr, {})
    assert slim is root and slim is not qr and {i["linkId"] for i in slim["item"]} == {"diagnos"}
