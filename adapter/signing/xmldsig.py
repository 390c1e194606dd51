"""Enveloped XML-DSig (optionally XAdES-BES) with signxml, verified against OUR trust store only.

W3C XML Signature 1.1 (https://www.w3.org/TR/xmldsig-core1/), ETSI EN 319 132 (XAdES-BES).
Signing: RSA-SHA256 or ECDSA-P256-SHA256, digest SHA-256, exclusive C14N set explicitly, the signer
certificate chain in KeyInfo. Verification never trusts a certificate because it is in KeyInfo:
the chain must end in one of the given trust anchors (signxml's default, the public web PKI, is
never used), SHA-1 is refused, exactly one reference may cover document content (URI ""), the
document may carry nothing its signature does not cover (``structure.py``), and each failure
maps to one reason code (docs/outbound.md "Signatures"). A valid result hands back the signed
content itself (``Verification.signed_content``): the only bytes a reader may use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLVerifier,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.util import X509CertChainVerifier, strip_pem_header
from signxml.xades import XAdESSignatureConfiguration, XAdESSigner, XAdESVerifier

from adapter import errors, messages
from adapter.fhir.parse import parse_xml, xml_parser
from adapter.signing.keys import PrivateKey, pem
from adapter.signing.structure import Unsigned, comment_or_pi, unsigned_content

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
SIGNING_ALGORITHMS = {"rsa-sha256": SignatureMethod.RSA_SHA256, "ecdsa-sha256": SignatureMethod.ECDSA_SHA256}
ALLOWED_SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512})
ALLOWED_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALLOWED_TRANSFORMS = frozenset({
    ENVELOPED,
    *(m.value for m in CanonicalizationMethod)})


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a signed document."""

    ok: bool
    code: str
    text_sv: str
    text_en: str
    signer: str | None = None
    """The signer certificate's subject (RFC 4514), when the signature verified."""
    xades: bool = False
    detail: str | None = None
    """Technical detail for operators (never document content)."""
    signed_content: bytes | None = field(default=None, repr=False, compare=False)
    """When ``ok``: exactly what the signature covers, as signed: the exclusive C14N of the
    document element without its ds:Signature and without comments (signxml's
    ``VerifyResult.signed_data``). Read the document from these bytes, never from the bytes
    received (``adapter.outbound.read_verified`` does)."""

    def text(self, lang: str | None = None) -> str:
        """The text in ``lang`` (default: the current language, :mod:`adapter.messages`)."""
        return self.text_en if (lang or messages.current_lang()) == "en" else self.text_sv

    def outcome(self) -> errors.OperationOutcome:
        severity = "information" if self.ok else "error"
        return errors.outcome([errors.issue(severity, "informational" if self.ok else "security",
                                            self.text(), message_id=self.code,
                                            expression="Signature", diagnostics=self.detail)])


def _result(ok: bool, code: str, *, signer: str | None = None, xades: bool = False, detail: str | None = None,
            signed_content: bytes | None = None, **args: Any) -> Verification:
    if detail is not None:
        args.setdefault("detail", detail)  # the texts that say why ("malformed: {detail}") show it
    return Verification(ok=ok, code=code, text_sv=messages.text(code, "sv", **args),
                        text_en=messages.text(code, "en", **args), signer=signer, xades=xades, detail=detail,
                        signed_content=signed_content)


UNSIGNED_CODES = {"comment": "LISN_SIG_COMMENT", "pi": "LISN_SIG_PROCESSING_INSTRUCTION",
                  "content": "LISN_SIG_UNSIGNED_CONTENT"}


def _unsigned(found: Unsigned, xades: bool = False) -> Verification:
    return _result(False, UNSIGNED_CODES[found.kind], where=found.where, xades=xades)


# -- signing -------------------------------------------------------------------------------------

class _XAdESSigner(XAdESSigner):
    """signxml's XAdES signer, with the c14n of the SignedProperties/KeyInfo references stated.

    signxml 5.2 digests these two references with the signer's c14n algorithm but writes no
    ds:Transforms, so a verifier applies the default (inclusive) c14n: with exclusive C14N the
    digests then never match, in signxml's own verifier as in xmlsec1. Stating the transform makes
    the reference self-describing (XMLDSig §4.4.3.2).
    """

    def _add_reference_to_signed_info(self, sig_root: Any, node_to_reference: Any, **attrs: Any) -> None:
        # signxml's private hooks carry no annotations.
        super()._add_reference_to_signed_info(sig_root, node_to_reference, **attrs)  # type: ignore[no-untyped-call]
        reference = self._find(sig_root, "SignedInfo").findall(f"{{{DS}}}Reference")[-1]  # type: ignore[no-untyped-call]
        transforms = etree.Element(f"{{{DS}}}Transforms", nsmap={"ds": DS})
        etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=self.c14n_alg.value)
        reference.insert(0, transforms)


