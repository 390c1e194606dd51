"""One answer against its question: type, value constraints and allowed options.

The rules and their message ids are those of the HL7 Java validator's QuestionnaireValidator
(``validateQuestionnaireResponseItemType`` and the per-type ``validateQuestionnaireResponseItem*``
methods, ``checkOption``, ``validateAnswerCode``), for the R4 item types
(https://hl7.org/fhir/R4/valueset-item-type.html) and the R4/SDC extensions minValue, maxValue,
minLength, regex + entryFormat, maxDecimalPlaces, mimeType, maxSize, questionnaire-unitOption,
questionnaire-unitValueSet, questionnaire-referenceResource, questionnaire-optionExclusive,
sdc-questionnaire-minQuantity / maxQuantity. Issues about the value sit at
``answer[i].value.ofType(T)`` as in the Java validator; about the choice, at ``answer[i]``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from adapter import messages
from adapter.fhir.model import resource_types
from adapter.fhir.registry import Registry
from adapter.issues import DEFAULT_CODE, Issues
from adapter.validation import quantities, terminology
from adapter.validation.questionnaire import as_list

Node = dict[str, Any]
EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"

_SIMPLE: dict[str, tuple[str, ...]] = {
    "boolean": ("Boolean",), "decimal": ("Decimal",), "integer": ("Integer",), "date": ("Date",),
    "dateTime": ("DateTime",), "time": ("Time",), "string": ("String",), "text": ("String",),
    "url": ("Uri",), "attachment": ("Attachment",), "reference": ("Reference",), "quantity": ("Quantity",),
}
_PRIMITIVE = {"Boolean", "Decimal", "Integer", "Date", "DateTime", "Time", "String", "Uri"}
_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_FORMATS = {
    "Date": re.compile(_DATE),
    "DateTime": re.compile(_DATE + r"(T" + _TIME + r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?"),
    "Time": re.compile(_TIME),
}
_DATE_PARTS = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?")
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_REFERENCE = re.compile(r"((https?://|urn:)[^\s]+|#[A-Za-z0-9\-.]+|[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?)")


SDC_ANSWER_EXPRESSION = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerExpression"


@dataclass
class Ctx:
    """What every rule of one validation run needs."""

    issues: Issues
    registry: Registry
    questionnaire: Node
    partial: bool = False
    """The response is not completed: completeness rules are warnings (HL7 Java: notCompleted)."""
    cache: dict[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] | None = None
    """linkId -> its label as ``issues.label`` gives it, worked out ahead (the walk's short path)."""

    def add(self, message_id: str, *, expression: str | None = None, severity: str = "error",
            code: str = DEFAULT_CODE, diagnostics: str | None = None, **args: Any) -> None:
        """``issues.add``, with the question's label from ``labels`` when it is there (the arguments
        handed on in their dict: ``Issues.add_args``)."""
        if self.labels is not None and "label" not in args:
            link = args.get("linkId")
            label = self.labels.get(link) if isinstance(link, str) else None
            if label is not None:
                args["label"] = label
        self.issues.add_args(message_id, args, expression, severity, code, diagnostics)

    def check(self, condition: Any, message_id: str, **args: Any) -> bool:
        """``issues.check``, with the label as :meth:`add`."""
        if not condition:
            self.add(message_id, **args)
            return False
        return True


_MEMO: dict[tuple[int, str], tuple[Node | list[Any], Any]] = {}


def memo(item: Node | list[Any], key: str, compute: Any, *args: Any) -> Any:
    """Per-definition facts, computed once: Questionnaires in a registry are read, never changed,
    so (object identity, key) is a safe key; the identity check guards against reuse of an id.
    ``item``: an object of the definition (an item, an answerOption) or a list of its (sibling items)."""
    hit = _MEMO.get((id(item), key))
    if hit is not None and hit[0] is item:
        return hit[1]
    value = compute(*args)
    if len(_MEMO) > 100_000:
        _MEMO.clear()
    _MEMO[(id(item), key)] = (item, value)
    return value


def ext_values(item: Node, url: str) -> list[Any]:
    """The value[x] of every extension ``url`` on ``item`` (a Questionnaire item or answerOption)."""
    return memo(item, url, _ext_values, item, url)  # type: ignore[no-any-return]


def _ext_values(item: Node, url: str) -> list[Any]:
    out: list[Any] = []
    for ext in as_list(item.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == url:
            out.extend(v for k, v in ext.items() if k.startswith("value"))
    return out


def ext_value(item: Node, url: str) -> Any:
    hit = _MEMO.get((id(item), url))  # (memo's look-up written out: the usual case, two calls fewer)
    values = hit[1] if hit is not None and hit[0] is item else ext_values(item, url)
    return values[0] if values else None


def value_of(answer: Node) -> tuple[str | None, Any]:
    """(FHIR type as in ``valueX``, value) of an answer."""
    for key, value in answer.items():
        if key.startswith("value") and len(key) > 5:
            return key[5:], value
    return None, None


def type_label(t: str) -> str:
    return t[0].lower() + t[1:] if t in _PRIMITIVE else t


def _said(fhir_type: str, ctx: Ctx) -> str:
    """A type name in the language of the issues (``datum`` in Swedish, ``date`` in English)."""
    return messages.type_name(fhir_type, ctx.issues.lang)


def is_datetime(value: Any) -> bool:
    """A valid R4 dateTime (https://hl7.org/fhir/R4/datatypes.html#dateTime)."""
    return isinstance(value, str) and bool(_FORMATS["DateTime"].fullmatch(value)) and date_key(value) is not None


@lru_cache(maxsize=4096)
def date_key(text: str) -> tuple[int, ...] | None:
    """A sortable key for a (partial) date or dateTime: missing parts take their earliest value, UTC."""
    m = _DATE_PARTS.fullmatch(text)
    if not m:
        return None
    # Worked out 400 years away from the ends of datetime's range (the Gregorian calendar repeats
    # every 400 years: the same days are valid), so that a zone offset may carry the instant into
    # year 0 or 10000 (0001-01-01T00:00:00+01:00 is 0000-12-31T23:00Z): no OverflowError.
    year = int(m[1])
    if not year:
        return None  # no year 0 in FHIR (nor in datetime)
    shift = 400 if year < 5000 else -400
    try:
        dt = datetime(year + shift, int(m[2] or 1), int(m[3] or 1), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0),
                      int(Decimal(m[7] or 0) * 1_000_000))
        if m[8] and m[8] != "Z":
            sign = -1 if m[8][0] == "-" else 1
            dt -= sign * timedelta(hours=int(m[8][1:3]), minutes=int(m[8][4:6]))
    except ValueError:
        return None
    return (dt.year - shift, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond)


def allowed_types(qitem: Node) -> tuple[str, ...]:
    """The value[x] types an answer to ``qitem`` may have."""
    return memo(qitem, "#allowed", _allowed_types, qitem)  # type: ignore[no-any-return]


def _allowed_types(qitem: Node) -> tuple[str, ...]:
    t = qitem.get("type")
    if isinstance(t, str) and t in _SIMPLE:
        return _SIMPLE[t]
    if t in ("choice", "open-choice"):
        found = []
        for opt in as_list(qitem.get("answerOption")):
            vt, _ = value_of(opt) if isinstance(opt, dict) else (None, None)
            if vt and vt not in found:
                found.append(vt)
        types = tuple(found) or ("Coding",)
        return types + (("String",) if t == "open-choice" and "String" not in types else ())
    return ()


_WRONG_TYPE_NAMES: dict[tuple[tuple[str, ...], str, str], tuple[str, str]] = {}
"""(allowed types, the answer's type, language) -> QUESTIONNAIRE_QR_ITEM_WRONGTYPE's ``expected`` and ``found``
(the type names of a language are fixed: messages' vocabulary)."""

_OF_TYPE = {t: f".value.ofType({type_label(t)})"
            for t in (*_PRIMITIVE, "Coding", "Quantity", "Reference", "Attachment")}
"""value[x]'s type -> the end of the path of an answer's value of it (the usual types)."""


def check_answer(ctx: Ctx, qitem: Node, answer: Node, apath: str, count: int) -> None:
    """Every rule for one answer (not group/display: the caller handles those)."""
    link_id = qitem.get("linkId")
    for key, value in answer.items():  # noqa: B007 - (value_of, written out: the value is used after the loop)
        if key.startswith("value") and len(key) > 5:
            vtype = key[5:]
            break
    else:
        return  # an answer carrying only nested items; R4 qrs-1 is for the profile checks
    end = _OF_TYPE.get(vtype)
    vpath = apath + end if end is not None else f"{apath}.value.ofType({type_label(vtype)})"
    hit = _MEMO.get((id(qitem), "#allowed"))  # (allowed_types' look-up written out: the usual case)
    allowed = hit[1] if hit is not None and hit[0] is qitem else allowed_types(qitem)
    if vtype not in allowed:  # the message's type names are worked out only then
        lang = ctx.issues.lang
        names = _WRONG_TYPE_NAMES.get((allowed, vtype, lang)) if isinstance(lang, str) else None
        if names is None:
            names = (" | ".join(_said(type_label(a), ctx) for a in allowed), _said(type_label(vtype), ctx))
            if isinstance(lang, str) and len(_WRONG_TYPE_NAMES) < 1024:  # (vtype comes from the input: bounded)
                _WRONG_TYPE_NAMES[(allowed, vtype, lang)] = names
        ctx.add("QUESTIONNAIRE_QR_ITEM_WRONGTYPE", expression=vpath, code="structure", linkId=link_id,
                expected=names[0], found=names[1])
        return
    if not _well_formed(ctx, vtype, value, vpath, link_id):
        return
    _BY_TYPE.get(vtype, _no_check)(ctx, qitem, value, apath, vpath, count)


def _no_check(*_args: Any) -> None:
    return None


def _well_formed(ctx: Ctx, vtype: str, value: Any, vpath: str, link_id: Any) -> bool:
    if vtype == "Boolean":
        ok = isinstance(value, bool)
    elif vtype == "Integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31
    elif vtype == "Decimal":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif vtype == "String":
        ok = isinstance(value, str) and value.strip() != ""
    elif vtype == "Uri":
        ok = isinstance(value, str) and value != ""
    elif vtype in _FORMATS:
        ok = isinstance(value, str) and bool(_FORMATS[vtype].fullmatch(value)) and (
            vtype == "Time" or date_key(value) is not None)
    else:
        ok = isinstance(value, dict)
    return ok or ctx.check(ok, "QUESTIONNAIRE_QR_ITEM_VALUE_INVALID", expression=vpath, code="value",
                                  linkId=link_id, value=str(value)[:80], type=_said(type_label(vtype), ctx))


def _number_limits(ctx: Ctx, qitem: Node, value: Any, vpath: str, kind: str) -> None:
    link_id = qitem.get("linkId")
    v = Decimal(str(value))
    low, high = ext_value(qitem, EXT + "minValue"), ext_value(qitem, EXT + "maxValue")
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        if v < Decimal(str(low)):
            ctx.add(f"QUESTIONNAIRE_QR_ITEM_{kind}_MIN", expression=vpath,
                           code="invariant", linkId=link_id, value=value, min=low)
    if isinstance(high, (int, float)) and not isinstance(high, bool):
        if v > Decimal(str(high)):
            ctx.add(f"QUESTIONNAIRE_QR_ITEM_{kind}_MAX", expression=vpath,
                           code="invariant", linkId=link_id, value=value, max=high)


def _decimals(value: Any) -> int:
    text = format(Decimal(str(value)), "f")
    return len(text.split(".", 1)[1]) if "." in text else 0


def _check_integer(ctx: Ctx, qitem: Node, value: Any, apath: str, vpath: str, count: int) -> None:
    _number_limits(ctx, qitem, value, vpath, "INTEGER")
    _check_primitive_option(ctx, qitem, "Integer", value, vpath, "QUESTIONNAIRE_QR_ITEM_NOINTEGER")


def _check_decimal(ctx: Ctx, qitem: Node, value: Any, apath: str, vpath: str, count: int) -> None:
    _number_limits(ctx, qitem, value, vpath, "DECIMAL")
    places = ext_value(qitem, EXT + "maxDecimalPlaces")
    if isinstance(places, int):
        if _decimals(value) > places:
            ctx.add("QUESTIONNAIRE_QR_ITEM_DECIMAL_MAX_DECIMALS", expression=vpath,
                           code="invariant", linkId=qitem.get("linkId"), value=value, max=places)
    _check_primitive_option(ctx, qitem, "Decimal", value, vpath, "QUESTIONNAIRE_QR_ITEM_NODECIMAL")


_DATE_BOUNDS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    (EXT + "minValue", "QUESTIONNAIRE_QR_ITEM_DATE_MIN", lambda a, b: a >= b),
    (EXT + "maxValue", "QUESTIONNAIRE_QR_ITEM_DATE_MAX", lambda a, b: a <= b))


