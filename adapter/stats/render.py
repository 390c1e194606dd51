"""A protected table as JSON, CSV or text, with Swedish labels; hidden numbers are shown as ``..``
(SCB's sign for "too uncertain or withheld to publish")."""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from typing import Any

from adapter.data import data_dir
from adapter.stats import codes
from adapter.stats.disclosure import ALL, Cell, Table

HIDDEN = ".."
TOTAL_SV = "Totalt"
DIMENSION_SV = {
    "sex": "Juridiskt kön", "agegroup": "Åldersgrupp", "kommun": "Kommun", "region": "Län", "provider": "Vårdgivare",
    "month": "Månad", "template": "Mallversion", "chapter": "Diagnoskapitel (ICD-10)",
    "capacity": "Arbetsförmåga", "activity_hours": "Aktivitetsförmåga, timmar/vecka", "prognosis": "Prognos",
    "debut": "Dagar debut–intyg", "delivery": "Dagar signering–leverans", "consent": "Samtycke",
    "status": "Intygets status", "replacement": "Ersättningsintyg",
}


@lru_cache(maxsize=1)
def kommun_names() -> dict[str, str]:
    found = json.loads((data_dir("profiles") / "CodeSystem-kommunkod.json").read_text("utf-8"))
    return {c["code"]: c["display"] for c in found.get("concept", [])}


def dimension_label(name: str) -> str:
    kind, _, code = name.partition(":")
    if kind == "activity" and code:
        return f"Aktivitet {code}"
    if kind == "measure" and code:
        return f"Åtgärd {code}"
    return DIMENSION_SV.get(name, name)


def value_label(dimension: str, value: str) -> str:
    if value == ALL:
        return TOTAL_SV
    if dimension == "kommun":
        return f"{kommun_names().get(value, value)} ({value})"
    if dimension == "region":
        return f"{codes.REGIONS.get(value, codes.LABELS_SV.get(value, value))} ({value})"
    if dimension == "chapter" and value != codes.UNKNOWN:
        return f"Kapitel {value}"
    if dimension in ("debut", "delivery", "activity_hours") and value != codes.UNKNOWN:
        unit = "tim" if dimension == "activity_hours" else "dagar"
        low, dash, high = value.partition("-")
        return f"{low}–{high} {unit}" if high else f"minst {low} {unit}" if dash else f"{low} {unit}"
    return codes.LABELS_SV.get(value, value)


def as_json(table: Table, *, months: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """The table as JSON without empty values: a hidden number has no ``count``, only ``suppressed``;
    an open period bound, an empty list are left out."""
    def entry(cell: Cell) -> dict[str, Any]:
        out: dict[str, Any] = {d: v for d, v in zip(table.dimensions, cell.key) if v != ALL}
        if cell.count is not None:
            out["count"] = cell.count
        if cell.suppressed:
            out["suppressed"] = cell.suppressed
        return out

    found: dict[str, Any] = {"dimensions": list(table.dimensions), "threshold": table.threshold}
    period = {k: v for k, v in (("from", months[0]), ("to", months[1])) if v}
    if period:
        found["period"] = period
    if table.cells:
        found["cells"] = [entry(c) for c in table.cells]
    if table.margins:
        found["margins"] = [entry(c) for c in table.margins]
    found["total"] = entry(table.total)
    if not found["dimensions"]:
        del found["dimensions"]
    return found


def rows(table: Table) -> list[list[str]]:
    """Header and rows: every cell, then the margins and the total (``Totalt`` where summed over)."""
    head = [dimension_label(d) for d in table.dimensions] + ["Antal"]
    body = [[value_label(d, v) for d, v in zip(table.dimensions, c.key)]
            + [HIDDEN if c.count is None else str(c.count)] for c in table.all()]
    return [head, *body]


def as_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows(table))
    return out.getvalue()


def as_text(table: Table) -> str:
    found = rows(table)
    widths = [max(len(r[i]) for r in found) for i in range(len(found[0]))]
    lines = ["  ".join(v.rjust(w) if i == len(r) - 1 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
             for r in found]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (f"\n{HIDDEN} = dolt: färre än {table.threshold}, eller skulle låta ett sådant tal räknas fram "
            f"(hidden: fewer than {table.threshold}, or would let one be worked out)")
    return "\n".join(lines) + note