_HANDED = threading.local()


def hand_over(xml: bytes, root: etree._Element) -> bytes:
    """Say that ``xml`` is the serialisation of ``root``, a tree its builder no longer uses (the
    municipal renderer's); returns ``xml``.

    :func:`sign_document` of exactly this bytes object (the same object, in the same thread, once)
    then signs the tree instead of parsing the bytes again, and writes the signed document as
    ``xml`` with the signature spliced in before its end tag (:func:`_sign_spliced`) instead of
    serialising the tree again: the pipeline's stages pass bytes, and the round trip was a
    twentieth of a certificate's transform + sign time. One document per thread is remembered,
    the next hand-over replaces it.
    """
    _HANDED.last = (xml, root)
    return xml


def _handed(xml: bytes) -> etree._Element | None:
    last = getattr(_HANDED, "last", None)
    if last is None or last[0] is not xml:
        return None
    _HANDED.last = None
    root: etree._Element = last[1]
    return root


def sign_document(xml: bytes, *, key: PrivateKey | bytes, cert_chain: Sequence[x509.Certificate | bytes],
                  algorithm: str = "rsa-sha256", xades: bool = False) -> bytes:
    """``xml`` with an enveloped ds:Signature as the last child of its root (never pretty-printed)."""
    method, private_key, certs = _checked_key(key, cert_chain, algorithm)
    root = _handed(xml)
    handed = root is not None
    if root is None:
        root = etree.fromstring(xml, parser=xml_parser(keep_pis=True))
    found = comment_or_pi(root)
    if found is not None:  # signed, it would ride along unsigned (exclusive C14N without comments)
        mid = "LISN_SIG_SIGNING_FAILED"
        raise errors.SigningError(messages.bilingual(mid, detail=_unsigned(found).text_en), message_id=mid)
    if not xades:
        pems = [_pem_text(c) for c in certs]
        spliced = _sign_spliced(root, xml if handed else None, private_key, method, pems)
        if spliced is not None:
            return spliced
        return etree.tostring(_sign_enveloped(root, private_key, method, pems), xml_declaration=True, encoding="UTF-8")
    options: dict[str, Any] = {"signature_algorithm": method, "digest_algorithm": DigestAlgorithm.SHA256,
                               "c14n_algorithm": EXC_C14N}
    try:
        signed = _XAdESSigner(**options).sign(root, key=private_key, cert=[_pem_text(c) for c in certs],
                                              always_add_key_value=False)
    except (InvalidInput, ValueError) as exc:
        mid = "LISN_SIG_SIGNING_FAILED"
        raise errors.SigningError(messages.bilingual(mid, detail=str(exc)), message_id=mid) from None
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


_CHECKED = threading.local()


def _checked_key(key: PrivateKey | bytes, cert_chain: Sequence[x509.Certificate | bytes],
                 algorithm: str) -> tuple[SignatureMethod, PrivateKey, list[x509.Certificate]]:
    """(the signature method, the private key, the certificates) once the key is of the algorithm's
    type and is the first certificate's; SigningError LISN_SIG_KEY_MISMATCH otherwise.

    The service signs every document with the same key and chain objects: the last check that
    passed is remembered per thread, for exactly those objects (the same key object, the same
    certificate objects in the same order, the same algorithm; the objects are held, so that no
    other object can take their place). A check that fails is not remembered.
    """
    last = getattr(_CHECKED, "last", None)
    if last is not None and last[0] is key and last[1] == algorithm and len(last[2]) == len(cert_chain) \
            and all(a is b for a, b in zip(last[2], cert_chain)):
        remembered: tuple[SignatureMethod, PrivateKey, list[x509.Certificate]] = last[3]
        return remembered
    method = SIGNING_ALGORITHMS.get(algorithm)
    private_key = _as_key(key)
    certs = as_certificates(cert_chain)
    wants = rsa.RSAPrivateKey if algorithm == "rsa-sha256" else ec.EllipticCurvePrivateKey
    if method is None or not isinstance(private_key, wants) or not certs \
            or not _same_public_key(certs[0].public_key(), private_key):
        mid = "LISN_SIG_KEY_MISMATCH"
        raise errors.SigningError(messages.bilingual(mid, algorithm=algorithm), message_id=mid)
    checked = (method, private_key, certs)
    _CHECKED.last = (key, algorithm, tuple(cert_chain), checked)
    return checked


