"""The push transport: HTTPS POST with ``requests``, optional mTLS, connect and read timeouts.

One ``requests.Session`` per worker keeps connections to each municipality alive.
Redirects are not followed: a signed medical certificate goes to the configured
endpoint or nowhere. The answer is read up to 64 KiB and judged by
:func:`adapter.delivery.receipt.read_receipt`.
"""

from __future__ import annotations

import requests

from adapter.delivery.model import Envelope, Outcome, Receipt
from adapter.delivery.receipt import read_receipt

MAX_ANSWER = 64 * 1024
USER_AGENT = "lisn-adapter-relay/0.1"


class HttpTransport:
    """``send(envelope) -> Receipt`` over HTTPS (or HTTP on loopback for tests and dev)."""

    def __init__(self, *, connect_timeout: float, read_timeout: float,
                 session: requests.Session | None = None) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()

    def send(self, envelope: Envelope) -> Receipt:
        try:
            with self.session.post(envelope.endpoint, data=envelope.document, headers=_headers(envelope),
                                   timeout=self.timeout, allow_redirects=False, stream=True,
                                   cert=_cert(envelope), verify=envelope.ca_bundle or True) as resp:
                body = _read_capped(resp)
                return read_receipt(resp.status_code, body, key=envelope.idempotency_key)
        except requests.RequestException as exc:
            # The class name says enough (timeout, refused, TLS) and carries no patient data.
            return Receipt(Outcome.RETRY, None, f"transport error: {type(exc).__name__}")

    def close(self) -> None:
        self.session.close()


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


def _read_capped(resp: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(8192):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ANSWER:
            break
    return b"".join(chunks)[:MAX_ANSWER]
