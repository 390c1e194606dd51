"""A chaos proxy in front of a receiver: fails or stalls at random, sometimes *after* the
receiver has committed, which is the case that tests "delivered twice in effect".

Run as its own process: ``python -m bench.fault.chaos --listen PORT --upstream URL [--seed N]``.
Per request, by the probabilities given:

- ``fail_before``: answer 503 without forwarding (the receiver never saw it);
- ``fail_after``: forward, let the receiver store it, then answer 503 (the sender must retry and
  the receiver must dedupe on the idempotency key);
- ``stall``: hold the request longer than the sender's read timeout, then forward (the sender
  has given up; the receiver still stores it);
- otherwise forward unchanged.

``GET /_chaos`` serves the counts of each outcome and, per ``Idempotency-Key``, the time (POSIX
seconds) a push first *left the sender* (arrived here): the reconciliation uses it to tell a push
sent after a consent was revoked from one that was only delayed on the way.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class Chaos:
    def __init__(self, upstream: str, *, fail_before: float, fail_after: float, stall: float,
                 stall_seconds: float, seed: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.p = (fail_before, fail_after, stall)
        self.stall_seconds = stall_seconds
        self.rand = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.first_sent: dict[str, float] = {}

    def choose(self) -> str:
        with self.lock:
            x = self.rand.random()
        fb, fa, st = self.p
        if x < fb:
            return "fail_before"
        if x < fb + fa:
            return "fail_after"
        if x < fb + fa + st:
            return "stall"
        return "forward"

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        req = urllib.request.Request(self.upstream + path, data=body if method != "GET" else None,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "application/json")
        except OSError:  # the receiver is down (killed, restarting): a gateway error, as a proxy says
            return 502, b'{"error": "upstream unavailable"}', "application/json"


def _handler(chaos: Chaos) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # bodies carry patient data; log nothing
            pass

        def _answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _proxy(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if self.path == "/_chaos":
                with chaos.lock:
                    self._answer(200, json.dumps({"counts": dict(chaos.counts),
                                                  "first_sent": chaos.first_sent}).encode())
                return
            what = chaos.choose() if self.command == "POST" else "forward"
            with chaos.lock:
                chaos.counts[what] += 1
                key = self.headers.get("Idempotency-Key")
                if key and self.command == "POST":
                    chaos.first_sent.setdefault(key, time.time())
            if what == "fail_before":
                return self._answer(503, b'{"status": "unavailable"}')
            if what == "stall":
                time.sleep(chaos.stall_seconds)
            status, out, ctype = chaos.forward(self.command, self.path, headers, body)
            if what == "fail_after":
                return self._answer(503, b'{"status": "unavailable"}')
            self._answer(status, out, ctype)

        do_POST = do_GET = do_PUT = _proxy

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--fail-before", type=float, default=0.1)
    ap.add_argument("--fail-after", type=float, default=0.1)
    ap.add_argument("--stall", type=float, default=0.05)
    ap.add_argument("--stall-seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=8)
    ns = ap.parse_args(argv)
    chaos = Chaos(ns.upstream, fail_before=ns.fail_before, fail_after=ns.fail_after, stall=ns.stall,
                  stall_seconds=ns.stall_seconds, seed=ns.seed)
    server = ThreadingHTTPServer(("127.0.0.1", ns.listen), _handler(chaos))
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
