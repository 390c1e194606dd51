"""enableWhen / enableBehavior evaluation (FHIR R4 Questionnaire.item.enableWhen).

Spec: https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.enableWhen.
Which answers count is resolved as the HL7 Java validator's EnableWhenEvaluator does (and as
discussed on chat.fhir.org, "enable-when"): from the item with the condition, go up to the
nearest group that also contains the question (the common ancestor); the answers looked at
are those inside the matching occurrence of that group in the response, found by walking up
the stack of response items being validated. No common ancestor means the whole response.

The SDC ``enableWhenExpression`` (FHIRPath, evaluated on the response as the Java validator
does; true, or a non-empty result other than false, means enabled) replaces enableWhen.

Operators: ``exists`` (answerBoolean true: has an answer; false: has none), ``=``, ``!=``,
``>``, ``<``, ``>=``, ``<=``. A question with no answer makes every operator but ``exists``
false; ``!=`` holds when there are answers and none equals the value (R4: "True if no answer
has a value that is equal to the enableWhen answer"). Orderings apply to numbers, dates,
times, strings and quantities (by value); Coding, boolean and Reference compare only for
(in)equality. An answer of another type than the condition never matches (the definition
check reports that mismatch in the Questionnaire).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from adapter import fhirpath
from adapter.fhirpath.upstream import MODELS as fhirpath_models
from adapter.validation.answers import SDC, date_key, ext_value
from adapter.validation.questionnaire import QuestionnaireIndex

Node = dict[str, Any]
SDC_ENABLE_WHEN = SDC + "sdc-questionnaire-enableWhenExpression"
R4_MODEL = fhirpath_models["r4"]  # so that choice elements (answer.value) resolve
# One entry per response item on the way down: (linkId of its definition, the response node).
Stack = Sequence[tuple[str, Node]]


def is_enabled(qitem: Node, index: QuestionnaireIndex, root: Node, stack: Stack,
               problems: list[str] | None = None) -> bool:
    """Whether ``qitem`` is enabled, given the response root and the stack of enclosing items.

    An enableWhenExpression that cannot be evaluated leaves the item enabled (its answers are
    still checked) and is appended to ``problems`` (``expression: reason``), for the caller to say.
    """
    expression = _expression(qitem)
    if expression is not None:
        return _expression_enabled(expression, root, problems)
    conditions = qitem.get("enableWhen")
    if not isinstance(conditions, list) or not conditions:
        return True
    results = [_condition(c, qitem, index, root, stack) for c in conditions if isinstance(c, dict)]
    if qitem.get("enableBehavior") == "any":
        return any(results)
    return all(results)


def _expression(qitem: Node) -> str | None:
    """The SDC enableWhenExpression (FHIRPath) of an item, if any; it replaces enableWhen."""
    if not qitem.get("extension"):
        return None
    value = ext_value(qitem, SDC_ENABLE_WHEN)
    if isinstance(value, dict) and value.get("language") == "text/fhirpath" and isinstance(value.get("expression"), str):
        return str(value["expression"])
    return None


def _expression_enabled(expression: str, root: Node, problems: list[str] | None) -> bool:
    # As the Java validator: evaluated on the response, true means enabled. An expression that
    # cannot be evaluated leaves the item enabled, so its answers are still checked.
    try:
        result = fhirpath.evaluate(root, expression, {"resource": root})
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party evaluation means "cannot tell"
        if problems is not None:
            problems.append(f"{expression}: {str(exc)[:200]}")
        return True
    return bool(result) and result != [False]


def _condition(cond: Node, qitem: Node, index: QuestionnaireIndex, root: Node, stack: Stack) -> bool:
    question = cond.get("question")
    if not isinstance(question, str) or question not in index.items:
        return False
    answers = _answers_for(question, qitem, index, root, stack)
    operator = cond.get("operator")
    expected_key, expected = _value_of(cond, "answer")
    return _holds(operator, expected_key, expected, answers)


def _holds(operator: Any, expected_key: str | None, expected: Any, answers: Sequence[Node]) -> bool:
    """Whether one condition holds, given the answers to its question."""
    if operator == "exists":
        return (expected is True) == bool(answers)
    if not answers or expected_key is None:
        return False
    matches = [_compare(expected_key[len("answer"):], expected, a, operator) for a in answers]
    if operator == "!=":
        return all(matches)
    return any(matches)


def _answers_for(question: str, qitem: Node, index: QuestionnaireIndex, root: Node, stack: Stack) -> list[Node]:
    group = index.common_ancestor(str(qitem.get("linkId")), question)
    focus = root
    if group is not None:
        for link_id, node in reversed(stack):
            if link_id == group:
                focus = node
                break
        else:
            return []
    found: list[Node] = []
    _find(focus, question, found)
    return found


def _find(focus: Node, question: str, found: list[Node]) -> None:
    """Append to ``found`` the answers of every item ``question`` below ``focus``, in document order."""
    items = focus.get("item")
    if isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("linkId") == question:
                answers = item.get("answer")
                if isinstance(answers, list):  # (its answers that are objects, without a generator)
                    for answer in answers:
                        if isinstance(answer, dict):
                            found.append(answer)
            if "item" in item:
                _find(item, question, found)
            elif "answer" in item:  # (what _find(item) does then, written out: most answers hold nothing)
                below = item["answer"]
                if isinstance(below, list):
                    for answer in below:
                        if isinstance(answer, dict) and ("item" in answer or "answer" in answer):
                            _find(answer, question, found)
    answers = focus.get("answer")
    if isinstance(answers, list):
        for answer in answers:
            if isinstance(answer, dict) and ("item" in answer or "answer" in answer):
                _find(answer, question, found)


def _value_of(node: Node, prefix: str) -> tuple[str | None, Any]:
    for key, value in node.items():
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
            return key, value
    return None, None


def _compare(type_name: str, expected: Any, answer: Node, operator: Any) -> bool:
    for key, actual in answer.items():  # noqa: B007 - (_value_of(answer, "value"), written out: used after the loop)
        if key.startswith("value") and len(key) > 5 and key[5].isupper():
            break
    else:
        return False  # no value (None is no "value" + type_name)
    if key != "value" + type_name:
        return False
    if operator == "=":
        return _equal(type_name, actual, expected)
    if operator == "!=":
        return not _equal(type_name, actual, expected)
    order = _ordering(type_name, actual, expected)
    if order is None:
        return False
    return {">": order > 0, "<": order < 0, ">=": order >= 0, "<=": order <= 0}.get(str(operator), False)


def _equal(type_name: str, actual: Any, expected: Any) -> bool:
    if type_name == "Coding":
        return (isinstance(actual, dict) and isinstance(expected, dict)
                and actual.get("code") == expected.get("code")
                and (actual.get("system") == expected.get("system")
                     or not actual.get("system") or not expected.get("system")))
    if type_name == "Reference":
        return isinstance(actual, dict) and isinstance(expected, dict) and actual.get("reference") == expected.get("reference")
    order = _ordering(type_name, actual, expected)
    return order == 0 if order is not None else actual == expected


def _ordering(type_name: str, actual: Any, expected: Any) -> int | None:
    a, e = _sortable(type_name, actual), _sortable(type_name, expected)
    if a is None or e is None:
        return None
    try:
        return cast(int, (a > e) - (a < e))
    except TypeError:
        return None


def _sortable(type_name: str, value: Any) -> Any:
    if type_name in ("Integer", "Decimal") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    if type_name == "Quantity" and isinstance(value, dict):
        try:
            return Decimal(str(value.get("value")))
        except InvalidOperation:
            return None
    if type_name in ("Date", "DateTime", "Time", "String") and isinstance(value, str):
        return date_key(value) if type_name in ("Date", "DateTime") else value
    return None


class Enabler:
    """:func:`is_enabled` of one item with the definition's part read once (for the walk's short path).

    The outcome is that of
    :func:`is_enabled`, which stays the reference (tests compare the two).
    """

    __slots__ = ("expression", "conditions", "any")

    def __init__(self, qitem: Node, index: QuestionnaireIndex) -> None:
        self.expression = _expression(qitem)
        conditions = qitem.get("enableWhen")
        self.conditions = ([_Condition(c, qitem, index) for c in conditions if isinstance(c, dict)]
                           if isinstance(conditions, list) and conditions else None)
        self.any = qitem.get("enableBehavior") == "any"

    def enabled(self, root: Node, stack: Stack, problems: list[str]) -> bool:
        if self.expression is not None:
            return _expression_enabled(self.expression, root, problems)
        conditions = self.conditions
        if conditions is None:
            return True
        if len(conditions) == 1:  # (any and all of one result: that result)
            return conditions[0].holds(root, stack)
        results = [c.holds(root, stack) for c in conditions]
        return any(results) if self.any else all(results)


class _Condition:
    __slots__ = ("question", "group", "operator", "expected_key", "expected", "type_name")

    def __init__(self, cond: Node, qitem: Node, index: QuestionnaireIndex) -> None:
        question = cond.get("question")
        self.question: str | None = None
        self.group: str | None = None
        if isinstance(question, str) and question in index.items:
            self.question, self.group = question, index.common_ancestor(str(qitem.get("linkId")), question)
        self.operator = cond.get("operator")
        self.expected_key, self.expected = _value_of(cond, "answer")
        self.type_name = self.expected_key[len("answer"):] if self.expected_key is not None else None

    def holds(self, root: Node, stack: Stack) -> bool:
        if self.question is None:
            return False
        focus = root
        if self.group is not None:
            for link_id, node in reversed(stack):
                if link_id == self.group:
                    focus = node
                    break
            else:
                return _holds(self.operator, self.expected_key, self.expected, ())
        found: list[Node] = []
        _find(focus, self.question, found)
        # _holds, written out (every answer compared, as there)
        operator = self.operator
        if operator == "exists":
            return (self.expected is True) == bool(found)
        type_name, expected = self.type_name, self.expected
        if not found or type_name is None:
            return False
        if operator == "!=":
            every = True
            for answer in found:
                if not _compare(type_name, expected, answer, operator):
                    every = False
            return every
        some = False
        for answer in found:
            if _compare(type_name, expected, answer, operator):
                some = True
        return some
