"""Swedish identifier checks: a table of cases (``identifiers.json``) and properties (hypothesis)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import errors
from adapter.issues import Issues
from adapter.validation import identifiers as ids

CASES = json.loads((Path(__file__).with_name("identifiers.json")).read_text(encoding="utf-8"))
CHECKS = {
    "personnummer": ids.personnummer_problem,
    "samordningsnummer": ids.samordningsnummer_problem,
    "hsa_id": ids.hsa_id_problem,
    "kommunkod": ids.kommunkod_problem,
    "organisationsnummer": ids.organisationsnummer_problem,
    "icd10se": ids.icd10se_problem,
}
TABLE = [(kind, value, expected) for kind, rows in CASES.items() for value, expected in rows]


@pytest.mark.parametrize(("kind", "value", "expected"), TABLE, ids=[f"{k}-{v}" for k, v, _ in TABLE])
def test_table(kind: str, value: str, expected: str | None) -> None:
    assert CHECKS[kind](value) == expected


def test_every_kind_has_passing_and_failing_rows() -> None:
    for kind, rows in CASES.items():
        assert any(e is None for _, e in rows) and any(e for _, e in rows), kind


dates = st.dates(min_value=date(1890, 1, 1), max_value=date(2026, 11, 23))
serials = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")


def personnummer(born: date, serial: str, *, samordning: bool = False) -> str:
    day = born.day + (60 if samordning else 0)
    body = f"{born.year:04d}{born.month:02d}{day:02d}{serial}"
    return body + ids.luhn_digit(body[2:])


@given(dates, serials)
def test_generated_personnummer_pass(born: date, serial: str) -> None:
    assert ids.personnummer_problem(personnummer(born, serial)) is None


@given(dates, serials)
def test_generated_samordningsnummer_pass(born: date, serial: str) -> None:
    value = personnummer(born, serial, samordning=True)
    assert ids.samordningsnummer_problem(value) is None
    assert ids.personnummer_problem(value) == "LISN_PERSONNUMMER_DATE"


@given(dates, serials, st.integers(min_value=2, max_value=11), st.integers(min_value=1, max_value=9))
def test_every_single_digit_change_fails_luhn(born: date, serial: str, position: int, delta: int) -> None:
    value = personnummer(born, serial)
    changed = value[:position] + str((int(value[position]) + delta) % 10) + value[position + 1:]
    assert not ids.luhn_ok(changed[2:])
    assert ids.personnummer_problem(changed) in ("LISN_PERSONNUMMER_CHECKSUM", "LISN_PERSONNUMMER_DATE",
                                                 "LISN_PERSONNUMMER_BIRTH_DATE")


@given(st.integers(min_value=10, max_value=99), st.integers(min_value=2, max_value=9),
       st.integers(min_value=0, max_value=999_999), st.integers(min_value=0, max_value=9),
       st.integers(min_value=1, max_value=9))
def test_organisationsnummer_luhn(head: int, third: int, rest: int, position: int, delta: int) -> None:
    body = f"{head:02d}{third}{rest:06d}"
    value = body + ids.luhn_digit(body)
    assert ids.organisationsnummer_problem(value) is None
    changed = value[:position] + str((int(value[position]) + delta) % 10) + value[position + 1:]
    assert ids.organisationsnummer_problem(changed) in ("LISN_ORGNR_CHECKSUM", "LISN_ORGNR_NOT_LEGAL_ENTITY")


@settings(max_examples=50)
@given(st.text(max_size=20))
def test_any_text_gives_an_answer(text: str) -> None:
    for check in CHECKS.values():
        assert check(text) is None or check(text).startswith("LISN_")


def test_test_hsa_ids_only_in_a_test_environment() -> None:
    assert ids.hsa_id_problem("TSTNMT2321000156-1079") == "LISN_HSAID_TEST_PREFIX"
    assert ids.hsa_id_problem("TSTNMT2321000156-1079", test_environment=True) is None
    # The length limit and the form hold in a test environment too.
    assert ids.hsa_id_problem("TSTNMT2321000156-" + "A" * 15, test_environment=True) == "LISN_HSAID_LENGTH"
    practitioner = {"resourceType": "Practitioner",
                    "identifier": [{"system": "urn:oid:1.2.752.29.4.19", "value": "TSTNMT2321000156-1079"}]}
    for flag, expected in ((False, ["LISN_HSAID_TEST_PREFIX"]), (True, [])):
        issues = Issues()
        ids.validate_identifiers(practitioner, issues, path="Practitioner", test_environment=flag)
        assert [errors.message_id_of(i) for i in issues] == expected


def test_birth_dates_are_bounded_by_today() -> None:
    value = personnummer(date(2026, 12, 3), "123")
    assert ids.personnummer_problem(value, today=date(2026, 12, 3)) is None
    assert ids.personnummer_problem(value, today=date(2026, 12, 2)) == "LISN_PERSONNUMMER_BIRTH_DATE"


def test_a_retired_kommunkod_names_the_current_one() -> None:
    issues = Issues()
    ids.validate_identifiers({"resourceType": "Organization", "identifier": [
        {"system": "https://lisn.se/fhir/sid/kommunkod", "value": "1917"}]}, issues, path="Organization")
    (issue,) = issues
    assert errors.message_id_of(issue) == "LISN_KOMMUNKOD_RETIRED" and "0331" in issue["details"]["text"]


def test_the_register_holds_the_290_municipalities() -> None:
    current, retired = ids.municipalities()
    assert len(current) == 290 and retired == {"1917": "0331"}
    assert {"0180", "0331", "1480", "1280", "2584", "0330"} <= current


def test_diagnoses_in_a_response_are_checked_for_existence_not_form() -> None:
    qr = {"resourceType": "QuestionnaireResponse", "item": [{"linkId": "diagnos", "item": [
        {"linkId": "diagnos.kod", "answer": [{"valueCoding": {"system": "urn:oid:1.2.752.116.1.1.1", "code": c}}]}]}
        for c in ("F32.1", "K99.1", "F32", "f32")]}
    issues = Issues()
    ids.validate_identifiers(qr, issues, path="QuestionnaireResponse")
    # 'f32' is malformed: the profile's invariant lisn-7 reports it, not this check.
    assert [(errors.message_id_of(i), i["expression"][0]) for i in issues] == [
        ("LISN_ICD10SE_UNKNOWN", "QuestionnaireResponse.item[1].item[0].answer[0].valueCoding.code"),
        ("LISN_ICD10SE_F_FOUR_POSITIONS", "QuestionnaireResponse.item[2].item[0].answer[0].valueCoding.code")]


def test_day_after_february_28_in_leap_year() -> None:
    assert ids.personnummer_problem(personnummer(date(2024, 2, 28) + timedelta(days=1), "238")) is None


def test_applied_by_system_alias_with_expression() -> None:
    patient = {"resourceType": "Patient",
               "identifier": [{"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"},
                              {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121213"},
                              {"system": "urn:test:other", "value": "191212121213"}]}
    issues = Issues()
    ids.validate_identifiers(patient, issues, path="Bundle.entry[2].resource")
    assert [(errors.message_id_of(i), i["expression"]) for i in issues] == [
        ("LISN_PERSONNUMMER_CHECKSUM", ["Bundle.entry[2].resource.identifier[1].value"])]


def test_texts_do_not_repeat_the_value() -> None:
    issues = Issues()
    ids.validate_identifiers({"resourceType": "Patient", "identifier": [
        {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121213"}]},
        issues, path="Patient")
    assert "191212121213" not in json.dumps(issues.items)


def test_nested_identifiers_and_codings_outside_responses() -> None:
    resource = {"resourceType": "Condition",
                "code": {"coding": [{"system": "urn:oid:1.2.752.116.1.1.1.1.3", "code": "F32.1"},
                                    {"system": "urn:oid:1.2.752.116.1.1.1", "code": "depression"}]},
                "asserter": {"identifier": {"system": "urn:oid:1.2.752.129.2.1.4.1", "value": "SE123"}},
                "contained": [{"resourceType": "Patient", "identifier": [
                    {"system": "http://electronichealth.se/identifier/personnummer", "value": "1"}]}]}
    issues = Issues()
    ids.validate_identifiers(resource, issues, path="Condition")
    assert [(errors.message_id_of(i), i["expression"][0]) for i in issues] == [
        ("LISN_ICD10SE_FORMAT", "Condition.code.coding[1].code"),
        ("LISN_HSAID_FORMAT", "Condition.asserter.identifier.value")]
