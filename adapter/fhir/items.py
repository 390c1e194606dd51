"""The one walk over the items of a QuestionnaireResponse (https://hl7.org/fhir/R4/questionnaireresponse.html).

Items nest two ways: ``item.item`` (a group's children) and ``item.answer.item`` (questions
under an answer). :func:`walk` visits every item once, in document order, an item's own
children before those under its answers, and says for each where it is (a FHIRPath location)
and which linkIds enclose it. The readers of answers build on it: ``fhir.submission.answers``,
the outbound assessment (items and answers by linkId, their paths) and the mapping engine
(answers a mapping does not name). Plain parsed JSON only; malformed entries are skipped (the
validator reports them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Visit:
    """One item met by :func:`walk`."""

    item: Item
    path: str
    """Its FHIRPath location: ``QuestionnaireResponse.item[2].answer[0].item[1]``."""
    above: frozenset[str]
    """The linkIds of the items that enclose it."""

    @property
    def link_id(self) -> str:
        return str(self.item.get("linkId", ""))

    def values(self) -> list[Any]:
        """Its answers' values (``valueX``), in order."""
        return [v for ans in self.item.get("answer") or [] if isinstance(ans, dict)
                for k, v in ans.items() if k.startswith("value")]


def walk(node: dict[str, Any], root: str = "QuestionnaireResponse") -> Iterator[Visit]:
    """Every item below ``node`` (a QuestionnaireResponse or an item), in document order."""
    stack: list[tuple[Any, str, frozenset[str]]] = [
        (child, f"{root}.item[{i}]", frozenset()) for i, child in reversed(list(enumerate(node.get("item") or [])))]
    while stack:
        item, path, above = stack.pop()
        if not isinstance(item, dict):
            continue
        yield Visit(item, path, above)
        below = above | {item.get("linkId", "")}
        children = [(c, f"{path}.item[{i}]") for i, c in enumerate(item.get("item") or [])]
        for j, ans in enumerate(item.get("answer") or []):
            if isinstance(ans, dict):
                children += [(c, f"{path}.answer[{j}].item[{i}]") for i, c in enumerate(ans.get("item") or [])]
        stack.extend((c, p, below) for c, p in reversed(children))
