"""The Questionnaire: a per-version index for validating responses, and definition checks.

Spec: https://hl7.org/fhir/R4/questionnaire.html. The definition checks are the R4
invariants que-0 … que-13 (https://hl7.org/fhir/R4/questionnaire.html#invs), written out in
Python so that each points at the exact item, plus the HL7 Java validator's enableWhen checks
(QuestionnaireValidator.validateQuestionnaireElement): the question exists, is not the item
itself nor inside it, and (ours) its operator and answer[x] fit that question's type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from adapter import messages
from adapter.issues import Issues

Node = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else empty: a mistyped member is the profile checks' to report."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str | None:
    """``value`` when it is a JSON string, else None (so it can be looked up in sets and dicts)."""
    return value if isinstance(value, str) else None

ITEM_TYPES = frozenset({"group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time",
                        "string", "text", "url", "choice", "open-choice", "attachment", "reference",
                        "quantity"})
# The answer[x] type(s) an enableWhen may use for a question of each type.
_EW_TYPES: dict[str, tuple[str, ...]] = {
    "boolean": ("Boolean",), "decimal": ("Decimal", "Integer"), "integer": ("Integer",), "date": ("Date",),
    "dateTime": ("DateTime",), "time": ("Time",), "string": ("String",), "text": ("String",),
    "url": ("String",), "choice": ("Coding", "String", "Integer", "Date", "Time"),
    "open-choice": ("Coding", "String", "Integer", "Date", "Time"), "attachment": (),
    "reference": ("Reference",), "quantity": ("Quantity",),
}
_ORDERED = frozenset({"decimal", "integer", "date", "dateTime", "time", "string", "text", "url", "quantity"})
_MAXLENGTH_TYPES = frozenset({"boolean", "decimal", "integer", "string", "text", "url", "open-choice"})
_OPTION_TYPES = frozenset({"choice", "open-choice", "decimal", "integer", "date", "dateTime", "time",
                           "string", "quantity"})
_NAME = re.compile(r"[A-Z]([A-Za-z0-9_]){0,254}")


@dataclass
class QuestionnaireIndex:
    """Lookups over one Questionnaire, computed once per ``url|version``."""

    questionnaire: Node
    items: dict[str, Node] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    """linkId -> position in document order (depth first)."""
    common: dict[tuple[str, str], str | None] = field(default_factory=dict)
    sibling_positions: dict[int, tuple[list[Node], dict[str, int]]] = field(default_factory=dict)

    def ancestors(self, link_id: str) -> list[str]:
        """Strict ancestors, nearest first."""
        out: list[str] = []
        p = self.parent.get(link_id)
        while p is not None and p not in out:
            out.append(p)
            p = self.parent.get(p)
        return out

    def common_ancestor(self, a: str, b: str) -> str | None:
        key = (a, b)
        if key not in self.common:
            theirs = set(self.ancestors(b))
            self.common[key] = next((x for x in self.ancestors(a) if x in theirs), None)
        return self.common[key]

    def positions(self, qitems: list[Any]) -> dict[str, int]:  # (items untrusted: any JSON)
        """linkId -> position among the sibling definitions ``qitems`` (memoised per list)."""
        found = self.sibling_positions.get(id(qitems))
        if found is None or found[0] is not qitems:
            found = (qitems, {q["linkId"]: i for i, q in enumerate(qitems)
                              if isinstance(q, dict) and isinstance(q.get("linkId"), str)})
            self.sibling_positions[id(qitems)] = found
        return found[1]


_INDEXES: dict[Any, QuestionnaireIndex] = {}


def index_for(questionnaire: Node) -> QuestionnaireIndex:
    """The (cached) index of a Questionnaire; keyed by url|version, checked by identity."""
    key = (str(questionnaire.get("url")), str(questionnaire.get("version")), id(questionnaire))
    found = _INDEXES.get(key)
    if found is not None and found.questionnaire is questionnaire:
        return found
    idx = QuestionnaireIndex(questionnaire)
    for item, path, parent in walk_items(questionnaire, "Questionnaire"):
        link_id = item.get("linkId")
        if isinstance(link_id, str) and link_id not in idx.items:
            idx.items[link_id] = item
            idx.parent[link_id] = parent
            idx.paths[link_id] = path
            idx.order[link_id] = len(idx.order)
    if len(_INDEXES) > 256:
        _INDEXES.clear()
    _INDEXES[key] = idx
    return idx


def walk_items(node: Node, path: str, parent: str | None = None) -> Iterator[tuple[Node, str, str | None]]:
    """Every item below ``node`` depth first: (item, its path, the linkId of its parent item)."""
    for i, item in enumerate(as_list(node.get("item"))):
        if isinstance(item, dict):
            ipath = f"{path}.item[{i}]"
            yield item, ipath, parent
            link = item.get("linkId") if isinstance(item.get("linkId"), str) else None
            yield from walk_items(item, ipath, link)


def check_questionnaire(q: Node, issues: Issues, *, path: str = "Questionnaire") -> None:
    """The R4 que-* invariants and the enableWhen checks, every issue at its item."""
    name = q.get("name")
    issues.check(not isinstance(name, str) or _NAME.fullmatch(name), "QUESTIONNAIRE_Q_INVARIANT",
                 expression=f"{path}.name", severity="warning", code="invariant", key="que-0",
                 human=messages.text("LISN_QUE_0", issues.lang))
    idx = index_for(q)
    seen: set[str] = set()
    for item, ipath, _parent in walk_items(q, path):
        link_id = item.get("linkId")
        if isinstance(link_id, str):
            issues.check(link_id not in seen, "QUESTIONNAIRE_Q_LINKID_DUPLICATE", expression=f"{ipath}.linkId",
                         code="invariant", linkId=link_id)
            seen.add(link_id)
        _check_item(item, ipath, issues)
        _check_enable_when(item, ipath, idx, issues)


def _invariant(issues: Issues, cond: Any, key: str, human_id: str, path: str) -> None:
    """An R4 que-* invariant; its human text (``human_id``) in the language of ``issues``."""
    if not cond:
        issues.add("QUESTIONNAIRE_Q_INVARIANT", expression=path, code="invariant", key=key,
                   human=messages.text(human_id, issues.lang))


def _check_item(item: Node, path: str, issues: Issues) -> None:
    t = text_of(item.get("type"))
    link_id = item.get("linkId")
    issues.check(t in ITEM_TYPES, "QUESTIONNAIRE_Q_ITEM_TYPE_UNKNOWN", expression=f"{path}.type",
                 code="code-invalid", linkId=link_id, type=t)
    has: Callable[[str], bool] = lambda k: item.get(k) not in (None, [], "")  # noqa: E731 - a local shorthand reads best here
    _invariant(issues, t != "group" or has("item"), "que-1", "LISN_QUE_1_GROUP", path)
    _invariant(issues, t != "display" or not has("item"), "que-1", "LISN_QUE_1_DISPLAY", path)
    _invariant(issues, t != "display" or not has("code"), "que-3", "LISN_QUE_3", path)
    _invariant(issues, not (has("answerOption") and has("answerValueSet")), "que-4",
               "LISN_QUE_4", path)
    _invariant(issues, t in _OPTION_TYPES or not (has("answerOption") or has("answerValueSet")), "que-5",
               "LISN_QUE_5", path)
    _invariant(issues, t != "display" or not (has("required") or has("repeats")), "que-6",
               "LISN_QUE_6", path)
    _invariant(issues, t not in ("group", "display") or not has("initial"), "que-8",
               "LISN_QUE_8", path)
    _invariant(issues, t != "display" or not has("readOnly"), "que-9",
               "LISN_QUE_9", path)
    _invariant(issues, t in _MAXLENGTH_TYPES or not has("maxLength"), "que-10",
               "LISN_QUE_10", path)
    _invariant(issues, not (has("answerOption") and has("initial")), "que-11",
               "LISN_QUE_11", path)
    _invariant(issues, len(as_list(item.get("enableWhen"))) <= 1 or has("enableBehavior"), "que-12",
               "LISN_QUE_12", path)
    _invariant(issues, item.get("repeats") is True or len(as_list(item.get("initial"))) <= 1, "que-13",
               "LISN_QUE_13", path)


def _check_enable_when(item: Node, path: str, idx: QuestionnaireIndex, issues: Issues) -> None:
    link_id = item.get("linkId")
    for j, ew in enumerate(as_list(item.get("enableWhen"))):
        if not isinstance(ew, dict):
            continue
        epath = f"{path}.enableWhen[{j}]"
        question = ew.get("question")
        answer_key = next((k for k in ew if k.startswith("answer") and len(k) > 6), None)
        _invariant(issues, ew.get("operator") != "exists" or answer_key == "answerBoolean", "que-7",
                   "LISN_QUE_7", epath)
        if not issues.check(isinstance(question, str) and question, "QUESTIONNAIRE_Q_ENABLEWHEN_NOLINK",
                            expression=epath, code="business-rule"):
            continue
        question = cast(str, question)  # checked just above
        target = idx.items.get(question)
        if not issues.check(question != link_id, "QUESTIONNAIRE_Q_ENABLEWHEN_SELF", expression=f"{epath}.question",
                            code="business-rule", linkId=link_id):
            continue
        if not issues.check(target is not None, "QUESTIONNAIRE_Q_ENABLEWHEN_NOTARGET", expression=f"{epath}.question",
                            code="business-rule", linkId=link_id, question=question):
            continue
        if not issues.check(link_id not in idx.ancestors(question), "QUESTIONNAIRE_Q_ENABLEWHEN_ISINNER",
                            expression=f"{epath}.question", code="business-rule", linkId=link_id, question=question):
            continue
        issues.check(idx.order.get(question, 0) < idx.order.get(str(link_id), 0), "QUESTIONNAIRE_Q_ENABLEWHEN_AFTER",
                     expression=f"{epath}.question", severity="warning", code="business-rule", linkId=link_id,
                     question=question)
        _check_operator(ew, epath, str(link_id), question, target or {}, answer_key, issues)


def _check_operator(ew: Node, epath: str, link_id: str, question: str, target: Node,
                    answer_key: str | None, issues: Issues) -> None:
    ttype = text_of(target.get("type"))
    if ttype not in ITEM_TYPES:
        return  # reported as QUESTIONNAIRE_Q_ITEM_TYPE_UNKNOWN at the target
    allowed = _EW_TYPES.get(str(ttype), ())
    if not issues.check(allowed, "QUESTIONNAIRE_Q_ENABLEWHEN_TARGET_TYPE", expression=f"{epath}.question",
                        code="business-rule", linkId=link_id, question=question, type=ttype):
        return
    op = ew.get("operator")
    if op == "exists":
        return
    issues.check(op in ("=", "!=") or ttype in _ORDERED, "QUESTIONNAIRE_Q_ENABLEWHEN_OPERATOR",
                 expression=f"{epath}.operator", code="business-rule", operator=op, linkId=link_id,
                 question=question, type=ttype)
    found = answer_key[6:] if answer_key else "(none)"
    issues.check(found in allowed, "QUESTIONNAIRE_Q_ENABLEWHEN_ANSWER_TYPE",
                 expression=f"{epath}.{answer_key or 'answer'}", code="business-rule", linkId=link_id,
                 question=question, type=ttype, found=found, expected="|".join(allowed))
