"""Deliberately broken endpoints, for showing that the test kit fails them. NEVER copy these.

``--mode receiver``: a municipal "receiver" that accepts everything: every POST is answered
201 ``accepted`` with a fresh ``receivedAt``, echoing whatever Idempotency-Key came (none: an
empty one). It verifies no signature, checks no trust anchor, no recipient, no header, and has no
idempotency (a replay is stored again). The kit must fail it on every scenario but the good
document.

``--mode sender``: a "LISN endpoint" that answers 200 with an empty JSON object to every
request, whatever the method, path, credentials or body. The kit must fail it on every scenario.

Prints ``LISTENING <url>`` when ready (``--port 0`` picks a free port). Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def handler(mode: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if mode == "receiver":
                status, body = 201, {"idempotencyKey": self.headers.get("Idempotency-Key", ""),
                                     "status": "accepted", "receivedAt": datetime.now(UTC).isoformat(),
                                     "stored": str(uuid.uuid4())}
            else:
                status, body = 200, {}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - stdlib naming

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--mode", choices=["receiver", "sender"], required=True)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.mode))
    path = "/inbox" if args.mode == "receiver" else "/fhir"
    print(f"LISTENING http://127.0.0.1:{server.server_address[1]}{path}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
