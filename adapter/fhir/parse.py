"""Safe parsing of untrusted input: JSON and XML.

JSON: UTF-8 only, nesting depth limited, duplicate keys refused (RFC 8259 §4
leaves them undefined; FHIR forbids them), errors with line and column.
XML: lxml with no DTD, no entity expansion, no network, depth limited.
Every failure is an :class:`~adapter.errors.InputRejected` with an
OperationOutcome, never a traceback.
"""

from __future__ import annotations

import gc
import json
import re
from typing import TYPE_CHECKING, Any

from adapter import errors, messages
from adapter.settings import Limits, XmlParsing

if TYPE_CHECKING:
    from lxml import etree


def _reject(text: str, message_id: str, *, line: int | None = None, column: int | None = None,
            cls: type[errors.InputRejected] = errors.InputRejected) -> errors.InputRejected:
    oo = errors.outcome([errors.issue("error", "structure" if cls is errors.InputRejected else cls.code,
                                      text, message_id=message_id, line=line, column=column)])
    return cls(text, outcome=oo, message_id=message_id)


def check_size(raw: bytes, limits: Limits) -> None:
    if len(raw) > limits.max_body_bytes:
        raise _reject(messages.text("LISN_INPUT_TOO_LARGE", limit=limits.max_body_bytes),
                      "LISN_INPUT_TOO_LARGE", cls=errors.PayloadTooLarge)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # a key twice: name the first one repeated
        seen: set[str] = set()
        for k, _v in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k!r}")
            seen.add(k)
    return out


_BOM = b"\xef\xbb\xbf"


def decode_utf8_sig(raw: bytes) -> str:
    """``raw.decode("utf-8-sig")`` (one leading byte order mark dropped; an error's offsets count
    from after it, as that codec's), by the built-in UTF-8 decoder: no call into the Python codec."""
    return (raw[3:] if raw.startswith(_BOM) else raw).decode("utf-8")


