"""The statistics row computed at receipt (adapter.stats.row): each field from its source, and nothing
that names the person."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.stats import codes
from adapter.stats.row import statistics_row

EXAMPLES = Path(__file__).resolve().parents[3] / "profiles" / "examples"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def bundle(name: str = "submission") -> dict[str, Any]:
    return json.loads((EXAMPLES / f"Bundle-lisn-example-{name}.json").read_text("utf-8"))


def with_patient(value: str | None, *, system: str = "personnummer", gender: str | None = None,
                 birth: str | None = None) -> dict[str, Any]:
    found = copy.deepcopy(bundle())
    patient = found["entry"][2]["resource"]
    patient["identifier"] = [{"system": f"http://electronichealth.se/identifier/{system}", "value": value}] \
        if value else []
    for key, v in (("gender", gender), ("birthDate", birth)):
        if v:
            patient[key] = v
    return found


@pytest.mark.parametrize(("value", "system", "sex", "band"), [
    ("191212121212", "personnummer", "male", "65-"),       # ninth digit (of YYMMDDNNNC) 1: odd
    ("198112189876", "personnummer", "male", "35-44"),      # 7: odd; 44 years old on 2026-11-23
    ("199001012388", "personnummer", "female", "35-44"),    # 8: even
    ("200502282380", "personnummer", "female", "18-24"),
    ("199001612388", "samordningsnummer", "female", "35-44"),  # day + 60
])
def test_sex_and_age_band_from_the_number(value: str, system: str, sex: str, band: str) -> None:
    row = statistics_row(with_patient(value, system=system, gender="male" if sex == "female" else "female"), AT)
    assert (row.sex, row.age_band) == (sex, band)  # the number wins over a contradicting Patient.gender


def test_without_a_number_the_patient_resource_is_read() -> None:
    row = statistics_row(with_patient(None, gender="female", birth="1990-06-01"), AT)
    assert (row.sex, row.age_band) == ("female", "35-44")
    row = statistics_row(with_patient(None, gender="other"), AT)
    assert (row.sex, row.age_band) == (codes.UNKNOWN, codes.UNKNOWN)


def test_the_fields_of_the_1_0_and_1_1_examples() -> None:
    old, new = statistics_row(bundle(), AT), statistics_row(bundle("submission-1.1"), AT)
    assert (old.kommunkod, old.region, old.month, old.template_version) == ("0180", "01", "2026-11", "1.0")
    assert (old.diagnosis_chapter, old.work_capacity, old.prognosis) == ("V", "nedsatt-75", "aterfar-delvis")
    assert (old.debut_days, old.debut_band, old.activity_band) == (25, "0-30", "1-10")  # 2026-08-20 -> 09-14
    assert old.activities == {"motiverande": "begransat", "sprak": "fullt", "arbetsplatsforlagd": "inte"}
    assert old.measures == ("fortsatt-behandling", "sip")
    # 1.1: the first period only (later periods plan 20 and 30 hours), its total of 10 hours.
    assert new.template_version == "1.1" and new.activity_band == "1-10"
    assert new.activities == {"motiverande": "begransat", "sprak": "begransat", "arbetsplatsforlagd": "inte"}
    assert statistics_row(bundle("replacement"), AT).replacement and not old.replacement


def test_nothing_in_the_row_names_the_person() -> None:
    text = repr(statistics_row(bundle(), AT))
    for secret in ("1912", "Tolvan", "Tolvansson", "2026-09-14", "2026-08-20", "Medelsvår", "Sertralin",
                   "SE2321000016-15CQ", "3f2a9c1e"):
        assert secret not in text


@pytest.mark.parametrize(("code", "chapter"), [("F32.1", "V"), ("M54.5", "XIII"), ("A00", "I"), ("B99", "I"),
                                               ("C50.9", "II"), ("D50", "III"), ("H60", "VIII"), ("Z73.0", "XXI"),
                                               ("U07.1", "XXII"), ("", codes.UNKNOWN), ("32.1", codes.UNKNOWN)])
def test_icd10_chapters(code: str, chapter: str) -> None:
    assert codes.icd10_chapter(code) == chapter


@pytest.mark.parametrize(("value", "bands", "name"), [
    (0, codes.ACTIVITY_BANDS, "0"), (1, codes.ACTIVITY_BANDS, "1-10"), (10, codes.ACTIVITY_BANDS, "1-10"),
    (11, codes.ACTIVITY_BANDS, "11-20"), (45, codes.ACTIVITY_BANDS, "31-40"), (None, codes.ACTIVITY_BANDS, "okand"),
    (30, codes.DAY_BANDS, "0-30"), (31, codes.DAY_BANDS, "31-90"), (400, codes.DAY_BANDS, "366-"),
    (-3, codes.DAY_BANDS, "okand"), (17, codes.AGE_BANDS, "0-17"), (65, codes.AGE_BANDS, "65-")])
def test_bands(value: int | None, bands: tuple[str, ...], name: str) -> None:
    assert codes.band(value, bands) == name
