"""The enveloped signature is built on the parsed document (issue 15 target 6), not by signxml's
``XMLSigner.sign``, which copies the document twice first. These tests hold it to signxml's
output: byte for byte with RSA (PKCS#1 v1.5 is deterministic), and with ECDSA everything but the
(random) signature value, which both verifiers accept."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from signxml import DigestAlgorithm, XMLSigner, XMLVerifier

from adapter import errors
from adapter.outbound import render_municipal_xml
from adapter.outbound.notice import render_consent_withdrawn
from adapter.signing import sign_document, verify_document
from adapter.signing.keys import pem
from adapter.signing.xmldsig import EXC_C14N, SIGNING_ALGORITHMS
from tests.unit.signing.conftest import KeySet

ROOT = Path(__file__).resolve().parents[3]
SIGNATURE_VALUE = re.compile(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>")


def _documents() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")) \
            + sorted((ROOT / "tests" / "golden" / "outbound").glob("**/*.input.json")):
        out.append((path.name, render_municipal_xml(json.loads(path.read_text(encoding="utf-8")))))
    out.append(("consent-withdrawn", render_consent_withdrawn("urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d",
                                                               "0180", datetime(2026, 12, 1, tzinfo=UTC),
                                                               care_unit="SE2321000016-15CQ")))
    out.append(("prefixed", b'<?xml version="1.0"?>\n<a:doc xmlns:a="urn:a" xmlns:b="urn:b" b:x="1">'
                            b'<a:t>\xc3\xa5 &amp; &lt;</a:t><b:u xmlns="urn:c"><v/></b:u></a:doc>'))
    out.extend(ODD_ROOTS)
    return out


ODD_ROOTS = [
    ("empty-root", b"<a/>"),
    ("text-only-root", b'<a xml:lang="sv">t &gt; &#13;</a>'),
    ("root-declares-ds", b'<a xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><b/></a>'),
    ("ds-prefix-elsewhere", b'<ds:a xmlns:ds="urn:other"><ds:b/></ds:a>'),
]
"""Roots whose signed text the signer cannot simply splice (or only just can): signed on the tree."""
XMLDSIG_DEFAULT = ("xmldsig-default-namespace", b'<a xmlns="http://www.w3.org/2000/09/xmldsig#"><b/></a>')
"""Signed on the tree too; signxml writes its signature unprefixed there, so it is left out of
the comparison with signxml (the signature verifies all the same)."""


DOCUMENTS = _documents()


def _signxml(xml: bytes, keys: KeySet) -> bytes:
    signer = XMLSigner(signature_algorithm=SIGNING_ALGORITHMS[keys.algorithm],
                       digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=EXC_C14N)
    signed = signer.sign(etree.fromstring(xml), key=keys.key, cert=[pem(c).decode() for c in keys.chain])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("name,xml", DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_the_signature_is_signxmls(name: str, xml: bytes, keys: KeySet) -> None:
    ours, theirs = sign_document(xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm), _signxml(xml, keys)
    if keys.algorithm == "rsa-sha256":
        assert ours == theirs
    else:
        assert SIGNATURE_VALUE.sub(b"", ours) == SIGNATURE_VALUE.sub(b"", theirs)
        assert ours != theirs  # the values themselves differ (random k): the comparison above is not vacuous
    result = verify_document(ours, trust=[keys.ca])
    assert (result.ok, result.code) == (True, "LISN_SIG_VALID")
    XMLVerifier().verify(ours, x509_cert=pem(keys.cert).decode())  # signxml's own verifier too


def test_a_changed_document_no_longer_verifies(rsa_keys: KeySet) -> None:
    signed = sign_document(DOCUMENTS[0][1], key=rsa_keys.key, cert_chain=rsa_keys.chain)
    changed = signed.replace(b"<intygsId>", b"<intygsId>x", 1)
    assert changed != signed
    assert verify_document(changed, trust=[rsa_keys.ca]).code == "LISN_SIG_DIGEST_MISMATCH"


@pytest.mark.parametrize("xml", [
    b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<!DOCTYPE a SYSTEM "a.dtd"><a/>',
], ids=["internal-subset-and-entity", "external-dtd"])
def test_a_dtd_or_an_entity_is_refused_as_signxml_refuses_it(xml: bytes, rsa_keys: KeySet) -> None:
    with pytest.raises(errors.SigningError) as exc:
        sign_document(xml, key=rsa_keys.key, cert_chain=rsa_keys.chain)
    assert exc.value.message_id == "LISN_SIG_SIGNING_FAILED"


@pytest.mark.parametrize("path", sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")), ids=lambda p: p.name)
def test_the_rendered_tree_handed_to_the_signer_signs_as_the_bytes_do(path: Path, rsa_keys: KeySet) -> None:
    """render_municipal_xml hands its tree to sign_document with the bytes: signing the tree (no
    re-parse) gives what signing the parsed bytes gives, and what signxml gives."""
    from adapter.signing import xmldsig

    xml = render_municipal_xml(json.loads(path.read_text(encoding="utf-8")))
    assert xmldsig._HANDED.last[0] is xml
    from_tree = sign_document(xml, key=rsa_keys.key, cert_chain=rsa_keys.chain)
    assert xmldsig._HANDED.last is None  # used once
    from_bytes = sign_document(xml, key=rsa_keys.key, cert_chain=rsa_keys.chain)  # parsed this time
    assert from_tree == from_bytes == _signxml(xml, rsa_keys)
    copy = bytes(bytearray(xml))
    assert copy is not xml
    assert sign_document(copy, key=rsa_keys.key, cert_chain=rsa_keys.chain) == from_bytes  # an equal copy parses


@pytest.mark.parametrize("name,xml", [*DOCUMENTS, XMLDSIG_DEFAULT], ids=[n for n, _ in [*DOCUMENTS, XMLDSIG_DEFAULT]])
def test_the_spliced_signature_is_the_signed_tree_serialised(name: str, xml: bytes, rsa_keys: KeySet) -> None:
    """The signature written as text after the document's serialisation (no tree built for it, no
    second serialisation) is byte for byte what signing the tree and serialising it gives; where
    it cannot be (an empty root, a root that declares the ds prefix or the XML-DSig namespace)
    the signer says so and signs the tree."""
    from adapter.signing import xmldsig

    certs = [xmldsig._pem_text(c) for c in rsa_keys.chain]
    method = SIGNING_ALGORITHMS["rsa-sha256"]
    spliced = xmldsig._sign_spliced(etree.fromstring(xml), None, rsa_keys.key, method, certs)
    tree = etree.tostring(xmldsig._sign_enveloped(etree.fromstring(xml), rsa_keys.key, method, certs),
                          xml_declaration=True, encoding="UTF-8")
    if name in {"empty-root", "root-declares-ds", "ds-prefix-elsewhere", "xmldsig-default-namespace"}:
        assert spliced is None
    else:
        assert spliced == tree
    assert sign_document(xml, key=rsa_keys.key, cert_chain=rsa_keys.chain) == tree
    assert verify_document(tree, trust=[rsa_keys.ca]).ok
