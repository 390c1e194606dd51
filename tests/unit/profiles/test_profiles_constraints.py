"""Every FHIRPath invariant of the profiles holds on the examples and fails on a mutated copy.

The mutations are data (constraint_cases.json); fhirpathpy evaluates them, as the validator does.
"""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
from lisn_profiles_support import EXAMPLES, R4, apply_ops, constraints, data, example_instances, holds, read

from adapter.validation.profiles import RULE_ID_URL

CASES = data("constraint_cases.json")["cases"]
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
LOCATION = "https://lisn.se/fhir/StructureDefinition/constraint-location"
# lisn-questionnaireresponse (template 1.0) has its own tests (tests/unit/validation_profiles);
# lisn-questionnaireresponse-1.1 (template 1.1) is tested here.
OURS = [c for c in constraints() if c[0]["id"] != "lisn-questionnaireresponse"]


def _claims(profile: str, sd: dict[str, Any]) -> bool:
    url, _, version = profile.partition("|")
    return url == sd["url"] and (not version or version == sd["version"])


def _instances_of(sd: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(label, r) for label, r in example_instances()
            if any(_claims(p, sd) for p in (r.get("meta") or {}).get("profile", []))]


def _constraint(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The constraint a case names: by key, and by StructureDefinition id (``sd``) where versions share keys."""
    (found,) = [c for c in constraints() if c[2]["key"] == case["key"] and case.get("sd", c[0]["id"]) == c[0]["id"]]
    return found


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
    # Within a profile; across profiles only between the QR profiles of the template versions, whose
    # keys share one message-id url (RULE_ID_URL: a key means the same rule in every template).
    by_key: dict[str, set[str]] = {}
    for sd in {id(sd): sd for sd, _, _ in constraints()}.values():
        keys = [c["key"] for e in sd["differential"]["element"] for c in e.get("constraint") or []]
        assert len(keys) == len(set(keys)), sd["id"]
        for key in keys:
            by_key.setdefault(key, set()).add(RULE_ID_URL.get(sd["url"], sd["url"]))
    assert all(len(urls) == 1 for urls in by_key.values()), {k: v for k, v in by_key.items() if len(v) > 1}
    assert set(RULE_ID_URL.values()) <= {sd["url"] for sd, _, _ in constraints()}


@pytest.mark.parametrize("sd, element, con", list(constraints()), ids=_key)
def test_invariant_holds_on_every_example(sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    targets = _instances_of(sd)
    assert targets, f"no example claims {sd['url']}"
    failing = [label for label, res in targets if not holds(res, con["expression"], element["path"])]
    assert not failing, f"{con['key']} fails on {failing}"


@pytest.mark.parametrize("sd, element, con", OURS, ids=_key)
def test_every_invariant_has_a_failing_case(sd: dict[str, Any], element: dict[str, Any], con: dict[str, Any]) -> None:
    assert any(c["key"] == con["key"] and c.get("sd", sd["id"]) == sd["id"] and c["expect"] is False
               for c in CASES), f"{sd['id']}#{con['key']}"


def _case_id(case: dict[str, Any]) -> str:
    return f"{case.get('sd', '')}{'#' if 'sd' in case else ''}{case['key']}-{'holds' if case['expect'] else 'fails'}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mutation(case: dict[str, Any]) -> None:
    _, element, con = _constraint(case)
    original = read(EXAMPLES / case["example"])
    assert holds(original, con["expression"], element["path"]), "the unmutated example must satisfy it"
    mutated = apply_ops(original, case["ops"])
    assert holds(mutated, con["expression"], element["path"]) is case["expect"]


def _location(case: dict[str, Any]) -> str | None:
    _, _, con = _constraint(case)
    found = [e["valueString"] for e in con.get("extension", []) if e["url"] == LOCATION]
    return found[0] if found else None


# Invariants about a count or an absence have no element to point at; they report on the resource.
@pytest.mark.parametrize("case", [c for c in CASES if not c["expect"] and _location(c)],
                         ids=lambda c: f"{_case_id(c)}-{'-'.join(o['op'] for o in c['ops'])}")
def test_location_points_at_the_offending_elements(case: dict[str, Any]) -> None:
    # constraint-location selects what breaks the rule: nothing on the example, something on the broken copy.
    location = _location(case)
    assert location is not None
    original = read(EXAMPLES / case["example"])
    mutated = apply_ops(original, case["ops"])
    env = {"resource": original}
    assert fhirpathpy.evaluate(original, location, env, R4) == []
    env = {"resource": mutated}
    assert fhirpathpy.evaluate(mutated, location, env, R4) != []
