"""The submission rule's short way (``invariants._all_listed``) gives what fhirpathpy and the general way give.

``entry.resource.descendants().ofType(Reference).reference.subsetOf(%context.entry.fullUrl)`` is
answered ``[True]`` without FHIRPath where every ``reference`` below the entry resources is a
string among the fullUrls (an object ``reference`` only on an object fhirpathpy does not type as a
Reference). Wherever the short way answers, fhirpathpy itself (the oracle, with the R4 model, on the
whole Bundle) gives ``[True]`` too, and :func:`invariants.evaluate` gives what the general way (the
node form on the pruned copy) gives: on the examples, the validation cases and both HL7 corpora
(each Bundle as it is, and every resource put in a Bundle of its own with and without the fullUrls
its references name), on mutated submissions and on hypothesis-made entry resources. Deliberately
wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import invariants
from tests.unit.validation import rule_kit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
RULE = invariants._SUBSET_OF_FULL_URLS
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))


def _files() -> list[Path]:
    files = sorted((ROOT / "profiles" / "examples").glob("*.json"))
    files += sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))
    corpus = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")
    for name in ("hl7-base", "hl7-questionnaire"):
        files += sorted((corpus / name / "cases").glob("*.json"))
    return files


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _strings(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _strings(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)


def _bundles(document: Any) -> Iterator[dict[str, Any]]:
    """The document if it is a Bundle; every resource in it (at any depth) in a Bundle of its own,
    once with fullUrls for every string reference it holds (so the short way answers) and once without."""
    if isinstance(document, dict) and isinstance(document.get("entry"), list):
        yield document
    for resource in _strings(document, "resource"):
        if isinstance(resource, dict):
            urls = [r for r in _strings(resource, "reference") if isinstance(r, str)]
            yield {"resourceType": "Bundle", "entry": [{"resource": resource}] + [{"fullUrl": u} for u in urls]}
            yield {"resourceType": "Bundle", "entry": [{"resource": resource, "fullUrl": "urn:x"}]}
    if isinstance(document, dict):
        urls = [r for r in _strings(document, "reference") if isinstance(r, str)]
        yield {"resourceType": "Bundle", "entry": [{"resource": document}] + [{"fullUrl": u} for u in urls]}


_oracle = partial(rule_kit.oracle, _ORACLE)


def _general(bundle: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(invariants, "RULES_SHORT", False)
        return invariants.holds(RULE, bundle, resource=bundle), invariants.evaluate(RULE, bundle, resource=bundle)


def _short(bundle: dict[str, Any]) -> bool:
    """The short way :func:`invariants.holds` takes for the rule (its one entry point, ``_SHORT_RULES``)."""
    return invariants._SHORT_RULES[RULE][0](bundle)


def _disagreement(bundle: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` where the short way declines, or answers as the oracle and the general way do."""
    if not _short(bundle):
        return None
    oracle, general = _oracle(bundle), _general(bundle, monkeypatch)
    fast = invariants.holds(RULE, bundle, resource=bundle)
    if oracle == ("ok", [True]) and general == (True, [True]) and fast is True:
        return None
    return f"short way [True], fhirpathpy {oracle}, general {general}, evaluate {fast}: {json.dumps(bundle)[:300]}"


