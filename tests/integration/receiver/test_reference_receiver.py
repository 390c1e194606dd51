"""The reference municipal receiver (examples/receiver, issue 12 item 9): real signatures, real SQLite,
real HTTP on 127.0.0.1 for the read side.

It stores only verified content, read from the signed content; it answers a replayed key with the
first receipt and refuses a key reused for other content; a withdrawal cannot be undone by any
replay, and one that arrives before its certificate is kept and applied; reads need the token.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from adapter.outbound import render_municipal_xml
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document, verify_document

ROOT = Path(__file__).resolve().parents[3]
RECEIVER = ROOT / "examples" / "receiver" / "receiver.py"
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
CASES = yaml.safe_load((ROOT / "tests" / "unit" / "signing" / "unsigned_content_cases.yaml").read_text("utf-8"))
EXAMPLE_ID = "3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d"
ORIGINAL, REPLACEMENT = "0a0b0c0d-0000-4000-8000-00000000000a", "0a0b0c0d-0000-4000-8000-00000000000b"
STATUS = {"certificate": "original", "replacement": "replacing", "withdrawal": "withdrawn"}
TOKEN = "reference-receiver-test-token-0123456789"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lisn_reference_receiver", RECEIVER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rx = _load()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return init_dev_keys(tmp_path_factory.mktemp("keys"), algorithm="ecdsa")


@lru_cache(maxsize=8)
def _xml(kind: str, replaces: str | None) -> bytes:
    return render_municipal_xml(json.loads(EXAMPLE.read_text("utf-8")), status=STATUS[kind], replaces=replaces)


def signed(keys: Any, cert: str = ORIGINAL, kind: str = "certificate", replaces: str | None = None,
           *, edit: tuple[bytes, bytes] | None = None) -> bytes:
    """A real certificate (the example, renumbered), signed with ECDSA: each call signs anew (other bytes)."""
    xml = _xml(kind, replaces).replace(EXAMPLE_ID.encode(), cert.encode())
    if edit:
        xml = xml.replace(*edit)
    return sign_document(xml, key=load_key(keys.key), cert_chain=load_certificates(keys.cert),
                         algorithm="ecdsa-sha256")


@pytest.fixture()
def inbox(tmp_path: Path, keys: Any) -> Any:
    return rx.Inbox(tmp_path / "receiver.db", rx.adapter_verifier([keys.ca]))


def post(inbox: Any, xml: bytes, key: str, **headers: str) -> tuple[int, dict[str, Any]]:
    return inbox.receive(key, headers, xml)  # type: ignore[no-any-return]


def stored_keys(inbox: Any) -> list[str]:
    return [d["idempotencyKey"] for d in inbox.summary()["documents"]]


# -- only verified content, read from the signed content ----------------------------------------

def test_stores_the_document_and_exactly_its_signed_content(inbox: Any, keys: Any) -> None:
    xml = signed(keys)
    status, receipt = post(inbox, xml, "key-original-1", **{"X-LISN-Certificate-Id": f"urn:uuid:{ORIGINAL}",
                                                            "X-LISN-Kind": "certificate"})
    assert (status, receipt["status"], receipt["idempotencyKey"]) == (201, "accepted", "key-original-1")
    assert inbox.document("key-original-1") == xml
    assert inbox.document("key-original-1", content=True) == verify_document(xml, trust=[keys.ca.read_bytes()]).signed_content
    assert inbox.certificate(ORIGINAL) == {"certificateId": ORIGINAL, "issuer": "SE2321000016-15CQ", "state": "active",
                                           "received": True, "replacedBy": []}


@pytest.mark.parametrize("case", [c for c in CASES if c.get("only") != "xades"], ids=lambda c: c["id"])
def test_what_the_signature_does_not_cover_is_never_stored(inbox: Any, keys: Any, case: dict[str, Any]) -> None:
    """The reviewers' repros: before, each was stored as verified (201)."""
    xml = signed(keys, kind="withdrawal" if case.get("status") == "withdrawn" else "certificate")
    edited = xml.replace(case["edit"]["old"].encode(), case["edit"]["new"].encode(), 1)
    assert edited != xml
    status, receipt = post(inbox, edited, "key-tampered")
    assert (status, receipt["status"]) == (422, "rejected") and receipt["reason"].startswith(case["code"])
    assert stored_keys(inbox) == []


def test_headers_that_disagree_with_the_signed_content_are_refused(inbox: Any, keys: Any) -> None:
    xml = signed(keys)
    for headers in ({"X-LISN-Certificate-Id": REPLACEMENT}, {"X-LISN-Kind": "withdrawal"}):
        status, receipt = post(inbox, xml, "key-headers", **headers)
        assert status == 422 and "signed" in receipt["reason"]
    assert stored_keys(inbox) == []