def _check_date(ctx: Ctx, qitem: Node, value: Any, apath: str, vpath: str, count: int) -> None:
    key = date_key(value)
    for url, mid, cmp in _DATE_BOUNDS:
        limit = ext_value(qitem, url)
        limit_key = date_key(limit) if isinstance(limit, str) else None
        if limit_key is not None and key is not None:
            if not cmp(key, limit_key):
                ctx.add(mid, expression=vpath, code="invariant",
                               linkId=qitem.get("linkId"), value=value, min=limit, max=limit)
    vtype = "Date" if vpath.endswith("(date)") else "DateTime"
    _check_primitive_option(ctx, qitem, vtype, value, vpath, "QUESTIONNAIRE_QR_ITEM_NODATE")


def _check_time(ctx: Ctx, qitem: Node, value: Any, apath: str, vpath: str, count: int) -> None:
    low, high = ext_value(qitem, EXT + "minValue"), ext_value(qitem, EXT + "maxValue")
    if isinstance(low, str):
        if value < low:
            ctx.add("QUESTIONNAIRE_QR_ITEM_TIME_MIN", expression=vpath, code="invariant",
                           linkId=qitem.get("linkId"), value=value, min=low)
    if isinstance(high, str):
        if value > high:
            ctx.add("QUESTIONNAIRE_QR_ITEM_TIME_MAX", expression=vpath, code="invariant",
                           linkId=qitem.get("linkId"), value=value, max=high)
    _check_primitive_option(ctx, qitem, "Time", value, vpath, "QUESTIONNAIRE_QR_ITEM_NOTIME")


