"""Reading a municipal XML document back: the answers (through the same mapping, reversed) and the parts.

Used by the HTML/PDF views (which therefore show exactly what the municipality receives) and by
the round-trip tests (Bundle -> XML -> answers equal the QuestionnaireResponse's).

Two ways in, and only two. A signed document is read from its verification alone
(:func:`read_verified`): from the bytes the signature covers, never from the bytes received, so
that what is shown is what is signed. An unsigned document is read from its bytes
(:func:`read_municipal_xml`), which refuses any document that carries a signature. Either way
the tree is canonical (exclusive C14N, no comments): ``element.text`` is then the whole text of
an element, where a comment would otherwise cut it short (``2<!---->5`` read as "2").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapter import errors, messages
from adapter.fhir.parse import parse_xml
from adapter.outbound.mapping import OutboundMapping, mapping_for_namespace
from adapter.signing.xmldsig import DS, Verification

Item = dict[str, Any]
"""``{"linkId": str, "answers": [value], "items": [Item]}``; a coded value is ``{code, system, display}``."""


@dataclass(frozen=True)
class MunicipalDocument:
    """A parsed municipal XML document."""

    root: etree._Element = field(repr=False)
    mapping: OutboundMapping = field(repr=False)
    items: list[Item]
    verification: Verification | None = field(default=None, repr=False)
    """The valid verification the document was read from (:func:`read_verified`), else None."""

    def find(self, path: str) -> etree._Element | None:
        """An element by a slash path of local names below the root (``huvud/intygsId``)."""
        return self.root.find(self._qualify(path))

    def text(self, path: str) -> str | None:
        el = self.find(path)
        return el.text if el is not None else None

    def findall(self, path: str) -> list[etree._Element]:
        return list(self.root.findall(self._qualify(path)))

    def _qualify(self, path: str) -> str:
        return "/".join(f"{{{self.mapping.namespace}}}{p}" for p in path.split("/"))

    @property
    def signed(self) -> bool:
        """True when read from the signed content of a valid signature."""
        return self.verification is not None


def read_municipal_xml(xml: bytes) -> MunicipalDocument:
    """Parse (safely) an unsigned municipal XML document and read its answers back through its mapping.

    A document that carries a signature is refused (``LISN_OUTBOUND_SIGNED_UNVERIFIED``): read it
    with :func:`read_verified` from its verification.
    """
    root = parse_xml(xml)
    if any(etree.QName(el).namespace == DS for el in root.iter(etree.Element)):
        mid = "LISN_OUTBOUND_SIGNED_UNVERIFIED"
        raise errors.InputRejected(messages.bilingual(mid), message_id=mid, expression="Signature")
    return _document(parse_xml(etree.tostring(root, method="c14n", exclusive=True, with_comments=False)))


def read_verified(verification: Verification) -> MunicipalDocument:
    """The document a valid signature covers, read from exactly its signed content.

    A failed verification raises :class:`~adapter.errors.SigningError` carrying its outcome
    (the reason code and text): there is no signed content to show.
    """
    if not verification.ok or verification.signed_content is None:
        raise errors.SigningError(verification.text(), message_id=verification.code,
                                  outcome=verification.outcome())
    return _document(parse_xml(verification.signed_content), verification)


def _document(root: etree._Element, verification: Verification | None = None) -> MunicipalDocument:
    qname = etree.QName(root)
    mapping = mapping_for_namespace(qname.namespace or "", root.get("schemaVersion"))
    if mapping is None or qname.localname != mapping.root:
        mid = "LISN_OUTBOUND_NOT_MUNICIPAL_XML"
        raise errors.InputRejected(messages.bilingual(mid, root=qname.text), message_id=mid)
    items: list[Item] = []
    _read(list(mapping.body), root, items, mapping.namespace)
    return MunicipalDocument(root=root, mapping=mapping, items=items, verification=verification)


def _names_answers(node: dict[str, Any]) -> bool:
    return ("answer" in node or node.get("unmapped_answers") or "item" in (node.get("for") or {})
            or any(_names_answers(c) for c in node.get("children") or []))


def _read(nodes: list[dict[str, Any]], el: etree._Element, out: list[Item], ns: str) -> None:
    for node in nodes:
        if not _names_answers(node):
            continue
        found = el.findall(f"{{{ns}}}{node['element']}")
        if node.get("unmapped_answers"):
            for child in found:
                _append_answer(out, child.get("linkId", ""), value_of(child))
        elif "item" in (node.get("for") or {}):
            for child in found:
                group: Item = {"linkId": node["for"]["item"], "answers": [], "items": []}
                _read(node.get("children") or [], child, group["items"], ns)
                out.append(group)
        elif "answer" in node:
            for child in found:
                _append_answer(out, node["answer"], value_of(child))
        else:
            for child in found:
                _read(node.get("children") or [], child, out, ns)


def _append_answer(out: list[Item], link_id: str, value: Any) -> None:
    if out and out[-1]["linkId"] == link_id and not out[-1]["items"]:
        out[-1]["answers"].append(value)
    else:
        out.append({"linkId": link_id, "answers": [value], "items": []})


def value_of(el: etree._Element) -> Any:
    """A coded element as ``{code, system, display}``, anything else as its text."""
    if el.get("kod") is not None:
        return {"code": el.get("kod"), "system": el.get("kodsystem"), "display": el.text}
    return el.text or ""
