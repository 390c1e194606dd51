"""The assessment summary (bedömningsstöd): what the certificate means for the activity requirement.

The socialnämnd decides how much, and in which kinds of activity, the person can take part
(DESIGN §1, seed 001: the bedömningsstöd helps "ta ställning till i vilken utsträckning de
medicinska nedsättningar ... påverkar den enskildes förutsättningar att stå till
arbetsmarknadens förfogande eller att delta i aktiviteter"). This module restates what the
physician wrote, as data, and never adds a figure the physician did not write: "kan delta fullt
ut" stays the code ``fullt``, hours appear only where the physician gave them. On top of that it
lists remarks a case worker must look at before deciding. Every rule, with its source and its
threshold, is the table in docs/outbound.md ("Bedömningsstöd"); the remarks are
:mod:`adapter.outbound.remarks`; the cases are ``tests/unit/outbound/assessment_cases.yaml``.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from adapter.fhir.items import walk
from adapter.fhir.submission import Submission

FOLLOW_UP_MONTHS = 3
"""The municipality follows up at the latest this many months after the period starts."""

REMAINING_CAPACITY = {"ej-nedsatt": 100, "nedsatt-25": 75, "nedsatt-50": 50, "nedsatt-75": 25, "helt-nedsatt": 0}
COORDINATED_REHABILITATION = frozenset({"samordnad-rehabilitering", "samordningsforbund",
                                        "arbetslivsinriktad-rehabilitering"})
UNCLEAR_OR_POOR_PROGNOSIS = frozenset({"oklar", "ej-aterfa"})
ACTIVITY_GROUPS = ("formaga.aktivitet", "formaga.period.aktivitet")
"""Template 1.0 assesses activities once for the one period; 1.1 per period (a stepwise build-up)."""


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
class Capacity:
    """The total capacity over all activity types (template 1.1): the code, hours only when given."""

    deltagande: dict[str, Any]
    timmar_per_vecka: int | None = None
    timmar_per_dag: float | None = None


@dataclass(frozen=True)
class PeriodCapacity:
    """One period of the assessment (1.1 has up to four: a stepwise build-up)."""

    start: date | None
    slut: date | None
    total_formaga: Capacity | None
    aktiviteter: tuple[ActivityCapacity, ...]


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
    """Template 1.0's activities (``formaga.aktivitet``); a 1.1 certificate has them per period."""
    kvarvarande_arbetsformaga_procent: int | None = None
    giltigt_till_och_med: date | None = None
    senast_uppfoljning: date | None = None
    flaggor: Flags = field(default_factory=Flags)
    kvalitetsanmarkningar: tuple[Remark, ...] = ()
    perioder: tuple[PeriodCapacity, ...] = ()
    total_formaga: Capacity | None = None
    """The total capacity at the start (the first period's), when the template asks for it (1.1)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data (dates as ISO strings) for the mapping engine and templates."""
        data = asdict(self)
        for key in ("giltigt_till_och_med", "senast_uppfoljning"):
            data[key] = data[key].isoformat() if data[key] else None
        for period in data["perioder"]:
            for key in ("start", "slut"):
                period[key] = period[key].isoformat() if period[key] else None
        return data