def _check_string(ctx: Ctx, qitem: Node, value: Any, apath: str, vpath: str, count: int) -> None:
    link_id = qitem.get("linkId")
    if qitem.get("type") == "string":
        # R4: "string" is a single line; the corpus (string-vs-text) and the .NET validator make this an error.
        if "\n" in value or "\r" in value:
            ctx.add("QUESTIONNAIRE_QR_ITEM_STRING_ILLEGAL_CHARS",
                       expression=vpath, code="invariant", linkId=link_id)
    low, high = ext_value(qitem, EXT + "minLength"), qitem.get("maxLength")
    if isinstance(low, int):
        if len(value) < low:
            ctx.add("QUESTIONNAIRE_QR_ITEM_STRING_MIN_LENGTH", expression=vpath,
                       code="invariant", linkId=link_id, length=len(value), min=low)
    if isinstance(high, int):
        if len(value) > high:
            ctx.add("QUESTIONNAIRE_QR_ITEM_STRING_MAX_LENGTH", expression=vpath,
                       code="too-long", linkId=link_id, length=len(value), max=high)
    _check_regex(ctx, qitem, value, vpath)
    if qitem.get("type") == "open-choice":
        _warn_string_matches_coding(ctx, qitem, value, vpath)
    elif qitem.get("type") in ("choice", "string") and qitem.get("answerOption"):
        _check_primitive_option(ctx, qitem, "String", value, vpath, "QUESTIONNAIRE_QR_ITEM_NOSTRING")
    elif qitem.get("type") == "string" and isinstance(qitem.get("answerValueSet"), str):
        _check_string_in_value_set(ctx, qitem, value, apath)


