"""A quick test per question: does an answer certainly pass every rule of :func:`answers.check_answer`?

The walk's short path (:mod:`adapter.validation.questionnaire_response`) reads each question's rules
once, into a test of the answer that is cheap for answers that break no rule: the Questionnaire's
side (allowed types, options as a set, bounds as numbers and date keys, the regex compiled) is worked
out here, once per item definition. A test only ever says "certainly clean" (True) or "don't know"
(False); on "don't know" the caller runs :func:`answers.check_answer`, which stays the one place
that says what is wrong. So a test must never say True where ``check_answer`` would add an issue or
fail; tests compare the two on every corpus case and on mutated responses. Rare cases (attachment
data, references, quantities with limits or units, string answers against a ValueSet) always
answer "don't know".
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from adapter.fhir.registry import Registry
from adapter.validation import terminology
from adapter.validation.answers import (
    _FORMATS,
    _OID,
    _URI_CHARS,
    _UUID,
    EXT,
    SDC,
    SDC_ANSWER_EXPRESSION,
    Ctx,
    _decimals,
    _expansion,
    _text,
    allowed_types,
    date_key,
    ext_value,
    ext_values,
)
from adapter.validation.questionnaire import as_list

Node = dict[str, Any]
ValueTest = Callable[[Ctx, Any, int], bool]
"""(context, the answer's value, how many answers the item has) -> certainly clean."""
AnswerTest = Callable[[Ctx, Node, int], bool]


def _never(_ctx: Ctx, _value: Any, _count: int) -> bool:
    return False


def answer_test(qitem: Node) -> AnswerTest:
    """The quick test of an answer to ``qitem`` (a question, not a group or display item)."""
    tests: dict[str, ValueTest] = {}
    for vtype in allowed_types(qitem):
        try:
            tests[vtype] = _value_test(qitem, vtype)
        except Exception:  # noqa: BLE001 - a definition the rules cannot read: check_answer says what happens
            tests[vtype] = _never

    by_key = {"value" + vtype: test for vtype, test in tests.items()}  # (allowed types are not empty)

    def clean(ctx: Ctx, answer: Node, count: int) -> bool:
        for key, value in answer.items():
            test = by_key.get(key)
            if test is not None:  # the first value[x], of a type allowed
                try:
                    return test(ctx, value, count)
                except Exception:  # noqa: BLE001 - check_answer meets (and reports or raises) the same
                    return False
            if key.startswith("value") and len(key) > 5:  # the first value[x], as answers.value_of
                return False  # a type not allowed
        return True  # no value: check_answer has nothing to check

    return clean


def _value_test(qitem: Node, vtype: str) -> ValueTest:
    t = qitem.get("type")
    if vtype == "Boolean":
        return lambda _c, v, _n: isinstance(v, bool)
    if vtype in ("Integer", "Decimal"):
        return _number_test(qitem, vtype)
    if vtype in ("Date", "DateTime"):
        return _date_test(qitem, vtype)
    if vtype == "Time":
        return _time_test(qitem)
    if vtype == "String":
        return _string_test(qitem, t)
    if vtype == "Uri":
        return _uri_test
    if vtype == "Coding":
        return _coding_test(qitem, t)
    if vtype == "Quantity":
        return _quantity_test(qitem)
    if vtype == "Attachment":
        if any(isinstance(m, str) for m in ext_values(qitem, EXT + "mimeType")):
            return _never
        return lambda _c, v, _n: isinstance(v, dict) and not isinstance(v.get("data"), str)
    if vtype == "Reference":
        return lambda _c, v, _n: isinstance(v, dict) and not isinstance(v.get("reference"), str)
    return _never


def _option_values(qitem: Node, vtype: str) -> tuple[bool, list[Any]] | None:
    """None when there are no options to check; else (checkable, the options' value{vtype})."""
    options = qitem.get("answerOption")
    if not options:
        return None
    if not isinstance(options, list):
        return False, []
    return True, [v for o in options if isinstance(o, dict) for k, v in o.items() if k == "value" + vtype]


def _option_test(qitem: Node, vtype: str) -> Callable[[Any], bool] | None:
    """answers._check_primitive_option as a test of the value (None: nothing to check)."""
    found = _option_values(qitem, vtype)
    if found is None:
        return None
    checkable, values = found
    open_choice = qitem.get("type") == "open-choice"
    numeric = vtype in ("Integer", "Decimal")
    if not checkable or (not values and not open_choice) or (numeric and any(isinstance(v, bool) for v in values)):
        return lambda _v: False  # (an option true/false as a number fails in check_answer: let it)
    if open_choice:
        return None  # any value passes
    if numeric:
        numbers = {Decimal(str(v)) for v in values if isinstance(v, (int, float))}
        return lambda v: Decimal(str(v)) in numbers
    texts = {v for v in values if isinstance(v, str)}
    return lambda v: v in texts


def _number(value: Any) -> Decimal | None:
    return Decimal(str(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number_test(qitem: Node, vtype: str) -> ValueTest:
    low, high = _number(ext_value(qitem, EXT + "minValue")), _number(ext_value(qitem, EXT + "maxValue"))
    places = ext_value(qitem, EXT + "maxDecimalPlaces") if vtype == "Decimal" else None
    places = places if isinstance(places, int) else None
    option = _option_test(qitem, vtype)
    integer = vtype == "Integer"

    def test(_ctx: Ctx, value: Any, _count: int) -> bool:
        if integer:
            if not (isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31):
                return False
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or (
                isinstance(value, float) and not math.isfinite(value)) or not -2**63 < value < 2**63:
            return False  # (not a finite number of a usual size: check_answer decides)
        if low is not None or high is not None:
            v = Decimal(str(value))
            if (low is not None and v < low) or (high is not None and v > high):
                return False
        if places is not None and _decimals(value) > places:
            return False
        return option is None or option(value)

    return test


def _date_test(qitem: Node, vtype: str) -> ValueTest:
    form = _FORMATS[vtype]
    low, high = ext_value(qitem, EXT + "minValue"), ext_value(qitem, EXT + "maxValue")
    low_key = date_key(low) if isinstance(low, str) else None
    high_key = date_key(high) if isinstance(high, str) else None
    option = _option_test(qitem, vtype)

    def test(_ctx: Ctx, value: Any, _count: int) -> bool:
        if not isinstance(value, str) or not form.fullmatch(value):
            return False
        key = date_key(value)
        if key is None or (low_key is not None and key < low_key) or (high_key is not None and key > high_key):
            return False
        return option is None or option(value)

    return test


def _time_test(qitem: Node) -> ValueTest:
    form = _FORMATS["Time"]
    low, high = ext_value(qitem, EXT + "minValue"), ext_value(qitem, EXT + "maxValue")
    low = low if isinstance(low, str) else None
    high = high if isinstance(high, str) else None
    option = _option_test(qitem, "Time")

    def test(_ctx: Ctx, value: Any, _count: int) -> bool:
        if not isinstance(value, str) or not form.fullmatch(value):
            return False
        if (low is not None and value < low) or (high is not None and value > high):
            return False
        return option is None or option(value)

    return test


def _string_test(qitem: Node, t: Any) -> ValueTest:
    single_line = t == "string"
    low, high = ext_value(qitem, EXT + "minLength"), qitem.get("maxLength")
    low = low if isinstance(low, int) else None
    high = high if isinstance(high, int) else None
    regex = ext_value(qitem, EXT + "regex")
    pattern: re.Pattern[str] | None = None
    if isinstance(regex, str):
        try:
            pattern = re.compile(regex)
        except re.error:
            pattern = None  # check_answer skips a broken pattern too
    codings: set[str] | None = None
    option: Callable[[Any], bool] | None = None
    if t == "open-choice":
        codings = set()
        for o in as_list(qitem.get("answerOption")):  # as answers._warn_string_matches_coding
            if isinstance(o, dict) and isinstance(o.get("valueCoding"), dict):
                c = o["valueCoding"]
                codings.update((str(c.get("display", "")).lower(), str(c.get("code", "")).lower()))
    elif t in ("choice", "string") and qitem.get("answerOption"):
        option = _option_test(qitem, "String")
    elif t == "string" and isinstance(qitem.get("answerValueSet"), str):
        return _never

    def test(_ctx: Ctx, value: Any, _count: int) -> bool:
        if not isinstance(value, str) or value.strip() == "":
            return False
        if single_line and ("\n" in value or "\r" in value):
            return False
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            return False
        if pattern is not None and pattern.fullmatch(value) is None:
            return False
        if codings is not None and value.lower() in codings:
            return False
        return option is None or option(value)

    return test


def _uri_test(_ctx: Ctx, value: Any, _count: int) -> bool:
    if not isinstance(value, str) or value == "" or not _URI_CHARS.fullmatch(value):
        return False
    if value.startswith("urn:uuid:"):
        return _UUID.fullmatch(value) is not None
    if value.startswith("urn:oid:"):
        return _OID.fullmatch(value) is not None
    return True


_MISSING = object()


def _coding_test(qitem: Node, t: Any) -> ValueTest:
    open_choice = t == "open-choice"
    options = qitem.get("answerOption")
    if options:
        if not isinstance(options, list):
            return _never
        table: dict[tuple[Any, Any], bool] = {}
        for opt in options:
            c = opt.get("valueCoding") if isinstance(opt, dict) else None
            if isinstance(c, dict):
                system, code = c.get("system"), c.get("code")
                # only a string or absent system/code can equal an answer's (str | None) in check_answer
                if isinstance(system, (str, type(None))) and isinstance(code, (str, type(None))):
                    table.setdefault((system, code), ext_value(opt, EXT + "questionnaire-optionExclusive") is True)

        def by_option(_ctx: Ctx, value: Any, count: int) -> bool:
            if not isinstance(value, dict):
                return False
            system, code = _text(value.get("system")), _text(value.get("code"))
            exclusive = table.get((system, code), _MISSING)
            if exclusive is _MISSING:
                return open_choice and not system and not code
            return not exclusive or count == 1

        return by_option
    vs_url = qitem.get("answerValueSet")
    if isinstance(vs_url, str):
        # the verdict per registry and Coding (a registry's definitions are not changed once in use,
        # as terminology's own caches take; the weak reference tells a registry from a later one at its id)
        seen: dict[tuple[Any, ...], tuple[weakref.ref[Registry], bool]] = {}

        def by_value_set(ctx: Ctx, value: Any, _count: int) -> bool:
            if not isinstance(value, dict):
                return False
            system, code, display = value.get("system"), value.get("code"), value.get("display")
            if not isinstance(system, str):  # (answers._text, written out)
                system = None
            if not isinstance(code, str):
                code = None
            if not isinstance(display, str):
                display = None
            if open_choice and not system and not code and display:
                return True
            registry = ctx.registry
            key = (id(registry), system, code, display)
            hit = seen.get(key)
            if hit is not None and hit[0]() is registry:
                return hit[1]
            exp = _expansion(ctx, vs_url)
            if exp is None or not exp.contains(system, code):
                verdict = False
            else:
                known, _expected, names = terminology.concept_display(registry, system, code)
                verdict = not (known and isinstance(display, str) and names and display.lower() not in names)
            if len(seen) > 4096:
                seen.clear()  # codes come from the input: keep the memory bounded
            seen[key] = (weakref.ref(registry), verdict)
            return verdict

        return by_value_set
    if ext_value(qitem, SDC_ANSWER_EXPRESSION) is None:
        return _never  # check_answer says the item has no options
    return lambda _c, v, _n: isinstance(v, dict)


def _quantity_test(qitem: Node) -> ValueTest:
    limits = (ext_value(qitem, SDC + "sdc-questionnaire-minQuantity"), ext_value(qitem, SDC + "sdc-questionnaire-maxQuantity"))
    if (any(isinstance(lim, dict) and isinstance(lim.get("value"), (int, float)) for lim in limits)
            or isinstance(ext_value(qitem, EXT + "maxDecimalPlaces"), int)
            or any(isinstance(c, dict) for c in ext_values(qitem, EXT + "questionnaire-unitOption"))
            or isinstance(ext_value(qitem, EXT + "questionnaire-unitValueSet"), str)):
        # a quantity without a number is not checked further by check_answer
        return lambda _c, v, _n: isinstance(v, dict) and (
            not isinstance(v.get("value"), (int, float)) or isinstance(v.get("value"), bool))
    return lambda _c, v, _n: isinstance(v, dict)