def assess(bundle: dict[str, Any], *, index: AnswerIndex | None = None) -> Assessment:
    """The bedömningsstöd for a submission Bundle (or a bare QuestionnaireResponse).

    ``index`` lets the XML transformation share its answer index (one walk of the response).
    """
    from adapter.outbound.remarks import remarks

    qr = bundle if bundle.get("resourceType") == "QuestionnaireResponse" else (Submission(bundle).response or {})
    idx = index or AnswerIndex()
    periods = tuple(periods_of(idx, qr))
    start, slut = span(periods)
    new_certificate = first_date(idx, qr, "prognos.nyttintyg")
    ends = [d for d in (slut, add_months(start, FOLLOW_UP_MONTHS) if start else None, new_certificate) if d]
    return Assessment(
        aktiviteter=tuple(a for _, a in activity_groups(idx, qr, ("formaga.aktivitet",))),
        kvarvarande_arbetsformaga_procent=REMAINING_CAPACITY.get(first_code(idx, qr, "formaga.arbete") or ""),
        giltigt_till_och_med=slut,
        senast_uppfoljning=min(ends) if ends else None,
        flaggor=_flags(idx, qr, start, slut),
        kvalitetsanmarkningar=tuple(remarks(idx, qr, periods)),
        perioder=periods,
        total_formaga=periods[0].total_formaga if periods else None,
    )


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def span(periods: tuple[PeriodCapacity, ...]) -> tuple[date | None, date | None]:
    """The first start and the last end over all periods."""
    starts = [p.start for p in periods if p.start]
    ends = [p.slut for p in periods if p.slut]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def periods_of(idx: AnswerIndex, qr: dict[str, Any]) -> list[PeriodCapacity]:
    """Every ``formaga.period``; a 1.0 certificate's one period carries 1.0's ``formaga.aktivitet``."""
    top = tuple(a for _, a in activity_groups(idx, qr, ("formaga.aktivitet",)))
    out = []
    for group in idx.items(qr, "formaga.period"):
        own = tuple(a for _, a in activity_groups(idx, group, ("formaga.period.aktivitet",)))
        out.append(PeriodCapacity(start=first_date(idx, group, "formaga.period.start"),
                                  slut=first_date(idx, group, "formaga.period.slut"),
                                  total_formaga=_total(idx, group), aktiviteter=own or top))
    return out


def _total(idx: AnswerIndex, period: dict[str, Any]) -> Capacity | None:
    code = first_answer(idx, period, "formaga.period.totalt")
    if not isinstance(code, dict):
        return None
    hours, per_day = first_answer(idx, period, "formaga.period.totalt.timmar"), first_answer(idx, period, "formaga.period.totalt.dag")
    limited = code.get("code") == "begransat"
    return Capacity(deltagande=code, timmar_per_vecka=hours if limited and isinstance(hours, int) else None,
                    timmar_per_dag=per_day if limited and isinstance(per_day, (int, float)) else None)


def activity_groups(idx: AnswerIndex, node: dict[str, Any],
                    families: tuple[str, ...] = ACTIVITY_GROUPS) -> list[tuple[str, ActivityCapacity]]:
    """Each well-formed activity group below ``node`` with its location key (``linkId#n``, for item_paths).

    Kept on the index: the summary, its periods and the remarks each ask for the same groups.
    """
    key = (id(node), families)
    found = idx.groups.get(key)
    if found is not None:
        return found
    out = idx.groups[key] = []
    for family in families:
        for n, group in enumerate(idx.items(node, family)):
            typ, deltagande = first_answer(idx, group, f"{family}.typ"), first_answer(idx, group, f"{family}.deltagande")
            if not isinstance(typ, dict) or not isinstance(deltagande, dict):
                continue
            given = first_answer(idx, group, f"{family}.timmar")
            hours = given if deltagande.get("code") == "begransat" and isinstance(given, int) else None
            adaptation = first_answer(idx, group, f"{family}.anpassning")
            out.append((f"{family}#{n}", ActivityCapacity(
                typ=typ, deltagande=deltagande, timmar_per_vecka=hours,
                anpassning=adaptation.strip() or None if isinstance(adaptation, str) else None)))
    return out


def _flags(idx: AnswerIndex, qr: dict[str, Any], start: date | None, slut: date | None) -> Flags:
    measures = {c.get("code") for c in idx.answers(qr, "atgarder.typ") if isinstance(c, dict)}
    basis = basis_dates(idx, qr)
    return Flags(
        sip_rekommenderas="sip" in measures,
        samordnad_rehabilitering_rekommenderas=bool(measures & COORDINATED_REHABILITATION),
        kontakt_onskas=first_answer(idx, qr, "kontakt.onskas") is True,
        retroaktiv_period=bool(start and basis and start < min(basis)),
        oklar_eller_dalig_prognos=first_code(idx, qr, "prognos.typ") in UNCLEAR_OR_POOR_PROGNOSIS,
        period_over_tre_manader=bool(start and slut and slut >= add_months(start, FOLLOW_UP_MONTHS)),
    )