def _check_regex(ctx: Ctx, qitem: Node, value: str, vpath: str) -> None:
    regex = ext_value(qitem, EXT + "regex")
    if not isinstance(regex, str):
        return
    fmt = ext_value(qitem, EXT + "entryFormat")
    try:
        matched = re.fullmatch(regex, value) is not None
    except re.error:
        return  # a broken pattern is the Questionnaire's fault, not the answer's
    if not matched:
        ctx.add("QUESTIONNAIRE_QR_ITEM_STRING_REGEX_EF" if fmt else "QUESTIONNAIRE_QR_ITEM_STRING_REGEX",
                       expression=vpath, code="invariant", linkId=qitem.get("linkId"), value=value[:80],
                       regex=regex, format=fmt)


def _warn_string_matches_coding(ctx: Ctx, qitem: Node, value: str, vpath: str) -> None:
    low = value.lower()
    hit = any(isinstance(o.get("valueCoding"), dict)
              and low in (str(o["valueCoding"].get("display", "")).lower(), str(o["valueCoding"].get("code", "")).lower())
              for o in as_list(qitem.get("answerOption")) if isinstance(o, dict))
    if hit:
        ctx.add("QUESTIONNAIRE_QR_ITEM_STRING_IN_CODING", expression=vpath, severity="warning",
                       code="invariant", linkId=qitem.get("linkId"), value=value[:80])


