"""The one walk over a QuestionnaireResponse's items: every item once, in document order, with its path."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.items import walk
from adapter.fhir.submission import answers
from adapter.outbound.assessment import find_items, item_paths


def _reference(items: list[Any], prefix: str, above: frozenset[str]) -> list[tuple[str, str, frozenset[str]]]:
    """The walk written the plain recursive way, as the FHIR spec lays the tree out."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        path = f"{prefix}.item[{i}]"
        out.append((item.get("linkId", ""), path, above))
        below = above | {item.get("linkId", "")}
        out += _reference(item.get("item") or [], path, below)
        for j, ans in enumerate(item.get("answer") or []):
            out += _reference(ans.get("item") or [], f"{path}.answer[{j}]", below)
    return out


_link_ids = st.sampled_from(["a", "b", "c"])
_items = st.recursive(
    st.fixed_dictionaries({"linkId": _link_ids}, optional={"answer": st.lists(
        st.fixed_dictionaries({"valueString": st.text(max_size=2)}), max_size=2)}),
    lambda children: st.fixed_dictionaries({"linkId": _link_ids}, optional={
        "item": st.lists(children, max_size=3),
        "answer": st.lists(st.fixed_dictionaries({"valueInteger": st.integers(0, 9)},
                                                 optional={"item": st.lists(children, max_size=2)}), max_size=2)}),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(tree=st.lists(_items, max_size=4))
def test_the_walk_visits_every_item_once_in_document_order(tree: list[dict[str, Any]]) -> None:
    qr = {"resourceType": "QuestionnaireResponse", "item": tree}
    assert [(v.link_id, v.path, v.above) for v in walk(qr)] == _reference(tree, "QuestionnaireResponse", frozenset())


def test_paths_answers_and_nested_matches() -> None:
    qr = {"item": [
        {"linkId": "grund", "item": [{"linkId": "grund.datum", "answer": [{"valueDate": "2026-11-01"}]}]},
        {"linkId": "q", "answer": [{"valueBoolean": True, "item": [{"linkId": "q", "answer": [{"valueString": "x"}]}]}]},
        "not an item",
    ]}
    assert [v.path for v in walk(qr)] == [
        "QuestionnaireResponse.item[0]", "QuestionnaireResponse.item[0].item[0]", "QuestionnaireResponse.item[1]",
        "QuestionnaireResponse.item[1].answer[0].item[0]"]
    assert answers(qr, "grund.datum") == ["2026-11-01"] and answers(qr, "q") == [True, "x"]
    assert find_items(qr, "q") == [qr["item"][1]]  # not the match's own descendant with the same linkId
    assert item_paths(qr)["q#1"] == "QuestionnaireResponse.item[1].answer[0].item[0]"
