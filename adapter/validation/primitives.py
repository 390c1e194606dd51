"""Primitive values: the JSON type of each primitive and the spec's regular expression for it.

FHIR R4 §2.24.0.1 (https://hl7.org/fhir/R4/datatypes.html#primitive) and JSON §2.6.2
(https://hl7.org/fhir/R4/json.html#primitive). The expressions are the ``regex`` extensions of
the R4 primitive type definitions (:mod:`adapter.fhir.definitions`), matched whole and with
Java's character classes (``\\s`` is ASCII whitespace, as in the HL7 validator). Beyond the
expressions: dates that exist (``2020-02-30`` is none), 32-bit integers, finite decimals,
base64 that decodes, the 1 MB string limit, and ids of at most 64 characters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from adapter.fhir.definitions import primitive_pattern
from adapter.issues import Issues

_INT_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_MAX_STRING = 1024 * 1024
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
# The message id (the HL7 validator's) for a value that does not meet its type's expression.
_FORMAT_IDS = {
    "date": "Type_Specific_Checks_DT_Date_Valid", "dateTime": "TYPE_SPECIFIC_CHECKS_DT_DATETIME_VALID",
    "instant": "Type_Specific_Checks_DT_Instant_Valid", "time": "Type_Specific_Checks_DT_Time_Valid",
    "base64Binary": "Type_Specific_Checks_DT_Base64_Valid", "code": "Type_Specific_Checks_DT_Code_WS",
    "id": "Type_Specific_Checks_DT_ID_Valid", "oid": "TYPE_SPECIFIC_CHECKS_DT_OID_VALID",
    "uuid": "TYPE_SPECIFIC_CHECKS_DT_UUID_VALID", "uri": "TYPE_SPECIFIC_CHECKS_DT_URI_WS",
    "url": "TYPE_SPECIFIC_CHECKS_DT_URI_WS", "canonical": "TYPE_SPECIFIC_CHECKS_DT_URI_WS",
}


@cache
def _regex(type_name: str) -> re.Pattern[str] | None:
    pattern = primitive_pattern(type_name)
    return re.compile(pattern, re.ASCII) if pattern else None


def check_primitive(value: Any, type_name: str, path: str, issues: Issues, *, resource_id: bool = False) -> None:
    """Add the issues of one primitive JSON value of FHIR type ``type_name`` found at ``path``."""
    if type_name == "boolean":
        issues.check(isinstance(value, bool), "Error_parsing_JSON_the_primitive_value_must_be_a_boolean",
                     expression=path, code="structure")
    elif type_name in _INT_TYPES:
        _integer(value, type_name, path, issues)
    elif type_name == "decimal":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        issues.check(ok, "Error_parsing_JSON_the_primitive_value_must_be_a_number", expression=path,
                     code="structure")
    elif not isinstance(value, str):
        issues.add("Error_parsing_JSON_the_primitive_value_must_be_a_string", expression=path, code="structure")
    elif value == "":
        issues.add("Type_Specific_Checks_DT_Primitive_NotEmpty", expression=path, code="value")
    elif type_name != "xhtml":
        _text(value, type_name, path, issues, resource_id)


@cache
def quick_check(type_name: str) -> Callable[[Any], bool] | None:
    """A quick test of a ``type_name`` value that is true only when :func:`check_primitive` would
    find nothing wrong with it (``resource_id`` false); a value it rejects gets the full check,
    which says what is wrong. None: no quick test (base64, unknown types), always the full check.
    The test is :func:`quick_source`'s expression, made a function."""
    source = quick_source(type_name, "v")
    if source is None:
        return None
    test: Callable[[Any], bool] = eval(f"lambda v: {source}", quick_names())  # (the text is ours, no input's)
    return test


def quick_source(type_name: str, name: str) -> str | None:
    """:func:`quick_check`'s test of a ``type_name`` value as a Python expression on the variable
    ``name``, for generated code (adapter.validation.walkgen writes it inline); the other names it
    reads are :func:`quick_names`'. None: no quick test."""
    lo, hi = _INT32
    v = name
    if type_name == "boolean":
        return f"({v} is True or {v} is False)"
    if type_name == "integer":
        return f"(type({v}) is int and {lo} <= {v} <= {hi})"
    if type_name == "positiveInt":
        return f"(type({v}) is int and 1 <= {v} <= {hi})"
    if type_name == "unsignedInt":
        return f"(type({v}) is int and 0 <= {v} <= {hi})"
    if type_name == "decimal":
        return f"(type({v}) is float and _isfinite({v}))"
    if type_name == "xhtml":
        return f"(type({v}) is str and {v} != '')"
    if type_name not in _STRING_TYPES:
        return None
    text = f"type({v}) is str and 0 < len({v}) <= {_MAX_STRING}"
    if _regex(type_name) is None:
        return f"({text})"
    # Expressions met on most values, tested without the regular expression (a call of
    # ``fullmatch`` costs several times as much as these string methods):
    pattern = primitive_pattern(type_name)
    if pattern == r"[ \r\n\t\S]+":  # (string, markdown) ASCII \S: all but \f and \v of the other whitespace
        return f"({text} and '\\x0b' not in {v} and '\\x0c' not in {v})"
    if pattern in (r"\S*", r"[^\s]+(\s[^\s]+)*"):  # (uri, url, canonical; code) true without whitespace
        # (printable: none of \t\n\r\f\v; a text it refuses, or with a space, gets the expression)
        return f"({text} and {v}.isprintable() and ' ' not in {v})"
    if type_name in ("date", "dateTime", "instant"):
        return f"({text} and _fullmatch_{type_name}({v}) is not None and _real_date({v}))"
    return f"({text} and _fullmatch_{type_name}({v}) is not None)"


