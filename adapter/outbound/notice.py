"""The consent-withdrawn notice: a small signed document, not a certificate (issue 12 item 6).

When a patient revokes a consent after a certificate may already have reached a socialnämnd (a
push whose receipt never came, a fetch never acknowledged: outbox state ``uncertain``), the
municipality is told that the consent is withdrawn and the certificate must not be used. The
notice names the certificate (its id and the issuing care unit's HSA-id: a certificate is known by
both together), the recipient's kommunkod and the time of the revocation; it carries nothing else
about the patient. Root ``samtyckeAterkallat`` in the municipal namespace
(``schemas/municipal-intyg-1.xsd``: a separate root, so no ``intyg`` document changes), validated
against the schema here and signed by the signing stage like a certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from lxml import etree

from adapter import errors, messages
from adapter.fhir.parse import parse_xml
from adapter.outbound.mapping import schemas_dir
from adapter.signing.xmldsig import DS, Verification

NAMESPACE = "https://lisn.se/xml/intyg/1"
ROOT = "samtyckeAterkallat"
SCHEMA_VERSION = "1.1"
TEXT_SV = ("Patientens samtycke till att intyget lämnas ut har återkallats. Intyget får inte användas; "
           "det kan ha nått er utan att vi fick kvitto.")


@dataclass(frozen=True)
class ConsentWithdrawn:
    """What a notice says: which certificate, to whom, since when."""

    certificate_id: str
    kommunkod: str
    revoked_at: str
    care_unit: str = ""
    """The HSA-id of the care unit that issued the certificate."""


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schemas_dir() / "municipal-intyg-1.xsd")))


def render_consent_withdrawn(certificate_id: str, kommunkod: str, revoked_at: datetime, *, care_unit: str) -> bytes:
    """The unsigned notice, valid against the schema (a failure is a bug: TransformError)."""
    root = etree.Element(f"{{{NAMESPACE}}}{ROOT}", nsmap={None: NAMESPACE},  # type: ignore[dict-item]
                         schemaVersion=SCHEMA_VERSION)
    at = revoked_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for name, value in (("intygsId", certificate_id.removeprefix("urn:uuid:")), ("vardenhetHsaId", care_unit),
                        ("kommunkod", kommunkod),
                        ("aterkallatTidpunkt", at), ("beskrivning", TEXT_SV)):
        etree.SubElement(root, f"{{{NAMESPACE}}}{name}").text = value
    if not _schema().validate(root):
        raise errors.TransformError(f"consent-withdrawn notice not schema-valid: {_schema().error_log}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def is_notice(root: etree._Element) -> bool:
    return etree.QName(root).text == f"{{{NAMESPACE}}}{ROOT}"


def read_consent_withdrawn(verification: Verification) -> ConsentWithdrawn:
    """The notice a valid signature covers, read from exactly its signed content and checked
    against the schema. A failed verification raises SigningError; another document InputRejected."""
    if not verification.ok or verification.signed_content is None:
        raise errors.SigningError(verification.text(), message_id=verification.code, outcome=verification.outcome())
    root = parse_xml(verification.signed_content)
    if not is_notice(root):
        mid = "LISN_OUTBOUND_NOT_MUNICIPAL_XML"
        raise errors.InputRejected(messages.bilingual(mid, root=etree.QName(root).text), message_id=mid)
    for sig in root.findall(f"{{{DS}}}Signature"):
        root.remove(sig)  # the enveloped signature is not part of what it signs
    if not _schema().validate(root):
        mid = "LISN_OUTBOUND_NOT_MUNICIPAL_XML"
        raise errors.InputRejected(messages.bilingual(mid, root=etree.QName(root).text), message_id=mid)
    return _fields(root)


def stored_notice(signed_content: bytes) -> ConsentWithdrawn:
    """A notice's fields from signed content verified and checked before (a receiver's own store)."""
    return _fields(parse_xml(signed_content))


def _fields(root: etree._Element) -> ConsentWithdrawn:
    def text(name: str) -> str:
        return root.findtext(f"{{{NAMESPACE}}}{name}") or ""
    return ConsentWithdrawn(text("intygsId"), text("kommunkod"), text("aterkallatTidpunkt"), text("vardenhetHsaId"))


def is_notice_content(signed_content: bytes | None) -> bool:
    """Is this signed content a consent-withdrawn notice (and not a certificate)?"""
    if not signed_content:
        return False
    try:
        return is_notice(parse_xml(signed_content))
    except errors.AdapterError:
        return False