def _check_string_in_value_set(ctx: Ctx, qitem: Node, value: str, apath: str) -> None:
    vs_url = qitem["answerValueSet"]
    exp = _expansion(ctx, vs_url)
    if not ctx.check(exp is not None, "TERMINOLOGY_TX_VALUESET_NOTFOUND", expression=apath,
                            code="code-invalid", valueSet=vs_url, linkId=qitem.get("linkId")):
        return
    assert exp is not None
    # As the Java validator: the string is taken as a code (a display is not a member).
    hit = bool(exp.whole_systems)
    if not hit:
        for _system, code in exp.codes:  # (a loop, not a generator: some value sets are long)
            if code == value:
                hit = True
                break
    if not hit:
        ctx.add("QUESTIONNAIRE_QR_ITEM_VS_FAIL", expression=apath, code="code-invalid",
                       value=value[:80], valueSet=vs_url, linkId=qitem.get("linkId"))


def _check_uri(ctx: Ctx, qitem: Node, value: str, apath: str, vpath: str, count: int) -> None:
    if not ctx.check(_URI_CHARS.fullmatch(value), "TYPE_SPECIFIC_CHECKS_DT_URI_WS", expression=vpath,
                        code="value", value=value[:80]):
        return
    if value.startswith("urn:uuid:"):
        if not _UUID.fullmatch(value):
            ctx.add("TYPE_SPECIFIC_CHECKS_DT_UUID_VALID", expression=vpath,
                       code="value", value=value[:80])
    elif value.startswith("urn:oid:"):
        if not _OID.fullmatch(value):
            ctx.add("TYPE_SPECIFIC_CHECKS_DT_OID_VALID", expression=vpath,
                       code="value", value=value[:80])


def _check_attachment(ctx: Ctx, qitem: Node, value: Node, apath: str, vpath: str, count: int) -> None:
    link_id = qitem.get("linkId")
    allowed = [m for m in ext_values(qitem, EXT + "mimeType") if isinstance(m, str)]
    content_type = value.get("contentType")
    if allowed and ctx.check(isinstance(content_type, str), "QUESTIONNAIRE_QR_ITEM_NOT_ATTACHMENT_MIMETYPE",
                                expression=apath, code="required", linkId=link_id):
        if not any(str(content_type).startswith(m) for m in allowed):
            ctx.add("QUESTIONNAIRE_QR_ITEM_BAD_ATTACHMENT_MIMETYPE",
                       expression=apath, code="value", linkId=link_id, mimeType=content_type, allowed=", ".join(allowed))
    data = value.get("data")
    if not isinstance(data, str):
        return
    try:
        size = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        ctx.add("TYPE_SPECIFIC_CHECKS_DT_ATT_B64_DECODE_FAIL", expression=f"{vpath}.data", code="value", linkId=link_id)
        return
    stated = value.get("size")
    if isinstance(stated, int) and not isinstance(stated, bool):
        if stated != size:
            ctx.add("TYPE_SPECIFIC_CHECKS_DT_ATT_SIZE_CORRECT", expression=vpath, code="value",
                       stated=stated, actual=size)
    limit = ext_value(qitem, EXT + "maxSize")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
        if size > limit:
            ctx.add("QUESTIONNAIRE_QR_ITEM_BAD_ATTACHMENT_LENGTH", expression=apath,
                       code="too-long", linkId=link_id, max=limit, size=size)