def quick_resource_id_source(name: str) -> str:
    """:func:`quick_resource_id` as an expression on ``name`` (as :func:`quick_source`)."""
    return f"(type({name}) is str and _fullmatch_resource_id({name}) is not None)"


@cache
def quick_names() -> dict[str, Any]:
    """The names the expressions of :func:`quick_source` read (besides ``type`` and ``len``)."""
    names: dict[str, Any] = {"_isfinite": math.isfinite, "_real_date": real_date,
                             "_fullmatch_resource_id": _RESOURCE_ID.fullmatch}
    for type_name in _STRING_TYPES:
        regex = _regex(type_name)
        if regex is not None:
            names[f"_fullmatch_{type_name}"] = regex.fullmatch
    return names


_RESOURCE_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def quick_resource_id(value: Any) -> bool:
    """The quick test of a resource's own ``id`` (``check_primitive`` with ``resource_id``): true only
    when that check finds nothing wrong (a text of 1 to 64 of the characters ``_resource_id`` allows)."""
    return type(value) is str and _RESOURCE_ID.fullmatch(value) is not None


# The text types whose check is the length and the expression (base64Binary also decodes).
_STRING_TYPES = frozenset({"string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown", "instant",
                           "date", "dateTime", "time"})


def _integer(value: Any, type_name: str, path: str, issues: Issues) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        shown = value if isinstance(value, (str, float)) else type(value).__name__
        issues.add("Type_Specific_Checks_DT_Integer_Valid", expression=path, code="structure", value=shown)
    elif not _INT32[0] <= value <= _INT32[1]:
        issues.add("Type_Specific_Checks_DT_Integer_Valid", expression=path, code="value", value=value)
    elif type_name == "positiveInt":
        issues.check(value >= 1, "Type_Specific_Checks_DT_Integer_LT1", expression=path, code="value")
    elif type_name == "unsignedInt":
        issues.check(value >= 0, "Type_Specific_Checks_DT_Integer_LT0", expression=path, code="value")


def _text(value: str, type_name: str, path: str, issues: Issues, resource_id: bool) -> None:
    if len(value) > _MAX_STRING:
        issues.add("Type_Specific_Checks_DT_String_Length", expression=path, code="value")
        return
    if resource_id and type_name == "id":
        _resource_id(value, path, issues)
        return
    regex = _regex(type_name)
    if regex is not None and not regex.fullmatch(value):
        message_id = _FORMAT_IDS.get(type_name, "Type_Specific_Checks_DT_Primitive_Regex_Type")
        issues.add(message_id, expression=path, code="value", value=_shown(value), type=type_name,
                   regex=regex.pattern)
    elif type_name in ("date", "dateTime", "instant") and not real_date(value):
        issues.add(_FORMAT_IDS[type_name], expression=path, code="value", value=_shown(value))
    elif type_name == "base64Binary" and not _decodes(value):
        issues.add("Type_Specific_Checks_DT_Base64_Valid", expression=path, code="value", value=_shown(value))


def _resource_id(value: str, path: str, issues: Issues) -> None:
    # Resource.id is an ``id`` (https://hl7.org/fhir/R4/resource.html#id); the HL7 validator says which rule broke.
    if len(value) > 64:
        issues.add("Resource_RES_ID_Malformed_Length", expression=path, code="value", length=len(value))
    elif not re.fullmatch(r"[A-Za-z0-9\-.]+", value):
        issues.add("Resource_RES_ID_Malformed_Chars", expression=path, code="value", value=_shown(value))


def real_date(value: str) -> bool:
    """Whether the date part of a (partial) date, dateTime or instant names a day that exists."""
    parts = value[:10].split("-")
    if len(parts) < 3:
        return True  # a year, or a year and month: the expression has checked the ranges
    try:
        dt.date(int(parts[0]), int(parts[1]), int(parts[2][:2]))
    except ValueError:
        return False
    return True


def _decodes(value: str) -> bool:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _shown(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."
