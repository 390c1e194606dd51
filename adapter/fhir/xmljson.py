"""FHIR R4 XML -> the JSON form (https://hl7.org/fhir/R4/xml.html, https://hl7.org/fhir/R4/json.html).

The two forms differ in ways only the definitions can settle, so the R4 core definitions
(:mod:`adapter.fhir.definitions`) are consulted for each element: whether it repeats (JSON array)
or not, whether it is a primitive (``value`` attribute -> JSON value of the right type; its ``id``
and ``extension`` go to ``_name``, arrays of them aligned with ``null``), a nested resource
(``<resource><Patient>…`` -> ``{"resourceType": "Patient", …}``) or the narrative ``div`` (kept as
XHTML text). Elements the definitions do not know are kept (as text or object) so that the
validator reports them where they stand.

What only XML can get wrong is recorded in ``problems`` (message id, JSON location, arguments),
as the HL7 validator's XML parser reports it: a single-valued element given twice, text where none is allowed, attributes that are not
defined (only ``value`` and ``id`` on primitives, ``id`` on other elements, ``url`` on extensions),
elements inside a primitive other than ``extension``, and elements out of the definitions' order.
Input must already be parsed safely (:func:`adapter.fhir.parse.parse_xml`).
"""

from __future__ import annotations

from typing import Any, cast

from lxml import etree

from adapter import errors
from adapter.fhir import definitions as defs

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
Problem = tuple[str, str, dict[str, Any]]


def xml_to_json(root: etree._Element, *, lines: dict[str, tuple[int, int | None]] | None = None,
                problems: list[Problem] | None = None) -> dict[str, Any]:
    """The JSON form of a FHIR XML resource element.

    With ``lines``, the source line of every element is recorded there by its JSON location
    (``.entry[1].resource.item[0]``, relative to the root resource), for issue positions.
    With ``problems``, XML representation errors are recorded (locations relative as in ``lines``).
    """
    name = etree.QName(root)
    if name.namespace != FHIR_NS:
        raise _not_fhir(f"root element {{{name.namespace}}}{name.localname}")
    return _Reader(lines, problems).resource(root, "")


def _not_fhir(detail: str) -> errors.InputRejected:
    from adapter import messages

    text = messages.bilingual("LISN_VALIDATION_NOT_FHIR_XML", detail=detail)
    oo = errors.outcome([errors.issue("error", "structure", text, message_id="LISN_VALIDATION_NOT_FHIR_XML")])
    return errors.InputRejected(text, outcome=oo, message_id="LISN_VALIDATION_NOT_FHIR_XML")


