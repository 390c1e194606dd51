"""Every FHIRPath invariant of the profiles holds on the examples and fails on a mutated copy.

The mutations are data (constraint_cases.json); fhirpathpy evaluates them, as the validator does.
"""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
from lisn_profiles_support import EXAMPLES, R4, apply_ops, constraints, data, example_instances, holds, read

CASES = data("constraint_cases.json")["cases"]
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
LOCATION = "https://lisn.se/fhir/StructureDefinition/constraint-location"
OURS = [c for c in constraints() if c[0]["id"] != "lisn-questionnaireresponse"]  # that one has its own tests


def _instances_of(profile_url: str) -> list[tuple[str, dict[str, Any]]]:
    return [(label, r) for label, r in example_instances()
            if profile_url in (r.get("meta") or {}).get("profile", [])]


def _key(x: Any) -> str:
    return x.get("key", "") if isinstance(x, dict) else ""


@pytest.mark.parametrize("sd, element, con", list(constraints()), ids=_key)
def test_invariant_is_well_formed(sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    assert con["key"] and con["human"] and con["expression"]
    assert con["severity"] in ("error", "warning")
    assert con["source"] == sd["url"]


@pytest.mark.parametrize("sd, element, con", OURS, ids=_key)
def test_our_invariants_sit_on_the_root_in_swedish_and_english(
        sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    # On the root, %context is the resource in every engine (HL7 validator, fhirpathpy).
    assert element["path"] == sd["type"]
    (translation,) = con["_human"]["extension"]
    parts = {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in translation["extension"]}
    assert translation["url"] == TRANSLATION and parts["lang"] == "en" and parts["content"] != con["human"]


def test_invariant_keys_are_unique() -> None:
    keys = [con["key"] for _, _, con in constraints()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("sd, element, con", list(constraints()), ids=_key)
def test_invariant_holds_on_every_example(sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    targets = _instances_of(sd["url"])
    assert targets, f"no example claims {sd['url']}"
    failing = [label for label, res in targets if not holds(res, con["expression"], element["path"])]
    assert not failing, f"{con['key']} fails on {failing}"


@pytest.mark.parametrize("sd, element, con", OURS, ids=_key)
def test_every_invariant_has_a_failing_case(sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    assert any(c["key"] == con["key"] and c["expect"] is False for c in CASES), con["key"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['key']}-{'holds' if c['expect'] else 'fails'}")
def test_mutation(case: dict[str, Any]) -> None:
    ((_, element, con),) = [c for c in constraints() if c[2]["key"] == case["key"]]
    original = read(EXAMPLES / case["example"])
    assert holds(original, con["expression"], element["path"]), "the unmutated example must satisfy it"
    mutated = apply_ops(original, case["ops"])
    assert holds(mutated, con["expression"], element["path"]) is case["expect"]


def _location(key: str) -> str | None:
    ((_, _, con),) = [c for c in constraints() if c[2]["key"] == key]
    found = [e["valueString"] for e in con.get("extension", []) if e["url"] == LOCATION]
    return found[0] if found else None


# Invariants about a count or an absence have no element to point at; they report on the resource.
@pytest.mark.parametrize("case", [c for c in CASES if not c["expect"] and _location(c["key"])],
                         ids=lambda c: f"{c['key']}-{'-'.join(o['op'] for o in c['ops'])}")
def test_location_points_at_the_offending_elements(case: dict[str, Any]) -> None:
    # constraint-location selects what breaks the rule: nothing on the example, something on the broken copy.
    location = _location(case["key"])
    assert location is not None
    original = read(EXAMPLES / case["example"])
    mutated = apply_ops(original, case["ops"])
    env = {"resource": original}
    assert fhirpathpy.evaluate(original, location, env, R4) == []
    env = {"resource": mutated}
    assert fhirpathpy.evaluate(mutated, location, env, R4) != []
