"""The narrative's XHTML (https://hl7.org/fhir/R4/narrative.html#xhtml): what is wrong with a ``div``.

Used by the base R4 checks (:mod:`adapter.validation.core_rules`) and by FHIRPath's
``htmlChecks()``/``htmlChecks2()`` (txt-1, txt-2; :mod:`adapter.fhirpath.fhir`). Parsed without
DTD, entities or network.
"""

from __future__ import annotations

import re

XHTML_NS = "http://www.w3.org/1999/xhtml"
# R4 narrative: no head, body, scripts, forms, base/link, frames, iframes, objects or styles.
_XHTML_BANNED = frozenset({"head", "body", "html", "script", "form", "input", "button", "select", "textarea",
                           "base", "link", "meta", "frame", "frameset", "iframe", "object", "applet",
                           "embed", "style"})


def xhtml_problems(div: str) -> list[tuple[str, dict[str, str]]]:
    """What is wrong with a narrative ``div`` (message id and arguments); empty when nothing is."""
    from lxml import etree  # here: a resource without narrative never needs lxml (issue 15's CLI start)

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(div.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError as exc:
        entity = re.search(r"Entity '([^']+)' not defined", str(exc))
        if entity:
            return [("XHTML_XHTML_Entity_Illegal", {"entity": f"&{entity.group(1)};"})]
        return [("LISN_BASE_XHTML_MALFORMED", {"detail": str(exc.msg)})]
    name = etree.QName(root)
    if name.localname != "div":
        return [("XHTML_XHTML_Name_Invalid", {"name": name.localname})]
    if name.namespace != XHTML_NS:
        return [("XHTML_XHTML_NS_InValid", {"found": name.namespace or "", "expected": XHTML_NS})]
    out: list[tuple[str, dict[str, str]]] = []
    for el in root.iter():
        if isinstance(el, etree._Entity):
            out.append(("XHTML_XHTML_Entity_Illegal", {"entity": f"&{el.name};"}))
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local in _XHTML_BANNED:
            out.append(("XHTML_XHTML_Element_Illegal", {"name": local}))
        for attr in el.attrib:
            if etree.QName(attr).localname.lower().startswith("on"):
                out.append(("XHTML_XHTML_Attribute_Illegal", {"name": etree.QName(attr).localname, "element": local}))
    return out


def xhtml_has_content(div: str) -> bool:
    """txt-2: the narrative has some non-whitespace text, or an image."""
    from lxml import etree  # (see xhtml_problems)

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(div.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError:
        return True  # malformed XHTML is txt-1's finding, reported once
    return any(str(t).strip() for t in root.itertext()) or any(
        isinstance(el.tag, str) and etree.QName(el).localname == "img" for el in root.iter())
