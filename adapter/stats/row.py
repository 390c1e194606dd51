"""The statistics row of one accepted certificate, computed from its submission Bundle at receipt.

What is kept and why is in docs/statistics.md. Nothing in the row names or points at the person:
no personnummer, no name, no free text, no exact date (the month, an age band and day counts
between two events only). Sex and age are read once, at receipt, from the personnummer (the
ninth digit of ``YYMMDD-NNNC``, odd for men; the birth date) or, without one, from
``Patient.gender`` and ``Patient.birthDate``; a later change of the number scheme does not change
the rows already written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from adapter.fhir.submission import Submission
from adapter.stats import codes
from adapter.stats.codes import UNKNOWN

Resource = dict[str, Any]
_DIGITS = re.compile(r"^(\d{8}|\d{6})[-+]?(\d{4})$")


@dataclass(frozen=True)
class StatisticsRow:
    """One accepted certificate, de-identified (docs/statistics.md lists every field and why)."""

    sex: str
    age_band: str
    kommunkod: str
    region: str
    care_provider: str
    month: str
    template_version: str
    diagnosis_chapter: str
    work_capacity: str
    activity_band: str
    prognosis: str
    debut_days: int | None
    debut_band: str
    replacement: bool
    activities: dict[str, str] = field(default_factory=dict)
    """Activity type -> level of participation (aktivitet-typ -> aktivitet-deltagande), first period."""
    measures: tuple[str, ...] = ()
    """Recommended measures (atgarder-typ codes), sorted."""
    consent: str | None = None
    status: str = "current"
    delivery_days: int | None = None
    delivery_band: str = UNKNOWN


def statistics_row(bundle: Resource, received_at: datetime) -> StatisticsRow:
    """The statistics row of a certificate (or replacement) received at ``received_at``."""
    sub = Submission(bundle)
    qr = sub.response or {}
    items = list(_items(qr))  # one walk of the response for the index, the period and (1.0) the activities
    found = _index_of(items)
    period = _first_period(qr, items)
    period_items = items if period is qr else list(_items(period))
    period_index = found if period is qr else _index_of(period_items)
    signed = _date(qr.get("authored")) or received_at.date()
    debut = _first_date(found.get("debut", []))
    debut_days = (signed - debut).days if debut else None
    sex, born = person_facts(sub)
    return StatisticsRow(
        sex=sex, age_band=codes.band(_age(born, received_at.date()), codes.AGE_BANDS),
        kommunkod=sub.kommunkod or UNKNOWN, region=codes.region_of(sub.kommunkod),
        care_provider=_care_provider(sub), month=received_at.strftime("%Y-%m"),
        template_version=_template_version(sub.questionnaire),
        diagnosis_chapter=codes.icd10_chapter(_first_code(found.get("diagnos.kod", []))),
        work_capacity=_first_code(found.get("formaga.arbete", [])) or UNKNOWN,
        activity_band=codes.band(_hours(period_index), codes.ACTIVITY_BANDS),
        prognosis=_first_code(found.get("prognos.typ", [])) or UNKNOWN,
        debut_days=debut_days, debut_band=codes.band(debut_days, codes.DAY_BANDS),
        replacement=sub.event == "certificate-replacement",
        activities=_activities_of(period_items), measures=tuple(sorted(set(_codes(found.get("atgarder.typ", []))))))


def person_facts(sub: Submission) -> tuple[str, date | None]:
    """Legal sex and birth date: from the personnummer or samordningsnummer, else from the Patient."""
    patient = sub.patient or {}
    found = sub.patient_identifier
    match = _DIGITS.match(found[1]) if found else None
    if match is not None:
        digits = match.group(1) + match.group(2)
        sex = "male" if int(digits[-2]) % 2 else "female"
        return sex, _birth_date(match.group(1), samordning="samordningsnummer" in (found or ("", ""))[0])
    gender = patient.get("gender")
    return (gender if gender in ("female", "male") else UNKNOWN), _date(patient.get("birthDate"))


def activities(qr: Resource) -> dict[str, str]:
    """Activity type -> participation, in the first assessed period (1.1) or the certificate (1.0)."""
    return _activities(_first_period(qr))


def _activities(period: Resource) -> dict[str, str]:
    return _activities_of(_items(period))


def _activities_of(items: Iterable[Resource]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        if str(item.get("linkId", "")) not in ("formaga.aktivitet", "formaga.period.aktivitet"):
            continue
        parts = {str(child.get("linkId", "")).rsplit(".", 1)[-1]: child for child in item.get("item") or []
                 if isinstance(child, dict)}
        kind = _first_code(_values(parts.get("typ")))
        if kind and kind not in found:
            found[kind] = _first_code(_values(parts.get("deltagande"))) or UNKNOWN
    return found


def activity_hours(qr: Resource) -> int | None:
    """Hours a week of activity the person can take part in: the first period's total (1.1), or the
    most any one activity allows (1.0 has no total; activities may share the same hours)."""
    return _activity_hours(_first_period(qr))


def _activity_hours(period: Resource) -> int | None:
    return _hours(_index(period))


def _hours(found: dict[str, list[Any]]) -> int | None:
    """:func:`activity_hours` from the period's answers by linkId."""
    totals = [h for h in found.get("formaga.period.totalt.timmar", []) if isinstance(h, int)]
    if totals:
        return totals[0]
    if _first_code(found.get("formaga.period.totalt", [])) == "inte":
        return 0
    hours = [h for h in found.get("formaga.aktivitet.timmar", []) if isinstance(h, int)]
    return max(hours) if hours else None


