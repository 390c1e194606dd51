"""Each LISN Questionnaire is exactly its linkId table: 1.0 is DESIGN §3's (design_items.json), 1.1 the
table in docs/profiles.md (design_items_1.1.json); 1.1 has a help text on every item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lisn_profiles_support import BASE, PROFILES, data, read

from adapter.fhir.registry import default_registry

MAX_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
TABLES = {"1.0": data("design_items.json")["items"], "1.1": data("design_items_1.1.json")["items"]}
ROWS = [(version, row) for version, rows in TABLES.items() for row in rows]


def _flatten(items: list[dict[str, Any]], parent: str | None = None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    for item in items:
        yield parent, item
        yield from _flatten(item.get("item") or [], item["linkId"])


def _questionnaire(version: str) -> dict[str, Any]:
    return read(PROFILES / f"Questionnaire-lisn-{version}.json")  # type: ignore[no-any-return]


def _items(version: str) -> dict[str, tuple[str | None, dict[str, Any]]]:
    return {item["linkId"]: (parent, item) for parent, item in _flatten(_questionnaire(version)["item"])
            if item["type"] != "display"}


def _ext(item: dict[str, Any], url: str) -> Any:
    values = [next(v for k, v in e.items() if k.startswith("value")) for e in item.get("extension", [])
              if e["url"] == url]
    return values[0] if values else None


@pytest.mark.parametrize("version, start", [("1.0", "2026-07-01"), ("1.1", "2026-12-01")])
def test_header(version: str, start: str) -> None:
    q = _questionnaire(version)
    assert (q["url"], q["version"], q["id"]) == (f"{BASE}/Questionnaire/lisn", version, f"lisn-{version}")
    assert q["title"] == "Läkarintyg till socialnämnden"
    assert (q["status"], q["language"], q["effectivePeriod"]["start"]) == ("active", "sv", start)
    assert q["jurisdiction"][0]["coding"][0]["code"] == "SE"
    assert q["publisher"] and q["name"]


@pytest.mark.parametrize("version", TABLES)
def test_linkids_are_exactly_the_table_in_order(version: str) -> None:
    assert list(_items(version)) == [row["linkId"] for row in TABLES[version]]


@pytest.mark.parametrize("version, row", ROWS, ids=lambda x: x if isinstance(x, str) else x["linkId"])
def test_item_matches_table(version: str, row: dict[str, Any]) -> None:
    parent, item = _items(version)[row["linkId"]]
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


@pytest.mark.parametrize("version, row", [(v, r) for v, r in ROWS if "enableWhen" in r],
                         ids=lambda x: x if isinstance(x, str) else x["linkId"])
def test_enable_when_matches_table(version: str, row: dict[str, Any]) -> None:
    items = _items(version)
    _, item = items[row["linkId"]]
    expected = row["enableWhen"] if isinstance(row["enableWhen"], list) else [row["enableWhen"]]
    assert item["enableBehavior"] == row.get("enableBehavior", "all")
    assert len(item["enableWhen"]) == len(expected)
    for ew, want in zip(item["enableWhen"], expected):
        assert (ew["question"], ew["operator"]) == (want["question"], want["operator"])
        if "answerCoding" in want:
            assert ew["answerCoding"]["code"] == want["answerCoding"]
            # The coding must come from the question's own value set.
            _, question = items[want["question"]]
            system = question["answerValueSet"].replace("/ValueSet/", "/CodeSystem/")
            assert ew["answerCoding"]["system"] == system
        else:
            assert ew["answerBoolean"] is want["answerBoolean"]


@pytest.mark.parametrize("version", TABLES)
def test_only_table_items_have_enable_when(version: str) -> None:
    with_enable = {link for link, (_, item) in _items(version).items() if "enableWhen" in item}
    assert with_enable == {r["linkId"] for r in TABLES[version] if "enableWhen" in r}


def _help_items(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in item.get("item") or [] if c["type"] == "display"
            and any(cc["code"] == "help" for e in c.get("extension", []) if e["url"] == ITEM_CONTROL
                    for cc in e["valueCodeableConcept"]["coding"])]


@pytest.mark.parametrize("row", TABLES["1.1"], ids=lambda r: r["linkId"])
def test_every_1_1_item_has_one_help_text_first(row: dict[str, Any]) -> None:
    _, item = _items("1.1")[row["linkId"]]
    (help_item,) = _help_items(item)
    assert item["item"][0] is help_item, "the help text comes first, before any child question"
    assert help_item["linkId"] == f"{row['linkId']}.hjalp"
    assert len(help_item["text"]) >= 20 and help_item["text"].rstrip().endswith((".", ")"))


def test_the_help_check_can_fail() -> None:
    assert _help_items({"item": [{"type": "display", "linkId": "x", "text": "t"}]}) == []


@pytest.mark.parametrize("version", TABLES)
def test_choice_items_name_a_resolvable_value_set(version: str) -> None:
    registry = default_registry()
    for link, (_, item) in _items(version).items():
        if item["type"] == "choice":
            vs = registry.resolve(item["answerValueSet"], "ValueSet")
            assert vs is not None, link


def test_registry_resolves_each_template_version_by_canonical() -> None:
    registry = default_registry()
    for version in TABLES:
        found = registry.resolve(f"{BASE}/Questionnaire/lisn|{version}", "Questionnaire")
        assert found is not None and found["id"] == f"lisn-{version}"
    assert registry.versions(f"{BASE}/Questionnaire/lisn") == ["1.0", "1.1"]
    assert registry.resolve(f"{BASE}/Questionnaire/lisn|9.0") is None
