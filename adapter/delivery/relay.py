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
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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


class Breaker:
    """Per-recipient circuit breakers of one worker (thread-safe).

    After ``failures`` consecutive failed pushes (no answer, 5xx, 429: anything retried) a
    recipient's circuit opens for ``cooldown`` seconds: its messages are not claimed, so they spend
    no attempts and hold no worker. When the cool-down has passed it is tried again (half-open):
    one more failure opens it again at once, one answer (accepted or rejected) closes it.
    """

    def __init__(self, *, failures: int, cooldown: float) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}
        self._open_until: dict[str, datetime] = {}

    def open_at(self, now: datetime) -> set[str]:
        """The recipients whose circuit is open at ``now``."""
        with self._lock:
            return {k for k, until in self._open_until.items() if until > now}

    def answered(self, kommunkod: str) -> None:
        with self._lock:
            self._count.pop(kommunkod, None)
            self._open_until.pop(kommunkod, None)

    def failed(self, kommunkod: str, now: datetime) -> datetime | None:
        """Count a failure; returns until when the circuit is open if this failure opened it."""
        with self._lock:
            n = self._count[kommunkod] = self._count.get(kommunkod, 0) + 1
            if self.failures <= 0 or n < self.failures:
                return None
            until = now + timedelta(seconds=self.cooldown)
            self._open_until[kommunkod] = until
            return until