def _first_period(qr: Resource, items: Iterable[Resource] | None = None) -> Resource:
    """The first ``formaga.period`` when it holds the assessment (1.1), else the whole response (1.0);
    ``items``: the response's items (:func:`_items`), when the caller has them already."""
    first = next((item for item in (_items(qr) if items is None else items)
                  if str(item.get("linkId", "")) == "formaga.period"), None)
    if first is not None and any(link.startswith("formaga.period.") and link != "formaga.period.start"
                                 and link not in ("formaga.period.slut", "formaga.period.motivering")
                                 for link in (str(item.get("linkId", "")) for item in _items(first))):
        return first
    return qr


def _items(node: Resource) -> Iterator[Resource]:
    """Every item below ``node``, in document order: :func:`adapter.fhir.items.walk` without the
    paths and ancestors it also gives (a row needs neither, and they are most of its cost)."""
    stack: list[Any] = list(reversed(node.get("item") or []))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        yield item
        children = list(item.get("item") or [])
        for ans in item.get("answer") or []:
            if isinstance(ans, dict):
                children.extend(ans.get("item") or [])
        stack.extend(reversed(children))


def _index(node: Resource) -> dict[str, list[Any]]:
    """Every answer value by linkId, in one walk (as ``fhir.submission.answers`` gives them one linkId at a time)."""
    return _index_of(_items(node))


def _index_of(items: Iterable[Resource]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for item in items:
        found.setdefault(str(item.get("linkId", "")), []).extend(_values(item))
    return found


def _values(item: Resource | None) -> list[Any]:
    return [v for a in (item or {}).get("answer") or [] if isinstance(a, dict)
            for k, v in a.items() if k.startswith("value")]


def _codes(values: list[Any]) -> list[str]:
    return [v["code"] for v in values if isinstance(v, dict) and isinstance(v.get("code"), str)]


def _first_code(values: list[Any]) -> str | None:
    found = _codes(values)
    return found[0] if found else None


def _first_date(values: list[Any]) -> date | None:
    return next((d for d in map(_date, values) if d is not None), None)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _birth_date(head: str, *, samordning: bool) -> date | None:
    if len(head) != 8:
        return None  # a ten-digit number has no century; the validator asks for twelve digits
    day = int(head[6:8]) - (60 if samordning else 0)
    try:
        return date(int(head[:4]), int(head[4:6]), day)
    except ValueError:
        return None


def _age(born: date | None, on: date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _care_provider(sub: Submission) -> str:
    for ident in (sub.care_provider or {}).get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            return str(ident["value"])[:64]
    return UNKNOWN


def _template_version(canonical: str | None) -> str:
    _, bar, version = (canonical or "").partition("|")
    return version[:10] if bar and version else UNKNOWN