def _disagreements(documents: list[Any], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    problems, answered = [], 0
    for document in documents:
        for bundle in _bundles(document):
            answered += _short(bundle)
            problem = _disagreement(bundle, monkeypatch)
            if problem:
                problems.append(problem)
    return problems, answered


def test_the_short_way_answers_on_the_example_submission() -> None:
    bundle = _load(EXAMPLE)
    assert invariants._all_listed(bundle)  # with its Consent.provision.data (a reference that is an object)
    assert _oracle(bundle) == ("ok", [True])


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    assert len(files) > 20
    problems, answered = _disagreements([_load(p) for p in files], monkeypatch)
    assert answered > 100  # the short way is taken, not only declined
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


_BUNDLE = _load(EXAMPLE)
_FULL_URLS = [e["fullUrl"] for e in _BUNDLE["entry"]]


def test_odd_inputs() -> None:
    """Where the short way must decline, and where it may answer."""
    def bundle_with(resource: Any, **entry: Any) -> dict[str, Any]:
        return {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a", "resource": resource, **entry}]}

    declined = [
        bundle_with({"resourceType": "Patient", "managingOrganization": {"reference": {"reference": "urn:a"}}}),
        bundle_with({"resourceType": "Patient", "managingOrganization": {"reference": "urn:b"}}),
        bundle_with({"resourceType": "Patient", "managingOrganization": {"reference": 1}}),
        bundle_with({"resourceType": "Patient", "managingOrganization": {"_reference": {"id": "x"}}}),
        bundle_with({"resourceType": "Patient", "name": [[{"text": "x"}]]}),
        bundle_with({"resourceType": 5}),
        bundle_with({"resourceType": "Reference", "reference": {"reference": "urn:a"}}),
        bundle_with({"extension": [{"url": "u", "valueReference": {"reference": {"x": 1}}}]}),  # no resourceType
        bundle_with("Patient/1"),
        bundle_with({"resourceType": "Patient"}, fullUrl=["urn:a"]),
        {"resourceType": "Bundle", "entry": [["urn:a"]]},
        {"resourceType": "Bundle", "entry": {"fullUrl": "urn:a"}},
    ]
    for bundle in declined:
        assert not invariants._all_listed(bundle), bundle
    answered = [
        bundle_with({"resourceType": "Consent", "provision": {"provision": [
            {"data": [{"meaning": "instance", "reference": {"reference": "urn:a"}}]}]}}),
        bundle_with({"resourceType": "Patient", "extension": [{"url": "u", "valueReference": {"reference": "urn:a"}}],
                     "contained": [{"resourceType": "Bundle", "entry": [{"resource": {"reference": "urn:a"}}]}]}),
        bundle_with({"resourceType": "Unknown", "x": {"reference": {"y": 1}}}),
        {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a"}, {}]},
    ]
    for bundle in answered:
        assert invariants._all_listed(bundle), bundle
        assert _oracle(bundle) == ("ok", [True]), bundle


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                  st.text(max_size=3), st.sampled_from(_FULL_URLS + ["Patient/1", "urn:uuid:nope"]))
_reference = st.fixed_dictionaries({}, optional={
    "reference": st.one_of(st.sampled_from(_FULL_URLS + ["urn:uuid:nope", ""]), st.integers(0, 2),
                           st.just({"reference": _FULL_URLS[0]}), st.just([_FULL_URLS[1]])),
    "_reference": st.just({"extension": [{"url": "http://x", "valueString": "y"}]}),
    "display": st.text(max_size=3),
    "resourceType": st.sampled_from(["Reference", "Consent", "Patient"]),
})
_KEYS = st.sampled_from(["subject", "author", "focus", "item", "answer", "valueReference", "contained",
                         "resourceType", "extension", "text", "_x", "provision", "data", "reference",
                         "managingOrganization", "entry", "resource", "identifier", "assigner"])
_value = st.recursive(
    st.one_of(_leaf, _reference),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3),
                            st.just({"resourceType": "Consent", "provision": {"data": [
                                {"reference": {"reference": _FULL_URLS[2]}}]}})),
    max_leaves=10)
# Where the example has References (so fhirpathpy types the value as one), and any other place.
_PLACES = st.one_of(
    st.sampled_from([(0, "sender"), (0, "focus"), (1, "subject"), (1, "author"), (1, "source"), (4, "practitioner"),
                     (4, "organization"), (5, "partOf"), (8, "patient"), (8, "organization")]),
    st.tuples(st.integers(0, len(_BUNDLE["entry"]) - 1), _KEYS))


def _mutated(mutations: list[tuple[tuple[int, str], Any]]) -> dict[str, Any]:
    bundle = copy.deepcopy(_BUNDLE)
    for (index, key), value in mutations:
        entry = bundle["entry"][index]
        target = entry if key in ("fullUrl", "resource") else entry["resource"]
        if isinstance(target, dict):
            target[key] = copy.deepcopy(value)
    return bundle


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_PLACES, _value), max_size=4))
def test_short_way_agrees_on_mutated_submissions(mutations: list[tuple[tuple[int, str], Any]]) -> None:
    with pytest.MonkeyPatch.context() as m:
        assert _disagreement(_mutated(mutations), m) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_value, st.dictionaries(_KEYS, _value, max_size=4)), max_size=3))
def test_short_way_agrees_on_made_entry_resources(resources: list[Any]) -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": u, "resource": r} for u, r in zip(_FULL_URLS, resources)]}
    with pytest.MonkeyPatch.context() as m:
        assert _disagreement(bundle, m) is None


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_wrong_short_ways_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: typing no object as a Reference, or taking any string reference as listed."""
    documents = [_load(p) for p in _files()]
    with monkeypatch.context() as m:
        m.setattr(invariants, "_typed_reference", lambda trail: False)
        wrong = {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a", "resource": {
            "resourceType": "Patient", "managingOrganization": {"reference": {"reference": "urn:a"}}}}]}
        assert _disagreement(wrong, m)
    with monkeypatch.context() as m:
        m.setitem(invariants._SHORT_RULES, RULE, (lambda bundle: isinstance(bundle.get("entry"), list), True))
        problems, _ = _disagreements(documents, m)
        assert problems
