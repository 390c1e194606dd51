"""The chaos proxy does what the fault runs rely on: fail before, fail after commit, stall, forward."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.fault.chaos import Chaos, _handler


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[bytes] = []

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        _Upstream.seen.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def _serve(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[str]:
    _Upstream.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    yield _serve(server)
    server.shutdown()
    server.server_close()


def _post_through(upstream: str, **p: float) -> int:
    chaos = Chaos(upstream, fail_before=p.get("fb", 0), fail_after=p.get("fa", 0), stall=p.get("st", 0),
                  stall_seconds=0.2, seed=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(chaos))
    url = _serve(server)
    try:
        req = urllib.request.Request(url + "/push", data=b"<x/>", method="POST", headers={"Idempotency-Key": "k-1"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    finally:
        with urllib.request.urlopen(url + "/_chaos", timeout=5) as resp:
            seen = json.loads(resp.read())
        server.shutdown()
        server.server_close()
    assert sum(seen["counts"].values()) == 1
    assert set(seen["first_sent"]) == {"k-1"}
    return status


def test_forward(upstream: str) -> None:
    assert _post_through(upstream) == 200
    assert _Upstream.seen == [b"<x/>"]


def test_fail_before_never_reaches_the_receiver(upstream: str) -> None:
    assert _post_through(upstream, fb=1.0) == 503
    assert _Upstream.seen == []


def test_fail_after_reaches_the_receiver_and_still_fails(upstream: str) -> None:
    assert _post_through(upstream, fa=1.0) == 503
    assert _Upstream.seen == [b"<x/>"]


def test_stall_then_forward(upstream: str) -> None:
    assert _post_through(upstream, st=1.0) == 200
    assert len(_Upstream.seen) == 1