def _check_reference(ctx: Ctx, qitem: Node, value: Node, apath: str, vpath: str, count: int) -> None:
    ref = value.get("reference")
    if not isinstance(ref, str):
        return
    link_id = qitem.get("linkId")
    if not ctx.check(_REFERENCE.fullmatch(ref), "QUESTIONNAIRE_QR_ITEM_REF_SYNTAX", expression=vpath,
                        code="value", reference=ref[:120]):
        return
    rtype = _reference_type(ref)
    allowed = [c for c in ext_values(qitem, EXT + "questionnaire-referenceResource") if isinstance(c, str)]
    if rtype is None:
        if allowed:
            ctx.add("QUESTIONNAIRE_QR_ITEM_REF_CANT", expression=vpath, code="value", reference=ref[:120])
    elif ctx.check(rtype in resource_types(), "QUESTIONNAIRE_QR_ITEM_REF_INVALID_GENERAL", expression=vpath,
                      code="value", resourceType=rtype, reference=ref[:120]) and allowed:
        if rtype not in allowed and "Resource" not in allowed:
            ctx.add("QUESTIONNAIRE_QR_ITEM_REF_INVALID", expression=vpath,
                       code="value", resourceType=rtype, reference=ref[:120], allowed=",".join(allowed), linkId=link_id)
    _check_reference_option(ctx, qitem, ref, apath)


def _reference_type(ref: str) -> str | None:
    if ref.startswith(("urn:", "#")):
        return None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else None


def _check_reference_option(ctx: Ctx, qitem: Node, ref: str, apath: str) -> None:
    options = [o["valueReference"].get("reference") for o in as_list(qitem.get("answerOption"))
               if isinstance(o, dict) and isinstance(o.get("valueReference"), dict)]
    if options:
        if ref not in options:
            ctx.add("QUESTIONNAIRE_QR_ITEM_NOREFERENCE", expression=apath,
                           code="code-invalid", value=ref[:120], linkId=qitem.get("linkId"))


def _check_primitive_option(ctx: Ctx, qitem: Node, vtype: str, value: Any, vpath: str, message_id: str) -> None:
    options = qitem.get("answerOption")
    if not options:
        return
    values = [v for o in options if isinstance(o, dict) for k, v in o.items() if k == "value" + vtype]
    if not ctx.check(values or qitem.get("type") == "open-choice", "QUESTIONNAIRE_QR_ITEM_NOOPTIONS_TYPE",
                            expression=vpath, code="structure", linkId=qitem.get("linkId"),
                            type=_said(type_label(vtype), ctx)):
        return
    if vtype in ("Integer", "Decimal"):
        hit = any(Decimal(str(v)) == Decimal(str(value)) for v in values if isinstance(v, (int, float)))
    else:
        hit = value in values
    if not hit and qitem.get("type") != "open-choice":
        ctx.add(message_id, expression=vpath, code="code-invalid",
                       linkId=qitem.get("linkId"), value=str(value)[:80])


def _expansion(ctx: Ctx, vs_url: str) -> terminology.Expansion | None:
    key = "vs:" + vs_url
    if key not in ctx.cache:
        ctx.cache[key] = terminology.expand(ctx.registry, vs_url, contained=as_list(ctx.questionnaire.get("contained")))
    result: terminology.Expansion | None = ctx.cache[key]
    return result


