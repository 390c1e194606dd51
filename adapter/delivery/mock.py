"""An in-memory Transport for tests and demos: ``MockTransport(handler)``, as httpx has one.

``handler(envelope) -> Receipt`` decides each answer, so a test can script a flaky or
rejecting municipality without a socket. ``sent`` keeps every envelope handed over.
"""

from __future__ import annotations

from collections.abc import Callable

from adapter.delivery.model import Envelope, Outcome, Receipt


def accept_all(envelope: Envelope) -> Receipt:
    return Receipt(Outcome.ACCEPTED, 201, "", f'{{"idempotencyKey": "{envelope.idempotency_key}", '
                                               f'"status": "accepted"}}')


class MockTransport:
    def __init__(self, handler: Callable[[Envelope], Receipt] = accept_all) -> None:
        self.handler = handler
        self.sent: list[Envelope] = []

    def send(self, envelope: Envelope) -> Receipt:
        self.sent.append(envelope)
        return self.handler(envelope)
