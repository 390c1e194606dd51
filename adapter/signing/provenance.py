"""Inbound signatures: a JWS on a Provenance over the QuestionnaireResponse (FHIR R4 Signature datatype).

FHIR R4 §6.1.2 (https://hl7.org/fhir/R4/signatures.html) and the Signature datatype: ``sigFormat``
``application/jose`` means ``data`` holds (base64 of) a JWS in compact serialisation (RFC 7515).
What is verified (docs/outbound.md "Inbound signatures"):

- the signer certificate is the first ``x5c`` entry of the protected header; it must chain to
  the configured trust anchors (never to itself or the public web PKI);
- ``alg`` is RS256, PS256 or ES256 (no ``none``, no HMAC, no SHA-1);
- the payload, detached (RFC 7515 Appendix F, empty middle part) or attached, is the
  QuestionnaireResponse as it stands in the Bundle in canonical JSON: object keys sorted by code
  point, no insignificant whitespace, UTF-8, non-ASCII characters unescaped (RFC 8785 for the
  strings, booleans and integers a QuestionnaireResponse carries).

A signature with ``sigFormat`` ``application/signature+xml`` (an Inera ds:Signature kept by the
inbound mapping) is not verified here; it is passed on untouched into the municipal XML.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from jwcrypto import jwk, jws
from jwcrypto.common import JWException
from signxml.exceptions import InvalidCertificate

from adapter import messages
from adapter.fhir.submission import Submission
from adapter.signing.xmldsig import TrustStoreChainVerifier, as_certificates

JOSE = "application/jose"
XML_DSIG = "application/signature+xml"
ALLOWED_JWS_ALGORITHMS = frozenset({"RS256", "PS256", "ES256"})


@dataclass(frozen=True)
class ProvenanceSignatureResult:
    """The outcome for one ``Provenance.signature``; the service records it with the submission."""

    expression: str
    """FHIRPath location of the signature in the Bundle."""
    sig_format: str
    status: str
    """``valid``, ``invalid`` or ``passed-on`` (kept, not verified here)."""
    code: str
    text_sv: str
    text_en: str
    signer: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool | None:
        return {"valid": True, "invalid": False}.get(self.status)


def canonical_json(resource: Any) -> bytes:
    """The canonical JSON bytes a detached JWS is verified over."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_provenance_signatures(bundle: dict[str, Any], *, trust: Sequence[x509.Certificate | bytes],
                                 now: datetime | None = None) -> list[ProvenanceSignatureResult]:
    """Verify every JWS on every Provenance of a submission Bundle; XML signatures are passed on."""
    sub = Submission(bundle)
    payload = canonical_json(sub.response or {})
    anchors = as_certificates(trust)
    results = []
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Provenance":
            continue
        for n, sig in enumerate(resource.get("signature") or []):
            where = f"Bundle.entry[{index}].resource.signature[{n}]"
            results.append(_one(sig if isinstance(sig, dict) else {}, where, payload, anchors, now))
    return results


def _result(where: str, fmt: str, status: str, code: str, *, signer: str | None = None,
            detail: str | None = None, **args: Any) -> ProvenanceSignatureResult:
    return ProvenanceSignatureResult(expression=where, sig_format=fmt, status=status, code=code,
                                     text_sv=messages.text(code, "sv", detail=detail or "", **args),
                                     text_en=messages.text(code, "en", detail=detail or "", **args),
                                     signer=signer, detail=detail)


def _one(sig: dict[str, Any], where: str, payload: bytes, trust: list[x509.Certificate],
         now: datetime | None) -> ProvenanceSignatureResult:
    fmt = str(sig.get("sigFormat") or "")
    if fmt == XML_DSIG:
        return _result(where, fmt, "passed-on", "LISN_PROV_XML_SIGNATURE_PASSED_ON")
    if fmt != JOSE:
        return _result(where, fmt, "invalid", "LISN_PROV_FORMAT_UNSUPPORTED", format=fmt or "-")
    try:
        token = base64.b64decode(str(sig.get("data") or ""), validate=True).decode("ascii").strip()
        header_b64, body_b64, _ = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        return _result(where, fmt, "invalid", "LISN_PROV_SIGNATURE_INVALID", detail=f"not a compact JWS ({exc})")
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg not in ALLOWED_JWS_ALGORITHMS:
        return _result(where, fmt, "invalid", "LISN_PROV_ALGORITHM_NOT_ALLOWED", algorithm=str(alg))
    return _verify_token(token, header, detached=body_b64 == "", payload=payload, where=where, trust=trust, now=now)


def _verify_token(token: str, header: dict[str, Any], *, detached: bool, payload: bytes, where: str,
                  trust: list[x509.Certificate], now: datetime | None) -> ProvenanceSignatureResult:
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header.get("x5c") or []]
    except (binascii.Error, ValueError, TypeError):
        chain = []
    if not chain or not trust:
        return _result(where, JOSE, "invalid", "LISN_PROV_SIGNATURE_UNTRUSTED", detail="no x5c certificate chain"
                       if not chain else "no trust anchors configured")
    try:
        leaf = TrustStoreChainVerifier(trust, now or datetime.now(UTC)).verify(chain)
    except InvalidCertificate as exc:
        return _result(where, JOSE, "invalid", "LISN_PROV_SIGNATURE_UNTRUSTED", detail=str(exc))
    signer = leaf.subject.rfc4514_string()
    obj = jws.JWS()
    try:
        obj.deserialize(token)
        obj.verify(jwk.JWK.from_pyca(leaf.public_key()), alg=header["alg"],
                   detached_payload=payload if detached else None)
    except (JWException, ValueError, TypeError) as exc:
        return _result(where, JOSE, "invalid", "LISN_PROV_SIGNATURE_INVALID", signer=signer, detail=str(exc))
    if not detached and obj.payload != payload:
        return _result(where, JOSE, "invalid", "LISN_PROV_PAYLOAD_MISMATCH", signer=signer)
    return _result(where, JOSE, "valid", "LISN_PROV_SIGNATURE_VALID", signer=signer, signer_name=signer)