def parse_json(raw: bytes | str, limits: Limits = Limits()) -> Any:
    """Parse JSON text safely; raises InputRejected with line/column on any problem."""
    data_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    limit = limits.max_json_depth
    if len(data_bytes) > limits.max_body_bytes:
        check_size(data_bytes, limits)
    try:  # (decode_utf8_sig written out: a call less on every text)
        text = (data_bytes[3:] if data_bytes.startswith(_BOM) else data_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _reject(messages.text("LISN_INPUT_NOT_UTF8", position=exc.start), "LISN_INPUT_NOT_UTF8") from None
    try:
        if text.startswith("\ufeff"):  # a second byte order mark: json.loads' own error
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        if len(text) <= _COUNTED * limit:  # a short text: the general way (the quick one costs more)
            quick = _UNSURE
            data = _decode(text)
        else:
            quick = _quick(text, limit) if QUICK else _UNSURE
            data = _decode(text) if quick is _UNSURE else quick
    except _NotJsonConstant as exc:
        line, column = _constant_position(text, exc.token)
        raise _reject(f"Ogiltig JSON: {exc.token} är inget JSON-tal (rad {line}, kolumn {column}). "
                      f"(Invalid JSON: {exc.token} is not a JSON number, at line {line}, column {column}.)",
                      "LISN_INPUT_NOT_JSON", line=line, column=column) from None
    except json.JSONDecodeError as exc:
        raise _reject(messages.text("LISN_INPUT_NOT_JSON_AT", detail=exc.msg, line=exc.lineno, column=exc.colno),
                      "LISN_INPUT_NOT_JSON", line=exc.lineno, column=exc.colno) from None
    except ValueError as exc:
        raise _reject(messages.text("LISN_INPUT_NOT_JSON", detail=exc), "LISN_INPUT_NOT_JSON") from None
    except RecursionError:
        raise _reject(messages.text("LISN_INPUT_TOO_DEEP", limit=limit), "LISN_INPUT_TOO_DEEP") from None
    # The C decoder guards its own recursion (RecursionError above); the limit is checked on the
    # result, visiting containers only, which costs far less than scanning the text in Python.
    # (_too_deep's early answer for a short text, its brackets counted, written out: a call less.)
    if quick is _UNSURE and (len(text) > _COUNTED * limit or text.count("{") + text.count("[") > limit) \
            and _too_deep(data, limit, text):
        raise _reject(messages.text("LISN_INPUT_TOO_DEEP", limit=limit), "LISN_INPUT_TOO_DEEP")
    # (a backslash first: found by memchr, where looking for the pair goes through the text a
    # character at a time)
    if "\\" in text and "\\u" in text:  # raw control characters and surrogates are already refused by the decoder
        _check_characters(data)
    return data


class _NotJsonConstant(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _no_constant(token: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259 §6), though Python reads them."""
    raise _NotJsonConstant(token)


# Made once (json.loads with hooks would make a decoder and its scanner on every call).
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]  # (set by JSONDecoder.__init__, not in its stubs)
_BLANKS = re.compile(r"[ \t\n\r]*")  # json.decoder.WHITESPACE
_BLANK_CHARS = " \t\n\r"


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)`` (the same value, the same errors) without its two Python-level calls
    and, where the text starts and ends without blanks, without its two matches of blanks."""
    start = _BLANKS.match(text).end() if text[:1] in _BLANK_CHARS else 0  # type: ignore[union-attr]
    try:
        data, end = _SCAN(text, start)
    except StopIteration as err:
        raise json.JSONDecodeError("Expecting value", text, err.value) from None
    if end != len(text):
        end = _BLANKS.match(text, end).end()  # type: ignore[union-attr]
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    return data


# The short way of a long text (one the depth check would walk anyway): the decoder without the
# duplicate-key hook (a Python call per object: a third of the decoding of the example submission),
# then one walk of the value, a level at a time, that checks the depth and counts the keys and
# strings. A key twice in an object leaves fewer keys in the value than the text has, and every
# key and string of the text has two unescaped quotes (an escaped one adds one more): so when the
# text's quotes are exactly twice the value's keys and strings, no object had a key twice. Any
# doubt (an error, trailing data, too deep, another count of quotes: an escaped quote, say) and
# the text is read the general way, which gives the value or the error it always gave.
QUICK = True
_UNSURE: Any = object()
_PLAIN_SCAN = json.JSONDecoder(parse_constant=_no_constant).scan_once  # type: ignore[attr-defined]


def _quick(text: str, limit: int) -> Any:
    """The value of ``text`` when it is JSON with no key twice in an object, nesting no deeper than
    ``limit``; else :data:`_UNSURE` (then the general way decides)."""
    start = _BLANKS.match(text).end() if text[:1] in _BLANK_CHARS else 0  # type: ignore[union-attr]
    try:
        data, end = _PLAIN_SCAN(text, start)
    except (StopIteration, ValueError, RecursionError):  # (JSONDecodeError and _NotJsonConstant are ValueErrors)
        return _UNSURE
    if end != len(text) and _BLANKS.match(text, end).end() != len(text):  # type: ignore[union-attr]
        return _UNSURE
    if type(data) is not dict and type(data) is not list:
        return _UNSURE
    census = _census_short(data, limit) if CENSUS_SHORT else _census(data, limit)
    if census is None or text.count('"') != 2 * census:
        return _UNSURE
    return data


def _census(data: dict[str, Any] | list[Any], limit: int) -> int | None:
    """The number of keys and strings in ``data`` (a dict or list as json makes them), or None when
    its containers nest deeper than ``limit`` (as :func:`_too_deep`: a level at a time)."""
    counted = 0
    level: list[Any] = [data]
    for _ in range(limit):
        kids: list[Any] = []
        for value in level:
            if type(value) is dict:
                counted += len(value)
                kids += value.values()
            else:
                kids += value
        rest = [child for child in kids if type(child) is not str]
        counted += len(kids) - len(rest)
        level = [child for child in rest if type(child) is dict or type(child) is list]
        if not level:
            return counted
    return None


# The census with its work per value in C: gc.get_referents gives a level's next level in one call
# (a dict its values, a list its items, a string or number nothing), map and filter pick the dicts
# (whose lengths are the level's keys) and the strings; the loop runs once per level. A seventh of
# the census in Python on the example submission. tests/unit/validation/test_parse2_census.py
# holds it to _census.
CENSUS_SHORT = True
_REFERENTS = gc.get_referents
_IS_DICT = dict.__instancecheck__
# Only while a dict's referents are its values (CPython's traversal of a dict with string keys,
# which json makes): should a dict give its keys too, the census is taken the general way.
if len(_REFERENTS({"a": "b", "c": [1]}, [2])) != 3:
    CENSUS_SHORT = False


def _census_short(data: dict[str, Any] | list[Any], limit: int) -> int | None:
    """:func:`_census`."""
    counted = 0
    level: list[Any] = [data]  # the values at depth 1, then 2, … (the root at 1)
    for _ in range(limit):
        counted += sum(map(len, filter(_IS_DICT, level)))
        level = _REFERENTS(*level)
        if not level:
            return counted
        counted += list(map(type, level)).count(str)
    # values at depth limit + 1: None when a container is among them, as _census
    kinds = set(map(type, level))
    return None if dict in kinds or list in kinds else counted


_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN')


def _constant_position(text: str, token: str) -> tuple[int, int]:
    """Line and column (1-based) of the first ``token`` outside a string (only on the error path)."""
    for match in _STRING_OR_CONSTANT.finditer(text):
        if match.group() == token:
            before = text[:match.start()]
            return before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1
    return 1, 1


_COUNTED = 64


def _too_deep(data: Any, limit: int, text: str | None = None) -> bool:
    """Whether containers nest deeper than ``limit`` in ``data`` (parsed from ``text``, when given).

    Text with no more ``{`` and ``[`` than ``limit`` cannot (every container opens with one): then
    the tree is not visited. They are counted only in a text of at most :data:`_COUNTED` characters
    per level allowed: a longer one almost always holds more (FHIR JSON has one in 50-100 characters),
    and counting them costs two passes over it for nothing (the example submission: 22 KB, 236,
    some 1.5 % of its validation). Else the containers are visited a level at a time (one list of
    each level's containers, no call per container, no recursion whatever the depth), ``limit``
    levels at most."""
    if not isinstance(data, (dict, list)):
        return False
    if text is not None and len(text) <= _COUNTED * limit and text.count("{") + text.count("[") <= limit:
        return False
    level: list[Any] = [data]  # the containers at depth 1, then 2, …
    for _ in range(max(limit, 0)):
        level = [child for value in level for child in (value.values() if isinstance(value, dict) else value)
                 if type(child) is not str and isinstance(child, (dict, list))]  # (a string: the most common)
        if not level:
            return False
    return True  # containers at depth limit + 1


# FHIR R4 §2.6.2 (string): no characters below U+0020 except TAB, CR, LF; and no lone
# surrogates, which are not Unicode scalar values and cannot be stored or signed.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _check_characters(data: Any) -> None:
    """Refuse strings (values and keys) with forbidden characters, naming where they are."""
    root = data.get("resourceType") if isinstance(data, dict) else None
    stack: list[tuple[Any, str]] = [(data, root if isinstance(root, str) else "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                where = f"{path}.{key}"
                if _FORBIDDEN_CHARS.search(key):
                    raise _bad_char(path)
                stack.append((child, where))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))
        elif isinstance(value, str) and _FORBIDDEN_CHARS.search(value):
            raise _bad_char(path)


def _bad_char(path: str) -> errors.InputRejected:
    text = messages.text("LISN_INPUT_BAD_CHARACTER")
    oo = errors.outcome([errors.issue("error", "value", text, expression=path,
                                      message_id="LISN_INPUT_BAD_CHARACTER")])
    return errors.InputRejected(text, outcome=oo, message_id="LISN_INPUT_BAD_CHARACTER")


def xml_parser(xml: XmlParsing = XmlParsing(), *, keep_pis: bool = False) -> etree.XMLParser:
    """An lxml parser that never loads a DTD, never expands an entity and never uses the network.

    Processing instructions are dropped unless ``keep_pis`` (signature verification keeps them
    in order to refuse them: they would otherwise ride along unsigned).
    """
    from lxml import etree  # here: JSON input never needs lxml (about 6 ms to import; issue 15's CLI start)

    return etree.XMLParser(
        resolve_entities=not xml.forbid_entities,
        no_network=xml.forbid_external,
        load_dtd=not xml.forbid_dtd,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=not keep_pis,
    )


def parse_xml(raw: bytes, limits: Limits = Limits(), xml: XmlParsing = XmlParsing(), *,
              keep_pis: bool = False) -> etree._Element:
    """Parse XML safely: no DOCTYPE, no entities, no network; depth limited."""
    from lxml import etree  # (see xml_parser)

    check_size(raw, limits)
    try:
        tree = etree.fromstring(raw, parser=xml_parser(xml, keep_pis=keep_pis))
    except etree.XMLSyntaxError as exc:
        line, col = (exc.position if exc.position else (None, None))
        raise _reject(messages.text("LISN_INPUT_NOT_XML", detail=exc.msg), "LISN_INPUT_NOT_XML",
                      line=line, column=col) from None
    except ValueError as exc:  # e.g. unicode strings with encoding declarations
        raise _reject(messages.text("LISN_INPUT_NOT_XML", detail=exc), "LISN_INPUT_NOT_XML") from None
    docinfo = tree.getroottree().docinfo
    # lxml-stubs' DocInfo lacks ``doctype`` (lxml has it).
    doctype = docinfo.doctype  # type: ignore[union-attr]
    if xml.forbid_dtd and (doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None):
        raise _reject(messages.text("LISN_INPUT_XML_DTD"), "LISN_INPUT_XML_DTD")
    for el in tree.iter():
        if isinstance(el, etree._Entity):
            raise _reject(messages.text("LISN_INPUT_XML_ENTITY"), "LISN_INPUT_XML_ENTITY")
    depth_limit = limits.max_xml_depth
    stack = [(tree, 1)]
    while stack:
        el, d = stack.pop()
        if d > depth_limit:
            raise _reject(messages.text("LISN_INPUT_XML_TOO_DEEP", limit=depth_limit), "LISN_INPUT_TOO_DEEP")
        stack.extend((c, d + 1) for c in el)
    return tree


_LEADING = re.compile(rb"[\xef\xbb\xbf \t\r\n]*")  # the bytes sniff skips: BOM bytes and blanks, in any order


def sniff(raw: bytes) -> str:
    """``"json"`` or ``"xml"`` by content (first non-blank character), else ``"unknown"``."""
    start = _LEADING.match(raw).end()  # type: ignore[union-attr]  # (``*``: always a match)
    head = raw[start:start + 1]  # (not ``raw.lstrip(…)``: that copied the whole body)
    if head in (b"{", b"["):
        return "json"
    if head == b"<":
        return "xml"
    return "unknown"
