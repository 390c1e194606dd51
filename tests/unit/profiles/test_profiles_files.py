"""Every file in profiles/ is a FHIR R4 resource named <Type>-<id>.json, with our canonical base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from lisn_profiles_support import BASE, PROFILES, R4, definitions, example_instances, read, resource_files

# The element features the in-house validator evaluates (architecture: keep to these).
ALLOWED_ELEMENT_KEYS = {
    "id", "path", "sliceName", "slicing", "short", "definition", "comment", "min", "max", "type",
    "binding", "constraint", "mustSupport", "fixedCode", "fixedUri", "fixedString", "patternCoding",
    "patternIdentifier", "patternCodeableConcept", "patternCanonical",
}


@pytest.mark.parametrize("path", resource_files(), ids=lambda p: p.name)
def test_file_is_a_resource_named_by_type_and_id(path: Path) -> None:
    res = read(path)
    assert isinstance(res, dict)
    assert path.name == f"{res['resourceType']}-{res['id']}.json"


@pytest.mark.parametrize("path", resource_files(), ids=lambda p: p.name)
def test_r4b_models_accept_the_resource(path: Path) -> None:
    # An independent structural oracle: fhir.resources' R4B models (R4B = R4 for these types).
    res = read(path)
    get_fhir_model_class(res["resourceType"]).model_validate(res)


@pytest.mark.parametrize("field, value", [("contents", "complete"), ("concept", "annat"), ("caseSensitive", "ja")])
def test_the_oracle_rejects_a_broken_resource(field: str, value: str) -> None:
    # (It does not check code values, so the breakages are structural: unknown element, wrong shape.)
    broken: dict[str, Any] = read(PROFILES / "CodeSystem-grund-typ.json")
    broken[field] = value
    with pytest.raises(ValueError):
        get_fhir_model_class("CodeSystem").model_validate(broken)


@pytest.mark.parametrize("res", [r for r in definitions() if "url" in r and r["resourceType"] != "Questionnaire"],
                         ids=lambda r: r["id"])
def test_canonical_url_is_base_type_id(res: dict[str, Any]) -> None:
    # One resource per url: the QR profile of template 1.1 is its own definition,
    # lisn-questionnaireresponse-1.1 (standard tools take one resource per canonical url).
    assert res["url"] == f"{BASE}/{res['resourceType']}/{res['id']}"
    assert res["status"] == "active"


def _shared_identities(resources: list[dict[str, Any]]) -> list[str]:
    """What standard tools cannot tell apart: a url|version, a Type/id or a url held by two resources,
    or a name held by two canonical resources of different urls.

    One url may be held by several versions only of the template (Questionnaire ``lisn``): a
    certificate names its template version (``questionnaire``: ``lisn|1.1``). Every other definition
    has one url, so SUSHI, GoFSH and package loaders, which keep one resource per url, see them all.
    """
    found: list[str] = []
    seen: dict[tuple[str, ...], dict[str, Any]] = {}
    for res in resources:
        keys = [("Type/id", res["resourceType"], res["id"])]
        if isinstance(res.get("url"), str):
            keys.append(("url|version", res["url"], str(res.get("version"))))
            if res["resourceType"] != "Questionnaire":
                keys.append(("url", res["url"]))
            if isinstance(res.get("name"), str):
                keys.append(("name", res["name"]))
        for key in keys:
            other = seen.setdefault(key, res)
            if other is not res and not (key[0] == "name" and other["url"] == res["url"]):
                found.append(f"{' '.join(key)}: {other['resourceType']}/{other['id']} and {res['resourceType']}/{res['id']}")
    return found


def test_every_resource_of_the_package_has_its_own_url_id_and_name() -> None:
    resources = [read(p) for p in resource_files()]
    assert _shared_identities(resources) == []
    # the template's versions: one url, one name, each its own version and id
    templates = [r for r in resources if r["resourceType"] == "Questionnaire"]
    assert len(templates) >= 2 and len({r["url"] for r in templates}) == 1 and len({r["version"] for r in templates}) == len(templates)


@pytest.mark.parametrize("change", ["old-1.1-canonical", "same-id", "same-name"])
def test_a_shared_url_id_or_name_is_found(change: str) -> None:
    resources = [read(p) for p in resource_files()]
    sd = next(r for r in resources if r["id"] == "lisn-questionnaireresponse-1.1")
    if change == "old-1.1-canonical":  # as the 1.1 profile was: the 1.0 profile's url, version 1.1.0
        sd["url"] = f"{BASE}/StructureDefinition/lisn-questionnaireresponse"
        expected = "url https://lisn.se/fhir/StructureDefinition/lisn-questionnaireresponse"
    elif change == "same-id":
        sd["id"] = "lisn-questionnaireresponse"
        expected = "Type/id StructureDefinition lisn-questionnaireresponse"
    else:
        sd["name"] = "LisnQuestionnaireResponse"
        expected = "name LisnQuestionnaireResponse"
    (problem,) = _shared_identities(resources)
    assert problem.startswith(expected + ":"), problem


@pytest.mark.parametrize("sd", definitions("StructureDefinition"), ids=lambda r: r["id"])
def test_structure_definition_is_a_differential_of_r4(sd: dict[str, Any]) -> None:
    assert sd["fhirVersion"] == "4.0.1"
    assert sd["derivation"] == "constraint"
    assert sd["baseDefinition"] == f"http://hl7.org/fhir/StructureDefinition/{sd['type']}"
    ids = [e["id"] for e in sd["differential"]["element"]]
    assert len(ids) == len(set(ids)), "element ids must be unique"
    for element in sd["differential"]["element"]:
        assert element["path"].split(".")[0] == sd["type"]
        assert element["id"].replace(":" + element.get("sliceName", "\0"), "").split(":")[0].startswith(
            element["path"].split(".")[0])
        assert set(element) <= ALLOWED_ELEMENT_KEYS, sorted(set(element) - ALLOWED_ELEMENT_KEYS)


def test_every_profile_an_example_claims_exists() -> None:
    sds = definitions("StructureDefinition")
    known = {sd["url"] for sd in sds} | {f"{sd['url']}|{sd['version']}" for sd in sds}
    claimed = {p for _, r in example_instances() for p in (r.get("meta") or {}).get("profile", [])}
    assert claimed <= known, sorted(claimed - known)


# -- every differential element exists in FHIR R4, with a type the base allows -----------------------
# fhirpathpy ships the R4 element model as data (path -> type); it is independent of our profiles.
_R4 = R4


def _resolve(path: str) -> list[str]:
    """The R4 type(s) of an element path such as ``Patient.meta.security`` or ``Extension.value[x]``."""
    p2t, choices, elsewhere = _R4["path2Type"], _R4["choiceTypePaths"], _R4["pathsDefinedElsewhere"]
    segments = path.replace("[x]", "").split(".")
    current, types = segments[0], [segments[0]]
    for seg in segments[1:]:
        candidate = elsewhere.get(f"{current}.{seg}", f"{current}.{seg}")
        if candidate in choices:
            current, types = candidate, list(choices[candidate])
        elif candidate in p2t:
            types = [p2t[candidate]]
            # Continue inside a complex type (Meta, Identifier) or inside a backbone element.
            current = types[0] if any(k.startswith(types[0] + ".") for k in p2t) else candidate
        elif any(k.startswith(candidate + ".") for k in p2t):
            current, types = candidate, ["BackboneElement"]
        else:
            raise KeyError(path)
    return types


def _is_resource_type(name: str) -> bool:
    while name in _R4["type2Parent"]:
        name = _R4["type2Parent"][name]
        if name == "Resource":
            return True
    return False


@pytest.mark.parametrize("sd", definitions("StructureDefinition"), ids=lambda r: r["id"])
def test_every_element_exists_in_r4_with_an_allowed_type(sd: dict[str, Any]) -> None:
    for element in sd["differential"]["element"]:
        base_types = _resolve(element["path"])
        for t in element.get("type", []):
            code = t["code"][0].upper() + t["code"][1:]
            if base_types == ["Resource"]:
                assert _is_resource_type(code), (element["id"], code)
            else:
                assert code in base_types, (element["id"], code, base_types)


@pytest.mark.parametrize("path", ["Patient.nickname", "Bundle.entry.resources", "MessageHeader.eventString"])
def test_the_r4_element_check_can_fail(path: str) -> None:
    with pytest.raises(KeyError):
        _resolve(path)
