"""Sign -> verify, and every way a signed document must fail (issue 5 §3 and §6)."""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier

from adapter import errors
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document, verify_document
from adapter.signing.keys import key_pem, make_ca, new_key, pem
from adapter.signing.xmldsig import DS, EXC_C14N

NS = {"ds": DS}


@pytest.fixture(scope="module", params=[False, True], ids=["xmldsig", "xades"])
def signed(request: pytest.FixtureRequest, keys, example_xml: bytes) -> tuple[bytes, object, bool]:
    xml = sign_document(example_xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm,
                        xades=request.param)
    return xml, keys, request.param


def test_sign_then_verify(signed) -> None:
    xml, keys, xades = signed
    result = verify_document(xml, trust=[keys.ca])
    assert (result.ok, result.code, result.xades) == (True, "LISN_SIG_VALID", xades)
    assert "NOT FOR PRODUCTION" in result.signer


def test_signature_shape(signed) -> None:
    xml, keys, xades = signed
    root = etree.fromstring(xml)
    sig = root[-1]
    assert sig.tag == f"{{{DS}}}Signature"
    assert sig.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm") == EXC_C14N.value
    method = sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    assert method.endswith({"rsa-sha256": "rsa-sha256", "ecdsa-sha256": "ecdsa-sha256"}[keys.algorithm])
    assert len(sig.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)) == 2  # signer + CA
    assert {r.get("URI") for r in sig.findall("ds:SignedInfo/ds:Reference", NS)} >= {""}
    assert b"\n  <" not in xml.split(b"<ds:Signature")[0]  # never pretty-printed
    if xades:
        props = sig.find(".//{http://uri.etsi.org/01903/v1.3.2#}SignedSignatureProperties")
        assert props.find("{http://uri.etsi.org/01903/v1.3.2#}SigningTime") is not None
        assert props.find("{http://uri.etsi.org/01903/v1.3.2#}SigningCertificateV2") is not None


