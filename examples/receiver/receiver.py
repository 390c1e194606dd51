"""The reference municipal receiver: what a socialnämnd runs to take pushed certificates.

``POST /inbox`` takes the signed municipal XML with an ``Idempotency-Key`` header. The receiver

1. verifies the signature against **its own** trust anchors with the adapter's verifier
   (``adapter.signing.verify_document``: no comment, processing instruction or other content
   the signature does not cover is accepted);
2. reads the certificate from the **signed content only** (``adapter.outbound.read_verified``):
   certificate id, status and the certificate it replaces come from there, never from headers
   (headers that disagree with the signed content are refused);
3. applies idempotency: the same key with the same signed content answers the first receipt
   again; the same key with other content is refused; the same certificate and kind under
   another key with the same content is a duplicate, with other content refused. A certificate
   is known by its issuing care unit (``utfardare/vardenhet/hsaId``) and its id together: two
   care units' certificates under one id are two certificates, and neither disturbs the other;
4. stores what was verified, append-only: the document as received (evidence, verifiable again)
   and its signed content (what a case system imports). A certificate's state is computed from
   everything stored, so no replayed message can undo a withdrawal or a replacement, and a
   withdrawal or replacement that arrives before its certificate is kept and applies on arrival;
5. takes a consent-withdrawn notice (root ``samtyckeAterkallat``: the patient's consent to a
   certificate we may hold was revoked) like any document, and marks the certificate
   ``consent-withdrawn``: not to be used. Idempotent, and kept when it comes before its certificate.

Answers are the receipt of ``adapter.delivery.receipt``: 201 ``accepted``; 200 ``accepted`` with
``"duplicate": true``; 400/413/422 ``rejected`` (final for the sender); 503 ``retry``.

Reads (``GET /received``, ``/documents/<key>``, ``/documents/<key>/content``,
``/certificates/<id>[?vardenhet=<hsa-id>]``) need ``Authorization: Bearer <token>`` with the token of
``--read-token-file``; without that option reads are switched off. ``GET /health`` is open.
Standard library only, plus the adapter package (``lisn-adapter``, installed from this repository) for verification
and reading.
See docs/receiver.md and README.md beside this file.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from adapter.errors import AdapterError
from adapter.outbound import read_municipal_xml, read_verified
from adapter.outbound.notice import is_notice_content, read_consent_withdrawn, stored_notice
from adapter.signing import verify_document

MAX_BODY = 5 * 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
MIN_TOKEN = 32
SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
  idempotency_key TEXT PRIMARY KEY, certificate_id TEXT NOT NULL, kind TEXT NOT NULL, received_at TEXT NOT NULL,
  signer TEXT, xml BLOB NOT NULL, content BLOB NOT NULL, content_sha256 TEXT NOT NULL, replaces TEXT,
  receipt TEXT NOT NULL, issuer TEXT NOT NULL, UNIQUE (issuer, certificate_id, kind));
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT, at TEXT, answer TEXT);
"""
KIND_BY_STATUS = {"original": "certificate", "replacing": "replacement", "withdrawn": "withdrawal"}
NOTICE_KIND = "consent-revoked"
"""The kind of a consent-withdrawn notice (``X-LISN-Kind``, and how it is stored)."""

Verifier = Callable[[bytes], Any]
"""Bytes received -> an ``adapter.signing.Verification`` (``ok``, ``code``, ``signer``, ``signed_content``)."""


def adapter_verifier(trust: list[Path]) -> Verifier:
    """The adapter's verifier over our own trust anchors (never the web PKI)."""
    return partial(verify_document, trust=[p.read_bytes() for p in trust])


class Certificate(NamedTuple):
    """What the signed content says about itself."""

    id: str
    kind: str
    replaces: str | None
    kommunkod: str | None
    content: bytes
    issuer: str
    """The issuing care unit's HSA-id: with ``id``, what identifies the certificate."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class Refused(Exception):
    """A request answered 422 ``rejected``: final for the sender."""


def read_certificate(verification: Any) -> Certificate:
    """The certificate from a valid verification's signed content, and from nothing else."""
    if verification.ok and is_notice_content(verification.signed_content):
        try:
            notice = read_consent_withdrawn(verification)  # checked against the schema
        except AdapterError as exc:
            raise Refused(f"{exc.message_id}: the consent-withdrawn notice is not valid") from None
        return Certificate(notice.certificate_id, NOTICE_KIND, None, notice.kommunkod, verification.signed_content,
                           notice.care_unit)
    try:
        doc = read_verified(verification)  # refuses a failed verification
    except AdapterError as exc:
        raise Refused(f"{exc.message_id}: {verification.text_en}") from None
    cert_id, status = doc.text("huvud/intygsId") or "", doc.text("huvud/status") or ""
    issuer = doc.text("utfardare/vardenhet/hsaId") or ""
    if not cert_id or not issuer or status not in KIND_BY_STATUS:
        raise Refused("the signed content names no certificate id, no issuing care unit or no known status")
    return Certificate(cert_id, KIND_BY_STATUS[status], doc.text("huvud/ersatterIntygsId"),
                       doc.text("mottagare/kommunkod"), verification.signed_content, issuer)


