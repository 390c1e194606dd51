"""The assessment summary (bedömningsstöd): what the certificate means for the activity requirement.

The socialnämnd decides how much, and in which kinds of activity, the person can take part
(DESIGN §1, seed 001: the bedömningsstöd helps "ta ställning till i vilken utsträckning de
medicinska nedsättningar ... påverkar den enskildes förutsättningar att stå till
arbetsmarknadens förfogande eller att delta i aktiviteter"). This module restates what the
physician wrote, as data, and never adds a figure the physician did not write: "kan delta fullt
ut" stays the code ``fullt``, hours appear only where the physician gave them. On top of that it
lists remarks a case worker must look at before deciding. Every rule, with its source and its
threshold, is the table in docs/outbound.md ("Bedömningsstöd"); the cases are
``tests/unit/outbound/assessment_cases.yaml``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from adapter import messages
from adapter.fhir.submission import Submission

MIN_DESCRIPTION_CHARS = 50
"""Below this many characters an impairment or activity-limitation text rarely supports a decision."""
FOLLOW_UP_MONTHS = 3
"""The municipality follows up at the latest this many months after the period starts."""
CERTIFICATE_FROM_DAY = 8
"""The activity requirement asks for a medical certificate from day 8 of the illness (seed 000)."""
OLD_BASIS_DAYS = 30
"""A basis (examination, contact, records) older than this at signing predates the last monthly decision."""
REMOTE_ONLY_MAX_DAYS = 30
"""A period this long or longer that rests on no examination of the patient is remarked on."""

REMAINING_CAPACITY = {"ej-nedsatt": 100, "nedsatt-25": 75, "nedsatt-50": 50, "nedsatt-75": 25, "helt-nedsatt": 0}
COORDINATED_REHABILITATION = frozenset({"samordnad-rehabilitering", "samordningsforbund",
                                        "arbetslivsinriktad-rehabilitering"})
UNCLEAR_OR_POOR_PROGNOSIS = frozenset({"oklar", "ej-aterfa"})
EXAMINATION = frozenset({"undersokning-fysisk", "undersokning-video"})
SOCIAL_CIRCUMSTANCES = re.compile(r"Z(5[5-9]|6[0-5])(\.|$|[0-9A-Z])")
"""ICD-10 block Z55–Z65: "potential health hazards related to socioeconomic and psychosocial circumstances"."""
_DESCRIPTIONS = ("funktionsnedsattning", "aktivitetsbegransning")

REMARK_KIND = {
    "LISN_ASSESS_TEXT_TOO_SHORT": "kvalitet", "LISN_ASSESS_DIAGNOS_TEXT_REPEATS_CODE": "kvalitet",
    "LISN_ASSESS_NO_ACTIVITY_ASSESSED": "kvalitet", "LISN_ASSESS_HOURS_MISSING": "kvalitet",
    "LISN_ASSESS_DEBUT_MISSING": "kvalitet",
    "LISN_ASSESS_WORK_NONE_ACTIVITY_FULL": "konsistens", "LISN_ASSESS_WORK_FULL_ACTIVITY_NONE": "konsistens",
    "LISN_ASSESS_DAY8_GAP": "konsistens", "LISN_ASSESS_OLD_BASIS": "konsistens",
    "LISN_ASSESS_REMOTE_ONLY_LONG": "konsistens", "LISN_ASSESS_SOCIAL_DIAGNOSIS_ONLY": "konsistens",
    "LISN_ASSESS_PROGNOSIS_FK": "planering", "LISN_ASSESS_ADAPTATION": "planering",
}
"""What a remark asks of the case worker: check the quality, check a contradiction, or plan with it."""


@dataclass(frozen=True)
class ActivityCapacity:
    """One assessed activity type, as the physician assessed it.

    ``timmar_per_vecka`` is the physician's own figure (only with ``begransat``); ``fullt`` and
    ``inte`` are codes, never turned into hours.
    """

    typ: dict[str, Any]
    deltagande: dict[str, Any]
    timmar_per_vecka: int | None
    anpassning: str | None = None


@dataclass(frozen=True)
class Flags:
    sip_rekommenderas: bool = False
    samordnad_rehabilitering_rekommenderas: bool = False
    kontakt_onskas: bool = False
    retroaktiv_period: bool = False
    oklar_eller_dalig_prognos: bool = False
    period_over_tre_manader: bool = False


@dataclass(frozen=True)
class Remark:
    """Something in the certificate a case worker should look at twice (``kind``: kvalitet,
    konsistens or planering)."""

    code: str
    link_id: str
    expression: str | None
    text_sv: str
    text_en: str
    kind: str = "kvalitet"


@dataclass(frozen=True)
class Assessment:
    aktiviteter: tuple[ActivityCapacity, ...] = ()
    kvarvarande_arbetsformaga_procent: int | None = None
    giltigt_till_och_med: date | None = None
    senast_uppfoljning: date | None = None
    flaggor: Flags = field(default_factory=Flags)
    kvalitetsanmarkningar: tuple[Remark, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data (dates as ISO strings) for the mapping engine and templates."""
        data = asdict(self)
        for key in ("giltigt_till_och_med", "senast_uppfoljning"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def assess(bundle: dict[str, Any], *, index: "AnswerIndex | None" = None) -> Assessment:
    """The bedömningsstöd for a submission Bundle (or a bare QuestionnaireResponse).

    ``index`` lets the XML transformation share its answer index (one walk of the response).
    """
    qr = bundle if bundle.get("resourceType") == "QuestionnaireResponse" else (Submission(bundle).response or {})
    idx = index or AnswerIndex()
    start, slut = _first_date(idx, qr, "formaga.period.start"), _first_date(idx, qr, "formaga.period.slut")
    follow_up = min(slut, add_months(start, FOLLOW_UP_MONTHS)) if start and slut else slut
    return Assessment(
        aktiviteter=tuple(_activities(idx, qr)),
        kvarvarande_arbetsformaga_procent=REMAINING_CAPACITY.get(_first_code(idx, qr, "formaga.arbete") or ""),
        giltigt_till_och_med=slut,
        senast_uppfoljning=follow_up,
        flaggor=_flags(idx, qr, start, slut),
        kvalitetsanmarkningar=tuple(_remarks(idx, qr)),
    )


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _activities(idx: AnswerIndex, qr: dict[str, Any]) -> list[ActivityCapacity]:
    return [activity for _, activity in _activity_groups(idx, qr)]


def _activity_groups(idx: AnswerIndex, qr: dict[str, Any]) -> list[tuple[int, ActivityCapacity]]:
    """Each well-formed ``formaga.aktivitet`` group with its occurrence number (for its location)."""
    out = []
    for n, group in enumerate(idx.items(qr, "formaga.aktivitet")):
        typ = _first(idx, group, "formaga.aktivitet.typ")
        deltagande = _first(idx, group, "formaga.aktivitet.deltagande")
        if not isinstance(typ, dict) or not isinstance(deltagande, dict):
            continue
        given = _first(idx, group, "formaga.aktivitet.timmar")
        hours = given if deltagande.get("code") == "begransat" and isinstance(given, int) else None
        adaptation = _first(idx, group, "formaga.aktivitet.anpassning")
        out.append((n, ActivityCapacity(typ=typ, deltagande=deltagande, timmar_per_vecka=hours,
                                        anpassning=adaptation.strip() or None if isinstance(adaptation, str) else None)))
    return out


def _flags(idx: AnswerIndex, qr: dict[str, Any], start: date | None, slut: date | None) -> Flags:
    measures = {c.get("code") for c in idx.answers(qr, "atgarder.typ") if isinstance(c, dict)}
    basis = _basis_dates(idx, qr)
    return Flags(
        sip_rekommenderas="sip" in measures,
        samordnad_rehabilitering_rekommenderas=bool(measures & COORDINATED_REHABILITATION),
        kontakt_onskas=_first(idx, qr, "kontakt.onskas") is True,
        retroaktiv_period=bool(start and basis and start < min(basis)),
        oklar_eller_dalig_prognos=_first_code(idx, qr, "prognos.typ") in UNCLEAR_OR_POOR_PROGNOSIS,
        period_over_tre_manader=bool(start and slut and slut >= add_months(start, FOLLOW_UP_MONTHS)),
    )


def _basis_dates(idx: AnswerIndex, qr: dict[str, Any]) -> list[date]:
    return [d for d in (_to_date(v) for v in idx.answers(qr, "grund.datum")) if d]


# -- remarks -------------------------------------------------------------------------------------

class _Remarks:
    """Collects remarks for one response; ``paths`` gives each linkId's FHIRPath location."""

    def __init__(self, idx: AnswerIndex, qr: dict[str, Any]) -> None:
        self.idx, self.qr, self.paths = idx, qr, item_paths(qr)
        self.out: list[Remark] = []

    def add(self, message_id: str, link_id: str, where: str | None = None, **args: Any) -> None:
        expression = self.paths.get(where or link_id)
        self.out.append(Remark(code=message_id, link_id=link_id, expression=expression,
                               text_sv=messages.text(message_id, "sv", linkId=link_id, **args),
                               text_en=messages.text(message_id, "en", linkId=link_id, **args),
                               kind=REMARK_KIND[message_id]))


def _remarks(idx: AnswerIndex, qr: dict[str, Any]) -> list[Remark]:
    remarks = _Remarks(idx, qr)
    activities = _activity_groups(idx, qr)
    for rule in (_quality, _capacity_consistency, _time_consistency, _diagnosis_consistency):
        rule(remarks, activities)
    _planning(remarks, activities)
    return remarks.out


def _quality(r: _Remarks, activities: list[tuple[int, ActivityCapacity]]) -> None:
    for link_id in _DESCRIPTIONS:
        text = _first(r.idx, r.qr, link_id)
        if not isinstance(text, str) or len(text.strip()) < MIN_DESCRIPTION_CHARS:
            label = next((i.get("text") for i in r.idx.items(r.qr, link_id) if i.get("text")), link_id)
            r.add("LISN_ASSESS_TEXT_TOO_SHORT", link_id, min=MIN_DESCRIPTION_CHARS, label=label)
    for index, group in enumerate(r.idx.items(r.qr, "diagnos")):
        code, text = _first(r.idx, group, "diagnos.kod"), _first(r.idx, group, "diagnos.text")
        if isinstance(code, dict) and _repeats_code(text, code):
            r.add("LISN_ASSESS_DIAGNOS_TEXT_REPEATS_CODE", "diagnos.text", f"diagnos.text#{index}",
                  code=code.get("code", ""))
    if not r.idx.items(r.qr, "formaga.aktivitet"):
        r.add("LISN_ASSESS_NO_ACTIVITY_ASSESSED", "formaga.aktivitet", "formaga")
    for n, activity in activities:
        if activity.deltagande.get("code") == "begransat" and activity.timmar_per_vecka is None:
            r.add("LISN_ASSESS_HOURS_MISSING", "formaga.aktivitet.timmar", f"formaga.aktivitet#{n}",
                  typ=_name(activity.typ))


def _capacity_consistency(r: _Remarks, activities: list[tuple[int, ActivityCapacity]]) -> None:
    """Work capacity and activity participation that contradict each other."""
    work = _first_code(r.idx, r.qr, "formaga.arbete")
    full = [_name(a.typ) for _, a in activities if a.deltagande.get("code") == "fullt"]
    if work == "helt-nedsatt" and full:
        r.add("LISN_ASSESS_WORK_NONE_ACTIVITY_FULL", "formaga.arbete", typer=", ".join(full))
    if work == "ej-nedsatt" and activities and all(a.deltagande.get("code") == "inte" for _, a in activities):
        r.add("LISN_ASSESS_WORK_FULL_ACTIVITY_NONE", "formaga.arbete")


def _time_consistency(r: _Remarks, activities: list[tuple[int, ActivityCapacity]]) -> None:
    """Day 8 of the illness, the age of the basis, and a long period on no examination."""
    start = _first_date(r.idx, r.qr, "formaga.period.start")
    slut = _first_date(r.idx, r.qr, "formaga.period.slut")
    debut = _first_date(r.idx, r.qr, "debut")
    if debut is None:
        r.add("LISN_ASSESS_DEBUT_MISSING", "debut", "formaga")
    elif start is not None:
        day8 = debut + timedelta(days=CERTIFICATE_FROM_DAY - 1)
        if start > day8:
            r.add("LISN_ASSESS_DAY8_GAP", "formaga.period.start", debut=debut.isoformat(), day8=day8.isoformat(),
                  start=start.isoformat(), last=(start - timedelta(days=1)).isoformat())
    basis = _basis_dates(r.idx, r.qr)
    signed = _to_date(r.qr.get("authored"))
    if basis and signed and (signed - max(basis)).days > OLD_BASIS_DAYS:
        r.add("LISN_ASSESS_OLD_BASIS", "grund.datum", "grund", latest=max(basis).isoformat(), days=OLD_BASIS_DAYS)
    kinds = {c.get("code") for c in r.idx.answers(r.qr, "grund.typ") if isinstance(c, dict)}
    if kinds and not kinds & EXAMINATION and start and slut and (slut - start).days + 1 >= REMOTE_ONLY_MAX_DAYS:
        r.add("LISN_ASSESS_REMOTE_ONLY_LONG", "grund.typ", "grund", days=(slut - start).days + 1)


def _diagnosis_consistency(r: _Remarks, activities: list[tuple[int, ActivityCapacity]]) -> None:
    codes = [c.get("code") or "" for c in r.idx.answers(r.qr, "diagnos.kod") if isinstance(c, dict)]
    if codes and all(SOCIAL_CIRCUMSTANCES.match(c.upper()) for c in codes):
        r.add("LISN_ASSESS_SOCIAL_DIAGNOSIS_ONLY", "diagnos.kod", "diagnos", codes=", ".join(codes))


def _planning(r: _Remarks, activities: list[tuple[int, ActivityCapacity]]) -> None:
    if _first_code(r.idx, r.qr, "prognos.typ") == "ej-aterfa":
        r.add("LISN_ASSESS_PROGNOSIS_FK", "prognos.typ", "prognos")
    for n, activity in activities:
        if activity.anpassning:
            r.add("LISN_ASSESS_ADAPTATION", "formaga.aktivitet.anpassning", f"formaga.aktivitet#{n}",
                  typ=_name(activity.typ))


def _name(coding: dict[str, Any]) -> str:
    return str(coding.get("display") or coding.get("code") or "")


def _normalise(text: Any) -> str:
    return re.sub(r"[\W_]+", "", str(text or "")).casefold()


def _repeats_code(text: Any, code: dict[str, Any]) -> bool:
    """True when the free text adds nothing to the code: empty, the code, its display, or both."""
    said, c, d = _normalise(text), _normalise(code.get("code")), _normalise(code.get("display"))
    return said in {"", c, d, c + d, d + c}


# -- reading answers -----------------------------------------------------------------------------

def find_items(node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
    """Every item with ``link_id`` below ``node`` (not descending into the matches)."""
    found: list[dict[str, Any]] = []
    stack = list(reversed(node.get("item") or []))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if item.get("linkId") == link_id:
            found.append(item)
            continue
        children = list(item.get("item") or [])
        for ans in item.get("answer") or []:
            children.extend(ans.get("item") or [])
        stack.extend(reversed(children))
    return found


class AnswerIndex:
    """Answers and items by linkId below a group, found in one walk per group: a mapping asks for
    many linkIds, and walking the response once per question was the engine's main cost.

    Same results as :func:`adapter.fhir.submission.answers` (every answer of every item with the
    linkId, in document order; ``answers()`` visits ``item.item`` before ``answer.item`` for an item
    that has both, which a real response never does) and :func:`adapter.outbound.assessment.find_items` (matches, not the
    matches' own descendants with the same linkId).
    """

    def __init__(self) -> None:
        self._by_node: dict[int, tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]] = {}

    def _walk(self, node: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]:
        found = self._by_node.get(id(node))
        if found is None:
            values: dict[str, list[Any]] = {}
            items: dict[str, list[dict[str, Any]]] = {}
            stack: list[tuple[Any, frozenset[str]]] = [(i, frozenset()) for i in reversed(node.get("item") or [])]
            while stack:
                item, above = stack.pop()
                if not isinstance(item, dict):
                    continue
                link_id = item.get("linkId", "")
                if link_id not in above:
                    items.setdefault(link_id, []).append(item)
                below = above | {link_id}
                children = list(item.get("item") or [])
                for ans in item.get("answer") or []:
                    values.setdefault(link_id, []).extend(v for k, v in ans.items() if k.startswith("value"))
                    children.extend(ans.get("item") or [])
                stack.extend((c, below) for c in reversed(children))
            found = self._by_node[id(node)] = (values, items)
        return found

    def answers(self, node: dict[str, Any], link_id: str) -> list[Any]:
        return self._walk(node)[0].get(link_id, [])

    def items(self, node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
        return self._walk(node)[1].get(link_id, [])


def item_paths(qr: dict[str, Any]) -> dict[str, str]:
    """FHIRPath location of each linkId's first item (``diagnos.text#1`` for the second occurrence)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}

    def walk(items: list[Any], prefix: str) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            link_id, path = item.get("linkId", ""), f"{prefix}.item[{i}]"
            n = seen.get(link_id, 0)
            seen[link_id] = n + 1
            out.setdefault(link_id, path)
            out[f"{link_id}#{n}"] = path
            walk(item.get("item") or [], path)
            for j, ans in enumerate(item.get("answer") or []):
                walk(ans.get("item") or [], f"{path}.answer[{j}]")

    walk(qr.get("item") or [], "QuestionnaireResponse")
    return out


def _first(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> Any:
    found = idx.answers(node, link_id)
    return found[0] if found else None


def _first_code(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> str | None:
    value = _first(idx, node, link_id)
    return value.get("code") if isinstance(value, dict) else None


def _first_date(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> date | None:
    return _to_date(_first(idx, node, link_id))


def _to_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None
