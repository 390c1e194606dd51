"""CodeSystems, ValueSets and NamingSystems agree with DESIGN §3, and every code and binding resolves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from lisn_profiles_support import BASE, PROFILES, data, definitions, example_instances, read, walk

from adapter.fhir.identifiers import normalise_system
from adapter.fhir.registry import default_registry
from adapter.validation import terminology

CODES = {k: v for k, v in data("design_codes.json").items() if not k.startswith("_")}
VALUE_SETS = {k: v for k, v in data("design_codes.json")["_value_sets"].items() if not k.startswith("_")}
NAMING = {k: v for k, v in data("design_naming.json").items() if not k.startswith("_")}
ICD10_SE = "urn:oid:1.2.752.116.1.1.1"
ICD_FORM = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")


@pytest.mark.parametrize("cs_id", sorted(CODES))
def test_code_system_has_exactly_the_design_codes(cs_id: str) -> None:
    cs = read(PROFILES / f"CodeSystem-{cs_id}.json")
    assert [c["code"] for c in cs["concept"]] == CODES[cs_id]
    assert all(c["display"].strip() for c in cs["concept"]), "Swedish displays"
    assert all(c["definition"].strip().endswith(".") for c in cs["concept"]), "a definition for every concept"
    assert (cs["content"], cs["caseSensitive"], cs["count"]) == ("complete", True, len(CODES[cs_id]))
    assert cs["url"] == f"{BASE}/CodeSystem/{cs_id}"


@pytest.mark.parametrize("cs_id", sorted(set(CODES) - set(VALUE_SETS)))
def test_value_set_of_the_same_id_includes_the_code_system(cs_id: str) -> None:
    vs = read(PROFILES / f"ValueSet-{cs_id}.json")
    assert vs["url"] == f"{BASE}/ValueSet/{cs_id}"
    assert vs["compose"]["include"] == [{"system": f"{BASE}/CodeSystem/{cs_id}"}]


@pytest.mark.parametrize("vs_id", sorted(VALUE_SETS))
def test_value_sets_that_select_codes(vs_id: str) -> None:
    cs_id, codes = VALUE_SETS[vs_id]
    vs = read(PROFILES / f"ValueSet-{vs_id}.json")
    include = {"system": f"{BASE}/CodeSystem/{cs_id}"}
    if codes is not None:
        include["concept"] = [{"code": c} for c in codes]
    assert vs["compose"]["include"] == [include]
    expanded = terminology.expand(default_registry(), vs["url"])
    assert expanded is not None
    assert sorted(code for _, code in expanded.codes) == sorted(codes or CODES[cs_id])


def test_template_1_0_still_offers_only_its_six_measures() -> None:
    # The CodeSystem grew in 1.1.0; the value set template 1.0 names must not grow with it.
    expanded = terminology.expand(default_registry(), f"{BASE}/ValueSet/atgarder-typ")
    assert expanded is not None and not expanded.contains(f"{BASE}/CodeSystem/atgarder-typ", "socialpsykiatri")
    assert expanded.contains(f"{BASE}/CodeSystem/atgarder-typ", "sip")


REGISTERS = {"kommunkod"}  # generated from a national register by tools/ (test_profiles_registers.py)
API_SYSTEMS = {"lisn-submission-status", "lisn-task-input"}  # what the API emits (test_profiles_api_systems.py)


def test_no_code_system_beyond_the_design() -> None:
    # lisn-message-id: the adapter's message ids, generated from adapter/messages (tests/unit/messages)
    assert {cs["id"] for cs in definitions("CodeSystem")} == set(CODES) | REGISTERS | API_SYSTEMS | {"lisn-message-id"}
    assert {vs["id"] for vs in definitions("ValueSet")} == set(CODES) | set(VALUE_SETS) | REGISTERS | {"icd-10-se"}


def test_icd_10_se_value_set_includes_the_whole_system() -> None:
    vs = read(PROFILES / "ValueSet-icd-10-se.json")
    assert vs["compose"]["include"] == [{"system": ICD10_SE}]


def _bindings() -> Iterator[tuple[str, str]]:
    for sd in definitions("StructureDefinition"):
        for element in sd["differential"]["element"]:
            if "binding" in element:
                yield f"{sd['id']}:{element['id']}", element["binding"]["valueSet"]
    for q in definitions("Questionnaire"):
        for node in walk(q["item"]):
            if isinstance(node, dict) and "answerValueSet" in node:
                yield f"{q['id']}:{node['linkId']}", node["answerValueSet"]


@pytest.mark.parametrize("where, canonical", list(_bindings()), ids=lambda x: str(x))
def test_every_binding_resolves_through_the_registry(where: str, canonical: str) -> None:
    assert default_registry().resolve(canonical, "ValueSet") is not None, where


def test_the_binding_check_can_fail() -> None:
    assert default_registry().resolve(f"{BASE}/ValueSet/no-such-list", "ValueSet") is None


def _codings() -> Iterator[tuple[str, dict[str, Any]]]:
    for label, res in example_instances():
        for node in walk(res):
            if isinstance(node, dict) and isinstance(node.get("system"), str) and "code" in node:
                yield label, node


@pytest.mark.parametrize("label, coding", [c for c in _codings() if c[1]["system"].startswith(BASE)],
                         ids=lambda x: x if isinstance(x, str) else x["code"])
def test_every_lisn_code_in_the_examples_is_in_its_code_system(label: str, coding: dict[str, Any]) -> None:
    cs = default_registry().resolve(coding["system"], "CodeSystem")
    assert cs is not None, f"{label}: unknown system {coding['system']}"
    displays = {c["code"]: {c["display"]} | {d["value"] for d in c.get("designation", [])} for c in cs["concept"]}
    assert coding["code"] in displays, f"{label}: {coding['code']} not in {cs['id']}"
    if "display" in coding:
        # The display, or an earlier one kept as a designation (1.0 certificates keep their words).
        assert coding["display"] in displays[coding["code"]], label


def test_icd_codes_in_the_examples_are_well_formed() -> None:
    icd = [(label, c["code"]) for label, c in _codings() if normalise_system(c["system"]) == ICD10_SE]
    assert icd, "the examples carry diagnoses"
    assert all(ICD_FORM.match(code) for _, code in icd), icd
    assert not ICD_FORM.match("f32.1") and not ICD_FORM.match("F3.21")


@pytest.mark.parametrize("ns_id", sorted(NAMING))
def test_naming_system_lists_the_preferred_form_and_the_aliases(ns_id: str) -> None:
    ns = read(PROFILES / f"NamingSystem-{ns_id}.json")
    expected = NAMING[ns_id]
    assert ns["kind"] == expected["kind"]
    preferred = [u["value"] for u in ns["uniqueId"] if u.get("preferred")]
    assert preferred == [expected["preferred"]]
    others = sorted(u["value"] for u in ns["uniqueId"] if not u.get("preferred"))
    assert others == sorted(expected["aliases"])
    for u in ns["uniqueId"]:
        assert u["type"] == ("oid" if re.fullmatch(r"[0-9.]+", u["value"]) else "uri")


@pytest.mark.parametrize("ns_id", sorted(NAMING))
def test_naming_systems_agree_with_the_code_that_normalises(ns_id: str) -> None:
    # adapter.fhir.identifiers is what the adapter runs; the NamingSystem is what standard tools read.
    ns = read(PROFILES / f"NamingSystem-{ns_id}.json")
    preferred = NAMING[ns_id]["preferred"]
    for u in ns["uniqueId"]:
        form = f"urn:oid:{u['value']}" if u["type"] == "oid" else u["value"]
        assert normalise_system(form) == preferred, form


def test_no_naming_system_beyond_the_design() -> None:
    assert {ns["id"] for ns in definitions("NamingSystem")} == set(NAMING)


def test_kommunkod_says_it_is_our_own_four_digit_system() -> None:
    text = read(PROFILES / "NamingSystem-kommunkod.json")["description"]
    assert "inget nationellt" in text.lower() and "SCB" in text and "fyra siffror" in text
