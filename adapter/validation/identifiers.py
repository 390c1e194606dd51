"""Swedish identifiers and code forms (DESIGN §3): personnummer, samordningsnummer, HSA-id,
kommunkod, organisationsnummer, ICD-10-SE.

- personnummer (Skatteverket SKV 704): 12 digits ``YYYYMMDDNNNC``, a real calendar date,
  ``C`` the Luhn check digit over the last ten digits. The profiles require the 12-digit
  form without hyphen; the 10-digit and hyphenated forms are refused with a text that says so.
- samordningsnummer (SKV 707): as personnummer, with 60 added to the day.
- HSA-id: ``SE`` + the issuing body's organisationsnummer (10 digits) + ``-`` + 1..31 letters/digits.
- kommunkod (SCB): 4 digits; the first two a county code that exists (01, 03–10, 12–14, 17–25).
- organisationsnummer (SKV 709): 10 digits, Luhn, third digit at least 2 (a legal entity).
- ICD-10-SE code: a letter, two digits, optionally a dot and up to four letters/digits.

Texts never repeat the identifier's value: outcomes may end up in logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from adapter.fhir import identifiers as ids
from adapter.issues import Issues

_TWELVE = re.compile(r"^[0-9]{12}$")
_SHORT_OR_HYPHEN = re.compile(r"^([0-9]{6}|[0-9]{8})[-+]?[0-9]{4}$")
_HSA_ID = re.compile(r"^SE[0-9]{10}-[A-Za-z0-9]{1,31}$")
_KOMMUNKOD = re.compile(r"^[0-9]{4}$")
_ORGNR = re.compile(r"^[0-9]{10}$")
_ICD10SE = re.compile(r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?[A-Z]?$")
# SCB county codes (län); 02, 11, 15 and 16 are no longer in use.
COUNTIES = frozenset({"01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14",
                      "17", "18", "19", "20", "21", "22", "23", "24", "25"})


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over ``digits``, the last being the check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def luhn_digit(digits: str) -> str:
    """The check digit that makes ``digits + check`` pass the Luhn check."""
    return next(c for c in "0123456789" if luhn_ok(digits + c))


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _person_number(value: str, *, day_offset: int, prefix: str) -> str | None:
    if not _TWELVE.match(value):
        return f"{prefix}_SHORT_FORM" if _SHORT_OR_HYPHEN.match(value) else f"{prefix}_FORMAT"
    y, m, d = int(value[:4]), int(value[4:6]), int(value[6:8]) - day_offset
    if not _valid_date(y, m, d):
        return f"{prefix}_DATE"
    if not luhn_ok(value[2:]):
        return f"{prefix}_CHECKSUM"
    return None


def personnummer_problem(value: str) -> str | None:
    """None when ``value`` is a valid 12-digit personnummer, else the message id of the problem."""
    return _person_number(value, day_offset=0, prefix="LISN_PERSONNUMMER")


def samordningsnummer_problem(value: str) -> str | None:
    """None when ``value`` is a valid 12-digit samordningsnummer (day + 60), else the message id."""
    if _TWELVE.match(value) and not 61 <= int(value[6:8]) <= 91:
        return "LISN_SAMORDNINGSNUMMER_DATE"
    return _person_number(value, day_offset=60, prefix="LISN_SAMORDNINGSNUMMER")


def hsa_id_problem(value: str) -> str | None:
    return None if _HSA_ID.match(value) else "LISN_HSAID_FORMAT"


def kommunkod_problem(value: str) -> str | None:
    if not _KOMMUNKOD.match(value):
        return "LISN_KOMMUNKOD_FORMAT"
    return None if value[:2] in COUNTIES and value[2:] != "00" else "LISN_KOMMUNKOD_COUNTY"


def organisationsnummer_problem(value: str) -> str | None:
    if not _ORGNR.match(value):
        return "LISN_ORGNR_FORMAT"
    if not luhn_ok(value):
        return "LISN_ORGNR_CHECKSUM"
    return None if int(value[2]) >= 2 else "LISN_ORGNR_NOT_LEGAL_ENTITY"


def icd10se_problem(code: str) -> str | None:
    return None if _ICD10SE.match(code) else "LISN_ICD10SE_FORMAT"


CHECKS: dict[str, Callable[[str], str | None]] = {
    ids.PERSONNUMMER: personnummer_problem,
    ids.SAMORDNINGSNUMMER: samordningsnummer_problem,
    ids.HSA_ID: hsa_id_problem,
    ids.KOMMUNKOD: kommunkod_problem,
    ids.ORGANISATIONSNUMMER: organisationsnummer_problem,
}

_IDENTIFIER_KEYS = ("identifier", "valueIdentifier")


def validate_identifiers(resource: dict[str, Any], issues: Issues, *, path: str) -> None:
    """Check every Identifier (by normalised system) and ICD-10-SE Coding in ``resource``.

    Entry resources of a Bundle and contained resources are left to their own validation.
    In a QuestionnaireResponse the ICD-10-SE form is the profile's invariant (lisn-7), so
    Codings there are not checked a second time.
    """
    check_codings = resource.get("resourceType") != "QuestionnaireResponse"
    stack: list[tuple[Any, str, str]] = [(resource, path, "")]
    while stack:
        value, where, key = stack.pop()
        if isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", key) for i, v in reversed(list(enumerate(value))))
            continue
        if not isinstance(value, dict):
            continue
        if key in _IDENTIFIER_KEYS:
            _check_identifier(value, issues, where)
        elif check_codings and key in ("coding", "valueCoding"):
            _check_icd(value, issues, where)
        for child_key, child in reversed(list(value.items())):
            if child_key == "contained" or (isinstance(child, dict) and "resourceType" in child):
                continue  # another resource: validated on its own
            stack.append((child, f"{where}.{child_key}", child_key))


def _system(value: Any) -> str | None:
    return ids.normalise_system(value) if isinstance(value, str) else None


def _check_identifier(ident: dict[str, Any], issues: Issues, where: str) -> None:
    system = _system(ident.get("system"))
    check = CHECKS.get(system or "")
    value = ident.get("value")
    if check is None or not isinstance(value, str):
        return
    problem = check(value)
    if problem:
        issues.add(problem, expression=f"{where}.value", code="value", system=system)


def _check_icd(coding: dict[str, Any], issues: Issues, where: str) -> None:
    if _system(coding.get("system")) != ids.ICD10_SE or not isinstance(coding.get("code"), str):
        return
    problem = icd10se_problem(coding["code"])
    if problem:
        issues.add(problem, expression=f"{where}.code", code="code-invalid", code_value=coding["code"])
