"""The assessment summary on a table of cases (tests/unit/outbound/assessment_cases.yaml)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.fhir.submission import Submission
from adapter.outbound import assess
from adapter.outbound.assessment import add_months, find_items

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
EXAMPLE_1_1 = HERE.parents[2] / "tests" / "golden" / "outbound" / "1.1" / "example.input.json"
CASES = yaml.safe_load((HERE / "assessment_cases.yaml").read_text(encoding="utf-8"))
CS = "https://lisn.se/fhir/CodeSystem/"
CODED = {"formaga.arbete": "formaga-arbete", "prognos.typ": "prognos-typ", "atgarder.typ": "atgarder-typ",
         "formaga.aktivitet.typ": "aktivitet-typ", "formaga.aktivitet.deltagande": "aktivitet-deltagande",
         "grund.typ": "grund-typ", "formaga.period.totalt": "aktivitet-deltagande",
         "formaga.period.aktivitet.deltagande": "aktivitet-deltagande"}
ICD10_SE = "urn:oid:1.2.752.116.1.1.1"


def _value(link_id: str, value: Any) -> dict[str, Any]:
    if link_id in CODED:
        return {"valueCoding": {"system": CS + CODED[link_id], "code": value}}
    if link_id == "diagnos.kod":
        return {"valueCoding": {"system": ICD10_SE, "code": value}}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, date):
        return {"valueDate": value.isoformat()}
    return {"valueString": value}


def _set(qr: dict[str, Any], link_id: str, value: Any) -> None:
    target = find_items(qr, link_id)
    assert target, f"the example has no item {link_id}"
    values = value if isinstance(value, list) else [value]
    target[0]["answer"] = [_value(link_id, v) for v in values if v is not None]


def _activity(spec: list[Any]) -> dict[str, Any]:
    """[typ, deltagande, timmar?, anpassning?] as a formaga.aktivitet group (None leaves an answer out)."""
    items = [{"linkId": "formaga.aktivitet.typ", "answer": [_value("formaga.aktivitet.typ", spec[0])]},
             {"linkId": "formaga.aktivitet.deltagande", "answer": [_value("formaga.aktivitet.deltagande", spec[1])]}]
    if len(spec) > 2 and spec[2] is not None:
        items.append({"linkId": "formaga.aktivitet.timmar", "answer": [{"valueInteger": spec[2]}]})
    if len(spec) > 3:
        items.append({"linkId": "formaga.aktivitet.anpassning", "answer": [{"valueString": spec[3]}]})
    return {"linkId": "formaga.aktivitet", "item": items}


def _diagnosis(spec: list[str]) -> dict[str, Any]:
    return {"linkId": "diagnos", "item": [{"linkId": "diagnos.kod", "answer": [_value("diagnos.kod", spec[0])]},
                                          {"linkId": "diagnos.text", "answer": [{"valueString": spec[1]}]}]}


def _replace_groups(items: list[dict[str, Any]], link_id: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with every group ``link_id`` replaced by ``groups``, where the first one stood."""
    at = next(i for i, item in enumerate(items) if item["linkId"] == link_id)
    others = [item for item in items if item["linkId"] != link_id]
    before = len([item for item in items[:at] if item["linkId"] != link_id])
    return others[:before] + groups + others[before:]


def build_case(case: dict[str, Any]) -> dict[str, Any]:
    base = EXAMPLE_1_1 if case.get("template") == "1.1" else EXAMPLE
    bundle = json.loads(base.read_text(encoding="utf-8"))
    qr = Submission(bundle).response
    for link_id, value in (case.get("set") or {}).items():
        _set(qr, link_id, value)
    if "aktiviteter" in case:
        formaga = find_items(qr, "formaga")[0]
        formaga["item"] = _replace_groups(formaga["item"], "formaga.aktivitet", [_activity(a) for a in case["aktiviteter"]])
    if "diagnoser" in case:
        qr["item"] = _replace_groups(qr["item"], "diagnos", [_diagnosis(d) for d in case["diagnoser"]])
    for group, day in zip(find_items(qr, "grund"), case.get("grund_datum") or []):
        _set(group, "grund.datum", day)
    for group, kind in zip(find_items(qr, "grund"), case.get("grund_typ") or []):
        _set(group, "grund.typ", kind)
    if "authored" in case:
        qr["authored"] = case["authored"]
    return bundle


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_assessment_case(case: dict[str, Any]) -> None:
    result = assess(build_case(case)).as_dict()
    expect = case["expect"]
    activities = {a["typ"]["code"]: [a["deltagande"]["code"]] + ([a["timmar_per_vecka"]] if a["timmar_per_vecka"]
                                                                 is not None else []) for a in result["aktiviteter"]}
    assert activities == expect.get("activities", {})
    if "periods" in expect:
        assert [_period(p) for p in result["perioder"]] == expect["periods"]
    assert result["kvarvarande_arbetsformaga_procent"] == expect["percent"]
    assert result["giltigt_till_och_med"] == expect["validity_end"].isoformat()
    assert result["senast_uppfoljning"] == expect["follow_up"].isoformat()
    assert sorted(k for k, v in result["flaggor"].items() if v) == sorted(expect["flags"])
    assert [f"{r['code']}@{r['link_id']}" for r in result["kvalitetsanmarkningar"]] == expect["remarks"]


def _period(p: dict[str, Any]) -> dict[str, Any]:
    """A period as [start, slut, total as [code, hours?, per day?], {typ: [deltagande, hours?]}]."""
    total = p["total_formaga"]
    shown = None if total is None else [total["deltagande"]["code"]] + [
        v for v in (total["timmar_per_vecka"], total["timmar_per_dag"]) if v is not None]
    acts = {a["typ"]["code"]: [a["deltagande"]["code"]] + ([a["timmar_per_vecka"]] if a["timmar_per_vecka"]
                                                           is not None else []) for a in p["aktiviteter"]}
    return {"from": p["start"], "to": p["slut"], "total": shown, "activities": acts}


def test_remarks_carry_text_and_location() -> None:
    case = next(c for c in CASES if c["name"] == "short-descriptions")
    first = assess(build_case(case)).kvalitetsanmarkningar[0]
    assert first.expression == "QuestionnaireResponse.item[6]"
    assert "50 tecken" in first.text_sv and "50 characters" in first.text_en


def test_the_case_table_edits_what_it_says() -> None:
    """Guard against a case silently not applying its edit (a test that could not fail)."""
    case = next(c for c in CASES if c["name"] == "retroactive")
    qr = Submission(build_case(case)).response
    starts = [a["valueDate"] for i in find_items(qr, "formaga.period.start") for a in i["answer"]]
    assert starts == ["2026-09-01"]


@pytest.mark.parametrize("day,months,expected", [
    ("2026-01-31", 1, "2026-02-28"), ("2028-01-31", 1, "2028-02-29"), ("2026-11-15", 3, "2027-02-15"),
    ("2026-12-31", 12, "2027-12-31"),
])
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(date.fromisoformat(day), months) == date.fromisoformat(expected)
