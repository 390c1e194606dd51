"""Issue positions when only a few locations are wanted (the usual case): the scan skips whole
the values that hold nothing wanted, records a wanted value without entering it when nothing
wanted lies inside, and stops once every wanted location and the root's type are found.

Each shortcut is checked against the scan that is asked for every location: the spot of every
wanted location (and the root type) must be the same.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.validation.positions import _Scanner, _wanted, _wanted_inside, add_positions
from tests.unit.validation.test_positions import JSON, _locations


def _prefix_closed(paths: list[str]) -> tuple[set[str], set[str]]:
    """The look-up's own wanted set and the locations holding another, as add_positions builds them."""
    oo: Any = {"issue": [{"expression": ["R" + p]} for p in paths]}
    return _wanted(oo, every_split=False), _wanted_inside([["R" + p] for p in paths], every_split=False)[1]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab", min_size=1, max_size=2), JSON, max_size=5),
       st.sampled_from([None, 0, 2]), st.integers(min_value=0, max_value=6), st.data())
def test_a_few_wanted_locations_are_where_the_full_scan_finds_them(
        document: dict[str, Any], indent: int | None, where: int, data: st.DataObject) -> None:
    items = list(document.items())
    items.insert(min(where, len(items)), ("resourceType", "R"))  # the root type anywhere among the keys
    text = json.dumps(dict(items), indent=indent, ensure_ascii=False)
    every = dict(_locations(json.loads(text)))
    full, root = _Scanner(text, set(every)).scan()
    assert root == "R"
    chosen = data.draw(st.lists(st.sampled_from(sorted(every)), max_size=4))
    wanted, inside = _prefix_closed(chosen)
    spots, sparse_root = _Scanner(text, wanted, inside).scan()
    assert sparse_root == "R"
    assert spots == {p: full[p] for p in wanted if p in full}


def test_a_leaf_is_recorded_without_being_entered() -> None:
    text = json.dumps({"resourceType": "R", "item": [{"answer": [{"valueString": "x"}]}]}, indent=1)
    spots, _ = _Scanner(text, {"", ".item", ".item[0]"}, {"", ".item"}).scan()
    assert set(spots) == {"", ".item", ".item[0]"}
    assert spots[".item[0]"] == (4, 3)


def test_the_root_type_after_the_wanted_locations_is_still_read() -> None:
    text = json.dumps({"item": [{"linkId": "a"}], "resourceType": "QuestionnaireResponse"}, indent=1)
    oo: Any = {"issue": [{"expression": ["QuestionnaireResponse.item[0]"]}]}
    add_positions(oo, text.encode())
    assert [e["valueInteger"] for e in oo["issue"][0]["extension"]] == [3, 3]


def test_issues_without_a_location_leave_the_others_their_positions() -> None:
    text = json.dumps({"resourceType": "Patient", "name": [{"given": ["A"]}]}, indent=1)
    oo: Any = {"issue": [{"code": "x"}, {"expression": ["Patient.name[0]"]}, {"expression": []}]}
    add_positions(oo, text.encode())
    assert "extension" not in oo["issue"][0] and "extension" not in oo["issue"][2]
    assert [e["valueInteger"] for e in oo["issue"][1]["extension"]] == [4, 3]
    none: Any = {"issue": [{"code": "x"}]}
    add_positions(none, text.encode())
    assert none == {"issue": [{"code": "x"}]}


def test_the_scan_files_its_finds_under_the_wanted_strings_in_text_order() -> None:
    """Memory on the many-issues error path: the wanted locations are one string each (shared by the
    wanted and the inside sets), the scan files its finds under those very strings (not copies of
    its own), and the spots come back in text order without a sorted copy, each where a scan
    given a plain set finds it."""
    items = [{"linkId": f"x{i}", "answer": [{"valueString": "v"}]} for i in range(40)]
    text = json.dumps({"resourceType": "QuestionnaireResponse", "item": items}, indent=1)
    paths = [[f"QuestionnaireResponse.item[{i}].answer[0]"] for i in range(0, 40, 3)]
    wanted, inside = _wanted_inside(paths, every_split=False)
    assert all(wanted[p] is p for p in wanted)
    assert all(any(p is w for w in wanted) for p in inside)
    spots, root = _Scanner(text, wanted, inside).scan()
    assert root == "QuestionnaireResponse"
    assert all(any(p is w for w in wanted) for p in spots)
    assert list(spots.values()) == sorted(spots.values())
    plain, _ = _Scanner(text, set(wanted), set(inside)).scan()
    assert spots == plain
    for path, (line, col) in spots.items():
        assert path == "" or text.splitlines()[line - 1][col - 1] in '{["'


def test_choices_written_out_are_remembered_and_the_same_each_time() -> None:
    from adapter.validation.positions import _normalised

    expr = "QuestionnaireResponse.item[0].answer[0].value.ofType(dateTime)"
    for _ in range(3):
        assert _normalised(expr) == "QuestionnaireResponse.item[0].answer[0].valueDateTime"
    two = "Q.item[1].answer[0].value.ofType(integer).extension[0].value.ofType(string)"
    assert _normalised(two) == "Q.item[1].answer[0].valueInteger.extension[0].valueString"
    assert _normalised(two) == "Q.item[1].answer[0].valueInteger.extension[0].valueString"
    plain = "Q.item[2]"
    assert _normalised(plain) is plain
