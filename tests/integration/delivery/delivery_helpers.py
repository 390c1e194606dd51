"""Helpers shared by the delivery tests (imported by name: the tests folder is not a package)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapter.delivery import Recipient, idempotency_key
from adapter.store import outbox
from adapter.store.db import transaction

START = 1_795_435_200.0  # 2026-11-23T09:20:00Z: a fixed "now" for the clock


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


RECIPIENTS = [
    Recipient(kommunkod="0180", mode="push", endpoint="https://stockholm.example/inbox"),
    Recipient(kommunkod="1480", mode="push", endpoint="https://goteborg.example/inbox", max_attempts=2),
    Recipient(kommunkod="1280", mode="pull"),
]


def enqueue(factory: sessionmaker[Session], cert: str, kommunkod: str = "0180", *, kind: str = "certificate",
            submission: str | None = None, now: float = START, replaces: str | None = None) -> str:
    key = idempotency_key(cert, kommunkod, kind)
    with transaction(factory) as session:
        outbox.enqueue_delivery(session, submission_id=submission or f"sub-{cert}", certificate_id=cert,
                                kommunkod=kommunkod, kind=kind, document=f"<doc id='{cert}'/>".encode(),
                                idempotency_key=key, replaces=replaces, now=now)
    return key


def row(factory: sessionmaker[Session], key: str) -> outbox.OutboxMessage:
    with transaction(factory) as session:
        found = session.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.idempotency_key == key))
        assert found is not None
        return found