class Inbox:
    """The receiver's storage and decisions, independent of HTTP."""

    def __init__(self, db: Path, verify: Verifier, *, kommunkod: str | None = None, fail_every: int = 0,
                 delay: float = 0.0) -> None:
        self.db, self.verify, self.kommunkod = db, verify, kommunkod
        self.fail_every, self.delay = fail_every, delay
        self.lock = threading.Lock()
        self.count = 0
        with self._conn() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                raise SystemExit(f"receiver: {db} was written by another version of this receiver "
                                 f"(schema {version}, expected {SCHEMA_VERSION}); use a new file")
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an accepted certificate survives a power cut
            yield conn
        finally:
            conn.close()

    def chaos(self) -> str | None:
        """Test-only failure injection: every Nth request fails, alternately before and after storing."""
        if not self.fail_every:
            return None
        with self.lock:
            self.count += 1
            n = self.count
        if n % self.fail_every:
            return None
        return "before" if (n // self.fail_every) % 2 else "after"

    def receive(self, key: str, headers: dict[str, str], xml: bytes) -> tuple[int, dict[str, Any]]:
        """Verify (outside the lock: it is the slow part), then decide and store in one transaction."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            verification = self.verify(xml)
            cert = read_certificate(verification)
            self._check_headers(cert, headers)
        except Refused as exc:
            return self._answer(key, now, 422, _receipt(key, "rejected", now, reason=str(exc)))
        with self.lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    status, body = self._decide(conn, key, cert, verification.signer or "", xml, now)
                except Refused as exc:
                    status, body = 422, _receipt(key, "rejected", now, reason=str(exc))
                conn.execute("INSERT INTO requests (idempotency_key, at, answer) VALUES (?, ?, ?)",
                             (key, now, f"{status} {body['status']}"))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return status, body

    def _answer(self, key: str, now: str, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._conn() as conn:
            conn.execute("INSERT INTO requests (idempotency_key, at, answer) VALUES (?, ?, ?)",
                         (key, now, f"{status} {body['status']}"))
        return status, body

    def _check_headers(self, cert: Certificate, headers: dict[str, str]) -> None:
        """Headers are hints for routing; where they disagree with the signed content, refuse."""
        said_id = headers.get("X-LISN-Certificate-Id", "").removeprefix("urn:uuid:")
        said_kind = headers.get("X-LISN-Kind", "")
        if said_id and said_id != cert.id:
            raise Refused(f"X-LISN-Certificate-Id {said_id} is not the signed certificate id {cert.id}")
        if said_kind and said_kind != cert.kind:
            raise Refused(f"X-LISN-Kind {said_kind} is not the signed kind {cert.kind}")
        if self.kommunkod and cert.kommunkod != self.kommunkod:
            raise Refused(f"the certificate is addressed to kommun {cert.kommunkod}, not {self.kommunkod}")

    def _decide(self, conn: sqlite3.Connection, key: str, cert: Certificate, signer: str, xml: bytes,
                now: str) -> tuple[int, dict[str, Any]]:
        same_key = conn.execute("SELECT content_sha256, receipt FROM documents WHERE idempotency_key = ?",
                                (key,)).fetchone()
        if same_key:
            if same_key[0] != cert.sha256:
                raise Refused("this Idempotency-Key was used before for other content")
            return 200, {**json.loads(same_key[1]), "duplicate": True}  # the first receipt, again
        same_cert = conn.execute("SELECT content_sha256, received_at FROM documents "
                                 "WHERE issuer = ? AND certificate_id = ? AND kind = ?",
                                 (cert.issuer, cert.id, cert.kind)).fetchone()
        if same_cert:
            if same_cert[0] != cert.sha256:
                raise Refused(f"a {cert.kind} of certificate {cert.id} was received before with other content")
            return 200, _receipt(key, "accepted", same_cert[1], duplicate=True)
        receipt = _receipt(key, "accepted", now)
        conn.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (key, cert.id, cert.kind, now, signer, xml, cert.content, cert.sha256, cert.replaces,
                      json.dumps(receipt), cert.issuer))
        return 201, receipt

    # -- reads -------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        with self._conn() as conn:
            docs = [dict(zip(("idempotencyKey", "certificateId", "kind", "receivedAt", "signer", "replaces",
                              "issuer"), r))
                    for r in conn.execute("SELECT idempotency_key, certificate_id, kind, received_at, signer, "
                                          "replaces, issuer FROM documents ORDER BY received_at, rowid")]
            requests = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        ids = sorted({(d["issuer"], d["certificateId"]) for d in docs}
                     | {(d["issuer"], d["replaces"]) for d in docs if d["replaces"]})
        return {"documents": docs, "certificates": [self.certificate(i, issuer=u) for u, i in ids],
                "requests": requests}

    def certificate(self, cert_id: str, *, issuer: str | None = None) -> dict[str, Any]:
        """A certificate's state, from everything stored: withdrawn > consent-withdrawn > replaced > active.
        ``consent-withdrawn``: the patient revoked the consent after it may have reached us; not to be used.

        A certificate is ``issuer``'s (HSA-id) certificate ``cert_id``. Without ``issuer``: the one care
        unit that holds ``cert_id``; when several do, the state is ``ambiguous`` with their HSA-ids."""
        with self._conn() as conn:
            if issuer is None:
                issuers = sorted({u for (u,) in conn.execute(
                    "SELECT issuer FROM documents WHERE certificate_id = ? OR (replaces = ? AND kind = 'replacement')",
                    (cert_id, cert_id))})
                if len(issuers) > 1:
                    return {"certificateId": cert_id, "state": "ambiguous", "issuers": issuers}
                issuer = issuers[0] if issuers else ""
            kinds = {k for (k,) in conn.execute("SELECT kind FROM documents WHERE issuer = ? AND certificate_id = ?",
                                                (issuer, cert_id))}
            notice = conn.execute("SELECT content FROM documents WHERE issuer = ? AND certificate_id = ? AND kind = ?",
                                  (issuer, cert_id, NOTICE_KIND)).fetchone()
            replaced_by = [r for (r,) in conn.execute(
                "SELECT certificate_id FROM documents WHERE issuer = ? AND replaces = ? AND kind = 'replacement' "
                "ORDER BY received_at", (issuer, cert_id))]
        received = bool(kinds & {"certificate", "replacement"})
        state = ("withdrawn" if "withdrawal" in kinds else "consent-withdrawn" if notice
                 else "replaced" if replaced_by else "active" if received else "unknown")
        found: dict[str, Any] = {"certificateId": cert_id, "issuer": issuer or None, "state": state,
                                 "received": received, "replacedBy": replaced_by}
        if notice:
            found["consentWithdrawnAt"] = stored_notice(bytes(notice[0])).revoked_at
        return found

    def document(self, key: str, *, content: bool = False) -> bytes | None:
        column = "content" if content else "xml"
        with self._conn() as conn:
            row = conn.execute(f"SELECT {column} FROM documents WHERE idempotency_key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None


def _content_length(value: str | None) -> int:
    """The declared body length; 0 (refused) when absent or not a plain number (no chunked bodies)."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


def _receipt(key: str, status: str, at: str, *, reason: str = "", duplicate: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"idempotencyKey": key, "status": status}
    if at:
        body["receivedAt"] = at
    if reason:
        body["reason"] = reason
    if duplicate:
        body["duplicate"] = True
    return body


class ReadAccess:
    """Who may read: the holder of the read token (compared in constant time); nobody without one."""

    def __init__(self, token: str | None) -> None:
        if token is not None and len(token) < MIN_TOKEN:
            raise SystemExit(f"receiver: the read token must have at least {MIN_TOKEN} characters")
        self._expected = f"Bearer {token}".encode() if token else None

    def check(self, authorization: str | None) -> tuple[int, str] | None:
        """None when allowed, else (status, reason)."""
        if self._expected is None:
            return 403, "reads are switched off (start the receiver with --read-token-file)"
        if not authorization or not hmac.compare_digest(authorization.encode(), self._expected):
            return 401, "a valid read token is needed (Authorization: Bearer ...)"
        return None


def handler_for(inbox: Inbox, access: ReadAccess | None = None) -> type[BaseHTTPRequestHandler]:
    readers = access or ReadAccess(None)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lisn-reference-receiver/0.2"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # requests carry patient data in their bodies only; we log nothing per request

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if self.path.rstrip("/") != "/inbox":
                return self._json(404, {"status": "rejected", "reason": "no such endpoint"})
            key = self.headers.get("Idempotency-Key", "")
            if not KEY_RE.match(key):
                self.close_connection = True  # the body is not read
                return self._json(400, {"status": "rejected", "reason": "missing Idempotency-Key"})
            length = _content_length(self.headers.get("Content-Length"))
            if length <= 0 or length > MAX_BODY:
                self.close_connection = True
                return self._json(413 if length > MAX_BODY else 400,
                                  _receipt(key, "rejected", "", reason="missing or oversize body"))
            xml = self.rfile.read(length)
            fault = inbox.chaos()
            if inbox.delay:
                time.sleep(inbox.delay)  # tests only: a slow municipality widens the crash window
            if fault == "before":
                return self._json(503, {"status": "retry", "reason": "injected failure"})
            try:
                status, body = inbox.receive(key, dict(self.headers.items()), xml)
            except sqlite3.Error:
                return self._json(503, _receipt(key, "retry", "", reason="storage unavailable"))
            if fault == "after":
                self.close_connection = True  # stored and committed, but the sender never hears so
                return None
            return self._json(status, body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path == "/health":
                return self._json(200, {"status": "ok"})
            refused = readers.check(self.headers.get("Authorization"))
            if refused is not None:
                return self._json(refused[0], {"status": "rejected", "reason": refused[1]},
                                  {"WWW-Authenticate": "Bearer"} if refused[0] == 401 else {})
            if self.path == "/received":
                return self._json(200, inbox.summary())
            match = re.fullmatch(r"/documents/([^/]+)(/content)?", self.path)
            if match:
                xml = inbox.document(match[1], content=bool(match[2]))
                if xml is not None:
                    return self._send(200, "application/xml", xml)
            if self.path.startswith("/certificates/"):
                path, _, query = self.path.removeprefix("/certificates/").partition("?")
                issuer = parse_qs(query).get("vardenhet", [None])[0]
                return self._json(200, inbox.certificate(path, issuer=issuer))
            return self._json(404, {"status": "rejected", "reason": "not found"})

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, "application/json", json.dumps(body).encode(), headers)

        def _send(self, status: int, ctype: str, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")  # patient data: never kept by a cache
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
    return Handler


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """Server TLS; with ``client_ca`` every client must present a certificate it issued (mTLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def warm_up() -> None:
    """Load what the first request would otherwise load (the reading mapping), so that it is not slow."""
    read_municipal_xml(b'<intyg xmlns="https://lisn.se/xml/intyg/1"/>')


def read_token(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path else None


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--db", type=Path, required=True, help="SQLite file for received documents")
    p.add_argument("--trust", type=Path, action="append", required=True,
                   help="PEM CA certificate(s) that the adapter's signing certificate must chain to (repeatable)")
    p.add_argument("--read-token-file", type=Path,
                   help=f"file holding the bearer token for reads (at least {MIN_TOKEN} characters); "
                        "without it reads are switched off")
    p.add_argument("--kommunkod", help="accept only certificates addressed to this kommun")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8443, help="0 picks a free port (printed on stdout)")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--client-ca", type=Path, help="require client certificates issued by this CA (mTLS)")
    p.add_argument("--fail-every", type=int, default=0, help=argparse.SUPPRESS)  # tests only
    p.add_argument("--delay-ms", type=int, default=0, help=argparse.SUPPRESS)  # tests only
    args = p.parse_args(argv)
    files = [*args.trust, args.tls_cert, args.tls_key, args.client_ca, args.read_token_file]
    missing = [str(f) for f in files if f and not f.is_file()]
    if missing:
        print(f"receiver: file not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        access = ReadAccess(read_token(args.read_token_file))
        inbox = Inbox(args.db, adapter_verifier(args.trust), kommunkod=args.kommunkod,
                      fail_every=args.fail_every, delay=args.delay_ms / 1000)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:  # --db in a folder that does not exist or cannot be written
        print(f"receiver: --db {args.db}: {exc}", file=sys.stderr)
        return 2
    warm_up()
    try:
        server = ThreadingHTTPServer((args.host, args.port), handler_for(inbox, access))
    except OSError as exc:  # the port is in use, or the address is not this machine's
        print(f"receiver: cannot listen on {args.host}:{args.port} (--host/--port): {exc.strerror or exc}",
              file=sys.stderr)
        return 3
    scheme = "http"
    if args.tls_cert and args.tls_key:
        server.socket = tls_context(args.tls_cert, args.tls_key, args.client_ca).wrap_socket(
            server.socket, server_side=True)
        scheme = "https"
    print(f"LISTENING {scheme}://{args.host}:{server.server_address[1]}/inbox", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
