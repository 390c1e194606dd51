"""What a signed document may carry besides its signed content: the signature, and nothing else.

An enveloped XML-DSig reference ``URI=""`` with exclusive C14N digests the document element
minus the ``ds:Signature``, **without comments**; our parser (and signxml's with it) drops
processing instructions before any digest; the prolog and epilog are outside the document
element; ``ds:KeyInfo`` and ``ds:Object`` sit inside the removed signature. Anything found there
would ride along unsigned, and a reader of the bytes would see it (``2<!---->5`` reads as "2"
through ``element.text``). So a signed document may hold no comment and no processing
instruction anywhere, and its signature no more than the signature needs:

- ``ds:Signature``: ``ds:SignedInfo``, ``ds:SignatureValue``, ``ds:KeyInfo``, and with XAdES one
  ``ds:Object``;
- ``ds:KeyInfo``: one ``ds:X509Data`` of ``ds:X509Certificate`` (the chain is checked elsewhere);
- ``ds:Object`` (XAdES only): one ``xades:QualifyingProperties`` holding one
  ``xades:SignedProperties``, which a reference of ``ds:SignedInfo`` must cover;
- no text between these elements, no attribute but the ones named in ``ATTRIBUTES``;
- every ``Id`` once in the document (a second element with the same Id could stand in for the
  referenced one).

``SignedInfo`` and ``SignedProperties`` are themselves signed (by the signature value and by
their reference), and signxml checks ``SignedInfo`` against the XML-DSig schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


SIGNATURE, KEY_INFO, X509_DATA, OBJECT = (_q(DS, n) for n in ("Signature", "KeyInfo", "X509Data", "Object"))
QUALIFYING, SIGNED_PROPERTIES = _q(XADES, "QualifyingProperties"), _q(XADES, "SignedProperties")

CHILDREN: dict[str, tuple[str, ...]] = {
    SIGNATURE: (_q(DS, "SignedInfo"), _q(DS, "SignatureValue"), KEY_INFO, OBJECT),
    KEY_INFO: (X509_DATA,),
    X509_DATA: (_q(DS, "X509Certificate"),),
    OBJECT: (QUALIFYING,),
    QUALIFYING: (SIGNED_PROPERTIES,),
}
"""The unsigned containers of the signature and the only children each may have."""

ATTRIBUTES: dict[str, frozenset[str]] = {
    SIGNATURE: frozenset({"Id"}), _q(DS, "SignatureValue"): frozenset({"Id"}), KEY_INFO: frozenset({"Id"}),
    X509_DATA: frozenset(), _q(DS, "X509Certificate"): frozenset(), OBJECT: frozenset({"Id"}),
    QUALIFYING: frozenset({"Target", "Id"}),
}
"""The attributes allowed on the unsigned elements of the signature."""


@dataclass(frozen=True)
class Unsigned:
    """Something in a signed document that its signature does not cover."""

    kind: str
    """``comment``, ``pi`` (processing instruction) or ``content`` (in the signature, or a duplicate Id)."""
    where: str
    """An XPath-like location (local names), never the content itself."""


def unsigned_content(root: etree._Element, *, xades: bool) -> Unsigned | None:
    """The first thing in the document (parsed with comments and PIs kept) not covered by its signature."""
    return comment_or_pi(root) or _signature_extras(root, xades=xades) or _duplicate_id(root)


def comment_or_pi(root: etree._Element) -> Unsigned | None:
    """A comment or processing instruction anywhere: before, in or after the document element."""
    outside = [*reversed(list(root.itersiblings(preceding=True))), *root.itersiblings()]
    for node in [*outside, *root.iter(etree.Comment, etree.ProcessingInstruction)]:
        kind = "comment" if isinstance(node, etree._Comment) else "pi"
        return Unsigned(kind, location(node))
    return None


def _signature_extras(root: etree._Element, *, xades: bool) -> Unsigned | None:
    sig = root.find("ds:Signature", NS)
    if sig is None:
        return None
    for el in sig.iter(*CHILDREN):
        allowed = CHILDREN[str(el.tag)] if el.tag != SIGNATURE or xades else CHILDREN[SIGNATURE][:3]
        if _has_text(el.text) or any(_has_text(c.tail) for c in el):
            return Unsigned("content", location(el) + "/text()")
        extra = next((c for c in el if c.tag not in allowed), None)
        extra = extra if extra is not None else _repeated(el)
        if extra is not None:
            return Unsigned("content", location(extra))
    for el in sig.iter(*ATTRIBUTES):
        names = sorted(str(name) for name in el.attrib if name not in ATTRIBUTES[str(el.tag)])
        if names:
            return Unsigned("content", f"{location(el)}/@{names[0]}")
    return _unreferenced_properties(sig)


def _repeated(el: etree._Element) -> etree._Element | None:
    """The second of a child that may occur once (everything but X509Certificate)."""
    seen: set[str] = set()
    for child in el:
        if child.tag in seen and child.tag != _q(DS, "X509Certificate"):
            return child
        seen.add(str(child.tag))
    return None


def _unreferenced_properties(sig: etree._Element) -> Unsigned | None:
    """XAdES: the SignedProperties must be covered by a reference of SignedInfo."""
    uris = {r.get("URI") for r in sig.findall("ds:SignedInfo/ds:Reference", NS)}
    for props in sig.iter(SIGNED_PROPERTIES):
        if not props.get("Id") or "#" + props.get("Id", "") not in uris:
            return Unsigned("content", location(props))
    return None


def _duplicate_id(root: etree._Element) -> Unsigned | None:
    seen: set[str] = set()
    for el in root.iter():
        value = el.get("Id") if isinstance(el.tag, str) else None
        if value is not None:
            if value in seen:
                return Unsigned("content", location(el) + "/@Id")
            seen.add(value)
    return None


def _has_text(text: str | None) -> bool:
    return bool(text and text.strip())


def location(node: etree._Element) -> str:
    """``/intyg/bedomningsstod/kvarvarandeArbetsformagaProcent/comment()``: local names, no content."""
    steps = []
    current: etree._Element | None = node
    while current is not None:
        if isinstance(current, etree._Comment):
            steps.append("comment()")
        elif isinstance(current, etree._ProcessingInstruction):
            steps.append(f"processing-instruction('{current.target!s}')")
        else:
            steps.append(etree.QName(current).localname)
        current = current.getparent()
    return "/" + "/".join(reversed(steps))
