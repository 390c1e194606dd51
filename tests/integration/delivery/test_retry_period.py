"""A municipality that is down for hours is waited for, not dead-lettered (issue 12, item 8).

The relay runs with the shipped default settings on a fixed clock; the clock jumps to each
message's next attempt, so days of retrying take milliseconds. Before this change the default
budget (10 attempts, 2 s doubling) dead-lettered a message about 8.5 minutes into an outage.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from delivery_helpers import START, enqueue, row

from adapter.delivery import Envelope, Outcome, Receipt, Relay
from adapter.flows.ports import PENDING, Match, OutboxMessage, Store
from adapter.flows.relay import RelayStore
from adapter.settings import DeliverySettings
from adapter.testing import FixedClock, MockTransport

DOWN = Receipt(Outcome.RETRY, None, "transport error: ConnectionError")


def outage(clock: FixedClock, lasts: timedelta) -> MockTransport:
    """The municipality refuses connections until ``START + lasts``, then accepts."""
    def handler(env: Envelope) -> Receipt:
        if clock.now() < START + lasts:
            return DOWN
        return Receipt(Outcome.ACCEPTED, 201)
    return MockTransport(handler)


def drive(relay: Relay, store: Store, key: str, clock: FixedClock, *, horizon: timedelta) -> OutboxMessage:
    """Run the relay, jumping the clock to each next attempt, until the message is settled."""
    while True:
        relay.run_once()
        msg = row(store, key)
        if msg.state != PENDING or clock.now() > START + horizon:
            return msg
        wait = (msg.next_attempt_at - clock.now()).total_seconds()
        assert wait > 0, "a failed message must wait before its next attempt"
        clock.advance(seconds=wait)


def make(relay_store: RelayStore, transport: MockTransport, clock: FixedClock,
         settings: DeliverySettings | None = None) -> Relay:
    return Relay(relay_store, transport, settings=settings or DeliverySettings(), owner="w1", clock=clock,
                 rand=lambda: 0.5)


@pytest.mark.parametrize("lasts", [timedelta(minutes=15), timedelta(hours=6)], ids=["15min", "6h"])
def test_an_outage_of_hours_is_waited_out(store: Store, relay_store: RelayStore, clock: FixedClock,
                                          lasts: timedelta) -> None:
    key = enqueue(store, "c1")
    transport = outage(clock, lasts)
    msg = drive(make(relay_store, transport, clock), store, key, clock, horizon=timedelta(days=4))
    assert msg.state == "delivered", f"{msg.state} after {msg.attempts} attempts: {msg.last_error}"
    # Backoff is capped (BACKOFF_MAX 1 h): delivered within an hour of the municipality's return.
    assert msg.delivered_at is not None and msg.delivered_at - (START + lasts) <= timedelta(hours=1)
    assert [e.idempotency_key for e in transport.sent] == [key] * msg.attempts


@pytest.mark.slow  # about 150 attempts over three simulated days: 5 to 20 s per store
def test_past_the_retry_period_it_is_dead_lettered(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    period = timedelta(seconds=DeliverySettings().retry_period)
    assert period == timedelta(days=3)
    transport = outage(clock, timedelta(days=30))
    msg = drive(make(relay_store, transport, clock), store, key, clock, horizon=timedelta(days=5))
    assert msg.state == "dead"
    assert "retry period of 3 d" in (msg.last_error or "") and "ConnectionError" in (msg.last_error or "")
    # The last try falls at the end of the period, not before and not long after.
    with store.transaction() as tx:
        attempts = tx.attempts(key)
    assert attempts[-1].at == START + period
    assert all(a.at < START + period for a in attempts[:-1])
    # Capped backoff: after the first hours, about one attempt an hour (never hammering, never idle).
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:], strict=False)]
    assert max(gaps) <= timedelta(hours=1)
    assert 70 <= len(attempts) <= 200


def test_a_shorter_configured_period_dead_letters_sooner(store: Store, relay_store: RelayStore,
                                                         clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    settings = replace(DeliverySettings(), retry_period=2 * 3600.0)
    msg = drive(make(relay_store, outage(clock, timedelta(hours=6)), clock, settings), store, key, clock,
                horizon=timedelta(days=1))
    assert msg.state == "dead" and "retry period of 2 h" in (msg.last_error or "")
    assert clock.now() == START + timedelta(hours=2)


def test_an_operator_retry_starts_a_new_period(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    settings = replace(DeliverySettings(), retry_period=3600.0)
    relay = make(relay_store, outage(clock, timedelta(days=30)), clock, settings)
    assert drive(relay, store, key, clock, horizon=timedelta(days=1)).state == "dead"
    with store.transaction() as tx:  # what `adapter queue retry` does
        tx.update_messages(Match(key=key), {"state": PENDING, "attempts": 0, "next_attempt_at": clock.now()},
                           at=clock.now())
    # Another worker (this one's circuit for the municipality is still open) tries it again.
    relay = make(relay_store, outage(clock, timedelta(days=30)), clock, settings)
    assert relay.run_once().retried == 1
    assert row(store, key).state == "pending"  # failing again, but the new period has just begun
    restarted = clock.now()
    assert drive(relay, store, key, clock, horizon=timedelta(days=2)).state == "dead"
    assert clock.now() == restarted + timedelta(hours=1)


def test_an_explicit_attempt_limit_still_applies(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    settings = replace(DeliverySettings(), max_attempts=4)
    msg = drive(make(relay_store, outage(clock, timedelta(hours=6)), clock, settings), store, key, clock,
                horizon=timedelta(days=1))
    assert (msg.state, msg.attempts) == ("dead", 4)


def test_a_worker_that_keeps_dying_dead_letters_the_message(store: Store, relay_store: RelayStore,
                                                            clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    limit = DeliverySettings().max_unanswered
    for _ in range(limit):  # each claim dies with its worker: no outcome is ever recorded
        relay_store.claim(owner="doomed", now=clock.now(), lease_seconds=60, limit=10)
        clock.advance(seconds=61)
    transport = MockTransport()
    assert make(relay_store, transport, clock).run_once().dead == 1
    assert transport.sent == [] and "without an outcome" in (row(store, key).last_error or "")
