"""Value conversions: source scalars to FHIR R4 primitive values (https://hl7.org/fhir/R4/datatypes.html).

Each conversion takes the scalar a reader found and returns the FHIR value, or raises
:class:`ConversionError` with a short reason (in English and Swedish message ids are
added by the engine). A conversion never guesses: ``2026-13-01`` is an error, not a
date in January.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

# FHIR R4 dateTime with a time part requires a zone; the source may omit it (RIVTA does).
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_COMPACT_DATE = re.compile(r"^\d{8}$")
_TRUE = frozenset({"true", "1", "ja", "yes"})
_FALSE = frozenset({"false", "0", "nej", "no"})

# The answer[x] element for each Questionnaire item type (R4 Questionnaire.item.type).
ANSWER_KEY = {
    "boolean": "valueBoolean", "decimal": "valueDecimal", "integer": "valueInteger", "date": "valueDate",
    "dateTime": "valueDateTime", "time": "valueTime", "string": "valueString", "text": "valueString",
    "url": "valueUri", "choice": "valueCoding", "open-choice": "valueCoding", "quantity": "valueQuantity",
}
# The conversion each item type uses unless a rule says otherwise.
CONVERSION_FOR_TYPE = {
    "boolean": "boolean", "decimal": "decimal", "integer": "integer", "date": "date",
    "dateTime": "dateTime", "string": "string", "text": "text", "choice": "coding",
    "open-choice": "coding", "quantity": "quantity",
}


class ConversionError(ValueError):
    """The value cannot be converted; ``args[0]`` is a short English reason."""


def to_string(raw: Any, *, timezone: str = "") -> str:
    text = str(raw).strip() if not isinstance(raw, bool) else ("true" if raw else "false")
    if not text:
        raise ConversionError("empty")
    return text


def to_date(raw: Any, *, timezone: str = "") -> str:
    text = to_string(raw)
    if _COMPACT_DATE.match(text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return dt.date.fromisoformat(text).isoformat() if len(text) == 10 else _fail("not a date (YYYY-MM-DD)")
    except ValueError:
        raise ConversionError("not a valid calendar date (YYYY-MM-DD)") from None


def to_datetime(raw: Any, *, timezone: str = "Europe/Stockholm") -> str:
    text = to_string(raw)
    if not _DATETIME.match(text):
        raise ConversionError("not a dateTime (YYYY-MM-DDThh:mm:ss with optional zone)")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConversionError("not a valid calendar date and time") from None
    if moment.tzinfo is None:
        # Local time of the sending system: the mapping file names its zone.
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def to_boolean(raw: Any, *, timezone: str = "") -> bool:
    if isinstance(raw, bool):
        return raw
    text = to_string(raw).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError("not a boolean (true/false)")


def to_integer(raw: Any, *, timezone: str = "") -> int:
    if isinstance(raw, bool):
        raise ConversionError("a boolean is not an integer")
    if isinstance(raw, int):
        return raw
    number = to_decimal(raw)
    if number != int(number):
        raise ConversionError("not a whole number")
    return int(number)


def to_decimal(raw: Any, *, timezone: str = "") -> int | float:
    if isinstance(raw, bool):
        raise ConversionError("a boolean is not a number")
    if isinstance(raw, (int, float)):
        return raw
    try:
        number = Decimal(to_string(raw).replace(",", "."))
    except InvalidOperation:
        raise ConversionError("not a number") from None
    if not number.is_finite():
        raise ConversionError("not a finite number")
    return int(number) if number == number.to_integral_value() and "." not in str(raw) else float(number)


def _fail(reason: str) -> str:
    raise ConversionError(reason)


SCALAR: dict[str, Callable[..., Any]] = {
    "string": to_string, "text": to_string, "date": to_date, "dateTime": to_datetime,
    "boolean": to_boolean, "integer": to_integer, "decimal": to_decimal,
}
# Composite conversions read named parts below the selected node (docs/mappings.md, "parts").
COMPOSITE_PARTS = {
    "coding": ("code", "system", "display"),
    "identifier": ("system", "value"),
    "quantity": ("value", "unit", "code", "system"),
}
REQUIRED_PART = {"coding": "code", "identifier": "value", "quantity": "value"}


def quantity(parts: dict[str, Any]) -> dict[str, Any]:
    """A Quantity from its parts; the unit is a UCUM code unless the source says otherwise."""
    out: dict[str, Any] = {"value": to_decimal(parts["value"])}
    if parts.get("unit") is not None:
        out["unit"] = to_string(parts["unit"])
        out["system"] = str(parts.get("system") or "http://unitsofmeasure.org")
        out["code"] = str(parts.get("code") or out["unit"])
    return out
