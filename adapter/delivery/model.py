"""The delivery ports and the values that cross them.

The relay sees the database only as a :class:`Store` and the network only as a
:class:`Transport` (``send(envelope) -> Receipt``); time comes from an
:class:`adapter.clock.Clock`. The store is ``adapter.flows.relay.RelayStore`` (on SQL or in
memory), the HTTPS transport ``adapter.delivery.http``; ``adapter.testing`` has in-memory fakes.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class State(str, enum.Enum):
    """Where an outbox message is in its life."""

    PENDING = "pending"          # waiting for the relay (push) or its first claim
    AVAILABLE = "available"      # addressed to a pull recipient: listed until acknowledged
    DELIVERED = "delivered"      # the recipient's receipt said accepted
    ACKNOWLEDGED = "acknowledged"  # a pull recipient acknowledged it
    WITHHELD = "withheld"        # consent revoked before delivery
    UNCERTAIN = "uncertain"      # consent revoked after an unconfirmed send or fetch: the recipient may hold it
    DEAD = "dead"                # dead-lettered: rejected, or out of attempts
    WITHDRAWN = "withdrawn"      # the certificate was withdrawn before this message was ever sent


class Kind(str, enum.Enum):
    """What a message carries (the event of the submission)."""

    CERTIFICATE = "certificate"
    REPLACEMENT = "replacement"
    WITHDRAWAL = "withdrawal"
    CONSENT_REVOKED = "consent-revoked"  # a notice: the consent for a certificate that may have arrived was withdrawn


class Outcome(str, enum.Enum):
    """What one push attempt came to."""

    ACCEPTED = "accepted"  # positive application-level receipt: delivered
    REJECTED = "rejected"  # the recipient refused the document: terminal
    RETRY = "retry"        # transport error, 5xx, 429, or an unreadable answer


@dataclass(frozen=True)
class Recipient:
    """Delivery settings of one socialnämnd (from the recipient registry)."""

    kommunkod: str
    mode: str = "push"
    """``push`` (we POST) or ``pull`` (they list, fetch and acknowledge)."""
    endpoint: str | None = None
    client_cert: str | None = None
    """PEM file of our client certificate for mTLS, if the recipient asks for one."""
    client_key: str | None = None
    ca_bundle: str | None = None
    """Trust anchors for the recipient's server certificate; None means the system store."""
    max_attempts: int | None = None
    """Per-recipient override of ``DeliverySettings.max_attempts``."""


@dataclass(frozen=True)
class Claimed:
    """An outbox message claimed by one worker; ``token`` fences every later write."""

    id: int
    token: str
    attempts: int
    """Attempts including the one now starting."""
    idempotency_key: str
    submission_id: str
    certificate_id: str
    kommunkod: str
    kind: str
    document: bytes


@dataclass(frozen=True)
class Envelope:
    """One push: what to POST, where, and with which credentials."""

    endpoint: str
    document: bytes
    idempotency_key: str
    certificate_id: str
    kind: str
    attempt: int
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None


@dataclass(frozen=True)
class Receipt:
    """The answer to one push, reduced to what the relay decides on."""

    outcome: Outcome
    status: int | None = None
    """HTTP status, None when no answer arrived."""
    reason: str = ""
    """Why it was rejected or will be retried (no patient data: status, error class, receipt text)."""
    body: str = ""
    """The recipient's receipt as received (kept with the attempt)."""


class Transport(Protocol):
    def send(self, envelope: Envelope) -> Receipt: ...


class Store(Protocol):
    """What the relay needs from persistence. Every write after a claim is fenced by the token."""

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claimed]:
        """Due messages, none to a kommunkod in ``exclude``, at most ``per_recipient`` to one recipient."""
        ...

    def history(self, msg: Claimed) -> tuple[datetime | None, int]:
        """Since when ``msg`` has been failing (its first recorded attempt since it was last queued
        or retried by an operator; None before any) and how many attempts of that run have an outcome."""
        ...

    def postpone(self, kommunkod: str, *, until: datetime, reason: str, now: datetime) -> int:
        """Move every pending, unleased message to ``kommunkod`` due before ``until`` to ``until``
        with ``reason`` as its last error (an open circuit); returns how many."""
        ...

    def recipient(self, kommunkod: str) -> Recipient | None: ...

    def still_claimed(self, msg: Claimed) -> bool:
        """True while ``msg`` is pending and still held by this claim (not withheld, not taken over)."""
        ...

    def mark_delivered(self, msg: Claimed, receipt: Receipt, *, now: datetime) -> bool: ...

    def mark_available(self, msg: Claimed, *, now: datetime) -> bool: ...

    def mark_retry(self, msg: Claimed, receipt: Receipt, *, now: datetime, next_at: datetime,
                   last_error: str | None = None) -> bool:
        """Retry at ``next_at``; the attempt keeps the receipt's reason, the message ``last_error``
        (default: the same reason)."""
        ...

    def mark_dead(self, msg: Claimed, receipt: Receipt, *, now: datetime) -> bool: ...
