"""A protected table as a FHIR R4 ``MeasureReport`` of the Measure ``lisn-intyg`` (profiles/Measure-lisn-intyg.json).

The group's population count is the total; each dimension is a stratifier whose strata are its
margins (one dimension: its cells); with two or more dimensions one more stratifier, with
components, carries the cells. A hidden number has no ``count`` and carries the
``data-absent-reason`` extension ``masked`` instead. Every number comes from one protected table,
so the report shows exactly what the table shows.
"""

from __future__ import annotations

from typing import Any

from adapter.stats.disclosure import ALL, Cell, Table

MEASURE = "https://lisn.se/fhir/Measure/lisn-intyg|1.0.0"
POPULATION = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population",
                          "code": "initial-population"}]}
MASKED = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}
Resource = dict[str, Any]


def measure_report(table: Table, *, period: tuple[str, str], created: str) -> Resource:
    """The report for ``period`` (``YYYY-MM-DD`` bounds), made at ``created`` (a FHIR instant)."""
    dims = table.dimensions
    stratifiers = []
    for i, name in enumerate(dims):
        cells = table.cells if len(dims) == 1 else [m for m in table.margins if m.key[i] != ALL
                                                     and all(v == ALL for j, v in enumerate(m.key) if j != i)]
        stratifiers.append(_stratifier([{"text": name}],
                                       [_stratum({"value": {"text": c.key[i]}}, c) for c in cells]))
    if len(dims) > 1:
        stratifiers.append(_stratifier([{"text": name} for name in dims], [
            _stratum({"component": [{"code": {"text": d}, "value": {"text": v}} for d, v in zip(dims, c.key)]}, c)
            for c in table.cells]))
    group: Resource = {"population": [_population(table.total)]}
    if stratifiers:
        group["stratifier"] = stratifiers
    return {"resourceType": "MeasureReport", "status": "complete", "type": "summary", "measure": MEASURE,
            "date": created, "period": {"start": period[0], "end": period[1]}, "group": [group]}


def _stratifier(code: list[Resource], strata: list[Resource]) -> Resource:
    return {"code": code, "stratum": strata} if strata else {"code": code}  # FHIR JSON has no empty arrays


def _population(cell: Cell) -> Resource:
    found: Resource = {"code": POPULATION}
    if cell.count is None:
        found["extension"] = [MASKED]
    else:
        found["count"] = cell.count
    return found


def _stratum(head: Resource, cell: Cell) -> Resource:
    return {**head, "population": [_population(cell)]}