def basis_dates(idx: AnswerIndex, qr: dict[str, Any]) -> list[date]:
    return [d for d in (to_date(v) for v in idx.answers(qr, "grund.datum")) if d]


# -- reading answers -----------------------------------------------------------------------------

def find_items(node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
    """Every item with ``link_id`` below ``node`` (not the matches' own descendants with that linkId)."""
    return [v.item for v in walk(node) if v.link_id == link_id and link_id not in v.above]


_Frame = tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]], frozenset[Any]]
"""One group's index while the walk is below it: its answers and items by linkId, and the linkIds
between the group and the current item."""


class AnswerIndex:
    """Answers and items by linkId below the response and below each of its groups, all found in
    one walk: a mapping asks for many linkIds, and walking the response once per question (then
    once per group) was the engine's main cost.

    The walk is :func:`adapter.fhir.items.walk`'s (the same items in the same document order: an
    item, then its own children, then those under its answers; the same answers and the same
    items, which tests hold it to), written out without what only ``walk`` needs (FHIRPath
    locations, a Visit object per item): it runs for every certificate sent.
    """

    def __init__(self) -> None:
        self._by_node: dict[int, tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]] = {}
        self._order: dict[int, list[tuple[str, list[Any]]]] = {}
        self.groups: dict[tuple[int, tuple[str, ...]], list[tuple[str, ActivityCapacity]]] = {}
        """:func:`activity_groups` by group and families."""

    def _walk(self, node: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[dict[str, Any]]]]:
        found = self._by_node.get(id(node))
        if found is None:
            self._index(node)
            found = self._by_node[id(node)]
        return found

    def _index(self, top: dict[str, Any]) -> None:
        """Index ``top`` and, in the same walk, every item below it that has an ``item`` of its own
        (as :func:`~adapter.fhir.items.walk` of an item starts at its ``item``, not its answers)."""
        first: _Frame = ({}, {}, frozenset())
        self._by_node[id(top)] = (first[0], first[1])
        order: list[tuple[str, list[Any]]] = []
        self._visit(top.get("item") or [], [first], order)
        self._order[id(top)] = order

    def _visit(self, children: Any, frames: list[_Frame], order: list[tuple[str, list[Any]]]) -> None:
        """Each item is met once; its answers go to the index of every enclosing group (``frames``:
        the group's answers, its items, and the linkIds between it and the current item).

        A method, not a closure over itself: a recursive closure is a reference cycle, which only
        the garbage collector frees (with the whole index), once per document.
        """
        for item in children:
            if not isinstance(item, dict):
                continue
            raw = item.get("linkId", "")
            link_id = raw if type(raw) is str else str(raw)
            # the answers' values and the items under them, in one loop (no comprehensions: each
            # is a function call, and this runs for every item of every certificate)
            got: list[Any] = []
            nested: list[Any] = []
            for ans in item.get("answer") or []:
                if isinstance(ans, dict):
                    for key, value in ans.items():
                        if key.startswith("value"):
                            got.append(value)
                    below = ans.get("item")
                    if below:
                        nested.append(below)
            order.append((link_id, got))
            for values, items, above in frames:
                if got:
                    found = values.get(link_id)
                    if found is None:
                        values[link_id] = got.copy()
                    else:
                        found.extend(got)
                if link_id not in above:
                    listed = items.get(link_id)
                    if listed is None:
                        items[link_id] = [item]
                    else:
                        listed.append(item)
            own = item.get("item")
            if own or nested:
                outer = [(values, items, above | {raw}) for values, items, above in frames]
                if own:  # an item's own index holds its item.item, not what is under its answers
                    mine: _Frame = ({}, {}, frozenset())
                    self._by_node[id(item)] = (mine[0], mine[1])
                    self._visit(own, [*outer, mine], order)
                for below in nested:
                    self._visit(below, outer, order)

    def in_order(self, node: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        """(linkId, its answers' values) of every item below ``node``, in document order."""
        found = self._order.get(id(node))
        if found is None:
            self._index(node)
            found = self._order[id(node)]
        return found

    # answers() and items() run a few hundred times per document: the index looked up in place,
    # walked (by _walk) only the first time.
    def answers(self, node: dict[str, Any], link_id: str) -> list[Any]:
        found = self._by_node.get(id(node)) or self._walk(node)
        return found[0].get(link_id, [])

    def items(self, node: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
        found = self._by_node.get(id(node)) or self._walk(node)
        return found[1].get(link_id, [])


def item_paths(qr: dict[str, Any]) -> dict[str, str]:
    """FHIRPath location of each linkId's first item (``diagnos.text#1`` for the second occurrence).

    The locations :func:`adapter.fhir.items.walk` gives, in its order (a test holds them equal).
    """
    out: dict[str, str] = {}
    _paths(qr.get("item") or [], "QuestionnaireResponse", out, {})
    return out


def _paths(children: list[Any], prefix: str, out: dict[str, str], seen: dict[str, int]) -> None:
    for i, item in enumerate(children):
        if not isinstance(item, dict):
            continue
        path = f"{prefix}.item[{i}]"
        link_id = str(item.get("linkId", ""))
        n = seen.get(link_id, 0)
        seen[link_id] = n + 1
        out.setdefault(link_id, path)
        out[f"{link_id}#{n}"] = path
        if item.get("item"):
            _paths(item["item"], path, out, seen)
        for j, ans in enumerate(item.get("answer") or []):
            if isinstance(ans, dict) and ans.get("item"):
                _paths(ans["item"], f"{path}.answer[{j}]", out, seen)


def item_path(qr: dict[str, Any], key: str) -> str | None:
    """``item_paths(qr).get(key)``, walking only as far as needed: a remark needs one or two
    locations, and the whole table cost about a tenth of a certificate's transform.

    ``linkId#n`` is the location of the n-th item with that linkId (the walk stops there); a plain
    key is the first item's, unless some ``L#n`` names it too (then that one, as in the table, where
    the ``#n`` entries are written over the first-item entries), so it stops at the first item only
    when the key cannot be read as ``L#n`` (a test holds it to :func:`item_paths` on every key).
    """
    link_id, sep, tail = key.rpartition("#")
    nth = int(tail) if sep and tail.isascii() and tail.isdigit() and str(int(tail)) == tail else None
    state: list[Any] = [0, None]  # the items with linkId ``link_id`` met so far, the first item named ``key``
    found = _find_path(qr.get("item") or [], "QuestionnaireResponse", key, link_id if nth is not None else None,
                       nth, state)
    return found if found is not None else state[1]


def _find_path(children: list[Any], prefix: str, key: str, link_id: str | None, nth: int | None,
               state: list[Any]) -> str | None:
    """:func:`_paths`' walk, stopping at the ``nth`` item with ``link_id`` (its location is
    returned), or at the first item named ``key`` when there is no ``nth`` to look for; the
    location of the first item named ``key`` goes to ``state[1]``."""
    for i, item in enumerate(children):
        if not isinstance(item, dict):
            continue
        raw = item.get("linkId", "")
        found = raw if type(raw) is str else str(raw)
        if found == link_id:
            if state[0] == nth:
                return f"{prefix}.item[{i}]"
            state[0] += 1
        if found == key and state[1] is None:
            if nth is None:
                return f"{prefix}.item[{i}]"
            state[1] = f"{prefix}.item[{i}]"
        own, answers = item.get("item"), item.get("answer")
        if own or answers:
            path = f"{prefix}.item[{i}]"
            if own and (got := _find_path(own, path, key, link_id, nth, state)) is not None:
                return got
            for j, ans in enumerate(answers or []):
                if isinstance(ans, dict) and ans.get("item") \
                        and (got := _find_path(ans["item"], f"{path}.answer[{j}]", key, link_id, nth, state)) is not None:
                    return got
    return None


def first_answer(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> Any:
    found = idx.answers(node, link_id)
    return found[0] if found else None


def first_code(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> str | None:
    value = first_answer(idx, node, link_id)
    return value.get("code") if isinstance(value, dict) else None


def first_date(idx: AnswerIndex, node: dict[str, Any], link_id: str) -> date | None:
    return to_date(first_answer(idx, node, link_id))


def to_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None
