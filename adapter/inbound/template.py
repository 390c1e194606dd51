"""The template's structure, read from the Questionnaire (DESIGN §3), and the QR item tree built on it.

A mapping names only linkIds; where an item sits, whether it repeats, its type and its text
all come from the Questionnaire, so a new template version is a new data file, not a new
mapping engine. The tree is rendered in the Questionnaire's item order
(https://hl7.org/fhir/R4/questionnaireresponse.html: items in the same order as the Questionnaire).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemDef:
    """What the mapping engine needs to know of one Questionnaire item."""

    link_id: str
    type: str
    text: str | None
    repeats: bool
    required: bool
    conditional: bool
    parent: str | None
    children: tuple[str, ...]
    value_set: str | None = None


class Template:
    """A Questionnaire indexed by linkId."""

    def __init__(self, questionnaire: dict[str, Any]) -> None:
        self.questionnaire = questionnaire
        self.canonical = f"{questionnaire.get('url')}|{questionnaire.get('version')}"
        self.items: dict[str, ItemDef] = {}
        self.top = tuple(self._index(questionnaire.get("item") or [], None))

    def _index(self, items: list[dict[str, Any]], parent: str | None) -> list[str]:
        ids = []
        for item in items:
            link_id = str(item.get("linkId"))
            children = tuple(self._index(item.get("item") or [], link_id))
            self.items[link_id] = ItemDef(
                link_id=link_id, type=str(item.get("type")), text=item.get("text"),
                repeats=bool(item.get("repeats")), required=bool(item.get("required")),
                conditional=bool(item.get("enableWhen")), parent=parent, children=children,
                value_set=item.get("answerValueSet"))
            ids.append(link_id)
        return ids

    def get(self, link_id: str) -> ItemDef | None:
        return self.items.get(link_id)

    def between(self, group: str | None, link_id: str) -> list[str] | None:
        """The groups from just below ``group`` down to the parent of ``link_id``; None if not below."""
        chain: list[str] = []
        current = self.items[link_id].parent if link_id in self.items else None
        while current != group:
            if current is None:
                return None
            chain.append(current)
            current = self.items[current].parent
        return list(reversed(chain))


@dataclass
class Instance:
    """One occurrence of a group (or the response itself, ``link_id`` None) being filled."""

    link_id: str | None
    groups: dict[str, list[Instance]] = field(default_factory=dict)
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Per linkId, the source location and mapping-file line of each answer (parallel to ``answers``)."""
    origin: str | None = None
    """The source location of the context this group instance was made for."""
    origin_line: int = 0

    def single(self, link_id: str) -> Instance:
        """The one instance of a non-repeating child group, created when first needed."""
        found = self.groups.setdefault(link_id, [])
        if not found:
            found.append(Instance(link_id))
        return found[0]

    def new(self, link_id: str) -> Instance:
        inst = Instance(link_id)
        self.groups.setdefault(link_id, []).append(inst)
        return inst

    def discard(self, inst: Instance) -> None:
        siblings = self.groups.get(inst.link_id or "", [])
        if inst in siblings:
            siblings.remove(inst)


Where = dict[str, tuple[str, int]]


def render(template: Template, inst: Instance, *, path: str = "QuestionnaireResponse",
           where: Where | None = None) -> list[dict[str, Any]]:
    """QuestionnaireResponse.item for ``inst``, in template order; empty groups are left out.

    ``where`` receives, for each rendered item and answer path (``path.item[2].answer[0]``),
    the source location it came from and the mapping-file line that put it there, so that a
    validator issue can point back at both.
    """
    where = {} if where is None else where
    ids = template.top if inst.link_id is None else template.items[inst.link_id].children
    out: list[dict[str, Any]] = []
    for link_id in ids:
        item = template.items[link_id]
        if item.type == "group":
            for child in inst.groups.get(link_id, []):
                here = f"{path}.item[{len(out)}]"
                sub = render(template, child, path=here, where=where)
                if sub:
                    if child.origin:
                        where[here] = (child.origin, child.origin_line)
                    out.append(_item(item, item=sub))
        elif inst.answers.get(link_id):
            here = f"{path}.item[{len(out)}]"
            for n, source in enumerate(inst.sources.get(link_id, [])):
                where[f"{here}.answer[{n}]"] = source
                where.setdefault(here, source)
            out.append(_item(item, answer=inst.answers[link_id]))
    return out


def _item(spec: ItemDef, **content: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": spec.link_id}
    if spec.text:
        out["text"] = spec.text
    out.update(content)
    return out
