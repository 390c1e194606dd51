"""The reference municipal receiver: what a socialnämnd runs to take pushed certificates.

It receives ``POST /inbox`` (the signed municipal XML, ``Idempotency-Key`` header),
verifies the signature against its own trust store with
``adapter.signing.verify_document``, stores the document once per idempotency key
(SQLite), and answers with the application-level receipt of ``adapter.delivery.receipt``:

* 201 ``accepted``: stored now; 200 ``accepted`` with ``"duplicate": true``: stored before;
* 422 ``rejected``: bad signature or not a document (terminal for the sender);
* 409 ``retry``: a withdrawal for a certificate not received yet (the sender retries);
* 400 ``rejected``: no idempotency key.

``GET /received`` lists what is stored (keys, certificate ids, kinds, request counts);
``GET /documents/<key>`` returns one stored document. Standard library only, plus the
adapter package for verification. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

MAX_BODY = 5 * 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
  idempotency_key TEXT PRIMARY KEY, certificate_id TEXT, kind TEXT, received_at TEXT,
  signer TEXT, xml BLOB);
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT, at TEXT, answer TEXT);
"""

Verifier = Callable[[bytes], tuple[bool, str, str]]


def adapter_verifier(trust: list[Path]) -> Verifier:
    """Verify with the adapter's signing stage against our own trust anchors (never the web PKI)."""
    from adapter.signing import verify_document

    anchors = [p.read_bytes() for p in trust]

    def verify(xml: bytes) -> tuple[bool, str, str]:
        result = verify_document(xml, trust=anchors)  # never raises: malformed input is a result
        return result.ok, f"{result.code}: {result.text_en}", result.signer or ""
    return verify


class Inbox:
    """The receiver's storage and decisions, independent of HTTP."""

    def __init__(self, db: Path, verify: Verifier, *, fail_every: int = 0, delay: float = 0.0) -> None:
        self.db, self.verify, self.fail_every, self.delay = db, verify, fail_every, delay
        self.lock = threading.Lock()
        self.count = 0
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

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

    def receive(self, key: str, cert_id: str, kind: str, xml: bytes) -> tuple[int, dict[str, Any]]:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self.lock, self._conn() as conn:
            status, body = self._decide(conn, key, cert_id, kind, xml, now)
            conn.execute("INSERT INTO requests (idempotency_key, at, answer) VALUES (?, ?, ?)",
                         (key, now, f"{status} {body['status']}"))
        return status, body

    def _decide(self, conn: sqlite3.Connection, key: str, cert_id: str, kind: str, xml: bytes,
                now: str) -> tuple[int, dict[str, Any]]:
        if conn.execute("SELECT 1 FROM documents WHERE idempotency_key = ?", (key,)).fetchone():
            return 200, _receipt(key, "accepted", now, duplicate=True)
        ok, reason, signer = self.verify(xml)
        if not ok:
            return 422, _receipt(key, "rejected", now, reason=reason)
        if kind == "withdrawal" and not conn.execute(
                "SELECT 1 FROM documents WHERE certificate_id = ? AND kind != 'withdrawal'",
                (cert_id,)).fetchone():
            return 409, _receipt(key, "retry", now, reason="withdrawal before its certificate; retry later")
        conn.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)", (key, cert_id, kind, now, signer, xml))
        return 201, _receipt(key, "accepted", now)

    def summary(self) -> dict[str, Any]:
        with self._conn() as conn:
            docs = [dict(zip(("idempotencyKey", "certificateId", "kind", "receivedAt", "signer"), r))
                    for r in conn.execute("SELECT idempotency_key, certificate_id, kind, received_at, signer "
                                          "FROM documents ORDER BY received_at")]
            requests = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        return {"documents": docs, "requests": requests}

    def document(self, key: str) -> bytes | None:
        with self._conn() as conn:
            row = conn.execute("SELECT xml FROM documents WHERE idempotency_key = ?", (key,)).fetchone()
        return row[0] if row else None


def _receipt(key: str, status: str, now: str, *, reason: str = "", duplicate: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"idempotencyKey": key, "status": status, "receivedAt": now}
    if reason:
        body["reason"] = reason
    if duplicate:
        body["duplicate"] = True
    return body


def handler_for(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lisn-reference-receiver/0.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # requests carry patient data in their bodies only; we log nothing per request

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if self.path.rstrip("/") != "/inbox":
                return self._json(404, {"status": "rejected", "reason": "no such endpoint"})
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                return self._json(413 if length > MAX_BODY else 400,
                                  {"status": "rejected", "reason": "missing or oversize body"})
            xml = self.rfile.read(length)
            key = self.headers.get("Idempotency-Key", "")
            if not KEY_RE.match(key):
                return self._json(400, {"status": "rejected", "reason": "missing Idempotency-Key"})
            fault = inbox.chaos()
            if inbox.delay:
                time.sleep(inbox.delay)  # tests only: a slow municipality widens the crash window
            if fault == "before":
                return self._json(503, {"status": "retry", "reason": "injected failure"})
            status, body = inbox.receive(key, self.headers.get("X-LISN-Certificate-Id", ""),
                                         self.headers.get("X-LISN-Kind", "certificate"), xml)
            if fault == "after":
                self.close_connection = True  # stored and committed, but the sender never hears so
                return None
            return self._json(status, body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path == "/health":
                return self._json(200, {"status": "ok"})
            if self.path == "/received":
                return self._json(200, inbox.summary())
            if self.path.startswith("/documents/"):
                xml = inbox.document(self.path.removeprefix("/documents/"))
                if xml is not None:
                    return self._send(200, "application/xml", xml)
            return self._json(404, {"status": "rejected", "reason": "not found"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(self, status: int, ctype: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return Handler


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """Server TLS; with ``client_ca`` the sender must present a certificate it issued (mTLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True, help="SQLite file for received documents")
    p.add_argument("--trust", type=Path, action="append", required=True,
                   help="PEM certificate(s) of the signers we trust (repeatable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443, help="0 picks a free port (printed on stdout)")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--client-ca", type=Path, help="require client certificates issued by this CA (mTLS)")
    p.add_argument("--fail-every", type=int, default=0, help=argparse.SUPPRESS)  # tests only
    p.add_argument("--delay-ms", type=int, default=0, help=argparse.SUPPRESS)  # tests only
    args = p.parse_args(argv)
    missing = [str(f) for f in [*args.trust, args.tls_cert, args.tls_key, args.client_ca] if f and not f.is_file()]
    if missing:
        print(f"receiver: file not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    inbox = Inbox(args.db, adapter_verifier(args.trust), fail_every=args.fail_every,
                  delay=args.delay_ms / 1000)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(inbox))
    scheme = "http"
    if args.tls_cert and args.tls_key:
        ctx = tls_context(args.tls_cert, args.tls_key, args.client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
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
