"""What is signed is what is shown: nothing the signature does not cover is accepted (issue 13).

The cases (unsigned_content_cases.yaml) are edits that a plain verifier accepts: the digest
and the signature stay valid. Each must now be refused with its reason, and a valid document
must be read from its signed content only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from adapter import errors
from adapter.fhir.parse import xml_parser
from adapter.outbound import read_municipal_xml, read_verified, render_html, render_municipal_xml
from adapter.signing import sign_document, verify_document

CASES = yaml.safe_load((Path(__file__).with_name("unsigned_content_cases.yaml")).read_text(encoding="utf-8"))
INTYG = "https://lisn.se/xml/intyg/1"


def _signed(example_bundle: dict[str, Any], keys: Any, xades: bool, status: str = "original") -> bytes:
    xml = render_municipal_xml(example_bundle, status=status)
    return sign_document(xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm, xades=xades)


def _plain_verifier_accepts(xml: bytes, keys: Any, xades: bool) -> bool:
    """signxml alone, with the parser the adapter used before: digest and signature value only."""
    verifier = XAdESVerifier() if xades else XMLVerifier()
    config = (XAdESSignatureConfiguration if xades else SignatureConfiguration)(expect_references=3 if xades else 1)
    verifier.verify(xml, x509_cert=keys.cert, expect_config=config, parser=xml_parser())
    return True


def _text(xml: bytes, path: str) -> str | None:
    el = etree.fromstring(xml).find("/".join(f"{{{INTYG}}}{p}" for p in path.split("/")))
    assert el is not None, path
    return el.text


KINDS = {"xmldsig": False, "xades": True}
CASE_PARAMS = [pytest.param(case, xades, id=f"{case['id']}-{kind}")
               for case in CASES for kind, xades in KINDS.items() if case.get("only", kind) == kind]


@pytest.mark.parametrize(("case", "xades"), CASE_PARAMS)
def test_unsigned_content_is_refused(case: dict[str, Any], xades: bool, keys: Any,
                                     example_bundle: dict[str, Any]) -> None:
    signed = _signed(example_bundle, keys, xades, case.get("status", "original"))
    old, new = case["edit"]["old"].encode(), case["edit"]["new"].encode()
    assert old in signed, old
    edited = signed.replace(old, new, 1)
    assert _plain_verifier_accepts(edited, keys, xades)  # the attack: crypto alone says valid
    if "shown" in case:  # ... and a reader of the bytes received would show something else
        shown = case["shown"]
        assert (_text(edited, shown["path"]), _text(signed, shown["path"])) == (shown["today"], shown["signed"])
    result = verify_document(edited, trust=[keys.ca])
    assert (result.ok, result.code, result.signed_content) == (False, case["code"], None)
    with pytest.raises(errors.SigningError) as refused:
        render_html(result)
    assert refused.value.message_id == case["code"]


@pytest.mark.parametrize("xades", [False, True], ids=["xmldsig", "xades"])
def test_a_valid_document_is_read_from_its_signed_content(xades: bool, keys: Any,
                                                          example_bundle: dict[str, Any]) -> None:
    signed = _signed(example_bundle, keys, xades)
    result = verify_document(signed, trust=[keys.ca])
    assert result.ok and result.xades is xades
    root = etree.fromstring(signed)
    root.remove(root[-1])  # the enveloped signature
    assert result.signed_content == etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    doc = read_verified(result)
    assert doc.signed and doc.verification is result
    assert doc.text("bedomningsstod/kvarvarandeArbetsformagaProcent") == "25"
    assert "Signaturen är giltig" in render_html(result)


def test_signed_bytes_are_never_read_without_their_verification(keys: Any, example_bundle: dict[str, Any]) -> None:
    signed = _signed(example_bundle, keys, False)
    with pytest.raises(errors.InputRejected) as refused:
        read_municipal_xml(signed)
    assert refused.value.message_id == "LISN_OUTBOUND_SIGNED_UNVERIFIED"
    # also a signature hidden deeper than the root's children
    nested = signed.replace(b"<huvud>", b'<huvud><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>', 1)
    with pytest.raises(errors.InputRejected):
        read_municipal_xml(nested)


def test_an_unsigned_document_is_read_whole_despite_comments(example_bundle: dict[str, Any]) -> None:
    xml = render_municipal_xml(example_bundle).replace(b"<kvarvarandeArbetsformagaProcent>25<",
                                                       b"<kvarvarandeArbetsformagaProcent>2<!---->5<")
    doc = read_municipal_xml(xml)
    assert doc.text("bedomningsstod/kvarvarandeArbetsformagaProcent") == "25" and not doc.signed


def test_a_document_with_a_comment_is_not_signed(keys: Any, example_bundle: dict[str, Any]) -> None:
    """Signing it would leave the comment unsigned; the signer refuses instead."""
    xml = render_municipal_xml(example_bundle).replace(b"<huvud>", b"<huvud><!-- note -->", 1)
    with pytest.raises(errors.SigningError) as refused:
        sign_document(xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm)
    assert refused.value.message_id == "LISN_SIG_SIGNING_FAILED" and "comment" in str(refused.value)


def test_a_duplicated_id_is_refused(rsa_keys: Any, example_bundle: dict[str, Any]) -> None:
    """A second element with the Id of the SignedProperties could stand in for the signed one."""
    signed = _signed(example_bundle, rsa_keys, True)
    root = etree.fromstring(signed)
    props_id = root.find(".//{http://uri.etsi.org/01903/v1.3.2#}SignedProperties").get("Id")
    edited = signed.replace(b"<ds:SignedInfo>", f'<ds:SignedInfo Id="{props_id}">'.encode(), 1)
    result = verify_document(edited, trust=[rsa_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_UNSIGNED_CONTENT") and "@Id" in result.text_en
