"""Fictitious certificates for the statistics: realistic mixes of sex, age, municipality, diagnosis,
capacity and outcome, with nobody behind them (docs/statistics.md, "Synthetic data").

Each certificate is the reference submission (``profiles/examples``) with its facts redrawn:
a synthetic personnummer (a real calendar date, the birth number 980-999, a valid check digit),
a municipality drawn by rough population, a care provider of the county, an ICD-10 code,
capacities, measures, dates in the period. :func:`synthetic_certificates` gives the Bundles;
:func:`outcome` the consent, delivery and life-cycle outcomes a later step would record. The same
seed gives the same certificates.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapter.data import data_dir
from adapter.fhir.items import walk

Resource = dict[str, Any]
NAMESPACE = uuid.UUID("5b0c7c52-19a1-4b55-9a7e-1f5e7d6e0019")

# Rough population weights (thousands): the large cities, then every other municipality alike.
KOMMUN_WEIGHTS = {"0180": 990, "1480": 600, "1280": 360, "0380": 240, "0580": 170, "1880": 160, "0581": 145,
                  "1283": 150, "2480": 130, "0680": 145, "1980": 160, "2180": 100, "1490": 115, "0184": 100,
                  "2281": 100, "2580": 80, "0980": 60, "1780": 95}
OTHER_KOMMUN_WEIGHT = 25
AGES = ((18, 24, 14), (25, 34, 24), (35, 44, 22), (45, 54, 20), (55, 64, 17), (65, 70, 3))
DIAGNOSES = (("F32.1", 22), ("F33.1", 8), ("F41.1", 10), ("F43.1", 6), ("F10.2", 5), ("F90.0", 4), ("M54.5", 12),
             ("M79.7", 6), ("G43.0", 3), ("I25.1", 3), ("E11.9", 3), ("C50.9", 2), ("S82.2", 3), ("J45.9", 2),
             ("R53.9", 4), ("Z73.0", 3), ("K50.9", 2), ("N18.3", 2))
CAPACITY = ("ej-nedsatt", "nedsatt-25", "nedsatt-50", "nedsatt-75", "helt-nedsatt")
CAPACITY_WEIGHTS = {"female": (5, 14, 30, 28, 23), "male": (8, 16, 30, 26, 20)}
ACTIVITY_TYPES = ("motiverande", "sprak", "arbetsplatsforlagd", "jobbsokande", "utbildning", "rehabilitering")
LEVELS = (("fullt", 20), ("begransat", 60), ("inte", 20))
PROGNOSES = (("aterfar-helt", 25), ("aterfar-delvis", 40), ("oklar", 25), ("ej-aterfa", 10))
MEASURES = (("arbetslivsinriktad-rehabilitering", 20), ("samordnad-rehabilitering", 15), ("sip", 25),
            ("samordningsforbund", 8), ("fortsatt-behandling", 55))
"""The measures template 1.0 offers (ValueSet atgarder-typ); 1.1 adds more."""


@dataclass(frozen=True)
class Outcome:
    """What happens to a certificate after receipt (drawn, for rows written without the service)."""

    consent: str
    delivery_days: int | None
    status: str


def synthetic_certificates(count: int, *, seed: int = 19, start: date = date(2026, 7, 1),
                           months: int = 5) -> Iterator[Resource]:
    """``count`` submission Bundles with fictitious facts, received over ``months`` months from ``start``
    (more towards the end: the routine spreads)."""
    rng = random.Random(seed)
    template = _template()
    kommuner = _kommuner()
    for number in range(count):
        yield _certificate(template, kommuner, rng, number, seed, start, months)


def received_at(bundle: Resource) -> datetime:
    """When the synthetic certificate arrived: the day it was signed, at noon UTC."""
    authored = next(e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "QuestionnaireResponse")["authored"]
    return datetime.fromisoformat(authored[:10]).replace(hour=12, tzinfo=UTC)


def outcome(rng: random.Random) -> Outcome:
    consent = rng.choices(("released", "withheld", "revoked"), (84, 12, 4))[0]
    days = min(int(rng.expovariate(1 / 3)), 400) if consent == "released" else None
    status = rng.choices(("current", "replaced", "withdrawn"), (95, 3, 2))[0]
    return Outcome(consent, days, status)


def personnummer(born: date, sex: str, rng: random.Random) -> str:
    """A synthetic personnummer: birth date, birth number 980-999 (odd for men), check digit (Luhn)."""
    serial = rng.randrange(980, 1000)
    if (serial % 2 == 1) != (sex == "male"):
        serial += 1 if serial < 999 else -1
    body = born.strftime("%y%m%d") + f"{serial:03d}"
    return born.strftime("%Y%m%d") + f"{serial:03d}" + _luhn(body)


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return str((10 - total % 10) % 10)


def _template() -> Resource:
    path = data_dir("profiles") / "examples" / "Bundle-lisn-example-submission.json"
    found: Resource = json.loads(path.read_text("utf-8"))
    found["entry"] = [e for e in found["entry"] if e["resource"]["resourceType"] != "Consent"] + \
        [e for e in found["entry"] if e["resource"]["resourceType"] == "Consent"]
    return found


def _kommuner() -> tuple[list[str], list[int]]:
    found = json.loads((data_dir("profiles") / "CodeSystem-kommunkod.json").read_text("utf-8"))
    codes = [c["code"] for c in found["concept"]
             if not any(p.get("valueCode") == "retired" for p in c.get("property", []))]
    return codes, [KOMMUN_WEIGHTS.get(c, OTHER_KOMMUN_WEIGHT) for c in codes]


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in table], [weight for _, weight in table])[0]


def _certificate(template: Resource, kommuner: tuple[list[str], list[int]], rng: random.Random, number: int,
                 seed: int, start: date, months: int) -> Resource:
    bundle = copy.deepcopy(template)
    by_type = {e["resource"]["resourceType"] + str(i): e["resource"] for i, e in enumerate(bundle["entry"])}
    qr = next(r for r in by_type.values() if r["resourceType"] == "QuestionnaireResponse")
    patient = next(r for r in by_type.values() if r["resourceType"] == "Patient")
    orgs = [r for r in by_type.values() if r["resourceType"] == "Organization"]
    sex = rng.choice(("female", "male"))
    month = min(int(months * rng.random() ** 0.7), months - 1)  # more certificates later in the period
    first = date(start.year + (start.month - 1 + month) // 12, (start.month - 1 + month) % 12 + 1, 1)
    signed = first + timedelta(days=rng.randrange(28))
    low, high, _ = rng.choices(AGES, [a[2] for a in AGES])[0]
    born = signed - timedelta(days=rng.randrange(low * 365 + 1, (high + 1) * 365 - 1))
    kommunkod = rng.choices(kommuner[0], kommuner[1])[0]
    cert_id = f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{seed}/{number}')}"
    qr["identifier"]["value"] = cert_id
    qr["authored"] = f"{signed.isoformat()}T10:00:00+01:00"
    patient["identifier"] = [{"system": "http://electronichealth.se/identifier/personnummer",
                              "value": personnummer(born, sex, rng)}]
    patient["name"] = [{"family": "Syntetisk", "given": [f"Person{number}"]}]
    orgs[1]["identifier"][0]["value"] = f"SE2321000016-R{kommunkod[:2]}{rng.randrange(1, 4)}"
    orgs[1]["name"] = f"Vårdgivare {kommunkod[:2]}"
    orgs[2]["identifier"][0]["value"] = kommunkod
    orgs[2]["identifier"] = orgs[2]["identifier"][:1]
    orgs[2]["name"] = f"Socialnämnden, kommun {kommunkod}"
    header = next(r for r in by_type.values() if r["resourceType"] == "MessageHeader")
    header["destination"][0].update(name=orgs[2]["name"], endpoint=f"urn:lisn:kommunkod:{kommunkod}")
    _answers(qr, sex, signed, rng)
    for consent in (r for r in by_type.values() if r["resourceType"] == "Consent"):
        consent["dateTime"] = qr["authored"]
        consent["provision"]["period"] = {"start": signed.isoformat(),
                                          "end": (signed + timedelta(days=365)).isoformat()}
    return bundle


def _answers(qr: Resource, sex: str, signed: date, rng: random.Random) -> None:
    code = _pick(rng, DIAGNOSES)
    debut = signed - timedelta(days=int(rng.lognormvariate(4.2, 0.9)))
    items: dict[str, Resource] = {}
    for visit in walk(qr):
        items.setdefault(visit.link_id, visit.item)
    qr["item"] = [i for n, i in enumerate(qr["item"]) if i["linkId"] != "diagnos" or n == qr["item"].index(
        items["diagnos"])]
    items["debut"]["answer"] = [{"valueDate": debut.isoformat()}]
    items["diagnos.kod"]["answer"][0]["valueCoding"] = {"system": "urn:oid:1.2.752.116.1.1.1", "code": code}
    items["diagnos.text"]["answer"] = [{"valueString": f"Syntetisk diagnos {code}"}]
    for group in qr["item"]:
        if group["linkId"] == "grund":
            for child in group["item"]:
                if child["linkId"] == "grund.datum":
                    child["answer"] = [{"valueDate": (signed - timedelta(days=rng.randrange(0, 20))).isoformat()}]
    capacity = rng.choices(CAPACITY, CAPACITY_WEIGHTS[sex])[0]
    items["formaga.arbete"]["answer"][0]["valueCoding"]["code"] = capacity
    items["formaga.arbete"]["answer"][0]["valueCoding"].pop("display", None)
    _activities(items["formaga"], rng)
    items["prognos.typ"]["answer"][0]["valueCoding"] = {"system": "https://lisn.se/fhir/CodeSystem/prognos-typ",
                                                        "code": _pick(rng, PROGNOSES)}
    chosen = sorted({_pick(rng, MEASURES) for _ in range(rng.randrange(1, 4))})
    items["atgarder.typ"]["answer"] = [{"valueCoding": {"system": "https://lisn.se/fhir/CodeSystem/atgarder-typ",
                                                        "code": c}} for c in chosen]
    period = items.get("formaga.period")
    if period:
        for child in period["item"]:
            if child["linkId"] == "formaga.period.start":
                child["answer"] = [{"valueDate": signed.isoformat()}]
            if child["linkId"] == "formaga.period.slut":
                child["answer"] = [{"valueDate": (signed + timedelta(days=90)).isoformat()}]


def _activities(formaga: Resource, rng: random.Random) -> None:
    template = next(i for i in formaga["item"] if i["linkId"] == "formaga.aktivitet")
    chosen = rng.sample(ACTIVITY_TYPES, rng.randrange(1, 4))
    groups = []
    for kind in chosen:
        group = copy.deepcopy(template)
        level = _pick(rng, LEVELS)
        hours = {"fullt": 40, "begransat": rng.choice((4, 8, 10, 15, 20, 25, 30)), "inte": 0}[level]
        for child in group["item"]:
            link = child["linkId"]
            if link.endswith(".typ"):
                child["answer"] = [{"valueCoding": {"system": "https://lisn.se/fhir/CodeSystem/aktivitet-typ",
                                                    "code": kind}}]
            elif link.endswith(".deltagande"):
                child["answer"] = [{"valueCoding": {
                    "system": "https://lisn.se/fhir/CodeSystem/aktivitet-deltagande", "code": level}}]
            elif link.endswith(".timmar"):
                child["answer"] = [{"valueInteger": hours}]
        # Hours are asked only for a limited participation (enableWhen in the template).
        group["item"] = [c for c in group["item"] if level == "begransat" or not c["linkId"].endswith(".timmar")]
        groups.append(group)
    rest = [i for i in formaga["item"] if i["linkId"] != "formaga.aktivitet"]
    at = next((n for n, i in enumerate(formaga["item"]) if i["linkId"] == "formaga.aktivitet"), len(rest))
    formaga["item"] = rest[:at] + groups + rest[at:]
