"""The assessment summary (bedömningsstöd): what the certificate means for the activity requirement.

Issue 5 §1 and DESIGN §1: the socialnämnd decides, per activity type, how many hours a week the
person can take part; this module derives those figures and the flags a case worker looks for
from the answers, as data. The rules, and the choices made where the issue leaves room, are in
docs/outbound.md ("Bedömningsstöd"):

- hours per week: fullt = 40, begransat = the hours given, inte = 0;
- remaining work capacity: ej-nedsatt 100, nedsatt-25 75, nedsatt-50 50, nedsatt-75 25, helt-nedsatt 0;
- validity end = formaga.period.slut; latest follow-up = the earlier of the period end and three
  calendar months after the period start;
- flags; quality remarks (descriptions shorter than ``MIN_DESCRIPTION_CHARS``, a diagnosis text
  that only repeats the code or its display).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from adapter import messages
from adapter.fhir.items import walk
from adapter.fhir.submission import Submission

HOURS_FULL_TIME = 40
"""A full-time activity week in hours (the activity requirement is, as a rule, full time)."""
MIN_DESCRIPTION_CHARS = 50
"""Below this many characters an impairment or activity-limitation text rarely supports a decision."""
FOLLOW_UP_MONTHS = 3
"""The municipality follows up at the latest this many months after the period starts."""

REMAINING_CAPACITY = {"ej-nedsatt": 100, "nedsatt-25": 75, "nedsatt-50": 50, "nedsatt-75": 25, "helt-nedsatt": 0}
COORDINATED_REHABILITATION = frozenset({"samordnad-rehabilitering", "samordningsforbund",
                                        "arbetslivsinriktad-rehabilitering"})
UNCLEAR_OR_POOR_PROGNOSIS = frozenset({"oklar", "ej-aterfa"})
_DESCRIPTIONS = ("funktionsnedsattning", "aktivitetsbegransning")


@dataclass(frozen=True)
class ActivityCapacity:
    """One assessed activity type and the hours per week the person can take part."""

    typ: dict[str, Any]
    deltagande: dict[str, Any]
    timmar_per_vecka: int | None


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
    """A quality remark: something in the certificate a case worker should look at twice."""

    code: str
    link_id: str
    expression: str | None
    text_sv: str
    text_en: str


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


def assess(bundle: dict[str, Any], *, index: AnswerIndex | None = None) -> Assessment:
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
    out = []
    for group in idx.items(qr, "formaga.aktivitet"):
        typ = _first(idx, group, "formaga.aktivitet.typ")
        deltagande = _first(idx, group, "formaga.aktivitet.deltagande")
        if not isinstance(typ, dict) or not isinstance(deltagande, dict):
            continue
        out.append(ActivityCapacity(typ=typ, deltagande=deltagande,
                                    timmar_per_vecka=_hours(idx, deltagande.get("code"), group)))
    return out


def _hours(idx: AnswerIndex, participation: str | None, group: dict[str, Any]) -> int | None:
    if participation == "fullt":
        return HOURS_FULL_TIME
    if participation == "inte":
        return 0
    given = _first(idx, group, "formaga.aktivitet.timmar")
    return given if participation == "begransat" and isinstance(given, int) else None


def _flags(idx: AnswerIndex, qr: dict[str, Any], start: date | None, slut: date | None) -> Flags:
    measures = {c.get("code") for c in idx.answers(qr, "atgarder.typ") if isinstance(c, dict)}
    basis = [d for d in (_to_date(v) for v in idx.answers(qr, "grund.datum")) if d]
    return Flags(
        sip_rekommenderas="sip" in measures,
        samordnad_rehabilitering_rekommenderas=bool(measures & COORDINATED_REHABILITATION),
        kontakt_onskas=_first(idx, qr, "kontakt.onskas") is True,
        retroaktiv_period=bool(start and basis and start < min(basis)),
        oklar_eller_dalig_prognos=_first_code(idx, qr, "prognos.typ") in UNCLEAR_OR_POOR_PROGNOSIS,
        period_over_tre_manader=bool(start and slut and slut >= add_months(start, FOLLOW_UP_MONTHS)),
    )


def _remarks(idx: AnswerIndex, qr: dict[str, Any]) -> list[Remark]:
    out = []
    paths = item_paths(qr)
    for link_id in _DESCRIPTIONS:
        text = _first(idx, qr, link_id)
        if not isinstance(text, str) or len(text.strip()) < MIN_DESCRIPTION_CHARS:
            label = next((i.get("text") for i in idx.items(qr, link_id) if i.get("text")), link_id)
            out.append(_remark("LISN_ASSESS_TEXT_TOO_SHORT", link_id, paths.get(link_id),
                               min=MIN_DESCRIPTION_CHARS, label=label))
    for index, group in enumerate(idx.items(qr, "diagnos")):
        code, text = _first(idx, group, "diagnos.kod"), _first(idx, group, "diagnos.text")
        if isinstance(code, dict) and _repeats_code(text, code):
            out.append(_remark("LISN_ASSESS_DIAGNOS_TEXT_REPEATS_CODE", "diagnos.text",
                               paths.get(f"diagnos.text#{index}"), code=code.get("code", "")))
    if not idx.items(qr, "formaga.aktivitet"):
        out.append(_remark("LISN_ASSESS_NO_ACTIVITY_ASSESSED", "formaga.aktivitet", paths.get("formaga")))
    for activity in _activities(idx, qr):
        if activity.timmar_per_vecka is None:
            out.append(_remark("LISN_ASSESS_HOURS_MISSING", "formaga.aktivitet.timmar", paths.get("formaga"),
                               typ=activity.typ.get("code", "")))
    return out


def _remark(message_id: str, link_id: str, expression: str | None, **args: Any) -> Remark:
    return Remark(code=message_id, link_id=link_id, expression=expression, text_sv=messages.text(
        message_id, "sv", linkId=link_id, **args), text_en=messages.text(message_id, "en", linkId=link_id, **args))


def _normalise(text: Any) -> str:
    return re.sub(r"[\W_]+", "", str(text or "")).casefold()


def _repeats_code(text: Any, code: dict[str, Any]) -> bool:
    """True when the free text adds nothing to the code: empty, the code, its display, or both."""
    said, c, d = _normalise(text), _normalise(code.get("code")), _normalise(code.get("display"))
    return said in {"", c, d, c + d, d + c}


# -- reading answers -----------------------------------------------------------------------------

def find_items(node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
    """Every item with ``link_id`` below ``node`` (not the matches' own descendants with that linkId)."""
    return [v.item for v in walk(node) if v.link_id == link_id and link_id not in v.above]


class AnswerIndex:
    """Answers and items by linkId below a group, found in one walk per group: a mapping asks for
    many linkIds, and walking the response once per question was the engine's main cost.

    Built on the one item walk (:func:`adapter.fhir.items.walk`), as
    :func:`adapter.fhir.submission.answers` and :func:`find_items` are: the same answers, in the
    same order, and the same items.
    """

    def __init__(self) -> None:
        self._by_node: dict[int, tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]] = {}

    def _walk(self, node: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]:
        found = self._by_node.get(id(node))
        if found is None:
            values: dict[str, list[Any]] = {}
            items: dict[str, list[dict[str, Any]]] = {}
            for visit in walk(node):
                values.setdefault(visit.link_id, []).extend(visit.values())
                if visit.link_id not in visit.above:
                    items.setdefault(visit.link_id, []).append(visit.item)
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
    for visit in walk(qr):
        n = seen.get(visit.link_id, 0)
        seen[visit.link_id] = n + 1
        out.setdefault(visit.link_id, visit.path)
        out[f"{visit.link_id}#{n}"] = visit.path
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