def _check_coding(ctx: Ctx, qitem: Node, value: Node, apath: str, vpath: str, count: int) -> None:
    if qitem.get("answerOption"):
        _check_coding_option(ctx, qitem, value, apath, count)
    elif isinstance(qitem.get("answerValueSet"), str):
        _check_coding_value_set(ctx, qitem, value, apath, vpath)
    elif ext_value(qitem, SDC_ANSWER_EXPRESSION) is None:  # an answerExpression is checked by sdc.py
        ctx.add("QUESTIONNAIRE_QR_ITEM_NOOPTIONS", expression=apath, severity="information",
                       code="informational", linkId=qitem.get("linkId"))


def _text(value: Any) -> str | None:
    """A string member of a complex value, or None (a retyped member is the profile checks' to report)."""
    return value if isinstance(value, str) else None


def _check_coding_option(ctx: Ctx, qitem: Node, value: Node, apath: str, count: int) -> None:
    system, code = _text(value.get("system")), _text(value.get("code"))
    for opt in qitem["answerOption"]:
        c = opt.get("valueCoding") if isinstance(opt, dict) else None
        if isinstance(c, dict) and c.get("system") == system and c.get("code") == code:
            if ext_value(opt, EXT + "questionnaire-optionExclusive") is True:
                if count != 1:
                    ctx.add("QUESTIONNAIRE_QR_ITEM_EXCLUSIVE", expression=apath, code="business-rule",
                                   system=system, value=code, linkId=qitem.get("linkId"))
            return
    if qitem.get("type") == "open-choice" and not system and not code:
        return  # a display-only Coding on an open-choice is free text
    ctx.add("QUESTIONNAIRE_QR_ITEM_NOCODING", expression=apath, code="code-invalid", system=system, value=code,
                   linkId=qitem.get("linkId"))


def _check_coding_value_set(ctx: Ctx, qitem: Node, value: Node, apath: str, vpath: str) -> None:
    vs_url = qitem["answerValueSet"]
    system, code, display = _text(value.get("system")), _text(value.get("code")), _text(value.get("display"))
    if qitem.get("type") == "open-choice" and not system and not code and display:
        return
    exp = _expansion(ctx, vs_url)
    link_id = qitem.get("linkId")
    if not ctx.check(exp is not None, "TERMINOLOGY_TX_VALUESET_NOTFOUND", expression=apath,
                            code="code-invalid", valueSet=vs_url, linkId=link_id):
        return
    assert exp is not None
    if not ctx.check(exp.contains(system, code), "QUESTIONNAIRE_QR_ITEM_BADOPTION", expression=apath,
                            code="code-invalid", system=system, value=code, valueSet=vs_url, linkId=link_id):
        return
    known, expected, names = terminology.concept_display(ctx.registry, system, code)
    if known and isinstance(display, str) and names:
        if display.lower() not in names:
            ctx.add("QUESTIONNAIRE_QR_ITEM_BADDISPLAY", expression=f"{vpath}.display",
                           code="code-invalid", display=display, system=system, value=code, expected=expected,
                           linkId=link_id)


def _check_quantity(ctx: Ctx, qitem: Node, value: Node, apath: str, vpath: str, count: int) -> None:
    raw = value.get("value")
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        return
    for url, kind in ((SDC + "sdc-questionnaire-minQuantity", "MIN"), (SDC + "sdc-questionnaire-maxQuantity", "MAX")):
        limit = ext_value(qitem, url)
        if isinstance(limit, dict) and isinstance(limit.get("value"), (int, float)):
            _compare_quantity(ctx, qitem, value, limit, vpath, kind)
    places = ext_value(qitem, EXT + "maxDecimalPlaces")
    if isinstance(places, int):
        if _decimals(raw) > places:
            ctx.add("QUESTIONNAIRE_QR_ITEM_DECIMAL_MAX_DECIMALS", expression=vpath,
                           code="invariant", linkId=qitem.get("linkId"), value=raw, max=places)
    _check_units(ctx, qitem, value, vpath)


def show_quantity(q: Node) -> str:
    unit = f" {q['unit']}" if q.get("unit") else ""
    coded = f" ({q.get('system') or ''}#{q.get('code')})" if q.get("code") else ""
    return f"{q.get('comparator') or ''}{q.get('value')}{unit}{coded}"


