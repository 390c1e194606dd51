"""LISN 1.1 through the adapter's own validator: each template version gets its own QR profile version,
and every 1.1 rule case of constraint_cases.json gives (or does not give) that rule's issue."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lisn_profiles_support import BASE, EXAMPLES, apply_ops, data, definitions, read

from adapter import errors
from adapter.fhir.registry import default_registry
from adapter.validation import validate
from adapter.validation.profiles import applicable_profiles

QR_PROFILE = f"{BASE}/StructureDefinition/lisn-questionnaireresponse"
SUBMISSION = f"{BASE}/StructureDefinition/lisn-submission"
CASES = [c for c in data("constraint_cases.json")["cases"]
         if c.get("sd") == "lisn-questionnaireresponse-1.1" or c["key"] in ("lisn-sub-5", "lisn-sub-6")]


def _rule_ids(resource: dict[str, Any]) -> list[str]:
    return [errors.message_id_of(i) or "" for i in validate(resource)["issue"] if i["severity"] == "error"]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['key']}-{'holds' if case['expect'] else 'fails'}-{case['example'].split('-')[0]}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule_case_through_the_validator(case: dict[str, Any]) -> None:
    url = QR_PROFILE if case.get("sd") else SUBMISSION
    rule = f"{url}#{case['key']}"
    assert rule not in _rule_ids(read(EXAMPLES / case["example"]))
    found = _rule_ids(apply_ops(read(EXAMPLES / case["example"]), case["ops"]))
    assert (rule in found) is (not case["expect"]), found


def test_the_1_1_examples_are_valid() -> None:
    for name in ("Bundle-lisn-example-submission-1.1.json", "QuestionnaireResponse-lisn-example-qr-1.1.json"):
        assert _rule_ids(read(EXAMPLES / name)) == [], name


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_response_gets_the_qr_profile_of_its_template_version(version: str) -> None:
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/lisn|{version}"}
    assert applicable_profiles(qr) == [f"{QR_PROFILE}|{version}"]
    # An unversioned declaration means "the LISN QR profile": the template decides which version.
    qr["meta"] = {"profile": [QR_PROFILE]}
    assert applicable_profiles(qr) == [f"{QR_PROFILE}|{version}"]
    sd = default_registry().resolve(f"{QR_PROFILE}|{version}", "StructureDefinition")
    assert sd is not None and sd["version"] == f"{version}.0"


def test_an_explicit_profile_version_is_kept() -> None:
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/lisn|1.0",
          "meta": {"profile": [f"{QR_PROFILE}|1.1.0"]}}
    assert applicable_profiles(qr) == [f"{QR_PROFILE}|1.1.0"]


def test_every_template_version_has_its_qr_profile() -> None:
    profiles = {sd["version"] for sd in definitions("StructureDefinition") if sd["url"] == QR_PROFILE}
    templates = {q["version"] for q in definitions("Questionnaire")}
    assert {f"{v}.0" for v in templates} == profiles


def test_1_0_certificates_keep_1_0_rules() -> None:
    # The 1.0 example has one period and no 'formaga.ejbedomd': 1.1's lisn-11 would not apply, but its
    # total-hours and risk items do not exist either. Declared without a version, it still validates.
    bundle = read(EXAMPLES / "Bundle-lisn-example-submission.json")
    bundle["entry"][1]["resource"]["meta"]["profile"] = [QR_PROFILE]
    assert _rule_ids(bundle) == []


def test_the_1_1_rules_apply_to_an_unversioned_declaration() -> None:
    qr = read(EXAMPLES / "QuestionnaireResponse-lisn-example-qr-1.1.json")
    qr["meta"]["profile"] = [QR_PROFILE]
    broken = copy.deepcopy(qr)
    broken["item"][9]["item"][3]["item"][0]["answer"][0]["valueDate"] = "2026-12-20"
    assert f"{QR_PROFILE}#lisn-10" in _rule_ids(broken)
    assert _rule_ids(qr) == []