class _Reader:
    def __init__(self, lines: dict[str, tuple[int, int | None]] | None, problems: list[Problem] | None) -> None:
        self.lines = lines
        self.problems = problems

    def problem(self, message_id: str, where: str, **args: Any) -> None:
        if self.problems is not None:
            self.problems.append((message_id, where, args))

    def resource(self, el: etree._Element, path: str) -> dict[str, Any]:
        rtype = etree.QName(el).localname
        out: dict[str, Any] = {"resourceType": rtype}
        self.attributes(el, path, (), rtype)
        self.children(el, rtype, out, path)
        return out

    def attributes(self, el: etree._Element, path: str, allowed: tuple[str, ...], type_name: str) -> None:
        for attr in el.attrib:
            qn = etree.QName(attr)
            if qn.namespace or qn.localname not in allowed:
                shown = f"{_prefix(el, qn.namespace)}{qn.localname}"
                self.problem("Undefined_attribute__on__for_type__properties__", path or ".",
                             name=shown, element=etree.QName(el).localname, type=type_name)

    def text(self, value: str | None, path: str) -> None:
        if value is not None and value.strip():
            self.problem("Text_should_not_be_present", path or ".", text=value.strip()[:60])

    def children(self, el: etree._Element, owner: str, out: dict[str, Any], path: str) -> None:
        self.text(el.text, path)
        last: defs.ElementDef | None = None
        for sub in el:
            self.text(sub.tail, path)
            if not isinstance(sub.tag, str):
                continue  # comments and processing instructions
            qn = etree.QName(sub)
            if qn.namespace == XHTML_NS and qn.localname == "div":
                out["div"] = etree.tostring(sub, encoding="unicode", with_tail=False)
                continue
            if qn.namespace != FHIR_NS:
                raise _not_fhir(f"element {{{qn.namespace}}}{qn.localname} inside {owner}")
            hit = defs.json_names(owner).get(qn.localname)
            if hit is not None and last is not None and hit[0].order < last.order:
                self.problem("Validation_VAL_Profile_OutOfOrder", f"{path}.{qn.localname}",
                             element=qn.localname, after=last.name)
            last = hit[0] if hit is not None else last
            self.put(out, qn.localname, sub, hit, path)

    def put(self, out: dict[str, Any], name: str, sub: etree._Element,
            hit: tuple[defs.ElementDef, str] | None, path: str) -> None:
        repeats = hit[0].repeats if hit else False
        here = f"{path}.{name}" + (f"[{len(out.get(name) or [])}]" if repeats else "")
        if not repeats and (name in out or "_" + name in out):
            # JSON has one slot for it: the second is reported, not silently dropped
            self.problem("Validation_VAL_Profile_Maximum", here, element=hit[0].path if hit else name, max=1,
                         found="2+", profile="FHIR R4 core")
            return
        if self.lines is not None and sub.sourceline:
            # lxml-stubs leave sourceline unannotated; it is an int here (checked above).
            self.lines.setdefault(here, (cast(int, sub.sourceline), None))
        if hit is not None and hit[1] == "Resource":
            self.attributes(sub, here, ("id",), "Resource")
            inner = [c for c in sub if isinstance(c.tag, str)]
            self.text(sub.text, here)
            _store(out, name, self.resource(inner[0], here) if inner else {}, None, repeats)
            return
        is_primitive = hit[1] in defs.PRIMITIVES if hit else ("value" in sub.attrib and len(sub) == 0)
        if is_primitive:
            self.attributes(sub, here, ("value", "id"), hit[1] if hit else "?")
            value, meta = self.primitive(sub, hit[1] if hit else "string", here)
            _store(out, name, value, meta, repeats)
            return
        el, type_name = hit if hit else (None, "?")
        owner = (el.owner if el is not None and el.owner else type_name) if hit else name
        self.attributes(sub, here, ("id", "url") if owner == "Extension" else ("id",), owner)
        obj: dict[str, Any] = {}
        for attr in ("id", "url"):
            if attr in sub.attrib:
                obj[attr] = sub.attrib[attr]
        self.children(sub, owner, obj, here)
        _store(out, name, obj, None, repeats)

    def primitive(self, sub: etree._Element, type_name: str, here: str) -> tuple[Any, dict[str, Any] | None]:
        raw = sub.attrib.get("value")
        value = _typed(raw, type_name) if raw is not None else None
        meta: dict[str, Any] = {}
        if "id" in sub.attrib:
            meta["id"] = sub.attrib["id"]
        exts: list[Any] = []
        self.text(sub.text, here)
        for c in sub:
            self.text(c.tail, here)
            if not isinstance(c.tag, str):
                continue
            local = etree.QName(c).localname
            if local == "extension" and etree.QName(c).namespace == FHIR_NS:
                ext: dict[str, Any] = {}
                self.put(ext, "extension", c, defs.json_names("Element").get("extension"), here)
                exts.extend(ext["extension"])
            else:
                self.problem("Undefined_element_", f"{here}.{local}", name=local, parent=here.lstrip("."))
        if exts:
            meta["extension"] = exts
        return value, (meta or None)


def _prefix(el: etree._Element, namespace: str | None) -> str:
    if not namespace:
        return ""
    for prefix, uri in (el.nsmap or {}).items():
        if uri == namespace and prefix:
            return f"{prefix}:"
    return f"{{{namespace}}}"


def _typed(raw: str, type_name: str) -> Any:
    try:
        if type_name == "boolean":
            return {"true": True, "false": False}.get(raw, raw)
        if type_name in _INTEGER_TYPES:
            return int(raw)
        if type_name == "decimal":
            number = float(raw)
            return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number
    except ValueError:
        return raw  # keep the text: the validator reports the malformed value
    return raw


def _store(out: dict[str, Any], name: str, value: Any, meta: dict[str, Any] | None, repeats: bool) -> None:
    if not repeats:
        if value is not None:
            out[name] = value
        if meta is not None:
            out["_" + name] = meta
        return
    values = out.setdefault(name, [])
    values.append(value)
    if meta is not None or "_" + name in out:
        metas = out.setdefault("_" + name, [None] * (len(values) - 1))
        metas.append(meta)
