"""LISN 1.1 through the adapter's own validator: each template version gets its own QR profile,
and every 1.1 rule case of constraint_cases.json gives (or does not give) that rule's issue."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lisn_profiles_support import BASE, EXAMPLES, apply_ops, data, definitions, read

from adapter import errors
from adapter.fhir.registry import default_registry
from adapter.validation import validate
from adapter.validation.profiles import applicable_profiles, wrong_qr_profiles

QR_PROFILE = f"{BASE}/StructureDefinition/lisn-questionnaireresponse"  # template 1.0, and the rules' message ids
QR_PROFILE_1_1 = f"{BASE}/StructureDefinition/lisn-questionnaireresponse-1.1"
PROFILE_OF = {"1.0": f"{QR_PROFILE}|1.0.0", "1.1": f"{QR_PROFILE_1_1}|1.1.0"}
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
    qr: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/lisn|{version}"}
    own = PROFILE_OF[version]
    assert applicable_profiles(qr) == [own]
    # Declaring the template's profile, with or without its version, is the same.
    for declared in (own, own.partition("|")[0]):
        qr["meta"] = {"profile": [declared]}
        assert applicable_profiles(qr) == [own] and wrong_qr_profiles(qr) == []
    sd = default_registry().resolve(own, "StructureDefinition")
    assert sd is not None and sd["version"] == f"{version}.0" and f"{sd['url']}|{sd['version']}" == own


def test_an_unversioned_template_gets_the_newest_templates_profile() -> None:
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/lisn"}
    newest = default_registry().resolve(qr["questionnaire"], "Questionnaire")
    assert newest is not None and applicable_profiles(qr) == [PROFILE_OF[newest["version"]]]


def test_a_template_without_profile_gets_none() -> None:
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/lisn|9.9",
          "meta": {"profile": [QR_PROFILE]}}
    assert applicable_profiles(qr) == [QR_PROFILE] and wrong_qr_profiles(qr) == []


# Another template's QR profile in meta.profile: an error naming the template's own profile, and the
# response is checked against that one (not against the declared one, whose rules do not fit).
# ``lisn-questionnaireresponse|1.1.0`` is the canonical the 1.1 profile had before it got its own url.
_WRONG = [("1.1", f"{QR_PROFILE}|1.1.0"), ("1.1", QR_PROFILE), ("1.1", f"{QR_PROFILE}|1.0.0"),
          ("1.0", QR_PROFILE_1_1), ("1.0", f"{QR_PROFILE_1_1}|1.1.0"), ("1.0", f"{QR_PROFILE}|1.1.0")]
_EXAMPLE_OF = {"1.0": "QuestionnaireResponse-lisn-example-qr.json", "1.1": "QuestionnaireResponse-lisn-example-qr-1.1.json"}


@pytest.mark.parametrize("version, declared", _WRONG)
def test_another_templates_qr_profile_is_an_error_naming_the_right_one(version: str, declared: str) -> None:
    qr = read(EXAMPLES / _EXAMPLE_OF[version])
    assert _rule_ids(qr) == []
    qr["meta"]["profile"] = [declared]
    errors_found = [i for i in validate(qr)["issue"] if i["severity"] == "error"]
    assert [errors.message_id_of(i) for i in errors_found] == ["LISN_QR_PROFILE_WRONG_TEMPLATE"]
    (issue,) = errors_found
    assert issue["expression"] == ["QuestionnaireResponse.meta.profile[0]"]
    assert PROFILE_OF[version] in issue["details"]["text"] and declared in issue["details"]["text"]
    assert applicable_profiles(qr) == [PROFILE_OF[version]]


def test_a_retired_declaration_still_gets_the_1_1_rules() -> None:
    qr = read(EXAMPLES / "QuestionnaireResponse-lisn-example-qr-1.1.json")
    qr["meta"]["profile"] = [f"{QR_PROFILE}|1.1.0"]
    qr["item"][9]["item"][3]["item"][0]["answer"][0]["valueDate"] = "2026-12-20"  # periods overlap
    assert set(_rule_ids(qr)) == {"LISN_QR_PROFILE_WRONG_TEMPLATE", f"{QR_PROFILE}#lisn-10"}


def test_every_template_version_has_its_qr_profile() -> None:
    templates = {q["version"] for q in definitions("Questionnaire")}
    assert set(PROFILE_OF) == templates
    assert len({c.partition("|")[0] for c in PROFILE_OF.values()}) == len(templates)  # one url per template
    for version, canonical in PROFILE_OF.items():
        sd = default_registry().resolve(canonical, "StructureDefinition")
        assert sd is not None and sd["type"] == "QuestionnaireResponse", canonical
        pinned = [e.get("patternCanonical") for e in sd["differential"]["element"]
                  if e["path"] == "QuestionnaireResponse.questionnaire"]
        assert pinned in ([], [None], [f"{BASE}/Questionnaire/lisn|{version}"]), canonical


def test_1_0_certificates_keep_1_0_rules() -> None:
    # The 1.0 example has one period and no 'formaga.ejbedomd': 1.1's lisn-11 would not apply, but its
    # total-hours and risk items do not exist either. Declared without a version, it still validates.
    bundle = read(EXAMPLES / "Bundle-lisn-example-submission.json")
    bundle["entry"][1]["resource"]["meta"]["profile"] = [QR_PROFILE]
    assert _rule_ids(bundle) == []


def test_the_1_1_rules_apply_to_an_unversioned_declaration() -> None:
    qr = read(EXAMPLES / "QuestionnaireResponse-lisn-example-qr-1.1.json")
    qr["meta"]["profile"] = [QR_PROFILE_1_1]
    broken = copy.deepcopy(qr)
    broken["item"][9]["item"][3]["item"][0]["answer"][0]["valueDate"] = "2026-12-20"
    assert f"{QR_PROFILE}#lisn-10" in _rule_ids(broken)
    assert _rule_ids(qr) == []


def test_in_a_message_the_wrong_template_profile_is_one_error_at_the_entry() -> None:
    bundle = read(EXAMPLES / "Bundle-lisn-example-submission-1.1.json")
    bundle["entry"][1]["resource"]["meta"]["profile"] = [f"{QR_PROFILE}|1.1.0"]
    (issue,) = [i for i in validate(bundle)["issue"] if i["severity"] == "error"]
    assert errors.message_id_of(issue) == "LISN_QR_PROFILE_WRONG_TEMPLATE"
    assert issue["expression"] == ["Bundle.entry[1].resource.meta.profile[0]"]