@pytest.mark.parametrize("old,new", [
    (b"<efternamn>Tolvansson<", b"<efternamn>Tolvanssom<"),
    (b"<timmarPerVecka>10<", b"<timmarPerVecka>11<"),
    (b'kod="nedsatt-75"', b'kod="nedsatt-50"'),
    (b"<status>original<", b"<status>withdrawn<"),
    (b"<kommunkod>0180<", b"<kommunkod>0181<"),
])
def test_changed_content_fails_with_digest_mismatch(signed, old: bytes, new: bytes) -> None:
    xml, keys, _ = signed
    assert old in xml
    result = verify_document(xml.replace(old, new, 1), trust=[keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_DIGEST_MISMATCH")


def _text_slots(root: etree._Element) -> list[tuple[etree._Element, str | None]]:
    """Every (element, attribute-or-None) whose value has a non-blank character."""
    slots: list[tuple[etree._Element, str | None]] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if (el.text or "").strip():
            slots.append((el, None))
        slots.extend((el, name) for name, value in el.attrib.items() if value.strip())
    return slots


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_character_fails(signed, data: st.DataObject) -> None:
    """Property: one changed character in any text or attribute value, signed content or signature, fails."""
    xml, keys, _ = signed
    root = etree.fromstring(xml)
    slots = _text_slots(root)
    el, attr = slots[data.draw(st.integers(0, len(slots) - 1), label="slot")]
    value = el.text if attr is None else el.get(attr)
    positions = [i for i, ch in enumerate(value) if not ch.isspace()]
    pos = data.draw(st.sampled_from(positions), label="position")
    replacement = data.draw(st.characters(codec="utf-8", categories=("L", "N", "P"))
                            .filter(lambda c: c != value[pos] and not c.isspace()), label="char")
    changed = value[:pos] + replacement + value[pos + 1:]
    if attr is None:
        el.text = changed
    else:
        el.set(attr, changed)
    result = verify_document(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), trust=[keys.ca])
    assert not result.ok, (etree.QName(el).localname, attr, pos, replacement)


def test_foreign_ca_fails(signed) -> None:
    xml, _, _ = signed
    foreign = make_ca(new_key("ecdsa"))
    result = verify_document(xml, trust=[foreign])
    assert (result.ok, result.code) == (False, "LISN_SIG_UNTRUSTED_CHAIN")


def test_no_trust_anchors_fails(signed) -> None:
    xml, _, _ = signed
    assert verify_document(xml, trust=[]).code == "LISN_SIG_NO_TRUST"


def test_self_signed_signer_in_keyinfo_is_not_trusted(keys, example_xml: bytes) -> None:
    """A certificate is never trusted because it is in KeyInfo, even as its own issuer."""
    rogue_key = new_key("rsa" if keys.algorithm.startswith("rsa") else "ecdsa")
    rogue = make_ca(rogue_key, name=keys.ca.subject.rfc4514_string())
    xml = sign_document(example_xml, key=rogue_key, cert_chain=[rogue], algorithm=keys.algorithm)
    result = verify_document(xml, trust=[keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_UNTRUSTED_CHAIN")


def test_expired_certificate_fails(expired_keys, example_xml: bytes) -> None:
    xml = sign_document(example_xml, key=expired_keys.key, cert_chain=expired_keys.chain,
                        algorithm=expired_keys.algorithm)
    result = verify_document(xml, trust=[expired_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_CERT_EXPIRED")
    # the same document verifies at a time when the certificate was valid
    then = expired_keys.cert.not_valid_before_utc + timedelta(days=1)
    assert verify_document(xml, trust=[expired_keys.ca], now=then).ok


def test_not_yet_valid_certificate_fails(keys, example_xml: bytes) -> None:
    xml = sign_document(example_xml, key=keys.key, cert_chain=keys.chain, algorithm=keys.algorithm)
    before = keys.cert.not_valid_before_utc - timedelta(days=1)
    assert verify_document(xml, trust=[keys.ca], now=before).code == "LISN_SIG_CERT_NOT_YET_VALID"


def _add_signed_reference(xml: bytes, keys, target_id: str) -> bytes:
    """A genuinely valid signature whose SignedInfo also covers the element with Id ``target_id``."""
    root = etree.fromstring(xml)
    sig = root[-1]
    signed_info = sig.find("ds:SignedInfo", NS)
    extra = copy.deepcopy(signed_info.find("ds:Reference", NS))
    extra.set("URI", "#" + target_id)
    target = root.xpath("//*[@Id=$id]", id=target_id)[0]
    digest = hashlib.sha256(etree.tostring(target, method="c14n", exclusive=True)).digest()
    extra.find("ds:DigestValue", NS).text = base64.b64encode(digest).decode()
    signed_info.append(extra)
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = keys.key.sign(c14n, padding.PKCS1v15(), hashes.SHA256())
    sig.find("ds:SignatureValue", NS).text = base64.b64encode(value).decode()
    return etree.tostring(root)


def test_second_signed_reference_is_refused(rsa_keys, example_xml: bytes) -> None:
    """Signature wrapping: a cryptographically valid signature over a second element is refused."""
    root = etree.fromstring(example_xml)
    root.find("{https://lisn.se/xml/intyg/1}svar").set("Id", "svar")
    xml = sign_document(etree.tostring(root), key=rsa_keys.key, cert_chain=rsa_keys.chain)
    wrapped = _add_signed_reference(xml, rsa_keys, "svar")
    # the signature itself is valid for a verifier that accepts two references ...
    config = SignatureConfiguration(expect_references=2)
    assert len(XMLVerifier().verify(wrapped, x509_cert=rsa_keys.cert, expect_config=config)) == 2
    # ... but we accept exactly one, over the whole document
    result = verify_document(wrapped, trust=[rsa_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_MORE_THAN_ONE_REFERENCE")


def test_reference_to_part_of_the_document_is_refused(rsa_keys, example_xml: bytes) -> None:
    root = etree.fromstring(example_xml)
    root.find("{https://lisn.se/xml/intyg/1}huvud").set("Id", "huvud")
    signer = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256", c14n_algorithm=EXC_C14N)
    signed = signer.sign(root, key=rsa_keys.key, cert=[pem(c).decode() for c in rsa_keys.chain],
                         reference_uri="#huvud")
    result = verify_document(etree.tostring(signed), trust=[rsa_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_REFERENCE_NOT_DOCUMENT")


@pytest.mark.parametrize("path,algorithm", [
    ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
    ("ds:SignedInfo/ds:Reference/ds:DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
    ("ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
    ("ds:SignedInfo/ds:CanonicalizationMethod", "http://www.w3.org/TR/1999/REC-xslt-19991116"),
])
def test_weak_or_unknown_algorithm_is_refused(rsa_keys, example_xml: bytes, path: str, algorithm: str) -> None:
    root = etree.fromstring(sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain))
    root[-1].find(path, NS).set("Algorithm", algorithm)
    result = verify_document(etree.tostring(root), trust=[rsa_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_ALGORITHM_NOT_ALLOWED")
    assert algorithm in result.text_en


def test_unsigned_document_and_garbage(rsa_keys, example_xml: bytes) -> None:
    assert verify_document(example_xml, trust=[rsa_keys.ca]).code == "LISN_SIG_MISSING"
    assert verify_document(b"<not-xml", trust=[rsa_keys.ca]).code == "LISN_SIG_MALFORMED"
    assert verify_document(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", trust=[rsa_keys.ca]).ok is False


def test_two_signatures_are_refused(rsa_keys, example_xml: bytes) -> None:
    once = etree.fromstring(sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain))
    once.append(copy.deepcopy(once[-1]))
    assert verify_document(etree.tostring(once), trust=[rsa_keys.ca]).code == "LISN_SIG_MULTIPLE_SIGNATURES"


def test_non_canonical_base64_is_refused(rsa_keys, example_xml: bytes) -> None:
    root = etree.fromstring(sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain))
    value = root[-1].find("ds:SignatureValue", NS)
    raw = base64.b64decode(value.text)
    value.text = base64.b64encode(raw).decode().rstrip("=") + "=="  # extra padding, same bytes for lax decoders
    assert verify_document(etree.tostring(root), trust=[rsa_keys.ca]).code == "LISN_SIG_MALFORMED"


@pytest.mark.parametrize("element", ["SignatureValue", "DigestValue", "X509Certificate"])
def test_an_empty_base64_value_is_malformed_not_a_crash(rsa_keys, example_xml: bytes, element: str) -> None:
    root = etree.fromstring(sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain))
    root[-1].find(f".//ds:{element}", NS).text = ""
    assert verify_document(etree.tostring(root), trust=[rsa_keys.ca]).code == "LISN_SIG_MALFORMED"


def test_verification_outcome_carries_the_reason(rsa_keys, example_xml: bytes) -> None:
    oo = verify_document(example_xml, trust=[rsa_keys.ca]).outcome()
    assert errors.message_id_of(oo["issue"][0]) == "LISN_SIG_MISSING"
    assert oo["issue"][0]["expression"] == ["Signature"]


def test_key_must_match_algorithm_and_certificate(rsa_keys, ec_keys, example_xml: bytes) -> None:
    with pytest.raises(errors.SigningError) as exc:
        sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain, algorithm="ecdsa-sha256")
    assert exc.value.message_id == "LISN_SIG_KEY_MISMATCH"
    with pytest.raises(errors.SigningError):
        sign_document(example_xml, key=rsa_keys.key, cert_chain=ec_keys.chain, algorithm="rsa-sha256")
    with pytest.raises(errors.SigningError):
        sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain, algorithm="rsa-sha1")


# -- keys -------------------------------------------------------------------------------------------

def test_init_dev_keys_writes_named_test_keys(tmp_path: Path, example_xml: bytes) -> None:
    paths = init_dev_keys(tmp_path / "k", algorithm="ecdsa")
    assert (paths.ca.name, paths.key.name, paths.cert.name) == ("ca.pem", "signing-key.pem", "signing-cert.pem")
    assert stat.S_IMODE(os.stat(paths.key).st_mode) == 0o600
    ca, = load_certificates(paths.ca)
    leaf, issuer = load_certificates(paths.cert)
    assert "NOT FOR PRODUCTION" in ca.subject.rfc4514_string() and "NOT FOR PRODUCTION" in leaf.subject.rfc4514_string()
    assert issuer == ca
    xml = sign_document(example_xml, key=load_key(paths.key), cert_chain=[leaf, issuer], algorithm="ecdsa-sha256")
    assert verify_document(xml, trust=[ca]).ok


def test_encrypted_pem_and_pkcs12_with_passphrase(tmp_path: Path, rsa_keys, example_xml: bytes) -> None:
    pem_file = tmp_path / "key.pem"
    pem_file.write_bytes(key_pem(rsa_keys.key, "hemligt"))
    p12_file = tmp_path / "signer.p12"
    p12_file.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", rsa_keys.key, rsa_keys.cert, [rsa_keys.ca], BestAvailableEncryption(b"hemligt")))
    for path in (pem_file, p12_file):
        key = load_key(path, "hemligt")
        assert key.public_key().public_numbers() == rsa_keys.key.public_key().public_numbers()
        with pytest.raises(errors.SigningError) as exc:
            load_key(path, "fel")
        assert exc.value.message_id == "LISN_SIG_KEY_UNREADABLE"
    chain = load_certificates(p12_file, "hemligt")
    assert chain == [rsa_keys.cert, rsa_keys.ca]
    xml = sign_document(example_xml, key=load_key(p12_file, "hemligt"), cert_chain=chain)
    assert verify_document(xml, trust=[rsa_keys.ca]).ok


def test_verification_time_defaults_to_now(rsa_keys, example_xml: bytes) -> None:
    xml = sign_document(example_xml, key=rsa_keys.key, cert_chain=rsa_keys.chain)
    far = datetime.now(UTC) + timedelta(days=3000)
    assert verify_document(xml, trust=[rsa_keys.ca]).ok
    assert verify_document(xml, trust=[rsa_keys.ca], now=far).code == "LISN_SIG_CERT_EXPIRED"


def test_signer_and_trust_from_settings(tmp_path: Path, example_xml: bytes) -> None:
    from adapter.settings import Settings
    from adapter.signing import load_signer, load_trust

    paths = init_dev_keys(tmp_path, algorithm="ecdsa")
    settings = Settings.from_env({"ADAPTER_SIGNING_KEY_PATH": str(paths.key), "ADAPTER_SIGNING_CERT_PATH": str(paths.cert),
                                  "ADAPTER_SIGNING_TRUST_PATHS": str(paths.ca), "ADAPTER_SIGNING_XADES": "true"}).signing
    signer = load_signer(settings)
    assert (signer.algorithm, signer.xades, len(signer.cert_chain)) == ("ecdsa-sha256", True, 2)
    xml = sign_document(example_xml, key=signer.key, cert_chain=signer.cert_chain, algorithm=signer.algorithm,
                        xades=signer.xades)
    result = verify_document(xml, trust=load_trust(settings))
    assert result.ok and result.xades
    with pytest.raises(errors.SigningError):
        load_signer(Settings().signing)


@pytest.mark.parametrize("doc", [
    b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><r>&lol2;</r>',
    b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b"<a>" * 100 + b"</a>" * 100,
])
def test_hostile_xml_is_malformed_not_a_crash(rsa_keys, doc: bytes) -> None:
    result = verify_document(doc, trust=[rsa_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_SIG_MALFORMED")


def test_a_certificate_of_another_key_type_is_a_mismatch_not_a_crash(rsa_keys, example_xml: bytes) -> None:
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    edkey = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LISN TEST ed25519")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(edkey.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(edkey, None))
    with pytest.raises(errors.SigningError) as exc:
        sign_document(example_xml, key=rsa_keys.key, cert_chain=[cert], algorithm="rsa-sha256")
    assert exc.value.message_id == "LISN_SIG_KEY_MISMATCH"


def _with_serial(xml: bytes, index: int, first_byte: int) -> bytes:
    """``xml`` with the serial number of its ``index``-th KeyInfo certificate made to start with ``first_byte``
    (0x80 and up: negative; a one-byte 0: zero). The base64 is canonical, so only the certificate check can refuse it."""
    root = etree.fromstring(xml)
    el = root.findall(".//ds:X509Certificate", NS)[index]
    der = bytearray(base64.b64decode("".join(el.text.split())))
    at = der.index(b"\x02\x01\x02\x02") + 4  # version v3 ([0] INTEGER 2), then the serial's INTEGER
    der[at + 1] = first_byte
    el.text = base64.b64encode(bytes(der)).decode("ascii")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("first_byte", [0x80, 0xFF])
def test_a_certificate_with_a_negative_serial_is_refused_not_warned_about(signed, first_byte: int) -> None:
    """cryptography only warns about such a certificate (pytest turns warnings into errors here): the
    verifier must answer with a verdict, whichever certificate of the chain it is."""
    xml, keys, _ = signed
    for index in range(len(etree.fromstring(xml).findall(".//ds:X509Certificate", NS))):
        result = verify_document(_with_serial(xml, index, first_byte), trust=[keys.ca])
        assert (result.ok, result.code) == (False, "LISN_SIG_MALFORMED"), index
        assert "serial" in (result.detail or "")  # a warning (0x80…) or a DER error (0xFF, non-minimal)


def test_negative_control_without_the_certificate_check_cryptography_only_warns(signed, monkeypatch) -> None:
    from cryptography.utils import CryptographyDeprecationWarning

    from adapter.signing import xmldsig

    xml, keys, _ = signed
    monkeypatch.setattr(xmldsig, "_check_certificates", lambda sig: None)
    with pytest.warns(CryptographyDeprecationWarning):
        verify_document(_with_serial(xml, 0, 0x80), trust=[keys.ca])