def _refuse_dtd(root: etree._Element) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None \
            or next(root.iter(etree.Entity), None) is not None:  # as signxml refuses them
        mid = "LISN_SIG_SIGNING_FAILED"
        raise errors.SigningError(messages.bilingual(mid, detail="DTD declarations and entities are not supported"),
                                  message_id=mid)


def _signature_value(key: PrivateKey, signed_info: bytes) -> str:
    """The base64 signature of the canonical SignedInfo."""
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
    else:  # ECDSA: XML-DSig writes r and s as two fixed-size integers, not DER (RFC 4050 §3.3)
        r, s = decode_dss_signature(key.sign(signed_info, ec.ECDSA(hashes.SHA256())))
        size = (key.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return base64.b64encode(signature).decode()


def _signed_info_text(*, canonical: bool) -> str:
    """The ds:SignedInfo that :func:`_sign_enveloped` writes, as a template with ``{method}`` and
    ``{digest}``: its exclusive C14N (what is signed: the ds namespace declared on it, empty
    elements as start and end tags) or its serialisation inside the document (the prefix declared
    on ds:Signature). None of the values needs escaping (URIs and base64)."""
    def empty(name: str, algorithm: str) -> str:
        return f'<ds:{name} Algorithm="{algorithm}"' + (f"></ds:{name}>" if canonical else "/>")
    declaration = f' xmlns:ds="{DS}"' if canonical else ""
    return (f"<ds:SignedInfo{declaration}>"
            + empty("CanonicalizationMethod", EXC_C14N.value) + empty("SignatureMethod", "{method}")
            + '<ds:Reference URI=""><ds:Transforms>' + empty("Transform", ENVELOPED)
            + empty("Transform", EXC_C14N.value) + "</ds:Transforms>"
            + empty("DigestMethod", DigestAlgorithm.SHA256.value)
            + "<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>")


_SIGNED_INFO_C14N = _signed_info_text(canonical=True)
_SIGNED_INFO = _signed_info_text(canonical=False)


def _sign_spliced(root: etree._Element, xml: bytes | None, key: PrivateKey, method: SignatureMethod,
                  certs: list[str]) -> bytes | None:
    """What ``etree.tostring`` of :func:`_sign_enveloped`'s result is, byte for byte (a test holds
    them equal), written as text: the document's serialisation up to its end tag, the ds:Signature,
    the end tag. ``xml`` is that serialisation when the caller has it (:func:`hand_over`), else it
    is made here. None when the text would differ (an empty root element, a root that declares the
    ds prefix or the XML-DSig namespace itself): then sign the tree with :func:`_sign_enveloped`.

    The document is serialised once: building the signature as elements, canonicalising SignedInfo
    from the tree and serialising the signed document again cost about 40 µs per document (a
    twentieth of an RSA-3072 signing, a third of an ECDSA P-256 one, measured on the example).
    """
    nsmap = root.nsmap
    if "ds" in nsmap or DS in nsmap.values():
        return None
    _refuse_dtd(root)
    head = xml if xml is not None else etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    prefix = root.prefix
    end = f"</{prefix + ':' if prefix else ''}{etree.QName(root).localname}>".encode()
    if not head.endswith(end):  # an empty root element ("<a/>")
        return None
    digest = base64.b64encode(hashlib.sha256(
        etree.tostring(root, method="c14n", exclusive=True, with_comments=False)).digest()).decode()
    value = _signature_value(key, _SIGNED_INFO_C14N.format(method=method.value, digest=digest).encode())
    chain = "".join(f"<ds:X509Certificate>{cert}</ds:X509Certificate>" for cert in certs)
    signature = (f'<ds:Signature xmlns:ds="{DS}">{_SIGNED_INFO.format(method=method.value, digest=digest)}'
                 f"<ds:SignatureValue>{value}</ds:SignatureValue>"
                 f"<ds:KeyInfo><ds:X509Data>{chain}</ds:X509Data></ds:KeyInfo></ds:Signature>")
    return b"".join((head[:-len(end)], signature.encode(), end))


def _sign_enveloped(root: etree._Element, key: PrivateKey, method: SignatureMethod, certs: list[str]) -> etree._Element:
    """``root`` with an enveloped ds:Signature appended: the element signxml's ``XMLSigner.sign``
    writes for these settings, byte for byte (a test compares them; RSA PKCS#1 v1.5 is
    deterministic), built on the parsed document itself.

    signxml copies the document twice (serialise and re-parse) before it signs: that copy was a
    fifth of a certificate's signing time. Here the digest is the exclusive C14N of the document as
    it is before the signature is added (what the enveloped-signature transform leaves of it), and
    SignedInfo is canonicalised where it stands (exclusive C14N: only the ds namespace it uses).
    """
    _refuse_dtd(root)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(etree.tostring(root, method="c14n", exclusive=True, with_comments=False))
    ds = {"ds": DS}
    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap=ds)
    signed_info = etree.SubElement(sig, f"{{{DS}}}SignedInfo", nsmap=ds)
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC_C14N.value)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=method.value)
    reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI="")
    transforms = etree.SubElement(reference, f"{{{DS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=ENVELOPED)
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=EXC_C14N.value)
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
    etree.SubElement(reference, f"{{{DS}}}DigestValue").text = base64.b64encode(digest.finalize()).decode()
    value = etree.SubElement(sig, f"{{{DS}}}SignatureValue")
    value.text = _signature_value(key, etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False))
    key_info = etree.SubElement(sig, f"{{{DS}}}KeyInfo")
    x509_data = etree.SubElement(key_info, f"{{{DS}}}X509Data")
    for cert in certs:
        etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = cert
    return root


