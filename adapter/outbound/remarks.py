"""The remarks of the assessment summary: what a case worker must look at before deciding.

Three kinds (``REMARK_KIND``): *kvalitet* (the certificate is too thin to decide on), *konsistens*
(two answers contradict each other, or the certificate does not cover what the activity
requirement asks) and *planering* (something to plan the activities with). Each rule, its source
and its threshold is a row of the table in docs/outbound.md ("Bedömningsstöd"), with a passing and a
failing case in ``tests/unit/outbound/assessment_cases.yaml``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from adapter import messages
from adapter.outbound.assessment import (
    ActivityCapacity,
    AnswerIndex,
    PeriodCapacity,
    Remark,
    activity_groups,
    basis_dates,
    first_answer,
    first_code,
    first_date,
    item_path,
    span,
    to_date,
)

MIN_DESCRIPTION_CHARS = 50
"""Below this many characters an impairment or activity-limitation text rarely supports a decision."""
CERTIFICATE_FROM_DAY = 8
"""The activity requirement asks for a medical certificate from day 8 of the illness (seed 000)."""
OLD_BASIS_DAYS = 30
"""A basis (examination, contact, records) older than this at signing predates the last monthly decision."""
REMOTE_ONLY_MAX_DAYS = 30
"""A period this long or longer that rests on no examination of the patient is remarked on."""
EXAMINATION = frozenset({"undersokning-fysisk", "undersokning-video"})
SOCIAL_CIRCUMSTANCES = re.compile(r"Z(5[5-9]|6[0-5])(\.|$|[0-9A-Z])")
"""ICD-10 block Z55–Z65: "potential health hazards related to socioeconomic and psychosocial circumstances"."""
_DESCRIPTIONS = ("funktionsnedsattning", "aktivitetsbegransning")

REMARK_KIND = {
    "LISN_ASSESS_TEXT_TOO_SHORT": "kvalitet", "LISN_ASSESS_DIAGNOS_TEXT_REPEATS_CODE": "kvalitet",
    "LISN_ASSESS_NO_ACTIVITY_ASSESSED": "kvalitet", "LISN_ASSESS_HOURS_MISSING": "kvalitet",
    "LISN_ASSESS_DEBUT_MISSING": "kvalitet",
    "LISN_ASSESS_WORK_NONE_ACTIVITY_FULL": "konsistens", "LISN_ASSESS_WORK_FULL_ACTIVITY_NONE": "konsistens",
    "LISN_ASSESS_TOTAL_BELOW_ACTIVITY": "konsistens",
    "LISN_ASSESS_DAY8_GAP": "konsistens", "LISN_ASSESS_OLD_BASIS": "konsistens",
    "LISN_ASSESS_REMOTE_ONLY_LONG": "konsistens", "LISN_ASSESS_SOCIAL_DIAGNOSIS_ONLY": "konsistens",
    "LISN_ASSESS_PROGNOSIS_FK": "planering", "LISN_ASSESS_ADAPTATION": "planering",
    "LISN_ASSESS_RISK_OF_WORSENING": "planering",
}
"""What a remark asks of the case worker: check the quality, check a contradiction, or plan with it."""

Activities = list[tuple[str, ActivityCapacity]]


class _Remarks:
    """Collects remarks for one response; ``paths`` holds the FHIRPath locations found so far (each
    found when a remark first needs it)."""

    def __init__(self, idx: AnswerIndex, qr: dict[str, Any], periods: tuple[PeriodCapacity, ...]) -> None:
        self.idx, self.qr, self.periods = idx, qr, periods
        self.paths: dict[str, str | None] = {}
        self.out: list[Remark] = []

    def add(self, message_id: str, link_id: str, where: str | None = None, **args: Any) -> None:
        key = where or link_id
        if key in self.paths:
            expression = self.paths[key]
        else:  # the walk stops at the item (item_paths(qr).get(key), a test holds them equal)
            expression = self.paths[key] = item_path(self.qr, key)
        self.out.append(Remark(code=message_id, link_id=link_id, expression=expression,
                               text_sv=messages.text(message_id, "sv", linkId=link_id, **args),
                               text_en=messages.text(message_id, "en", linkId=link_id, **args),
                               kind=REMARK_KIND[message_id]))


def remarks(idx: AnswerIndex, qr: dict[str, Any], periods: tuple[PeriodCapacity, ...]) -> list[Remark]:
    r = _Remarks(idx, qr, periods)
    activities = activity_groups(idx, qr)
    for rule in (_quality, _capacity_consistency, _time_consistency, _diagnosis_consistency, _planning):
        rule(r, activities)
    return r.out


def _quality(r: _Remarks, activities: Activities) -> None:
    for link_id in _DESCRIPTIONS:
        text = first_answer(r.idx, r.qr, link_id)
        if not isinstance(text, str) or len(text.strip()) < MIN_DESCRIPTION_CHARS:
            label = next((i.get("text") for i in r.idx.items(r.qr, link_id) if i.get("text")), link_id)
            r.add("LISN_ASSESS_TEXT_TOO_SHORT", link_id, min=MIN_DESCRIPTION_CHARS, label=label)
    for index, group in enumerate(r.idx.items(r.qr, "diagnos")):
        code, text = first_answer(r.idx, group, "diagnos.kod"), first_answer(r.idx, group, "diagnos.text")
        if isinstance(code, dict) and _repeats_code(text, code):
            r.add("LISN_ASSESS_DIAGNOS_TEXT_REPEATS_CODE", "diagnos.text", f"diagnos.text#{index}",
                  code=code.get("code", ""))
    if not any(r.idx.items(r.qr, family) for family in ("formaga.aktivitet", "formaga.period.aktivitet")):
        r.add("LISN_ASSESS_NO_ACTIVITY_ASSESSED", "formaga.aktivitet", "formaga")
    for where, activity in activities:
        if activity.deltagande.get("code") == "begransat" and activity.timmar_per_vecka is None:
            r.add("LISN_ASSESS_HOURS_MISSING", where.split("#")[0] + ".timmar", where, typ=_name(activity.typ))


def _capacity_consistency(r: _Remarks, activities: Activities) -> None:
    """Work capacity, total capacity and activity participation that contradict each other."""
    work = first_code(r.idx, r.qr, "formaga.arbete")
    totals = [p.total_formaga.deltagande.get("code") for p in r.periods if p.total_formaga]
    full = [_name(a.typ) for _, a in activities if a.deltagande.get("code") == "fullt"]
    if work == "helt-nedsatt" and (full or "fullt" in totals):
        names = full or ["aktiviteter sammanlagt"]
        r.add("LISN_ASSESS_WORK_NONE_ACTIVITY_FULL", "formaga.arbete", typer=", ".join(dict.fromkeys(names)))
    codes = [a.deltagande.get("code") for _, a in activities] + totals
    if work == "ej-nedsatt" and codes and all(c == "inte" for c in codes):
        r.add("LISN_ASSESS_WORK_FULL_ACTIVITY_NONE", "formaga.arbete")
    for n, period in enumerate(r.periods):
        total = period.total_formaga.deltagande.get("code") if period.total_formaga else None
        above = [_name(a.typ) for a in period.aktiviteter if a.deltagande.get("code") == "fullt"]
        if total in ("begransat", "inte") and above:
            r.add("LISN_ASSESS_TOTAL_BELOW_ACTIVITY", "formaga.period.totalt", f"formaga.period.totalt#{n}",
                  start=period.start.isoformat() if period.start else "", typer=", ".join(above))


def _time_consistency(r: _Remarks, activities: Activities) -> None:
    """Day 8 of the illness, the age of the basis, and a long period on no examination."""
    start, slut = span(r.periods)
    debut = first_date(r.idx, r.qr, "debut")
    if debut is None:
        r.add("LISN_ASSESS_DEBUT_MISSING", "debut", "formaga")
    elif start is not None:
        day8 = debut + timedelta(days=CERTIFICATE_FROM_DAY - 1)
        if start > day8:
            r.add("LISN_ASSESS_DAY8_GAP", "formaga.period.start", debut=debut.isoformat(), day8=day8.isoformat(),
                  start=start.isoformat(), last=(start - timedelta(days=1)).isoformat())
    basis = basis_dates(r.idx, r.qr)
    signed = to_date(r.qr.get("authored"))
    if basis and signed and (signed - max(basis)).days > OLD_BASIS_DAYS:
        r.add("LISN_ASSESS_OLD_BASIS", "grund.datum", "grund", latest=max(basis).isoformat(), days=OLD_BASIS_DAYS)
    kinds = {c.get("code") for c in r.idx.answers(r.qr, "grund.typ") if isinstance(c, dict)}
    if kinds and not kinds & EXAMINATION and start and slut and _days(start, slut) >= REMOTE_ONLY_MAX_DAYS:
        r.add("LISN_ASSESS_REMOTE_ONLY_LONG", "grund.typ", "grund", days=_days(start, slut))


def _days(start: date, slut: date) -> int:
    return (slut - start).days + 1


def _diagnosis_consistency(r: _Remarks, activities: Activities) -> None:
    """Social circumstances (Z55–Z65) as the only diagnoses. A code that is not a string (an
    unvalidated Bundle, as ``adapter to-xml`` takes: ``"code": 73``) is no Z code: not a crash."""
    codes = [c.get("code") or "" for c in r.idx.answers(r.qr, "diagnos.kod") if isinstance(c, dict)]
    if codes and all(isinstance(c, str) and SOCIAL_CIRCUMSTANCES.match(c.upper()) for c in codes):
        r.add("LISN_ASSESS_SOCIAL_DIAGNOSIS_ONLY", "diagnos.kod", "diagnos", codes=", ".join(codes))


def _planning(r: _Remarks, activities: Activities) -> None:
    if first_code(r.idx, r.qr, "prognos.typ") == "ej-aterfa":
        r.add("LISN_ASSESS_PROGNOSIS_FK", "prognos.typ", "prognos")
    if first_answer(r.idx, r.qr, "formaga.risk.finns") is True:
        r.add("LISN_ASSESS_RISK_OF_WORSENING", "formaga.risk.finns", "formaga.risk")
    for where, activity in activities:
        if activity.anpassning:
            r.add("LISN_ASSESS_ADAPTATION", where.split("#")[0] + ".anpassning", where, typ=_name(activity.typ))


def _name(coding: dict[str, Any]) -> str:
    return str(coding.get("display") or coding.get("code") or "")


_NOT_WORD = re.compile(r"[\W_]+")


def _normalise(text: Any) -> str:
    return _NOT_WORD.sub("", str(text or "")).casefold()


def _repeats_code(text: Any, code: dict[str, Any]) -> bool:
    """True when the free text adds nothing to the code: empty, the code, its display, or both."""
    said, c, d = _normalise(text), _normalise(code.get("code")), _normalise(code.get("display"))
    return said in {"", c, d, c + d, d + c}
