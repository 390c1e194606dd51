"""SDC expressions on a response item: ``calculatedExpression`` and ``answerExpression``.

Spec: SDC (http://hl7.org/fhir/uv/sdc/) "Expression extensions", FHIRPath only. Evaluated with the
project's FHIRPath engine (:mod:`adapter.fhirpath`: compiled, fhirpathpy as the fallback) on the
response, with ``%resource`` the QuestionnaireResponse, ``%context`` the response item and
``%questionnaire`` the Questionnaire.

- ``calculatedExpression``: the stored answer should be what the form calculates. A form may let
  the user override, and a stored value rounds, so a difference is a **warning**
  (``LISN_SDC_CALCULATED_MISMATCH``); numbers agree when they are equal at the stored answer's
  precision (``22.9`` for ``22.857``).
- ``answerExpression``: the answers must be among the values the expression gives (Codings by
  system and code) — an **error** (``LISN_SDC_ANSWER_NOT_ALLOWED``). An expression that needs a
  server (``%terminologies``, ``%server``, ``resolve()`` of something absent) or fails is said as
  **information**: the answer is not checked against it (never silently).
- ``enableWhenExpression`` lives with enableWhen (:mod:`adapter.validation.enable_when`),
  ``questionnaire-constraint`` and ``minOccurs``/``maxOccurs`` in the walk
  (:mod:`adapter.validation.questionnaire_response`), ``entryFormat`` is a hint shown to the user and
  is only named in the text of a ``regex`` failure (:mod:`adapter.validation.answers`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from adapter import fhirpath
from adapter.validation.answers import Ctx, ext_value, value_of

Node = dict[str, Any]
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-"
CALCULATED = SDC + "calculatedExpression"
ANSWER_EXPRESSION = SDC + "answerExpression"


def fhirpath_of(qitem: Node, url: str) -> str | None:
    """The FHIRPath text of the Expression extension ``url`` on ``qitem``, if any."""
    value = ext_value(qitem, url) if qitem.get("extension") else None
    if isinstance(value, dict) and value.get("language") == "text/fhirpath" and isinstance(value.get("expression"), str):
        return str(value["expression"])
    return None


def _evaluate(ctx: Ctx, expression: str, root: Node, node: Node) -> list[Any]:
    return fhirpath.evaluate(root, expression, {"resource": root, "context": node,
                                                "questionnaire": ctx.questionnaire})


def check_calculated(ctx: Ctx, qitem: Node, node: Node, answers: list[Node], root: Node, path: str) -> None:
    expression = fhirpath_of(qitem, CALCULATED)
    if expression is None:
        return
    link = qitem.get("linkId")
    try:
        expected = _evaluate(ctx, expression, root, node)
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party expression means "cannot evaluate"
        ctx.add("LISN_SDC_CALCULATED_UNEVALUABLE", expression=path, severity="warning", code="not-supported",
                       diagnostics=f"{expression}: {str(exc)[:200]}", linkId=link)
        return
    found = [value_of(a)[1] for a in answers]
    if len(found) == len(expected) and all(_same(e, f) for e, f in zip(expected, found, strict=True)):
        return
    ctx.add("LISN_SDC_CALCULATED_MISMATCH", expression=path, severity="warning", code="business-rule",
                   diagnostics=expression, linkId=link, found=_show(found), expected=_show(expected))


def check_answer_expression(ctx: Ctx, qitem: Node, node: Node, answers: list[Node], root: Node, path: str) -> None:
    expression = fhirpath_of(qitem, ANSWER_EXPRESSION)
    if expression is None or not answers:
        return
    link = qitem.get("linkId")
    try:
        allowed = _evaluate(ctx, expression, root, node)
    except Exception as exc:  # noqa: BLE001 - a server-only or broken expression: say it is not checked
        ctx.add("LISN_SDC_ANSWER_EXPRESSION_UNEVALUABLE", expression=path, severity="information",
                       code="not-supported", diagnostics=f"{expression}: {str(exc)[:200]}", linkId=link)
        return
    for j, answer in enumerate(answers):
        vtype, value = value_of(answer)
        if vtype is None:
            continue
        if not any(_same(a, value) for a in allowed):
            ctx.add("LISN_SDC_ANSWER_NOT_ALLOWED", expression=f"{path}.answer[{j}].value.ofType({vtype})",
                           code="code-invalid", diagnostics=expression, linkId=link, value=_show([value]),
                           allowed=_show(allowed))


def _same(expected: Any, stored: Any) -> bool:
    """Whether a computed value and a stored one agree (Codings by system and code, numbers at
    the stored value's precision, other values as text)."""
    if isinstance(expected, dict) or isinstance(stored, dict):
        if not (isinstance(expected, dict) and isinstance(stored, dict)):
            return False
        systems = expected.get("system"), stored.get("system")
        return expected.get("code") == stored.get("code") and (None in systems or systems[0] == systems[1])
    if isinstance(expected, bool) or isinstance(stored, bool):
        return expected is stored
    e, s = _number(expected), _number(stored)
    if e is not None and s is not None:
        exponent = s.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return abs(e - s) <= Decimal(5) / (Decimal(10) ** (places + 1))
    return str(expected) == str(stored)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _show(values: list[Any]) -> str:
    shown = [str(v.get("code") or v.get("display") or "?") if isinstance(v, dict) else str(v) for v in values[:10]]
    return ", ".join(shown) if shown else "–"
