"""The invariant fast paths give exactly what plain fhirpathpy gives.

``adapter.validation.invariants`` hands fhirpathpy a pruned copy of the resource for some
expressions (items by linkId; entry resources down to their References). Here every example
in ``profiles/examples``, every case of ``tests/cases/validation/manifest.yaml`` and of this
folder's ``manifest.json`` is validated twice — with pruning, and with ``_pruned`` replaced by
the identity (plain fhirpathpy on the whole resource) — and the OperationOutcomes must be
equal, issue for issue. Hypothesis then mutates the example submission (References with and
without ``reference``, ``_reference`` only, nested arrays, odd ``resourceType``s, contained
resources, unknown targets) and compares the Bundle rules' results and located nodes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.registry import Registry, default_registry
from adapter.validation import invariants, validate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
CASES_DIR = ROOT / "tests" / "cases" / "validation"
SUB_2 = "entry.resource.descendants().ofType(Reference).reference.subsetOf(%context.entry.fullUrl)"
SUB_2_LOCATION = ("entry.resource.descendants().ofType(Reference).where(reference.exists() and "
                  "(%context.entry.fullUrl contains reference).not())")


def _plain(expression: str, node: Any, resource: Any, originals: dict[int, Any]) -> tuple[Any, Any]:
    return node, resource


def _both(resource: dict[str, Any], registry: Registry, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = validate(copy.deepcopy(resource), registry)
    with monkeypatch.context() as m:
        m.setattr(invariants, "_pruned", _plain)
        plain = validate(copy.deepcopy(resource), registry)
    return fast, plain


def _manifest_cases() -> Iterator[Any]:
    for case in yaml.safe_load((CASES_DIR / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
        yield pytest.param(case, id=case["name"])


def _profile_cases() -> Iterator[Any]:
    for case in json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["cases"]:
        yield pytest.param(case, id=case["name"])


@pytest.fixture(scope="module")
def lisn() -> Registry:
    return default_registry()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_same_outcome(path: Path, lisn: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, plain = _both(json.loads(path.read_text(encoding="utf-8")), lisn, monkeypatch)
    assert fast == plain


@pytest.mark.parametrize("case", list(_manifest_cases()))
def test_validation_cases_same_outcome(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    for ig in case.get("ig") or []:
        registry.load_path(CASES_DIR / ig)
    resource = json.loads((CASES_DIR / case["input"]).read_text(encoding="utf-8"))
    fast, plain = _both(resource, registry, monkeypatch)
    assert fast == plain


@pytest.mark.parametrize("case", list(_profile_cases()))
def test_profile_cases_same_outcome(case: dict[str, Any], request: pytest.FixtureRequest,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cases import load_input  # this folder's loader (mutations as data)

    registry = request.getfixturevalue(f"{case.get('registry', 'fixtures')}_registry")
    fast, plain = _both(load_input(case), registry, monkeypatch)
    assert fast == plain


def test_reference_pruning_applies_to_the_bundle_rule_only_in_safe_forms() -> None:
    assert invariants.reference_only(SUB_2)
    assert invariants.reference_only(SUB_2_LOCATION)
    # anything that could see more of an entry resource, or the entries or root whole
    for unsafe in ("entry.resource.descendants().ofType(Reference).count() > 1",
                   "entry.resource.descendants().ofType(Reference).reference.subsetOf(%context.entry.resource.id)",
                   "entry.resource.descendants().ofType(Reference).reference.subsetOf($this.entry.fullUrl)",
                   "entry.resource.descendants().ofType(Reference).reference.resolve().exists()",
                   "entry.resource.descendants().ofType(Reference).where(display.exists())",
                   "entry.resource.descendants().ofType(Reference).reference.exists() and entry.isDistinct()",
                   "entry.resource.descendants().ofType(Reference).reference.exists() and children().count() > 1",
                   "entry.fullUrl.isDistinct()"):
        assert not invariants.reference_only(unsafe), unsafe


def test_reference_pruning_keeps_only_paths_to_references() -> None:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    originals: dict[int, Any] = {}
    slim, root = invariants._pruned(SUB_2, bundle, bundle, originals)
    assert slim is root and slim is not bundle and originals[id(slim)] is bundle
    response = slim["entry"][1]["resource"]
    assert set(response) == {"resourceType", "subject", "author", "source"}
    assert response["subject"] is bundle["entry"][1]["resource"]["subject"]  # References kept whole
    assert [e["fullUrl"] for e in slim["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_reference_pruning_gives_way_to_data_fhirpathpy_fails_on() -> None:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bundle["entry"][2]["resource"]["name"] = [[{"text": "x"}]]
    assert invariants._pruned(SUB_2, bundle, bundle, {}) == (bundle, bundle)
    bundle["entry"][2]["resource"]["name"] = [{"resourceType": 5}]
    assert invariants._pruned(SUB_2, bundle, bundle, {}) == (bundle, bundle)


# -- hypothesis: the Bundle rules on mutated submissions ----------------------------------------

_BUNDLE = json.loads(EXAMPLE.read_text(encoding="utf-8"))
_FULL_URLS = [e["fullUrl"] for e in _BUNDLE["entry"]]

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                  st.text(max_size=3), st.sampled_from(_FULL_URLS + ["Patient/1", "urn:uuid:nope"]))
_reference = st.fixed_dictionaries({}, optional={
    "reference": st.one_of(st.sampled_from(_FULL_URLS + ["urn:uuid:nope", ""]), st.integers(0, 2)),
    "_reference": st.just({"extension": [{"url": "http://x", "valueString": "y"}]}),
    "display": st.text(max_size=3),
    "identifier": st.just({"system": "urn:x", "value": "1",
                           "assigner": {"reference": "urn:uuid:nope"}}),
})
_value = st.recursive(
    st.one_of(_leaf, _reference),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["subject", "author", "focus", "item", "answer", "valueReference",
                                         "contained", "resourceType", "extension", "text", "_x"]),
                        inner, max_size=3),
        st.just({"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:nope"}})),
    max_leaves=8)

# Where the example has References (so fhirpathpy types the value as one), and other places.
_PLACES = [(0, "sender"), (0, "focus"), (1, "subject"), (1, "author"), (1, "source"), (4, "practitioner"),
           (4, "organization"), (5, "partOf"), (8, "patient"), (8, "organization")]
_mutation = st.tuples(
    st.one_of(st.sampled_from(_PLACES),
              st.tuples(st.integers(0, len(_BUNDLE["entry"]) - 1),
                        st.sampled_from(["contained", "item", "name", "resourceType", "extension",
                                         "fullUrl", "resource"]))),
    st.one_of(_reference, st.lists(_reference, max_size=2), _value))


def _mutated(mutations: list[tuple[tuple[int, str], Any]]) -> dict[str, Any]:
    bundle = copy.deepcopy(_BUNDLE)
    for (index, key), value in mutations:
        entry = bundle["entry"][index]
        target = entry if key in ("fullUrl", "resource") else entry["resource"]
        if isinstance(target, dict):
            target[key] = copy.deepcopy(value)
    return bundle


def _outcome(expression: str, bundle: dict[str, Any], *, plain: bool) -> Any:
    pruned = invariants._pruned
    try:
        if plain:
            invariants._pruned = _plain  # type: ignore[assignment]
        held = invariants.holds(expression, bundle, resource=bundle)
        located = invariants.locate(SUB_2_LOCATION, bundle, resource=bundle)
    finally:
        invariants._pruned = pruned  # type: ignore[assignment]
    # located nodes must be the very objects of the instance (issues are placed by identity)
    return held, [id(n) for n in located] if isinstance(located, list) else located


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, max_size=4))
def test_bundle_rule_fast_path_equals_plain(mutations: list[tuple[tuple[int, str], Any]]) -> None:
    bundle = _mutated(mutations)
    assert _outcome(SUB_2, bundle, plain=False) == _outcome(SUB_2, bundle, plain=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, max_size=3))
def test_validate_fast_path_equals_plain_on_mutated_submissions(mutations: list[tuple[tuple[int, str], Any]]) -> None:
    bundle = _mutated(mutations)
    registry = _lisn_registry()
    fast = validate(copy.deepcopy(bundle), registry)
    pruned = invariants._pruned
    try:
        invariants._pruned = _plain  # type: ignore[assignment]
        plain = validate(copy.deepcopy(bundle), registry)
    finally:
        invariants._pruned = pruned  # type: ignore[assignment]
    assert fast == plain


_REGISTRY: list[Registry] = []


def _lisn_registry() -> Registry:
    if not _REGISTRY:
        _REGISTRY.append(default_registry())
    return _REGISTRY[0]
