"""Ctx.add hands its arguments to Issues.add_args in their dict (issue 15): the issues it adds are
those Issues.add adds with the question's label from ``labels`` given as a keyword."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from adapter.issues import Issues
from adapter.validation.answers import Ctx

_LABELS = {"q1": "'How old are you?'", "q2": "'Weight'"}
_IDS = ("QUESTIONNAIRE_QR_ITEM_WRONGTYPE", "QUESTIONNAIRE_QR_ITEM_DECIMAL_INVALID_UNITS", "ALL_OK",
        "QUESTIONNAIRE_QR_ITEM_MISSING", "NO_SUCH_MESSAGE_ID", "")
_ARGS: tuple[dict[str, Any], ...] = (
    {}, {"linkId": "q1"}, {"linkId": "q2", "value": 3}, {"linkId": "other", "expected": "a | b", "found": "c"},
    {"linkId": "q1", "label": "'own label'"}, {"linkId": 7}, {"linkId": None, "value": "x"}, {"label": "'only'"})
_SHARED: tuple[dict[str, Any], ...] = (
    {}, {"expression": "QuestionnaireResponse.item[0].answer[0]"}, {"severity": "warning", "code": "invariant"},
    {"diagnostics": "why", "expression": "QuestionnaireResponse.item[1]", "code": "required"},
    {"expression": None, "severity": "fatal", "diagnostics": ""})


def _general(lang: str, labels: dict[str, str] | None, message_id: str, kw: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue as Issues.add gives it, the label from ``labels`` added as Ctx.add did before."""
    issues = Issues(lang)
    issues.questions = {"q1": {"text": "How old are you, in years?"}}
    args = dict(kw)
    link = args.get("linkId")
    if labels is not None and "label" not in args and isinstance(link, str) and link in labels:
        args["label"] = labels[link]
    issues.add(message_id, **args)
    return issues.items


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("labels", [None, _LABELS, {}])
def test_ctx_add_is_issues_add_with_the_label(lang: str, labels: dict[str, str] | None) -> None:
    for message_id, args, shared in itertools.product(_IDS, _ARGS, _SHARED):
        issues = Issues(lang)
        issues.questions = {"q1": {"text": "How old are you, in years?"}}
        ctx = Ctx(issues, None, {}, labels=labels)  # type: ignore[arg-type]  # (no registry needed)
        kw = {**args, **shared}
        before = dict(kw)
        ctx.add(message_id, **kw)
        assert kw == before
        assert issues.items == _general(lang, labels, message_id, kw), (message_id, kw)
        assert not ctx.check(False, message_id, **kw)
        assert ctx.check(True, message_id, **kw)
        assert issues.items[1:] == _general(lang, labels, message_id, kw), (message_id, kw)
