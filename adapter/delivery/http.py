"""The push transport: HTTPS POST with ``requests``, optional mTLS, and a total deadline per push.

One ``requests.Session`` per push lane (thread) keeps connections to each municipality alive.
Redirects are not followed: a signed medical certificate goes to the configured
endpoint or nowhere. The answer is read up to 64 KiB and judged by
:func:`adapter.delivery.receipt.read_receipt`.

**The deadline is total.** ``requests``' read timeout bounds each wait for the next bytes, so a
server that trickles one byte a second would hold a push (and its worker) forever. Each push
therefore has a wall-clock ``deadline`` (connect, send, headers and the whole answer): a watchdog
timer shuts the socket down when it passes, which ends any blocked ``connect``, ``send`` or
``recv`` at once, and the answer is read with a clock check between chunks as a second guard.
The socket is found through the connection pool (:class:`_WatchedAdapter`), the one place
``requests`` hands a connection to a request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from adapter.delivery.model import Envelope, Outcome, Receipt
from adapter.delivery.receipt import read_receipt

MAX_ANSWER = 64 * 1024
USER_AGENT = "lisn-adapter-relay/0.1"

_in_flight = threading.local()
"""The connections the current thread's push uses (``_in_flight.conns``), for its watchdog."""


class DeadlineExceeded(Exception):
    """The push did not finish within its total deadline."""


class HttpTransport:
    """``send(envelope) -> Receipt`` over HTTPS (or HTTP on loopback for tests and dev).

    ``deadline`` bounds the whole push; ``None`` means ``connect_timeout + read_timeout``.
    Safe to share between the relay's lanes: each thread has its own session (a given ``session``
    is shared), and each push registers its own connection.
    """

    def __init__(self, *, connect_timeout: float, read_timeout: float, deadline: float | None = None,
                 session: requests.Session | None = None) -> None:
        self.deadline = deadline if deadline is not None else connect_timeout + read_timeout
        if self.deadline <= 0:
            raise ValueError("the push deadline must be positive")
        # No single wait may outlast the whole push.
        self.timeout = (min(connect_timeout, self.deadline), min(read_timeout, self.deadline))
        self._shared = _watched(session) if session is not None else None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """This thread's session."""
        if self._shared is not None:
            return self._shared
        found: requests.Session | None = getattr(self._local, "session", None)
        if found is None:
            found = self._local.session = _watched(requests.Session())
            with self._lock:
                self._sessions.append(found)
        return found

    def send(self, envelope: Envelope) -> Receipt:
        conns: list[Any] = []
        _in_flight.conns = conns
        expired = threading.Event()
        watchdog = threading.Timer(self.deadline, _cut, args=(conns, expired))
        watchdog.daemon = True
        ends = time.monotonic() + self.deadline
        watchdog.start()
        try:
            with self.session.post(envelope.endpoint, data=envelope.document, headers=_headers(envelope),
                                   timeout=self.timeout, allow_redirects=False, stream=True,
                                   cert=_cert(envelope), verify=envelope.ca_bundle or True) as resp:
                body = _read_capped(resp, ends)
                return read_receipt(resp.status_code, body, key=envelope.idempotency_key)
        except (requests.RequestException, DeadlineExceeded, OSError) as exc:
            if expired.is_set() or isinstance(exc, DeadlineExceeded):
                return Receipt(Outcome.RETRY, None, f"transport error: deadline of {self.deadline:g} s exceeded")
            # The class name says enough (timeout, refused, TLS) and carries no patient data.
            return Receipt(Outcome.RETRY, None, f"transport error: {type(exc).__name__}")
        finally:
            watchdog.cancel()
            _in_flight.conns = None

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions + ([self._shared] if self._shared is not None else []):
            s.close()


def _watched(session: requests.Session) -> requests.Session:
    adapter = _WatchedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _cut(conns: list[Any], expired: threading.Event) -> None:
    """The watchdog: end every blocked operation of the push by shutting its socket down."""
    expired.set()
    for conn in list(conns):
        sock = getattr(conn, "sock", None)
        if sock is None:
            continue
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


class _WatchedMixin:
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        conns = getattr(_in_flight, "conns", None)
        if conns is not None:
            conns.append(conn)
        return conn


class _WatchedHTTPPool(_WatchedMixin, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedMixin, HTTPSConnectionPool):
    pass


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose pools register each connection handed to a push (for its watchdog)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _headers(envelope: Envelope) -> dict[str, str]:
    return {
        "Content-Type": "application/xml",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": envelope.idempotency_key,
        "X-LISN-Certificate-Id": envelope.certificate_id,
        "X-LISN-Kind": envelope.kind,
        "X-LISN-Attempt": str(envelope.attempt),
    }


def _cert(envelope: Envelope) -> tuple[str, str] | str | None:
    if envelope.client_cert and envelope.client_key:
        return (envelope.client_cert, envelope.client_key)
    return envelope.client_cert


def _read_capped(resp: requests.Response, ends: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(8192):
        if time.monotonic() > ends:
            raise DeadlineExceeded
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ANSWER:
            break
    return b"".join(chunks)[:MAX_ANSWER]
