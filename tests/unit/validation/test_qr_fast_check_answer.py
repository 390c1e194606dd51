"""``answers.check_answer``'s head written out (value_of, type_label and allowed_types' look-up inline)
against the former head, kept here verbatim as the oracle.

check_answer is shared by the QuestionnaireResponse walk's short and general paths, so
test_qr_short_path cannot see a change in it; this compares it, answer by answer, with the way it
was, on every answer of the examples, the validation cases and the conformance corpus, on their
systematic mutations and on hypothesis-made answers (odd keys, odd values). A negative control
shows that the comparison notices a wrong value path.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.issues import Issues
from adapter.validation import answers
from adapter.validation.answers import Ctx, check_answer
from adapter.validation.questionnaire import as_list
from tests.unit.validation.test_qr_short_path import SOURCES, _containers, _mutations, _questionnaire_items

Node = dict[str, Any]


def _former_check_answer(ctx: Ctx, qitem: Node, answer: Node, apath: str, count: int) -> None:
    """check_answer as it was before its head was written out (the oracle)."""
    link_id = qitem.get("linkId")
    vtype, value = answers.value_of(answer)
    if vtype is None:
        return
    vpath = f"{apath}.value.ofType({answers.type_label(vtype)})"
    allowed = answers.allowed_types(qitem)
    if vtype not in allowed:
        ctx.add("QUESTIONNAIRE_QR_ITEM_WRONGTYPE", expression=vpath, code="structure", linkId=link_id,
                expected=" | ".join(answers._said(answers.type_label(a), ctx) for a in allowed),
                found=answers._said(answers.type_label(vtype), ctx))
        return
    if not answers._well_formed(ctx, vtype, value, vpath, link_id):
        return
    answers._BY_TYPE.get(vtype, answers._no_check)(ctx, qitem, value, apath, vpath, count)


def _run(check: Any, registry: Any, q: Node, qitem: Node, answer: Node, count: int) -> Any:
    ctx = Ctx(Issues(), registry, q)
    try:
        check(ctx, qitem, answer, "QuestionnaireResponse.item[0].answer[0]", count)
    except Exception as exc:  # noqa: BLE001 - both must fail alike, too
        return ("raised", type(exc).__name__, ctx.issues.items)
    return ctx.issues.items


def _pairs(limit: int) -> list[tuple[Any, Node, Node, Node, int]]:
    """(registry, Questionnaire, item definition, answer, count) for every answer of every source and mutation."""
    from adapter.validation import questionnaire_response

    out = []
    for name, qr, registry in SOURCES:
        q = questionnaire_response.resolve_questionnaire(qr, registry, Issues(), path="QuestionnaireResponse")
        if q is None:
            continue
        qitems = _questionnaire_items(qr, registry)
        for doc in [qr, *_mutations(qr, registry, random.Random(name), limit=limit)]:
            for node in _containers(doc):
                link = node.get("linkId")
                qitem = qitems.get(link) if isinstance(link, str) else None
                if qitem is None:
                    continue
                found = [a for a in as_list(node.get("answer")) if isinstance(a, dict)]
                out += [(registry, q, qitem, a, len(found)) for a in found]
    return out


def _differences(pairs: list[tuple[Any, Node, Node, Node, int]]) -> int:
    return sum(_run(check_answer, reg, q, qitem, a, n) != _run(_former_check_answer, reg, q, qitem, a, n)
               for reg, q, qitem, a, n in pairs)


def test_check_answer_is_its_former_self_on_every_answer_and_mutation() -> None:
    pairs = _pairs(limit=40)
    assert len(pairs) >= 2000
    assert _differences(pairs) == 0


_KEYS = st.sampled_from(["valueBoolean", "valueInteger", "valueDecimal", "valueDate", "valueDateTime", "valueTime",
                         "valueString", "valueUri", "valueCoding", "valueQuantity", "valueReference",
                         "valueAttachment", "valueFoo", "value", "valuestring", "item", "extension", "id"])
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=8), st.sampled_from(["2020-01-01", "10:00:00", "urn:uuid:x", "http://x"]),
                    st.dictionaries(st.sampled_from(["system", "code", "display", "value", "unit", "reference",
                                                     "data", "contentType"]),
                                    st.one_of(st.text(max_size=6), st.integers(-5, 500)), max_size=4))
_QUESTIONS = [(reg, q, qitem) for reg, q, qitem, _a, _n in _pairs(limit=0)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_QUESTIONS) if _QUESTIONS else st.nothing(),
       st.lists(st.tuples(_KEYS, _VALUES), min_size=0, max_size=3), st.integers(1, 3))
def test_hypothesis_answers_check_as_before(question: tuple[Any, Node, Node], members: list[tuple[str, Any]],
                                            count: int) -> None:
    registry, q, qitem = question
    answer = dict(members)
    assert _run(check_answer, registry, q, qitem, answer, count) == _run(_former_check_answer, registry, q, qitem,
                                                                         answer, count)


def test_negative_control_a_wrong_value_path_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _pairs(limit=5)
    assert _differences(pairs) == 0
    monkeypatch.setattr(answers, "_OF_TYPE", {**answers._OF_TYPE, "String": ".value.ofType(String)"})
    assert _differences(pairs) > 0
