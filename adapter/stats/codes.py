"""The fixed vocabularies of the statistics: bands, ICD-10 chapters, counties (län) and Swedish labels.

A band or chapter is chosen here once, so that the row written at receipt, the back-fill of
older certificates and every table read them the same way.
"""

from __future__ import annotations

from collections.abc import Callable

UNKNOWN = "okand"
"""The value of a dimension the certificate does not say (kept as a value, so totals add up)."""

SEXES = ("female", "male", UNKNOWN)
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65-")
ACTIVITY_BANDS = ("0", "1-10", "11-20", "21-30", "31-40")
"""Hours a week the person can take part in activities (the total activity capacity)."""
DAY_BANDS = ("0-30", "31-90", "91-180", "181-365", "366-")
"""Days between two events (debut to certificate, signing to delivery)."""
CONSENT_OUTCOMES = ("released", "withheld", "revoked")
LIFECYCLE = ("current", "replaced", "withdrawn")

# ICD-10 chapters by the range of codes they hold (WHO ICD-10, the same in ICD-10-SE).
ICD10_CHAPTERS = (
    ("I", "A00", "B99"), ("II", "C00", "D48"), ("III", "D50", "D89"), ("IV", "E00", "E90"),
    ("V", "F00", "F99"), ("VI", "G00", "G99"), ("VII", "H00", "H59"), ("VIII", "H60", "H95"),
    ("IX", "I00", "I99"), ("X", "J00", "J99"), ("XI", "K00", "K93"), ("XII", "L00", "L99"),
    ("XIII", "M00", "M99"), ("XIV", "N00", "N99"), ("XV", "O00", "O99"), ("XVI", "P00", "P96"),
    ("XVII", "Q00", "Q99"), ("XVIII", "R00", "R99"), ("XIX", "S00", "T98"), ("XX", "V01", "Y98"),
    ("XXI", "Z00", "Z99"), ("XXII", "U00", "U99"),
)

# Sveriges län by the two first digits of a kommunkod (SCB).
REGIONS = {
    "01": "Stockholms län", "03": "Uppsala län", "04": "Södermanlands län", "05": "Östergötlands län",
    "06": "Jönköpings län", "07": "Kronobergs län", "08": "Kalmar län", "09": "Gotlands län",
    "10": "Blekinge län", "12": "Skåne län", "13": "Hallands län", "14": "Västra Götalands län",
    "17": "Värmlands län", "18": "Örebro län", "19": "Västmanlands län", "20": "Dalarnas län",
    "21": "Gävleborgs län", "22": "Västernorrlands län", "23": "Jämtlands län", "24": "Västerbottens län",
    "25": "Norrbottens län",
}

LABELS_SV = {
    "female": "Kvinna", "male": "Man", UNKNOWN: "Okänt",
    "released": "Lämnat ut", "withheld": "Hålls inne (samtycke saknas)", "revoked": "Samtycke återkallat",
    "current": "Gällande", "replaced": "Ersatt", "withdrawn": "Makulerat",
    "ej-nedsatt": "Inte nedsatt", "nedsatt-25": "Nedsatt 1/4", "nedsatt-50": "Nedsatt 1/2",
    "nedsatt-75": "Nedsatt 3/4", "helt-nedsatt": "Helt nedsatt",
    "fullt": "Fullt ut", "begransat": "Begränsat", "inte": "Kan inte delta", "ej-bedomd": "Ej bedömd",
    "ja": "Ja", "nej": "Nej",
    "aterfar-helt": "Återfår helt", "aterfar-delvis": "Återfår delvis", "oklar": "Oklar",
    "ej-aterfa": "Återfår inte",
}


def icd10_chapter(code: str | None) -> str:
    """The chapter (roman numeral) of an ICD-10(-SE) code such as ``F32.1``; :data:`UNKNOWN` otherwise."""
    head = (code or "").strip().upper()[:3]
    if len(head) < 3 or not head[0].isalpha() or not head[1:].isdigit():
        return UNKNOWN
    return next((chapter for chapter, low, high in ICD10_CHAPTERS if low <= head <= high), UNKNOWN)


def band(value: int | None, bands: tuple[str, ...]) -> str:
    """The band (``"11-20"``, ``"366-"``) that holds ``value``; :data:`UNKNOWN` for None or a negative value."""
    if value is None or value < 0:
        return UNKNOWN
    for name in bands:
        low, dash, high = name.partition("-")
        if not dash and value == int(low):
            return name
        if dash and int(low) <= value and (not high or value <= int(high)):
            return name
    return bands[-1]  # above the last closed band (more than 40 hours a week counts as 31-40)


def region_of(kommunkod: str | None) -> str:
    """The län of a kommunkod: its first two digits (``0180`` -> ``01``)."""
    head = (kommunkod or "")[:2]
    return head if head in REGIONS else UNKNOWN


WORK_CAPACITY = ("ej-nedsatt", "nedsatt-25", "nedsatt-50", "nedsatt-75", "helt-nedsatt")
PROGNOSES = ("aterfar-helt", "aterfar-delvis", "oklar", "ej-aterfa")
LEVELS = ("fullt", "begransat", "inte", "ej-bedomd")
ORDER = {"sex": SEXES, "agegroup": AGE_BANDS, "capacity": WORK_CAPACITY, "activity_hours": ACTIVITY_BANDS,
         "debut": DAY_BANDS, "delivery": DAY_BANDS, "consent": CONSENT_OUTCOMES, "status": LIFECYCLE,
         "prognosis": PROGNOSES, "chapter": tuple(c[0] for c in ICD10_CHAPTERS), "replacement": ("nej", "ja")}


def sort_key(dimension: str) -> Callable[[str], tuple[int, str]]:
    """Values of a dimension in their natural order (bands ascending, capacity from none to full), the
    unknown last; values without an order (kommun, month) as text."""
    order = LEVELS if dimension.startswith("activity:") else ("nej", "ja") if dimension.startswith(
        "measure:") else ORDER.get(dimension, ())

    def key(value: str) -> tuple[int, str]:
        if value == UNKNOWN:
            return (len(order) + 1, value)
        return (order.index(value), "") if value in order else (len(order), value)
    return key