@lru_cache(maxsize=64)
def _pem_text(cert: x509.Certificate) -> str:
    """The certificate's base64 lines as ds:X509Certificate carries them (signxml's form for a PEM).

    The same few certificates sign every document; encoding them each time was measurable.
    """
    return str(strip_pem_header(pem(cert).decode("ascii")))  # type: ignore[no-untyped-call]


def _same_public_key(public: object, private: PrivateKey) -> bool:
    """True when the certificate's key is the private key's (a different key type never is)."""
    if isinstance(public, rsa.RSAPublicKey) and isinstance(private, rsa.RSAPrivateKey):
        return public.public_numbers() == private.public_key().public_numbers()
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(private, ec.EllipticCurvePrivateKey):
        return public.public_numbers() == private.public_key().public_numbers()
    return False


def _as_key(key: PrivateKey | bytes) -> PrivateKey:
    if isinstance(key, bytes):
        loaded = load_pem_private_key(key, password=None)
        if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise errors.SigningError("Unsupported key type.", message_id="LISN_SIG_KEY_MISMATCH")
        return loaded
    return key


def as_certificates(chain: Sequence[x509.Certificate | bytes]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for c in chain:
        out.extend(x509.load_pem_x509_certificates(c) if isinstance(c, bytes) else [c])
    return out


# -- verification --------------------------------------------------------------------------------

class TrustStoreChainVerifier(X509CertChainVerifier):
    """signxml's chain verifier over our trust anchors instead of a PEM file (never certifi).

    The leaf is the certificate that issued no other one in KeyInfo (rather than signxml's
    "first, else last"), so that a failure names the real reason, not a CA used as a leaf.
    """

    def __init__(self, trust: Sequence[x509.Certificate], verification_time: datetime | None) -> None:
        super().__init__(ca_pem_file="(in memory)", verification_time=verification_time)  # type: ignore[no-untyped-call]
        self._trust = list(trust)

    @property
    def store(self) -> x509.verification.Store:
        return x509.verification.Store(self._trust)

    def verify(self, cert_chain: list[x509.Certificate]) -> x509.Certificate:
        issuers = {c.issuer for c in cert_chain}
        leaves = [c for c in cert_chain if c.subject not in issuers or c.subject == c.issuer and len(cert_chain) == 1]
        leaf = leaves[0] if leaves else cert_chain[0]
        try:
            result: x509.verification.VerifiedClient = self.verifier.verify(
                leaf=leaf, intermediates=[c for c in cert_chain if c is not leaf])
        except x509.verification.VerificationError as exc:
            raise InvalidCertificate(str(exc)) from None
        # KeyInfo is not signed in plain XML-DSig: refuse certificates the chain does not use, so
        # that nothing unverified rides along in a document we call valid.
        used = {c.fingerprint(hashes.SHA256()) for c in result.chain}
        if any(c.fingerprint(hashes.SHA256()) not in used for c in cert_chain):
            raise InvalidCertificate("KeyInfo holds a certificate that is not part of the validated chain")
        return result.chain[0]


class _Verifier(XMLVerifier):
    trust: Sequence[x509.Certificate] = ()

    def get_cert_chain_verifier(self, ca_pem_file: Any, ee_policy: Any, ca_policy: Any) -> X509CertChainVerifier:
        return TrustStoreChainVerifier(self.trust, self._get_cert_verification_time())  # type: ignore[no-untyped-call]


class _XAdESVerifier(XAdESVerifier, _Verifier):
    pass


def verify_document(xml: bytes, *, trust: Sequence[x509.Certificate | bytes],
                    now: datetime | None = None) -> Verification:
    """Verify the enveloped signature of ``xml`` against ``trust`` (CA certificates); never raises."""
    anchors = as_certificates(trust)
    try:
        # no DOCTYPE, no entities, no network, size and depth limited; PIs kept so as to refuse them
        root = parse_xml(xml, keep_pis=True)
    except errors.InputRejected as exc:
        return _result(False, "LISN_SIG_MALFORMED", detail=str(exc))
    is_xades = root.find("ds:Signature/ds:Object/xades:QualifyingProperties", NS) is not None
    problem = _precheck(root, is_xades) or (None if anchors else _result(False, "LISN_SIG_NO_TRUST"))
    if problem:
        return problem
    refs = root.findall("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    content_index = next(i for i, r in enumerate(refs) if r.get("URI") == "")
    return _verify_with_signxml(xml, anchors, is_xades, now, content_index)


def _precheck(root: etree._Element, is_xades: bool) -> Verification | None:
    """Structure, algorithms, references and unsigned content, checked before any cryptography."""
    signatures = root.findall(".//ds:Signature", NS)
    if not signatures:
        return _result(False, "LISN_SIG_MISSING")
    if len(signatures) > 1:
        return _result(False, "LISN_SIG_MULTIPLE_SIGNATURES")
    sig = signatures[0]
    if sig.getparent() is not root:
        return _result(False, "LISN_SIG_MISSING", detail="ds:Signature is not a child of the root element")
    found = unsigned_content(root, xades=is_xades)
    if found is not None:
        return _unsigned(found, is_xades)
    return (_check_algorithms(sig) or _check_references(sig) or _check_base64(sig) or _check_certificates(sig)
            or _check_xades_target(sig))


def _check_xades_target(sig: etree._Element) -> Verification | None:
    """XAdES: QualifyingProperties must name this signature (its Target is not itself signed)."""
    for props in sig.findall("ds:Object/xades:QualifyingProperties", NS):
        if not sig.get("Id") or props.get("Target") != "#" + sig.get("Id", ""):
            return _result(False, "LISN_SIG_MALFORMED", detail="XAdES QualifyingProperties/@Target is not this signature")
    return None


def _check_algorithms(sig: etree._Element) -> Verification | None:
    allowed = ({m.value for m in ALLOWED_SIGNATURE_METHODS}, {d.value for d in ALLOWED_DIGESTS},
               ALLOWED_TRANSFORMS, {m.value for m in CanonicalizationMethod})
    paths = ("ds:SignedInfo/ds:SignatureMethod", ".//ds:DigestMethod", ".//ds:Transform",
             "ds:SignedInfo/ds:CanonicalizationMethod")
    for path, ok in zip(paths, allowed):
        for el in sig.findall(path, NS):
            if el.get("Algorithm") not in ok:
                return _result(False, "LISN_SIG_ALGORITHM_NOT_ALLOWED", algorithm=el.get("Algorithm", "-"))
    return None


def _check_references(sig: etree._Element) -> Verification | None:
    """Exactly one reference covers document content, and it is the whole document (URI="").

    XAdES adds references to elements inside the ds:Signature itself (SignedProperties, KeyInfo);
    any other reference could make a verifier accept content the signer never saw (wrapping).
    """
    refs = sig.findall("ds:SignedInfo/ds:Reference", NS)
    inside = {el.get("Id") for el in sig.iter() if el.get("Id")}
    content = [r for r in refs if (r.get("URI") or "").lstrip("#") not in inside or r.get("URI") in (None, "")]
    if len(content) > 1:
        return _result(False, "LISN_SIG_MORE_THAN_ONE_REFERENCE", count=len(content))
    if not content or content[0].get("URI") != "":
        uri = content[0].get("URI") if content else "-"
        return _result(False, "LISN_SIG_REFERENCE_NOT_DOCUMENT", uri=uri or "-")
    return None


def _check_base64(sig: etree._Element) -> Verification | None:
    """Refuse non-canonical base64: spare bits would let a changed character still verify. An empty
    value is refused too (signxml would fail on it with an AttributeError, not a verdict)."""
    for el in sig.findall(".//ds:SignatureValue", NS) + sig.findall(".//ds:DigestValue", NS) \
            + sig.findall(".//ds:X509Certificate", NS):
        text = "".join((el.text or "").split())
        try:
            canonical = base64.b64encode(base64.b64decode(text, validate=True)).decode("ascii")
        except (binascii.Error, ValueError):
            canonical = None
        if not text or canonical != text:
            return _result(False, "LISN_SIG_MALFORMED", detail=f"{etree.QName(el).localname} is not canonical base64")
    return None


def _check_certificates(sig: etree._Element) -> Verification | None:
    """Refuse a KeyInfo certificate that is not a conformant X.509 certificate before signxml reads it:
    cryptography only warns (a future release raises) about one it will not accept for long, such as
    a serial number that is not positive (RFC 5280, 4.1.2.2), and a warning is no verdict."""
    for el in sig.findall(".//ds:X509Certificate", NS):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
            except ValueError as exc:
                return _result(False, "LISN_SIG_MALFORMED", detail=f"X509Certificate: {str(exc).splitlines()[0]}")
        if caught:
            return _result(False, "LISN_SIG_MALFORMED",
                           detail=f"X509Certificate: {str(caught[0].message).split(',')[0]}")
    return None


def _verify_with_signxml(xml: bytes, trust: list[x509.Certificate], is_xades: bool,
                         now: datetime | None, content_index: int) -> Verification:
    config_cls = XAdESSignatureConfiguration if is_xades else SignatureConfiguration
    config = config_cls(require_x509=True, location="./", signature_methods=ALLOWED_SIGNATURE_METHODS,
                        digest_algorithms=ALLOWED_DIGESTS, verification_time=now,
                        expect_references=3 if is_xades else 1)
    verifier: _Verifier = _XAdESVerifier() if is_xades else _Verifier()
    verifier.trust = trust
    try:
        result = verifier.verify(xml, expect_config=config, parser=xml_parser())
    except InvalidDigest as exc:
        return _result(False, "LISN_SIG_DIGEST_MISMATCH", detail=str(exc), xades=is_xades)
    except InvalidCertificate as exc:
        return _certificate_failure(str(exc), is_xades)
    except InvalidSignature as exc:
        if "references" in str(exc):
            return _result(False, "LISN_SIG_MORE_THAN_ONE_REFERENCE", count="?", detail=str(exc), xades=is_xades)
        return _result(False, "LISN_SIG_VALUE_INVALID", detail=str(exc), xades=is_xades)
    except (InvalidInput, ValueError, etree.LxmlError, KeyError, TypeError) as exc:
        if "forbidden by configuration" in str(exc):
            return _result(False, "LISN_SIG_ALGORITHM_NOT_ALLOWED", algorithm=str(exc).split()[2], xades=is_xades)
        return _result(False, "LISN_SIG_MALFORMED", detail=str(exc).split("\n")[0], xades=is_xades)
    # signxml returns one result per reference, in SignedInfo order; ours covers the document.
    content = result[content_index] if isinstance(result, list) else result
    signer = _signer_subject(content)
    if not signer:
        return _result(False, "LISN_SIG_UNTRUSTED_CHAIN", detail="no signer certificate", xades=is_xades)
    return _result(True, "LISN_SIG_VALID", signer=signer, xades=is_xades, signer_name=signer,
                   signed_content=content.signed_data)


def _signer_subject(result: Any) -> str | None:
    key = result.signature_key  # PEM SubjectPublicKeyInfo of the key that verified
    for el in result.signature_xml.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
        cert = x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
        if cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) == key:
            return cert.subject.rfc4514_string()
    return None


def _certificate_failure(detail: str, is_xades: bool) -> Verification:
    if "has expired" in detail:
        return _result(False, "LISN_SIG_CERT_EXPIRED", detail=detail, xades=is_xades)
    if "not yet valid" in detail:
        return _result(False, "LISN_SIG_CERT_NOT_YET_VALID", detail=detail, xades=is_xades)
    return _result(False, "LISN_SIG_UNTRUSTED_CHAIN", detail=detail, xades=is_xades)