class Relay:
    """One worker's relay. ``owner`` names the worker in leases (host:pid:random).

    Pushes run on up to ``settings.lanes`` threads, at most ``settings.per_recipient`` at a time to
    one municipality, and a recipient with a push in flight (or an open circuit) is not claimed
    again: a slow municipality holds its own lane, never the others.
    """

    def __init__(self, store: Store, transport: Transport, *, settings: DeliverySettings,
                 owner: str, clock: Clock | None = None,
                 rand: Callable[[], float] = random.random, batch: int = 10) -> None:
        if settings.lease_seconds <= settings.deadline + 1.0:
            # A push must end inside its lease, or a second worker could take the message still in flight.
            raise ValueError(f"the delivery lease ({settings.lease_seconds:g} s) must exceed the push "
                             f"deadline ({settings.deadline:g} s) + 1 s")
        self.store = store
        self.transport = transport
        self.settings = settings
        self.owner = owner
        self.clock = clock or SystemClock()
        self.rand = rand
        self.batch = batch
        self.breaker = Breaker(failures=settings.breaker_failures, cooldown=settings.breaker_cooldown)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}
        self._running: set[Future[RunStats]] = set()
        self._done = RunStats()

    def run_once(self) -> RunStats:
        """Claim up to ``batch`` due messages, push them (in parallel lanes) and wait for all;
        one failing never stops the others. Rounds of at most ``per_recipient`` messages per
        recipient follow each other until ``batch`` were claimed or nothing is due."""
        total = RunStats()
        while total.claimed < self.batch:
            stats, started = self._dispatch(limit=self.batch - total.claimed)
            for future in started:
                future.result()
            with self._lock:
                finished, self._done = self._done, RunStats()
            _merge(stats, finished)
            _merge(total, stats)
            if not stats.claimed:
                break
        return total

    def step(self) -> RunStats:
        """Start pushes for what free lanes allow without waiting for them (the run loop); returns
        the number claimed now and the outcomes of pushes that finished since the last step."""
        stats, _ = self._dispatch()
        with self._lock:
            finished, self._done = self._done, RunStats()
        _merge(stats, finished)
        return stats

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the pushes in flight (shutdown: finish the messages in hand)."""
        with self._lock:
            running = list(self._running)
        wait(running, timeout=timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _dispatch(self, limit: int | None = None) -> tuple[RunStats, list[Future[RunStats]]]:
        stats = RunStats()
        started = self.clock.now()
        with self._lock:
            free = max(0, self.settings.lanes - sum(self._busy.values()))
            busy = {k for k, n in self._busy.items() if n > 0}
        if free == 0:
            return stats, []
        exclude = busy | self.breaker.open_at(started)
        claimed = self.store.claim(owner=self.owner, now=started, lease_seconds=self.settings.lease_seconds,
                                   limit=min(limit or self.batch, free), exclude=sorted(exclude),
                                   per_recipient=max(1, self.settings.per_recipient))
        stats.claimed = len(claimed)
        # A push must finish inside our lease, or a second worker may take the message over.
        latest_start = started + timedelta(seconds=self.settings.lease_seconds - self.settings.deadline - 1.0)
        futures = []
        for msg in claimed:
            with self._lock:
                self._busy[msg.kommunkod] = self._busy.get(msg.kommunkod, 0) + 1
            future = self._executor().submit(self._task, msg, latest_start)
            with self._lock:
                self._running.add(future)
            futures.append(future)
        return stats, futures

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(1, self.settings.lanes), thread_name_prefix="lisn-push")
        return self._pool

    def _task(self, msg: Claimed, latest_start: datetime) -> RunStats:
        stats = RunStats()
        try:
            if self.clock.now() > latest_start:
                stats.skipped += 1
            else:
                self._handle(msg, stats)
        except Exception as exc:
            # The store failed while recording (the database is away): the lease expires and the
            # message is claimed again. Only the type: the text may quote patient data.
            log.error("outbox message %s: recording failed: %s", msg.id, type(exc).__name__)
            raise
        finally:
            with self._lock:
                self._busy[msg.kommunkod] -= 1
                if self._busy[msg.kommunkod] <= 0:
                    del self._busy[msg.kommunkod]
                _merge(self._done, stats)
                self._running = {f for f in self._running if not f.done()}
        return stats

    def _handle(self, msg: Claimed, stats: RunStats) -> None:
        try:
            recipient = self.store.recipient(msg.kommunkod)
            if recipient is None:
                no_one = Receipt(Outcome.RETRY, None, f"no recipient registered for kommunkod {msg.kommunkod}")
                self._record(msg, no_one, self._limit(None), stats)
            elif recipient.mode == "pull":
                self._count(stats, "available", self.store.mark_available(msg, now=self.clock.now()))
                log.info("outbox message %s to %s: available for pull", msg.id, msg.kommunkod)
            else:
                self._push(msg, recipient, stats)
        except Exception as exc:  # noqa: BLE001 - a poison message must not stop the relay
            # Only the type: an exception's text or traceback may quote the document (patient data).
            log.error("outbox message %s failed in the relay: %s", msg.id, type(exc).__name__)
            crash = Receipt(Outcome.RETRY, None, f"relay error: {type(exc).__name__}")
            self._record(msg, crash, self._limit(None), stats)

    def _limit(self, recipient: Recipient | None) -> int:
        return (recipient.max_attempts if recipient else None) or self.settings.max_attempts

    def _push(self, msg: Claimed, recipient: Recipient, stats: RunStats) -> None:
        limit = self._limit(recipient)
        if limit and msg.attempts > limit:
            # Earlier attempts died with their worker (a message that crashes the relay).
            spent = Receipt(Outcome.REJECTED, None, f"out of attempts ({limit}) without an answer")
            self._count(stats, "dead", self.store.mark_dead(msg, spent, now=self.clock.now()))
            return
        unanswered_limit = self.settings.max_unanswered
        if unanswered_limit and msg.attempts > unanswered_limit:
            _, answered = self.store.history(msg)
            if msg.attempts - 1 - answered >= unanswered_limit:
                lost = Receipt(Outcome.REJECTED, None,
                               f"{msg.attempts - 1 - answered} attempts ended without an outcome (worker died)")
                self._count(stats, "dead", self.store.mark_dead(msg, lost, now=self.clock.now()))
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
        hold = None
        if receipt.outcome is Outcome.RETRY:
            opened = self.breaker.failed(msg.kommunkod, self.clock.now())
            if opened is not None:
                hold = self._open_circuit(msg.kommunkod, opened, receipt)
        else:
            self.breaker.answered(msg.kommunkod)
        self._record(msg, receipt, limit, stats, hold=hold)

    def _open_circuit(self, kommunkod: str, until: datetime, receipt: Receipt) -> tuple[datetime, str]:
        reason = (f"circuit open until {until.isoformat(timespec='seconds')} after "
                  f"{self.breaker.failures} consecutive failures (last: {receipt.reason})")
        log.warning("recipient %s: %s", kommunkod, reason)
        # In the database too: other workers leave these messages alone, and `adapter queue list` says why.
        self.store.postpone(kommunkod, until=until, reason=reason, now=self.clock.now())
        return until, reason

    def send(self, msg: Claimed, recipient: Recipient) -> Receipt:
        """Hand the envelope to the transport (a subclass may wrap this)."""
        return self.transport.send(envelope_for(msg, recipient))

    def _record(self, msg: Claimed, receipt: Receipt, limit: int, stats: RunStats, *,
                hold: tuple[datetime, str] | None = None) -> None:
        now = self.clock.now()
        stats.outcomes.append(receipt.outcome.value)
        # One line per delivery attempt (the outcome is the recipient's answer; never patient data).
        log.info("outbox message %s to %s: %s (attempt %d)", msg.id, msg.kommunkod, receipt.outcome.value, msg.attempts)
        if receipt.outcome is Outcome.ACCEPTED:
            self._count(stats, "delivered", self.store.mark_delivered(msg, receipt, now=now))
            return
        if receipt.outcome is Outcome.REJECTED or (limit and msg.attempts >= limit):
            self._count(stats, "dead", self.store.mark_dead(msg, receipt, now=now))
            return
        since, _ = self.store.history(msg)
        ends = (since or now) + timedelta(seconds=self.settings.retry_period)
        if now >= ends:
            spent = Receipt(receipt.outcome, receipt.status,
                            f"{receipt.reason}; still failing after the retry period of "
                            f"{_span(self.settings.retry_period)}", receipt.body)
            self._count(stats, "dead", self.store.mark_dead(msg, spent, now=now))
            return
        delay = backoff_delay(msg.attempts, base=self.settings.backoff_base,
                              cap=self.settings.backoff_max, rand=self.rand)
        # The last try falls at the end of the retry period, not somewhere after it.
        next_at = min(now + timedelta(seconds=delay), ends)
        note = None
        if hold is not None and hold[0] > next_at:
            # This failure opened the circuit: the message waits with the others.
            next_at, note = min(hold[0], ends), hold[1]
        self._count(stats, "retried", self.store.mark_retry(msg, receipt, now=now, next_at=next_at, last_error=note))

    @staticmethod
    def _count(stats: RunStats, name: str, written: bool) -> None:
        if written:
            setattr(stats, name, getattr(stats, name) + 1)
        else:
            stats.fenced += 1


def _merge(into: RunStats, other: RunStats) -> None:
    for name in ("claimed", "delivered", "available", "retried", "dead", "fenced", "skipped"):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    into.outcomes.extend(other.outcomes)


def _span(seconds: float) -> str:
    if seconds >= 86400 and seconds % 3600 == 0:
        return f"{seconds / 86400:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


def envelope_for(msg: Claimed, recipient: Recipient) -> Envelope:
    return Envelope(endpoint=recipient.endpoint or "", document=msg.document,
                    idempotency_key=msg.idempotency_key, certificate_id=msg.certificate_id,
                    kind=msg.kind, attempt=msg.attempts, client_cert=recipient.client_cert,
                    client_key=recipient.client_key, ca_bundle=recipient.ca_bundle)
