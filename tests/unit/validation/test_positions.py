"""Issue positions: the line and column found for a location is where that very value starts.

Checked independently of the scanner: at the reported line and column, the standard JSON decoder
reads back exactly the value found at that location in the parsed document. Every location of
every example and test-case input is asked for, and hypothesis adds odd layouts (escapes, quotes
and brackets inside strings, blank lines, deep nesting, empty arrays and objects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation.positions import _Scanner, _wanted, add_positions

ROOT = Path(__file__).resolve().parents[3]
FILES = sorted((ROOT / "profiles" / "examples").glob("*.json")) + sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))


def _locations(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _locations(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _locations(child, f"{path}[{i}]")


def _check(text: str) -> None:
    document = json.loads(text)
    found = dict(_locations(document))
    spots, _ = _Scanner(text, set(found)).scan()
    assert set(spots) == set(found)
    lines = text.split("\n")
    for path, (line, col) in spots.items():
        offset = sum(len(x) + 1 for x in lines[:line - 1]) + (col or 1) - 1
        assert json.JSONDecoder().raw_decode(text, offset)[0] == found[path], path


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_location_of_every_input(path: Path) -> None:
    _check(path.read_text(encoding="utf-8-sig"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\/[]{}:,\n\t é\u2028')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet="abc\"\\", max_size=3), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=2), JSON, max_size=5), st.sampled_from([None, 0, 2]))
def test_any_layout(document: dict[str, Any], indent: int | None) -> None:
    _check(json.dumps(document, indent=indent, ensure_ascii=False))


def test_only_wanted_locations_are_recorded() -> None:
    text = json.dumps({"resourceType": "Patient", "name": [{"given": ["A"]}], "birthDate": "x" * 1000}, indent=1)
    oo: Any = {"issue": [{"expression": ["Patient.name[0].given[3]"]}]}
    spots, root = _Scanner(text, _wanted(oo, every_split=False)).scan()
    assert root == "Patient" and set(spots) == {"", ".name", ".name[0]", ".name[0].given"}
    add_positions(oo, text.encode())
    assert [e["valueInteger"] for e in oo["issue"][0]["extension"]] == [5, 13]  # falls back to given


def test_a_root_type_with_a_separator_still_finds_its_locations() -> None:
    text = json.dumps({"resourceType": "Odd.Type", "item": [{"linkId": "a"}]}, indent=1)
    oo: Any = {"issue": [{"expression": ["Odd.Type.item[0].linkId"]}]}
    add_positions(oo, text.encode())
    assert [e["valueInteger"] for e in oo["issue"][0]["extension"]] == [5, 14]
