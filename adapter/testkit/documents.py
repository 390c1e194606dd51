"""The signed municipal XML the kit pushes when it plays the adapter (receiver scenarios).

A ``document`` body::

    body:
      document:
        kind: certificate            # certificate | replacement | withdrawal
        certificate: "{{cert}}"      # the certificate id (the fixture's QuestionnaireResponse identifier)
        replaces: "{{cert}}"         # replacement: the certificate it replaces
        kommunkod: "{{kommunkod}}"   # the recipient in the signed content
        key: "{{other}}"             # the Idempotency-Key (default: the adapter's, over id, kommun, kind)
        signer: untrusted            # trusted (default: --key/--cert) | untrusted (a CA the receiver never saw)
        tamper: {from: "<kvarvarandeArbetsformagaProcent>", to: "<kvarvarandeArbetsformagaProcent>1"}

The document is rendered from the fixture submission (``fixtures/submission.json``) by the
adapter's own renderer, and signed with ``adapter.signing`` exactly as the adapter signs; the
headers are those of the adapter's relay (``Idempotency-Key``, ``X-LISN-Certificate-Id``,
``X-LISN-Kind``). ``tamper`` changes the bytes after signing (a bad signature).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from adapter.delivery import idempotency_key
from adapter.fhir.submission import Submission
from adapter.signing import load_certificates, load_key, sign_document
from adapter.signing.keys import make_ca, make_signing_cert, new_key
from adapter.testkit.scenario import ScenarioError, fill, fixture_path

XML_STATUS = {"certificate": "original", "replacement": "replacing", "withdrawal": "withdrawn"}
FIXTURE = {"certificate": "submission.json", "replacement": "replacement.json", "withdrawal": "withdrawal.json"}
DOCUMENT_KEYS = {"kind", "certificate", "replaces", "kommunkod", "key", "signer", "tamper"}


@dataclass
class Signers:
    """The trusted signing key (the receiver trusts its CA) and, made on first use, an untrusted one."""

    key_path: Path
    cert_path: Path

    @cached_property
    def trusted(self) -> tuple[Any, list[Any]]:
        return load_key(self.key_path), load_certificates(self.cert_path)

    @cached_property
    def untrusted(self) -> tuple[Any, list[Any]]:
        ca_key, key = new_key("ecdsa"), new_key("ecdsa")
        ca = make_ca(ca_key, name="LISN testkit UNTRUSTED CA - NOT FOR PRODUCTION")
        return key, [make_signing_cert(key, ca_key, ca), ca]

    def sign(self, xml: bytes, which: str) -> bytes:
        key, chain = self.trusted if which == "trusted" else self.untrusted
        algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
        return sign_document(xml, key=key, cert_chain=chain, algorithm=algorithm)


def render(spec: dict[str, Any], source: Path, variables: dict[str, str], signers: Signers) -> tuple[bytes, dict[str, str]]:
    """The signed document and the relay's headers for a ``document`` body."""
    from adapter.outbound import render_municipal_xml

    doc = fill(spec, variables)
    unknown = set(doc) - DOCUMENT_KEYS
    if unknown:
        raise ScenarioError(f"{source}: document: unknown key(s) {sorted(unknown)} (known: {sorted(DOCUMENT_KEYS)})")
    kind = doc.get("kind", "certificate")
    if kind not in XML_STATUS:
        raise ScenarioError(f"{source}: document.kind {kind!r} is not one of {', '.join(XML_STATUS)}")
    cert = str(doc.get("certificate") or variables.get("cert") or "")
    kommunkod = str(doc.get("kommunkod") or variables["kommunkod"])
    bundle_vars = dict(variables, cert=cert, kommunkod=kommunkod, replacement=cert)
    if kind == "replacement":
        bundle_vars["cert"] = str(doc.get("replaces") or "")
    bundle = json.loads(fill(fixture_path(FIXTURE[kind], source).read_text(encoding="utf-8"), bundle_vars))
    xml = render_municipal_xml(bundle, status=XML_STATUS[kind])  # a replacement names its original itself
    signer = doc.get("signer", "trusted")
    if signer not in ("trusted", "untrusted"):
        raise ScenarioError(f"{source}: document.signer is trusted or untrusted, not {signer!r}")
    signed = signers.sign(xml, signer)
    tamper = doc.get("tamper")
    if tamper:
        old, new = str(tamper["from"]).encode(), str(tamper["to"]).encode()
        if old not in signed:
            raise ScenarioError(f"{source}: document.tamper: {tamper['from']!r} is not in the signed document")
        signed = signed.replace(old, new, 1)
    headers = {
        "Content-Type": "application/xml",
        "Accept": "application/json",
        "Idempotency-Key": str(doc.get("key") or idempotency_key(cert, kommunkod, kind,
                                                                 care_unit=Submission(bundle).care_unit_hsa or "")),
        "X-LISN-Certificate-Id": f"urn:uuid:{cert}",
        "X-LISN-Kind": kind,
        "X-LISN-Attempt": "1",
    }
    return signed, headers
