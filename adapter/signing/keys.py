"""Key material: loading PEM and PKCS#12 files, and a development CA for tests and demos.

This is the one module of the signing stage that touches files (key material only); everything
else takes key and certificate objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from adapter import errors, messages
from adapter.settings import SigningSettings

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
TEST_CA_NAME = "LISN TEST CA — NOT FOR PRODUCTION"
TEST_SIGNER_NAME = "LISN TEST SIGNING KEY — NOT FOR PRODUCTION"
KEY_ALGORITHMS = ("rsa", "ecdsa")


@dataclass(frozen=True)
class DevKeyPaths:
    """The files ``init_dev_keys`` writes."""

    ca: Path
    key: Path
    cert: Path


def _key_error(path: Path | str, detail: str) -> errors.SigningError:
    mid = "LISN_SIG_KEY_UNREADABLE"
    return errors.SigningError(messages.bilingual(mid, path=str(path), detail=detail), message_id=mid)


def _is_pem(raw: bytes) -> bool:
    return raw.lstrip().startswith(b"-----BEGIN")


def _passphrase(passphrase: str | bytes | None) -> bytes | None:
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase


def load_key(path: str | Path, passphrase: str | bytes | None = None) -> PrivateKey:
    """The private key of a PEM file (PKCS#8 or traditional, optionally encrypted) or a PKCS#12 file."""
    raw = Path(path).read_bytes()
    try:
        if _is_pem(raw):
            key: PrivateKeyTypes | None = serialization.load_pem_private_key(raw, password=_passphrase(passphrase))
        else:
            key, _, _ = pkcs12.load_key_and_certificates(raw, _passphrase(passphrase))
    except (ValueError, TypeError) as exc:
        raise _key_error(path, str(exc).split("\n")[0]) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise _key_error(path, "only RSA and EC (P-256) keys are supported")
    return key


def load_certificates(path: str | Path, passphrase: str | bytes | None = None) -> list[x509.Certificate]:
    """Certificates of a PEM file (in file order) or of a PKCS#12 file (signer first, then its chain)."""
    raw = Path(path).read_bytes()
    try:
        if _is_pem(raw):
            return x509.load_pem_x509_certificates(raw)
        _, cert, extra = pkcs12.load_key_and_certificates(raw, _passphrase(passphrase))
        return ([cert] if cert else []) + list(extra)
    except (ValueError, TypeError) as exc:
        raise _key_error(path, str(exc).split("\n")[0]) from None


def new_key(algorithm: str) -> PrivateKey:
    """A fresh RSA-3072 or ECDSA P-256 key."""
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key algorithm {algorithm!r}; use one of {KEY_ALGORITHMS}")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LISN test keys"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(key: PrivateKey, *, name: str = TEST_CA_NAME, not_before: datetime | None = None,
            days: int = 3650) -> x509.Certificate:
    """A self-signed CA certificate with the extensions a path validator expects (RFC 5280)."""
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))


def make_signing_cert(key: PrivateKey, ca_key: PrivateKey, ca_cert: x509.Certificate, *,
                      name: str = TEST_SIGNER_NAME, not_before: datetime | None = None,
                      days: int = 825) -> x509.Certificate:
    """An end-entity certificate for document signing (digitalSignature, nonRepudiation)."""
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKey, passphrase: str | bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(_passphrase(passphrase) or b"") if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def init_dev_keys(directory: str | Path, *, algorithm: str = "rsa") -> DevKeyPaths:
    """Write a development CA and a signing certificate: ``ca.pem``, ``signing-key.pem``, ``signing-cert.pem``.

    ``signing-cert.pem`` holds the signer certificate followed by the CA (the chain for KeyInfo).
    The subjects say "NOT FOR PRODUCTION"; the key file is written unencrypted with mode 0600.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, key = new_key(algorithm), new_key(algorithm)
    ca_cert = make_ca(ca_key)
    cert = make_signing_cert(key, ca_key, ca_cert)
    paths = DevKeyPaths(ca=folder / "ca.pem", key=folder / "signing-key.pem", cert=folder / "signing-cert.pem")
    paths.ca.write_bytes(pem(ca_cert))
    paths.cert.write_bytes(pem(cert, ca_cert))
    fd = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem(key))
    return paths


@dataclass(frozen=True)
class Signer:
    """Everything :func:`~adapter.signing.sign_document` needs, loaded from ``SigningSettings``."""

    key: PrivateKey
    cert_chain: list[x509.Certificate]
    algorithm: str
    xades: bool


def load_signer(settings: SigningSettings) -> Signer:
    """The key and chain named by the settings (PEM, or PKCS#12 holding both), with their algorithm."""
    if settings.key_path is None:
        raise _key_error("-", "no signing key configured (ADAPTER_SIGNING_KEY_PATH)")
    key = load_key(settings.key_path, settings.key_passphrase)
    chain = load_certificates(settings.cert_path or settings.key_path, settings.key_passphrase)
    algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    return Signer(key=key, cert_chain=chain, algorithm=algorithm, xades=settings.xades)


def load_trust(settings: SigningSettings) -> list[x509.Certificate]:
    """The trust anchors named by the settings (never the public web PKI)."""
    return [cert for path in settings.trust_paths for cert in load_certificates(path)]
