"""The engine's guarantees: never a crash, cached compilation, every LISN rule exercised both ways."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import invariants, profiles

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
EXAMPLE = json.loads((ROOT / "profiles/examples/Bundle-lisn-example-submission.json").read_text(encoding="utf-8"))
QR_SD = json.loads((ROOT / "profiles/StructureDefinition-lisn-questionnaireresponse.json").read_text(encoding="utf-8"))
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))


def _constraints() -> list[dict[str, Any]]:
    return [c for e in QR_SD["differential"]["element"] for c in e.get("constraint", [])]


def test_every_lisn_invariant_holds_on_the_example_and_has_a_failing_case() -> None:
    qr = EXAMPLE["entry"][1]["resource"]
    failing = {e[1] for c in MANIFEST["cases"] for e in c["expect"]}
    for c in _constraints():
        node = qr if c["expression"].startswith(("authored", "item", "(", "status")) else qr["identifier"]
        assert invariants.holds(c["expression"], node, resource=qr) is True, c["key"]
        assert f"{QR_SD['url']}#{c['key']}" in failing, c["key"]
        assert c["human"] and c["severity"] in ("error", "warning")


def test_every_location_expression_compiles() -> None:
    for c in _constraints():
        for ext in c.get("extension", []):
            assert not isinstance(invariants.compiled(ext["valueString"], raw=True), invariants.FhirPathProblem)


def test_item_pruning_only_for_linkid_steps() -> None:
    assert invariants.item_links("item.where(linkId='a').item.where(linkId = 'b').answer") == {"a", "b"}
    assert invariants.item_links("item.count() > 1") is None
    assert invariants.item_links("item.where(linkId='a').item.first()") is None
    assert invariants.item_links("status = 'completed'") == frozenset()
    assert invariants.item_links("descendants().where(linkId='a').exists()") is None
    assert invariants.item_links("repeat(answer).value.exists()") is None


def test_pruning_gives_the_same_answers_as_the_whole_tree() -> None:
    qr = EXAMPLE["entry"][1]["resource"]
    for c in _constraints():
        fn = invariants.compiled(c["expression"])
        assert not isinstance(fn, invariants.FhirPathProblem)
        node = qr if c["expression"].startswith(("authored", "item", "(", "status")) else qr["identifier"]
        whole = fn(node, {"resource": qr, "rootResource": qr})
        assert invariants.evaluate(c["expression"], node, resource=qr) == whole


def test_compiled_profiles_and_expressions_are_cached(lisn_registry: Registry) -> None:
    sd = lisn_registry.resolve(profiles.LISN_QR_PROFILE, "StructureDefinition")
    assert sd is not None
    assert profiles.compile_profile(sd) is profiles.compile_profile(sd)
    qr = EXAMPLE["entry"][1]["resource"]
    profiles.validate_against_profiles(qr, lisn_registry, Issues(), path="QuestionnaireResponse")
    before, plans = invariants._compile.cache_info(), dict(invariants._PLANS)
    profiles.validate_against_profiles(qr, lisn_registry, Issues(), path="QuestionnaireResponse")
    after = invariants._compile.cache_info()
    # nothing compiled again: each plain evaluation finds its compiled expression in a plan, the others in the cache
    assert after.misses == before.misses and plans and plans == invariants._PLANS
    assert all(fn is invariants.compiled(expression) for (expression, _), (_, fn) in plans.items())


def test_a_response_outside_a_bundle_gets_the_lisn_profile_by_questionnaire(lisn_registry: Registry) -> None:
    qr = copy.deepcopy(EXAMPLE["entry"][1]["resource"])
    del qr["meta"]
    qr["questionnaire"] = "https://lisn.se/fhir/Questionnaire/lisn|1.0"
    qr["status"] = "in-progress"
    issues = Issues()
    profiles.validate_against_profiles(qr, lisn_registry, issues, path="QuestionnaireResponse")
    assert [i["expression"] for i in issues] == [["QuestionnaireResponse"]]
    assert profiles.applicable_profiles({"resourceType": "QuestionnaireResponse",
                                         "questionnaire": "https://example.org/Questionnaire/x"}) == []


# Values that break FHIRPath typing: wrong JSON types where dates, codes or lists are expected.
ODD = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


BUNDLE_PATHS = _paths(EXAMPLE)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(BUNDLE_PATHS), ODD), min_size=1, max_size=4))
def test_random_mutations_never_crash(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    from adapter.fhir.registry import default_registry

    bundle = copy.deepcopy(EXAMPLE)
    for path, value in mutations:
        target = bundle
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    registry = _REGISTRY.setdefault("r", default_registry())
    from adapter.validation.bundle import validate_bundle

    issues = Issues()
    validate_bundle(bundle, registry, issues)
    profiles.validate_against_profiles(bundle, registry, issues, path="Bundle")
    entries = bundle.get("entry")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            profiles.validate_against_profiles(entry["resource"], registry, issues, path=f"Bundle.entry[{i}].resource")
    for item in issues:
        assert item["severity"] in ("error", "warning", "information") and item["details"]["text"]


_REGISTRY: dict[str, Registry] = {}
