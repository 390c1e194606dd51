"""A slow municipality must not stop national delivery (issue 12, item 7).

Real sockets on 127.0.0.1: a "tarpit" that accepts a push and then trickles its answer one byte
at a time, each byte well inside the read timeout, and a healthy receiver that answers at once.
On the code before this change the read timeout applied per byte: a push to the tarpit never
ended and the worker never reached the healthy municipality.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from delivery_helpers import enqueue, row

from adapter.delivery import Envelope, Outcome, Recipient, Relay
from adapter.delivery.http import HttpTransport
from adapter.delivery.loop import run_loop
from adapter.flows.ports import Store
from adapter.flows.relay import RelayStore, static_recipients
from adapter.settings import DeliverySettings

TRICKLE = 0.25  # seconds between bytes: far inside the 1 s read timeout
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n" + b" " * 200


@dataclass
class Tarpit:
    """Accepts pushes and answers one byte every ``TRICKLE`` seconds, for up to ``hold`` seconds."""

    hold: float = 20.0
    connections: int = 0
    sock: socket.socket = field(default_factory=socket.socket)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/inbox"

    def start(self) -> Tarpit:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                ends = time.monotonic() + self.hold
                for byte in ANSWER:
                    if self.stop.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(TRICKLE)
            except OSError:
                return  # the sender hung up: what the deadline is for

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers["Idempotency-Key"]
        self.server.keys.append(key)  # type: ignore[attr-defined]
        body = json.dumps({"idempotencyKey": key, "status": "accepted"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def tarpit() -> Iterator[Tarpit]:
    pit = Tarpit().start()
    yield pit
    pit.close()


@pytest.fixture()
def healthy() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    server.keys = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/inbox", server.keys  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def envelope(url: str) -> Envelope:
    return Envelope(endpoint=url, document=b"<intyg/>", idempotency_key="k1", certificate_id="c1",
                    kind="certificate", attempt=1)


def test_a_trickling_answer_is_cut_at_the_total_deadline(tarpit: Tarpit) -> None:
    # connect 1 s + read 1 s: the push as a whole may take 2 s, however the bytes arrive.
    transport = HttpTransport(connect_timeout=1.0, read_timeout=1.0)
    started = time.monotonic()
    receipt = transport.send(envelope(tarpit.url))
    took = time.monotonic() - started
    assert receipt.outcome is Outcome.RETRY and receipt.status is None
    assert took < 3.0, f"the push took {took:.1f} s: the deadline did not hold"
    assert "deadline" in receipt.reason


def test_an_answer_inside_the_deadline_is_read(healthy: tuple[str, list[str]]) -> None:
    url, keys = healthy
    receipt = HttpTransport(connect_timeout=1.0, read_timeout=1.0).send(envelope(url))
    assert (receipt.outcome, receipt.status, keys) == (Outcome.ACCEPTED, 201, ["k1"])


SETTINGS = DeliverySettings(connect_timeout=0.5, read_timeout=1.0, push_deadline=1.5, lease_seconds=5.0,
                            backoff_base=0.1, backoff_max=0.2, breaker_failures=2, breaker_cooldown=60.0,
                            lanes=4, per_recipient=1)


@pytest.mark.slow
def test_a_slow_municipality_does_not_hold_up_the_others(store: Store, tarpit: Tarpit,
                                                        healthy: tuple[str, list[str]]) -> None:
    url, received = healthy
    lookup = static_recipients([Recipient("2180", endpoint=tarpit.url), Recipient("0180", endpoint=url)])
    stuck = [enqueue(store, f"slow{i}", "2180") for i in range(4)]  # queued first: claimed first
    fine = [enqueue(store, f"ok{i}", "0180") for i in range(8)]
    relay = Relay(RelayStore(store, recipients=lookup), HttpTransport(connect_timeout=0.5, read_timeout=1.0,
                                                                      deadline=1.5),
                  settings=SETTINGS, owner="w1", batch=10)
    stop = threading.Event()
    loop = threading.Thread(target=run_loop, args=(relay,), kwargs={"stop": stop, "poll_interval": 0.05})
    started = time.monotonic()
    loop.start()
    try:
        while set(received) != set(fine) and time.monotonic() - started < 10:
            time.sleep(0.05)
        took_healthy = time.monotonic() - started
        # The healthy municipality got everything while the slow one still held its lane.
        assert set(received) == set(fine), f"healthy got {len(received)} of {len(fine)}"
        assert took_healthy < 1.5, f"healthy deliveries took {took_healthy:.2f} s"
        # Two deadline failures open the slow municipality's circuit: it is left alone.
        while time.monotonic() - started < 6 and not any(
                "circuit open" in (row(store, k).last_error or "") for k in stuck):
            time.sleep(0.05)
        seen = tarpit.connections
        time.sleep(1.0)
        assert tarpit.connections == seen, "pushes went on to an open circuit"
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
    assert all(row(store, k).state == "delivered" for k in fine)
    waiting = [row(store, k) for k in stuck]
    assert all(m.state == "pending" for m in waiting)
    assert tarpit.connections == 2  # one lane at a time, two failures, then the circuit opened
    # Every waiting message says why (what `adapter queue list` shows), with the cause.
    assert all("circuit open until" in (m.last_error or "") for m in waiting), [m.last_error for m in waiting]
    assert all("deadline of 1.5 s exceeded" in (m.last_error or "") for m in waiting)
    assert all(m.next_attempt_at > datetime.now(UTC) + timedelta(seconds=30) for m in waiting)
