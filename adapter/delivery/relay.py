"""The outbox relay: claim due messages, push or publish them, record the outcome.

Exactly once *in effect*: a message is marked delivered only after the recipient's
positive receipt, so a crash anywhere before that mark means it is sent again, with
the same idempotency key, and the recipient's dedupe makes the repeat harmless. The
opposite order (mark, then send) loses a message on a crash between the two; the
acceptance tests run that variant as their negative control.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from adapter.clock import Clock, SystemClock
from adapter.delivery.backoff import backoff_delay
from adapter.delivery.model import Claimed, Envelope, Outcome, Receipt, Recipient, Store, Transport
from adapter.settings import DeliverySettings

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    """What one pass of the relay did (counts only: no patient data)."""

    claimed: int = 0
    delivered: int = 0
    available: int = 0
    retried: int = 0
    dead: int = 0
    fenced: int = 0
    """Writes refused because our lease had expired and another worker owns the message."""
    skipped: int = 0
    """Claimed but left to expire: too little lease left to finish a push safely."""
    outcomes: list[str] = field(default_factory=list)


class Relay:
    """One worker's relay. ``owner`` names the worker in leases (host:pid:random)."""

    def __init__(self, store: Store, transport: Transport, *, settings: DeliverySettings,
                 owner: str, clock: Clock | None = None,
                 rand: Callable[[], float] = random.random, batch: int = 10) -> None:
        self.store = store
        self.transport = transport
        self.settings = settings
        self.owner = owner
        self.clock = clock or SystemClock()
        self.rand = rand
        self.batch = batch

    def run_once(self) -> RunStats:
        """Claim up to ``batch`` due messages and handle each; one failing never stops the others."""
        stats = RunStats()
        started = self.clock.now()
        claimed = self.store.claim(owner=self.owner, now=started,
                                   lease_seconds=self.settings.lease_seconds, limit=self.batch)
        stats.claimed = len(claimed)
        # A push must finish inside our lease, or a second worker may take the message over.
        latest_start = started + timedelta(seconds=self.settings.lease_seconds - self._push_budget())
        for msg in claimed:
            if self.clock.now() > latest_start:
                stats.skipped += 1
                continue
            self._handle(msg, stats)
        return stats

    def _push_budget(self) -> float:
        return self.settings.connect_timeout + self.settings.read_timeout + 1.0

    def _handle(self, msg: Claimed, stats: RunStats) -> None:
        try:
            recipient = self.store.recipient(msg.kommunkod)
            if recipient is None:
                no_one = Receipt(Outcome.RETRY, None, f"no recipient registered for kommunkod {msg.kommunkod}")
                self._record(msg, no_one, self.settings.max_attempts, stats)
            elif recipient.mode == "pull":
                self._count(stats, "available", self.store.mark_available(msg, now=self.clock.now()))
                log.info("outbox message %s to %s: available for pull", msg.id, msg.kommunkod)
            else:
                self._push(msg, recipient, stats)
        except Exception as exc:  # noqa: BLE001 - a poison message must not stop the relay
            # Only the type: an exception's text or traceback may quote the document (patient data).
            log.error("outbox message %s failed in the relay: %s", msg.id, type(exc).__name__)
            crash = Receipt(Outcome.RETRY, None, f"relay error: {type(exc).__name__}")
            self._record(msg, crash, self.settings.max_attempts, stats)

    def _push(self, msg: Claimed, recipient: Recipient, stats: RunStats) -> None:
        limit = recipient.max_attempts or self.settings.max_attempts
        if msg.attempts > limit:
            # Earlier attempts died with their worker (a message that crashes the relay).
            spent = Receipt(Outcome.REJECTED, None, f"out of attempts ({limit}) without an answer")
            self._count(stats, "dead", self.store.mark_dead(msg, spent, now=self.clock.now()))
            return
        if not recipient.endpoint:
            self._record(msg, Receipt(Outcome.RETRY, None, "recipient has no push endpoint"), limit, stats)
            return
        if not self.store.still_claimed(msg):
            # Checked just before the network: a consent revoked (or a lease taken over) while this
            # message waited in our batch must not be sent. Only a push already on the wire can race.
            stats.fenced += 1
            return
        receipt = self.send(msg, recipient)
        self._record(msg, receipt, limit, stats)

    def send(self, msg: Claimed, recipient: Recipient) -> Receipt:
        """Hand the envelope to the transport (a subclass may wrap this)."""
        return self.transport.send(envelope_for(msg, recipient))

    def _record(self, msg: Claimed, receipt: Receipt, limit: int, stats: RunStats) -> None:
        now = self.clock.now()
        stats.outcomes.append(receipt.outcome.value)
        if receipt.outcome is Outcome.ACCEPTED:
            self._count(stats, "delivered", self.store.mark_delivered(msg, receipt, now=now))
        elif receipt.outcome is Outcome.REJECTED or msg.attempts >= limit:
            self._count(stats, "dead", self.store.mark_dead(msg, receipt, now=now))
        else:
            delay = backoff_delay(msg.attempts, base=self.settings.backoff_base,
                                  cap=self.settings.backoff_max, rand=self.rand)
            next_at = now + timedelta(seconds=delay)
            self._count(stats, "retried", self.store.mark_retry(msg, receipt, now=now, next_at=next_at))
        # One line per delivery attempt; the outcome and the receipt's reason are the recipient's, never patient data.
        log.info("outbox message %s to %s: %s (attempt %d)", msg.id, msg.kommunkod, receipt.outcome.value, msg.attempts)

    @staticmethod
    def _count(stats: RunStats, name: str, written: bool) -> None:
        if written:
            setattr(stats, name, getattr(stats, name) + 1)
        else:
            stats.fenced += 1


def envelope_for(msg: Claimed, recipient: Recipient) -> Envelope:
    return Envelope(endpoint=recipient.endpoint or "", document=msg.document,
                    idempotency_key=msg.idempotency_key, certificate_id=msg.certificate_id,
                    kind=msg.kind, attempt=msg.attempts, client_cert=recipient.client_cert,
                    client_key=recipient.client_key, ca_bundle=recipient.ca_bundle)
