"""The LISN 1.0 Questionnaire is exactly the linkId table of DESIGN §3 (kept as data in design_items.json)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lisn_profiles_support import BASE, PROFILES, data, read

from adapter.fhir.registry import default_registry

MAX_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
DESIGN = data("design_items.json")["items"]


def _flatten(items: list[dict[str, Any]], parent: str | None = None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    for item in items:
        yield parent, item
        yield from _flatten(item.get("item") or [], item["linkId"])


@pytest.fixture(scope="module")
def questionnaire() -> dict[str, Any]:
    return read(PROFILES / "Questionnaire-lisn-1.0.json")


@pytest.fixture(scope="module")
def items(questionnaire: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    return {item["linkId"]: (parent, item) for parent, item in _flatten(questionnaire["item"])}


def _ext(item: dict[str, Any], url: str) -> Any:
    values = [next(v for k, v in e.items() if k.startswith("value")) for e in item.get("extension", [])
              if e["url"] == url]
    return values[0] if values else None


def test_header(questionnaire: dict[str, Any]) -> None:
    q = questionnaire
    assert (q["url"], q["version"], q["id"]) == (f"{BASE}/Questionnaire/lisn", "1.0", "lisn-1.0")
    assert q["title"] == "Läkarintyg till socialnämnden"
    assert (q["status"], q["language"], q["effectivePeriod"]["start"]) == ("active", "sv", "2026-07-01")
    assert q["jurisdiction"][0]["coding"][0]["code"] == "SE"
    assert q["publisher"] and q["name"]


def test_linkids_are_exactly_the_design_table_in_order(items: dict[str, Any]) -> None:
    assert list(items) == [row["linkId"] for row in DESIGN]


@pytest.mark.parametrize("row", DESIGN, ids=lambda r: r["linkId"])
def test_item_matches_design(row: dict[str, Any], items: dict[str, Any]) -> None:
    parent, item = items[row["linkId"]]
    assert parent == row["parent"]
    assert item["type"] == row["type"]
    assert item.get("required", False) is row["required"]
    assert item.get("repeats", False) is row["repeats"]
    assert _ext(item, MAX_OCCURS) == row.get("maxOccurs")
    assert item.get("maxLength") == row.get("maxLength")
    assert _ext(item, MIN_VALUE) == row.get("minValue")
    assert _ext(item, MAX_VALUE) == row.get("maxValue")
    assert item["text"], "every item has a Swedish text"
    vs = item.get("answerValueSet")
    assert vs == (f"{BASE}/ValueSet/{row['answerValueSet']}" if "answerValueSet" in row else None)


@pytest.mark.parametrize("row", [r for r in DESIGN if "enableWhen" in r], ids=lambda r: r["linkId"])
def test_enable_when_matches_design(row: dict[str, Any], items: dict[str, Any]) -> None:
    _, item = items[row["linkId"]]
    expected = row["enableWhen"]
    (ew,) = item["enableWhen"]
    assert item["enableBehavior"] in ("all", "any")
    assert (ew["question"], ew["operator"]) == (expected["question"], expected["operator"])
    if "answerCoding" in expected:
        assert ew["answerCoding"]["code"] == expected["answerCoding"]
        # The coding must come from the question's own value set.
        _, question = items[expected["question"]]
        system = question["answerValueSet"].replace("/ValueSet/", "/CodeSystem/")
        assert ew["answerCoding"]["system"] == system
    else:
        assert ew["answerBoolean"] is expected["answerBoolean"]


def test_only_design_items_have_enable_when(items: dict[str, Any]) -> None:
    with_enable = {link for link, (_, item) in items.items() if "enableWhen" in item}
    assert with_enable == {r["linkId"] for r in DESIGN if "enableWhen" in r}


def test_choice_items_name_a_resolvable_value_set(items: dict[str, Any]) -> None:
    registry = default_registry()
    for link, (_, item) in items.items():
        if item["type"] == "choice":
            vs = registry.resolve(item["answerValueSet"], "ValueSet")
            assert vs is not None, link


def test_registry_resolves_the_template_by_canonical_with_version() -> None:
    registry = default_registry()
    found = registry.resolve(f"{BASE}/Questionnaire/lisn|1.0", "Questionnaire")
    assert found is not None and found["id"] == "lisn-1.0"
    assert registry.resolve(f"{BASE}/Questionnaire/lisn|9.0") is None