def _compare_quantity(ctx: Ctx, qitem: Node, value: Node, limit: Node, vpath: str, kind: str) -> None:
    v, lim = Decimal(str(value["value"])), Decimal(str(limit["value"]))
    if value.get("code") and limit.get("code"):
        if value.get("system") == limit.get("system") and value["code"] == limit["code"]:
            order: int | None = (v > lim) - (v < lim)
        elif value.get("system") == limit.get("system") == quantities.UCUM:
            order = _ucum_order(v, str(value["code"]), lim, str(limit["code"]))
        else:
            order = None
        if order is None:
            ctx.add(f"QUESTIONNAIRE_QR_ITEM_DECIMAL_CANNOT_COMPARE_{kind}", expression=vpath, code="invariant",
                    **_quantity_args(qitem, value, limit, kind))
            return
    elif (value.get("unit") or "") == (limit.get("unit") or "") and not value.get("code") and not limit.get("code"):
        order = (v > lim) - (v < lim)  # same free-text unit (the .NET reading; the corpus expects it)
    else:
        ctx.add(f"QUESTIONNAIRE_QR_ITEM_DECIMAL_CANNOT_COMPARE_{kind}_UNITS", expression=vpath,
                code="invariant", **_quantity_args(qitem, value, limit, kind))
        return
    if (order < 0) if kind == "MIN" else (order > 0):
        ctx.add(f"QUESTIONNAIRE_QR_ITEM_QUANTITY_{kind}",
                expression=vpath, code="invariant", **_quantity_args(qitem, value, limit, kind))


def _quantity_args(qitem: Node, value: Node, limit: Node, kind: str) -> dict[str, Any]:
    """The arguments of an issue of :func:`_compare_quantity` (worked out only for an issue)."""
    return {"linkId": qitem.get("linkId"), "value": show_quantity(value), kind.lower(): show_quantity(limit)}


def _ucum_order(v: Decimal, vcode: str, lim: Decimal, lcode: str) -> int | None:
    try:
        a, b = quantities.canonical(v, vcode), quantities.canonical(lim, lcode)
    except (InvalidOperation, ArithmeticError):
        return None
    if a is None or b is None or a[1] != b[1]:
        return None
    return (a[0] > b[0]) - (a[0] < b[0])


def _check_units(ctx: Ctx, qitem: Node, value: Node, vpath: str) -> None:
    options = [c for c in ext_values(qitem, EXT + "questionnaire-unitOption") if isinstance(c, dict)]
    if options:
        hit = any((not c.get("system") or c["system"] == value.get("system"))
                  and (not c.get("code") or c["code"] == value.get("code"))
                  and (not c.get("display") or not value.get("unit") or c["display"] == value.get("unit"))
                  for c in options)
        if not hit:
            ctx.add("QUESTIONNAIRE_QR_ITEM_DECIMAL_INVALID_UNITS", expression=vpath, code="code-invalid",
                           linkId=qitem.get("linkId"), value=show_quantity(value),
                           allowed=",".join(f"{c.get('display') or c.get('code')} ({c.get('system')}#{c.get('code')})"
                           for c in options))
    vs_url = ext_value(qitem, EXT + "questionnaire-unitValueSet")
    if isinstance(vs_url, str):
        exp = _expansion(ctx, vs_url)
        if ctx.check(exp is not None, "QUESTIONNAIRE_QR_ITEM_DECIMAL_INVALID_UNIT_VS", expression=vpath,
                            code="code-invalid", valueSet=vs_url) and exp is not None:
            if not exp.contains(_text(value.get("system")), _text(value.get("code"))):
                ctx.add("QUESTIONNAIRE_QR_ITEM_DECIMAL_UNIT_FAIL_VS",
                               expression=vpath, code="code-invalid", value=show_quantity(value), valueSet=vs_url,
                               linkId=qitem.get("linkId"))


_BY_TYPE = {
    "Integer": _check_integer, "Decimal": _check_decimal, "Date": _check_date, "DateTime": _check_date,
    "Time": _check_time, "String": _check_string, "Uri": _check_uri, "Attachment": _check_attachment,
    "Reference": _check_reference, "Coding": _check_coding, "Quantity": _check_quantity,
}