def test_a_receiver_for_one_kommun_refuses_another_kommuns_certificate(tmp_path: Path, keys: Any) -> None:
    inbox = rx.Inbox(tmp_path / "gbg.db", rx.adapter_verifier([keys.ca]), kommunkod="1480")
    status, receipt = post(inbox, signed(keys), "key-elsewhere")  # addressed to 0180
    assert status == 422 and "0180" in receipt["reason"] and stored_keys(inbox) == []


# -- idempotency --------------------------------------------------------------------------------

def test_the_same_key_again_answers_the_first_receipt(inbox: Any, keys: Any) -> None:
    xml = signed(keys)
    first = post(inbox, xml, "key-replayed")[1]
    for again in (xml, signed(keys)):  # the same bytes, and the same content signed anew
        status, receipt = post(inbox, again, "key-replayed")
        assert status == 200 and receipt == {**first, "duplicate": True}
    assert stored_keys(inbox) == ["key-replayed"] and inbox.document("key-replayed") == xml


def test_the_same_key_with_other_content_is_refused(inbox: Any, keys: Any) -> None:
    xml = signed(keys)
    post(inbox, xml, "key-reused")
    other = signed(keys, edit=(b"<kvarvarandeArbetsformagaProcent>25<", b"<kvarvarandeArbetsformagaProcent>50<"))
    status, receipt = post(inbox, other, "key-reused")
    assert (status, receipt["status"]) == (422, "rejected") and "other content" in receipt["reason"]
    assert inbox.document("key-reused") == xml


def test_the_same_certificate_under_another_key(inbox: Any, keys: Any) -> None:
    """Same content: a duplicate (for this key); other content under the same id: refused."""
    first = post(inbox, signed(keys), "key-first")[1]
    status, receipt = post(inbox, signed(keys), "key-second")
    assert status == 200 and receipt == {**first, "idempotencyKey": "key-second", "duplicate": True}
    other = signed(keys, edit=(b"<timmarPerVecka>10<", b"<timmarPerVecka>20<"))
    assert post(inbox, other, "key-third")[0] == 422
    assert stored_keys(inbox) == ["key-first"]


# -- withdrawals and replacements ----------------------------------------------------------------

def test_a_withdrawal_cannot_be_undone_by_replaying_the_certificate(inbox: Any, keys: Any) -> None:
    original = signed(keys)
    assert post(inbox, original, "key-cert")[0] == 201
    assert post(inbox, signed(keys, kind="withdrawal"), "key-withdrawal")[0] == 201
    assert inbox.certificate(ORIGINAL)["state"] == "withdrawn"
    for key in ("key-cert", "key-cert-replayed-under-a-new-key"):
        assert post(inbox, original, key)[0] == 200
    assert inbox.certificate(ORIGINAL)["state"] == "withdrawn"
    assert sorted(stored_keys(inbox)) == ["key-cert", "key-withdrawal"]


def test_a_withdrawal_before_its_certificate_is_kept_and_applied(inbox: Any, keys: Any) -> None:
    assert post(inbox, signed(keys, kind="withdrawal"), "key-withdrawal")[0] == 201
    assert inbox.certificate(ORIGINAL) == {"certificateId": ORIGINAL, "issuer": "SE2321000016-15CQ",
                                           "state": "withdrawn", "received": False, "replacedBy": []}
    assert post(inbox, signed(keys), "key-cert")[0] == 201
    assert inbox.certificate(ORIGINAL)["state"] == "withdrawn" and inbox.certificate(ORIGINAL)["received"]


@pytest.mark.parametrize("order", ["original-first", "replacement-first"])
def test_a_replacement_marks_the_original_replaced_in_either_order(inbox: Any, keys: Any, order: str) -> None:
    messages = [(signed(keys), "key-original"),
                (signed(keys, REPLACEMENT, "replacement", replaces=ORIGINAL), "key-replacement")]
    for xml, key in messages if order == "original-first" else reversed(messages):
        assert post(inbox, xml, key)[0] == 201
    assert inbox.certificate(ORIGINAL)["state"] == "replaced"
    assert inbox.certificate(ORIGINAL)["replacedBy"] == [REPLACEMENT]
    assert inbox.certificate(REPLACEMENT)["state"] == "active"
    summary = inbox.summary()
    assert {c["certificateId"]: c["state"] for c in summary["certificates"]} == {ORIGINAL: "replaced",
                                                                                  REPLACEMENT: "active"}


# -- reads need the token -----------------------------------------------------------------------

