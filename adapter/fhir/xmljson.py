"""FHIR R4 XML -> the JSON form (https://hl7.org/fhir/R4/xml.html, https://hl7.org/fhir/R4/json.html).

The two forms differ in ways only the type model can settle, so the R4 model
(:mod:`adapter.fhir.model`) is consulted for each element: whether it repeats (JSON array) or not,
whether it is a primitive (``value`` attribute -> JSON value of the right type; its ``id`` and
``extension`` go to ``_name``, arrays of them aligned with ``null``), a nested resource
(``<resource><Patient>…`` -> ``{"resourceType": "Patient", …}``) or the narrative ``div``
(kept as XHTML text). Elements the model does not know are kept (as text or object) so the
profile checks can report them. Input must already be parsed safely (:func:`adapter.fhir.parse.parse_xml`).
"""

from __future__ import annotations

from typing import Any, cast

from lxml import etree

from adapter import errors
from adapter.fhir.model import INTEGER_TYPES, Element, child

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_RESOURCE_TYPES = ("Resource", "DomainResource")


def xml_to_json(root: etree._Element, *, lines: dict[str, tuple[int, int | None]] | None = None) -> dict[str, Any]:
    """The JSON form of a FHIR XML resource element.

    With ``lines``, the source line of every element is recorded there by its JSON location
    (``.entry[1].resource.item[0]``, relative to the root resource), for issue positions.
    """
    name = etree.QName(root)
    if name.namespace != FHIR_NS:
        raise _not_fhir(f"root element {{{name.namespace}}}{name.localname}")
    return _Reader(lines).resource(root, "")


def _not_fhir(detail: str) -> errors.InputRejected:
    from adapter import messages

    text = messages.bilingual("LISN_VALIDATION_NOT_FHIR_XML", detail=detail)
    oo = errors.outcome([errors.issue("error", "structure", text, message_id="LISN_VALIDATION_NOT_FHIR_XML")])
    return errors.InputRejected(text, outcome=oo, message_id="LISN_VALIDATION_NOT_FHIR_XML")


class _Reader:
    def __init__(self, lines: dict[str, tuple[int, int | None]] | None) -> None:
        self.lines = lines

    def resource(self, el: etree._Element, path: str) -> dict[str, Any]:
        rtype = etree.QName(el).localname
        out: dict[str, Any] = {"resourceType": rtype}
        self.children(el, rtype, out, path)
        return out

    def children(self, el: etree._Element, where: str, out: dict[str, Any], path: str) -> None:
        for sub in el:
            if not isinstance(sub.tag, str):
                continue  # comments and processing instructions
            qn = etree.QName(sub)
            if qn.namespace == XHTML_NS and qn.localname == "div":
                out["div"] = etree.tostring(sub, encoding="unicode", with_tail=False)
                continue
            if qn.namespace != FHIR_NS:
                raise _not_fhir(f"element {{{qn.namespace}}}{qn.localname} inside {where}")
            self.put(out, qn.localname, sub, child(where, qn.localname), path)

    def put(self, out: dict[str, Any], name: str, sub: etree._Element, elem: Element | None, path: str) -> None:
        repeats = elem.repeats if elem else False
        here = f"{path}.{name}" + (f"[{len(out.get(name) or [])}]" if repeats else "")
        if self.lines is not None and sub.sourceline:
            # lxml-stubs leave sourceline unannotated; it is an int here (checked above).
            self.lines.setdefault(here, (cast(int, sub.sourceline), None))
        if elem is not None and elem.type in _RESOURCE_TYPES:
            inner = next((c for c in sub if isinstance(c.tag, str)), None)
            _store(out, name, self.resource(inner, here) if inner is not None else {}, None, repeats)
            return
        is_primitive = elem.primitive if elem is not None else ("value" in sub.attrib and len(sub) == 0)
        if is_primitive:
            value, meta = _primitive(sub, elem)
            _store(out, name, value, meta, repeats)
            return
        obj: dict[str, Any] = {}
        for attr in ("id", "url"):
            if attr in sub.attrib:
                obj[attr] = sub.attrib[attr]
        self.children(sub, elem.path if elem else name, obj, here)
        _store(out, name, obj, None, repeats)


def _primitive(sub: etree._Element, elem: Element | None) -> tuple[Any, dict[str, Any] | None]:
    raw = sub.attrib.get("value")
    value = _typed(raw, elem.type if elem else "string") if raw is not None else None
    meta: dict[str, Any] = {}
    if "id" in sub.attrib:
        meta["id"] = sub.attrib["id"]
    exts: list[Any] = []
    for c in sub:
        if isinstance(c.tag, str) and etree.QName(c).localname == "extension":
            ext: dict[str, Any] = {}
            _Reader(None).put(ext, "extension", c, child("Element", "extension"), "")
            exts.extend(ext["extension"])
    if exts:
        meta["extension"] = exts
    return value, (meta or None)


def _typed(raw: str, type_name: str) -> Any:
    try:
        if type_name in ("boolean", "System.Boolean"):
            return {"true": True, "false": False}.get(raw, raw)
        if type_name in INTEGER_TYPES or type_name == "System.Integer":
            return int(raw)
        if type_name in ("decimal", "System.Decimal"):
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
