"""The HTTPS push transport and the receipt format, against the reference receiver in a thread.

TLS and mTLS are real: a CA, a server certificate for 127.0.0.1 and a client certificate are
made here. Signature checks are replaced by a stand-in in this receiver (the body is taken as
the signed content): the receiver's own tests and the acceptance tests cover them.
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapter.delivery import Envelope, Outcome, idempotency_key
from adapter.delivery.http import HttpTransport
from adapter.delivery.receipt import build_receipt, read_receipt
from adapter.signing import Verification

RECEIVER = Path(__file__).resolve().parents[3] / "examples" / "receiver" / "receiver.py"
KEY = idempotency_key("c1", "0180", care_unit="SE2321000016-15CQ")


def load_receiver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lisn_reference_receiver", RECEIVER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver_mod = load_receiver()


def _cert(subject: str, key: Any, issuer: tuple[x509.Name, Any] | None, *, ca: bool = False,
          ip: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer[0] if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(ip))]),
                                        critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
    c, k = folder / f"{name}.pem", folder / f"{name}-key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", ca_key, None, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, (ca.subject, ca_key), ip="127.0.0.1")
    client = _cert("lisn-adapter", client_key, (ca.subject, ca_key))
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    server_cert, server_key_path = _write(folder, "server", server, server_key)
    client_cert, client_key_path = _write(folder, "client", client, client_key)
    return {"ca": ca_path, "server_cert": server_cert, "server_key": server_key_path,
            "client_cert": client_cert, "client_key": client_key_path}


def stand_in_verifier(verify_ok: bool) -> Any:
    def verify(xml: bytes) -> Verification:
        if not verify_ok:
            return Verification(ok=False, code="LISN_SIG_X", text_sv="kontrollerad", text_en="checked")
        return Verification(ok=True, code="LISN_SIG_VALID", text_sv="", text_en="", signer="CN=test",
                            signed_content=xml)
    return verify


def _serve(tmp_path: Path, *, verify_ok: bool = True, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    inbox = receiver_mod.Inbox(tmp_path / "r.db", stand_in_verifier(verify_ok))
    server = receiver_mod.ThreadingHTTPServer(("127.0.0.1", 0), receiver_mod.handler_for(inbox))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/inbox"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def plain(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path)


@pytest.fixture()
def mtls(tmp_path: Path, pki: dict[str, Path]) -> Iterator[str]:
    yield from _serve(tmp_path, tls=receiver_mod.tls_context(pki["server_cert"], pki["server_key"], pki["ca"]))


STATUS = {"certificate": "original", "withdrawal": "withdrawn"}


def envelope(url: str, *, kind: str = "certificate", key: str = KEY, **tls: Any) -> Envelope:
    document = (f'<intyg xmlns="https://lisn.se/xml/intyg/1"><huvud><intygsId>c1</intygsId>'
                f"<status>{STATUS[kind]}</status></huvud><utfardare><vardenhet><hsaId>SE2321000016-15CQ</hsaId>"
                "</vardenhet></utfardare></intyg>").encode()
    return Envelope(endpoint=url, document=document, idempotency_key=key, certificate_id="c1", kind=kind,
                    attempt=1, **tls)


def transport(read_timeout: float = 2.0) -> HttpTransport:
    return HttpTransport(connect_timeout=1.0, read_timeout=read_timeout)


def test_accepted_then_duplicate_is_still_accepted(plain: str) -> None:
    t = transport()
    first, second = t.send(envelope(plain)), t.send(envelope(plain))
    assert (first.outcome, first.status) == (Outcome.ACCEPTED, 201)
    assert (second.outcome, second.status) == (Outcome.ACCEPTED, 200)
    assert '"duplicate": true' in second.body


def test_withdrawal_before_its_certificate_is_accepted_and_kept(plain: str) -> None:
    t = transport()
    withdrawal = envelope(plain, kind="withdrawal", key=idempotency_key("c1", "0180", "withdrawal", care_unit="SE2321000016-15CQ"))
    early = t.send(withdrawal)
    assert (early.outcome, early.status) == (Outcome.ACCEPTED, 201)
    assert t.send(envelope(plain)).status == 201
    again = t.send(withdrawal)
    assert (again.outcome, again.status) == (Outcome.ACCEPTED, 200)


def test_bad_signature_is_rejected_with_the_reason(tmp_path: Path) -> None:
    for url in _serve(tmp_path, verify_ok=False):
        receipt = transport().send(envelope(url))
        assert (receipt.outcome, receipt.status, receipt.reason) == (Outcome.REJECTED, 422, "LISN_SIG_X: checked")


def test_mtls_with_client_certificate_is_accepted(mtls: str, pki: dict[str, Path]) -> None:
    receipt = transport().send(envelope(mtls, client_cert=str(pki["client_cert"]),
                                        client_key=str(pki["client_key"]), ca_bundle=str(pki["ca"])))
    assert (receipt.outcome, receipt.status) == (Outcome.ACCEPTED, 201)


def test_mtls_without_client_certificate_is_retried(mtls: str, pki: dict[str, Path]) -> None:
    receipt = transport().send(envelope(mtls, ca_bundle=str(pki["ca"])))
    assert receipt.outcome is Outcome.RETRY and receipt.status is None
    assert receipt.reason.startswith("transport error: ")


def test_untrusted_server_certificate_is_retried_not_sent(mtls: str, pki: dict[str, Path]) -> None:
    receipt = transport().send(envelope(mtls, client_cert=str(pki["client_cert"]),
                                        client_key=str(pki["client_key"])))  # system CAs only
    assert (receipt.outcome, receipt.reason) == (Outcome.RETRY, "transport error: SSLError")


def test_read_timeout_is_retried() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        receipt = transport(read_timeout=0.3).send(envelope(f"http://127.0.0.1:{silent.getsockname()[1]}/inbox"))
    assert (receipt.outcome, receipt.reason) == (Outcome.RETRY, "transport error: ReadTimeout")


def test_connection_refused_is_retried() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    receipt = transport().send(envelope(f"http://127.0.0.1:{port}/inbox"))
    assert (receipt.outcome, receipt.reason) == (Outcome.RETRY, "transport error: ConnectionError")


ACCEPTED = build_receipt(KEY, "accepted")
REJECTED = build_receipt(KEY, "rejected", reason="schema")


@pytest.mark.parametrize(("status", "body", "outcome", "reason"), [
    (201, ACCEPTED, Outcome.ACCEPTED, ""),
    (200, ACCEPTED, Outcome.ACCEPTED, ""),
    (202, ACCEPTED, Outcome.RETRY, "HTTP 202, receipt status accepted"),
    (200, build_receipt("another-key", "accepted"), Outcome.RETRY, "HTTP 200 with a receipt for another key"),
    (200, None, Outcome.RETRY, "HTTP 200 without a readable receipt"),
    (422, REJECTED, Outcome.REJECTED, "schema"),
    (400, REJECTED, Outcome.REJECTED, "schema"),
    (429, REJECTED, Outcome.RETRY, "HTTP 429, receipt status rejected"),
    (409, build_receipt(KEY, "retry"), Outcome.RETRY, "HTTP 409, receipt status retry"),
    (503, None, Outcome.RETRY, "HTTP 503 without a readable receipt"),
    (302, None, Outcome.RETRY, "HTTP 302 without a readable receipt"),
    (404, None, Outcome.RETRY, "HTTP 404 without a readable receipt"),
])
def test_reading_a_receipt(status: int, body: dict[str, Any] | None, outcome: Outcome, reason: str) -> None:
    import json

    raw = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    receipt = read_receipt(status, raw, key=KEY)
    assert (receipt.outcome, receipt.reason) == (outcome, reason)