@pytest.fixture()
def server(inbox: Any, keys: Any) -> Iterator[str]:
    assert post(inbox, signed(keys), "key-served")[0] == 201
    httpd = rx.ThreadingHTTPServer(("127.0.0.1", 0), rx.handler_for(inbox, rx.ReadAccess(TOKEN)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@pytest.mark.parametrize("path", ["/received", "/documents/key-served", "/documents/key-served/content",
                                  f"/certificates/{ORIGINAL}"])
def test_reads_need_the_token(server: str, path: str) -> None:
    for token in (None, "wrong-" + TOKEN, TOKEN[:-1]):
        status, body, headers = get(server + path, token)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer" and b"Tolvan" not in body
    status, body, headers = get(server + path, TOKEN)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert get(server + "/health") == (200, b'{"status": "ok"}', get(server + "/health")[2])


def test_without_a_token_reads_are_switched_off(inbox: Any, keys: Any) -> None:
    httpd = rx.ThreadingHTTPServer(("127.0.0.1", 0), rx.handler_for(inbox))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert get(f"http://127.0.0.1:{httpd.server_address[1]}/received", TOKEN)[0] == 403
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_start_up_refuses_a_weak_token_and_an_old_database(tmp_path: Path, keys: Any,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    weak = tmp_path / "weak"
    weak.write_text("short")
    args = ["--db", str(tmp_path / "r.db"), "--trust", str(keys.ca), "--port", "0"]
    assert rx.main([*args, "--read-token-file", str(weak)]) == 2
    assert "at least 32 characters" in capsys.readouterr().err
    assert rx.main([*args, "--read-token-file", str(tmp_path / "missing")]) == 2
    import sqlite3

    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("CREATE TABLE documents (idempotency_key TEXT PRIMARY KEY)")
    assert rx.main(["--db", str(tmp_path / "old.db"), "--trust", str(keys.ca), "--port", "0"]) == 2
    assert "another version" in capsys.readouterr().err


@pytest.mark.parametrize(("headers", "status"), [
    ({"Content-Length": "x12"}, 400), ({"Content-Length": str(rx.MAX_BODY + 1)}, 413), ({}, 400)])
def test_a_bad_request_line_is_refused_with_a_receipt_the_relay_reads(server: str, headers: dict[str, str],
                                                                        status: int) -> None:
    """Final for the sender (the receipt names its key): never a traceback, never a retry loop."""
    import http.client

    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.putrequest("POST", "/inbox", skip_accept_encoding=True)
    for name, value in {"Idempotency-Key": "key-bad-request", **headers}.items():
        conn.putheader(name, value)
    conn.endheaders()
    answer = conn.getresponse()
    body = json.loads(answer.read())
    conn.close()
    assert (answer.status, body["status"], body["idempotencyKey"]) == (status, "rejected", "key-bad-request")


# -- the consent-withdrawn notice (issue 12 item 6) -------------------------------------------------

def signed_notice(keys: Any, cert: str = ORIGINAL, kommunkod: str = "0180", care_unit: str = "SE2321000016-15CQ"
                  ) -> bytes:
    from datetime import UTC, datetime

    from adapter.outbound.notice import render_consent_withdrawn

    xml = render_consent_withdrawn(cert, kommunkod, datetime(2026, 12, 3, 15, 0, tzinfo=UTC), care_unit=care_unit)
    return sign_document(xml, key=load_key(keys.key), cert_chain=load_certificates(keys.cert),
                         algorithm="ecdsa-sha256")


def test_a_consent_withdrawn_notice_marks_the_certificate_in_either_order(inbox: Any, keys: Any) -> None:
    assert post(inbox, signed(keys), "key-cert")[0] == 201
    assert inbox.certificate(ORIGINAL)["state"] == "active"  # the passing case: no notice, usable
    assert post(inbox, signed_notice(keys), "key-notice", **{"X-LISN-Kind": "consent-revoked"})[0] == 201
    found = inbox.certificate(ORIGINAL)
    assert found["state"] == "consent-withdrawn" and found["consentWithdrawnAt"] == "2026-12-03T15:00:00Z"
    again = post(inbox, signed_notice(keys), "key-notice")  # re-signed, same content: the first receipt
    assert again[0] == 200 and again[1]["duplicate"] is True
    assert post(inbox, signed(keys), "key-cert")[0] == 200  # a replayed certificate does not undo it
    assert inbox.certificate(ORIGINAL)["state"] == "consent-withdrawn"
    # Before its certificate: kept, and applies when the certificate arrives.
    assert post(inbox, signed_notice(keys, REPLACEMENT), "key-notice-2")[0] == 201
    assert inbox.certificate(REPLACEMENT)["state"] == "consent-withdrawn"
    assert not inbox.certificate(REPLACEMENT)["received"]


def test_a_notice_for_another_kommun_or_with_a_bad_signature_is_refused(tmp_path: Path, keys: Any) -> None:
    inbox = rx.Inbox(tmp_path / "r.db", rx.adapter_verifier([keys.ca]), kommunkod="0180")
    code, body = post(inbox, signed_notice(keys, kommunkod="1480"), "key-other-kommun")
    assert code == 422 and "1480" in body["reason"]
    tampered = signed_notice(keys).replace(ORIGINAL.encode(), REPLACEMENT.encode())
    assert post(inbox, tampered, "key-tampered")[0] == 422
    assert post(inbox, signed_notice(keys), "key-kind", **{"X-LISN-Kind": "certificate"})[0] == 422
    assert inbox.certificate(ORIGINAL)["state"] == "unknown" and inbox.certificate(REPLACEMENT)["state"] == "unknown"
