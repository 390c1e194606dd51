"""The relay through the use-case layer, on each store, with a scripted transport (issue 7, items 1, 2, 5)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from delivery_helpers import START, enqueue, row, withhold
from hypothesis import given
from hypothesis import strategies as st

from adapter import errors
from adapter.delivery import Claimed, Envelope, Outcome, Receipt, Relay
from adapter.delivery.backoff import backoff_delay
from adapter.delivery.loop import run_loop
from adapter.flows.ports import RecipientRecord, Store
from adapter.flows.relay import RelayStore
from adapter.settings import DeliverySettings
from adapter.testing import FixedClock, MockTransport

SETTINGS = DeliverySettings(max_attempts=3, backoff_base=2.0, backoff_max=60.0, lease_seconds=60.0,
                            connect_timeout=1.0, read_timeout=2.0)


def relay(store: RelayStore, transport: MockTransport, clock: FixedClock, *,
          owner: str = "w1", settings: DeliverySettings = SETTINGS) -> Relay:
    return Relay(store, transport, settings=settings, owner=owner, clock=clock, rand=lambda: 0.5)


def answer(outcome: Outcome, status: int | None = None, reason: str = "") -> MockTransport:
    return MockTransport(lambda env: Receipt(outcome, status, reason))


def test_accepted_is_delivered_once(store: Store, relay_store: RelayStore,
                                    clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    transport = MockTransport()
    stats = relay(relay_store, transport, clock).run_once()
    assert (stats.claimed, stats.delivered) == (1, 1)
    assert row(store, key).state == "delivered"
    assert [e.idempotency_key for e in transport.sent] == [key]
    assert relay(relay_store, transport, clock).run_once().claimed == 0


def test_retry_uses_the_same_key_and_full_jitter_backoff(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    transport = answer(Outcome.RETRY, 503, "HTTP 503")
    r = relay(relay_store, transport, clock)
    assert r.run_once().retried == 1
    first = row(store, key)
    assert (first.state, first.attempts, first.next_attempt_at, first.last_error) == \
        ("pending", 1, START + timedelta(seconds=1.0), "HTTP 503")  # 0.5 * 2 * 2**0
    assert r.run_once().claimed == 0  # not due yet
    clock.advance(seconds=1.0)
    assert r.run_once().retried == 1
    assert row(store, key).next_attempt_at == clock.now() + timedelta(seconds=2.0)  # 0.5 * 2 * 2**1
    assert {e.idempotency_key for e in transport.sent} == {key}
    assert [e.attempt for e in transport.sent] == [1, 2]


def test_out_of_attempts_is_dead_lettered_with_last_error(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    r = relay(relay_store, answer(Outcome.RETRY, None, "transport error: ConnectTimeout"), clock)
    for _ in range(3):
        r.run_once()
        clock.advance(seconds=100)
    dead = row(store, key)
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 3, "transport error: ConnectTimeout")
    with store.transaction() as tx:
        assert [a.outcome for a in tx.attempts(key)] == ["retry"] * 3


def test_per_recipient_max_attempts_overrides(store: Store, relay_store: RelayStore,
                                              clock: FixedClock) -> None:
    key = enqueue(store, "c1", "1480")  # max_attempts=2 in the registry
    r = relay(relay_store, answer(Outcome.RETRY, 500), clock)
    r.run_once()
    clock.advance(seconds=100)
    r.run_once()
    assert (row(store, key).state, row(store, key).attempts) == ("dead", 2)


def test_rejection_is_terminal_with_reason(store: Store, relay_store: RelayStore,
                                           clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    stats = relay(relay_store, answer(Outcome.REJECTED, 422, "signature not verified"), clock).run_once()
    assert stats.dead == 1
    assert (row(store, key).state, row(store, key).last_error) == ("dead", "signature not verified")


def test_a_poison_message_does_not_block_the_others(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    poison = enqueue(store, "c-poison")
    good = [enqueue(store, f"c{i}") for i in range(3)]

    def handler(env: Envelope) -> Receipt:
        if env.idempotency_key == poison:
            raise RuntimeError("boom")
        return Receipt(Outcome.ACCEPTED, 201)
    stats = relay(relay_store, MockTransport(handler), clock).run_once()
    assert (stats.delivered, stats.retried) == (3, 1)
    assert [row(store, k).state for k in good] == ["delivered"] * 3
    assert row(store, poison).last_error == "relay error: RuntimeError"


def test_pull_recipient_becomes_available_without_a_push(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1", "1280")
    transport = MockTransport()
    assert relay(relay_store, transport, clock).run_once().available == 1
    assert row(store, key).state == "available" and transport.sent == []


def test_unknown_recipient_is_retried(store: Store, relay_store: RelayStore,
                                      clock: FixedClock) -> None:
    key = enqueue(store, "c1", "9999")
    relay(relay_store, MockTransport(), clock).run_once()
    assert row(store, key).last_error == "no recipient registered for kommunkod 9999"


def test_stalled_lease_is_taken_over_only_after_expiry(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    [stalled] = relay_store.claim(owner="dead-worker", now=clock.now(), lease_seconds=60, limit=10)
    clock.advance(seconds=59.9)
    assert relay_store.claim(owner="w2", now=clock.now(), lease_seconds=60, limit=10) == []
    clock.advance(seconds=0.1)
    [taken] = relay_store.claim(owner="w2", now=clock.now(), lease_seconds=60, limit=10)
    assert (taken.id, taken.attempts) == (stalled.id, 2) and taken.token != stalled.token
    # The dead worker wakes up: its lease is gone, so its writes are fenced off.
    assert not relay_store.mark_delivered(stalled, Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    assert row(store, key).state == "pending"
    assert relay_store.mark_delivered(taken, Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    assert row(store, key).state == "delivered"


class SlowClaimStore(RelayStore):
    """Time passes between the claim and the push (a slow database, a busy worker)."""

    def __init__(self, inner: RelayStore, clock: FixedClock, seconds: float) -> None:
        super().__init__(inner.store, recipients=inner.lookup)
        self.clock, self.seconds = clock, seconds

    def claim(self, **kw: Any) -> list[Claimed]:
        claimed = super().claim(**kw)
        if claimed:
            self.clock.advance(seconds=self.seconds)
        return claimed


@pytest.mark.parametrize(("late", "pushed"), [(56.0, 1), (57.0, 0)])
def test_messages_past_the_safe_lease_window_are_left(store: Store, relay_store: RelayStore, clock: FixedClock,
                                                      late: float, pushed: int) -> None:
    enqueue(store, "c1")
    transport = MockTransport()
    # lease 60 s, deadline 1 + 2 s: a push may start until 60 - 3 - 1 = 56 s after the claim.
    stats = relay(SlowClaimStore(relay_store, clock, late), transport, clock).run_once()
    assert (len(transport.sent), stats.skipped) == (pushed, 1 - pushed)


def test_a_lease_shorter_than_the_push_deadline_is_refused(relay_store: RelayStore, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="lease"):
        relay(relay_store, MockTransport(), clock, settings=replace(SETTINGS, push_deadline=59.5))
    relay(relay_store, MockTransport(), clock, settings=replace(SETTINGS, push_deadline=58.5))


@pytest.mark.parametrize("kind", ["withdrawal", "replacement"])
def test_a_follow_up_waits_for_its_pending_certificate(store: Store, relay_store: RelayStore, clock: FixedClock,
                                                       kind: str) -> None:
    original = enqueue(store, "c1")
    follow_up = (enqueue(store, "c1", kind="withdrawal") if kind == "withdrawal"
                 else enqueue(store, "c2", kind="replacement", replaces="c1"))
    other = enqueue(store, "c9", "1480")
    elsewhere = enqueue(store, "c1", "1480", kind="withdrawal")  # nothing pending of c1 at 1480
    claimed = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    assert {c.idempotency_key for c in claimed} == {original, other, elsewhere}
    for c in claimed:
        relay_store.mark_delivered(c, Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    later = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    assert [c.idempotency_key for c in later] == [follow_up]


def test_a_withdrawal_of_the_original_waits_for_its_pending_replacement(store: Store, relay_store: RelayStore,
                                                                       clock: FixedClock) -> None:
    # The original went out; then a replacement and a withdrawal of the original were queued. With
    # several lanes the withdrawal must not overtake the replacement (the receiver would end with a
    # live replacement of a withdrawn certificate); found by test_service_flow after the lanes landed.
    enqueue(store, "c1")
    [first] = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    relay_store.mark_delivered(first, Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    replacement = enqueue(store, "c2", kind="replacement", replaces="c1")
    withdrawal = enqueue(store, "c1", kind="withdrawal")
    claimed = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    assert [c.idempotency_key for c in claimed] == [replacement]
    relay_store.mark_delivered(claimed[0], Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    later = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    assert [c.idempotency_key for c in later] == [withdrawal]


def test_held_while_in_flight_stays_uncertain(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    [msg] = relay_store.claim(owner="w1", now=clock.now(), lease_seconds=60, limit=10)
    assert withhold(store, "sub-c1") == 1  # claimed: it may be on the wire, so the recipient may hold it
    assert not relay_store.mark_delivered(msg, Receipt(Outcome.ACCEPTED, 201), now=clock.now())
    assert row(store, key).state == "uncertain"


class RevokeAfterClaimStore(RelayStore):
    """The patient revokes consent between the claim and the push."""

    def __init__(self, inner: RelayStore, store: Store) -> None:
        super().__init__(inner.store, recipients=inner.lookup)
        self.outer = store

    def claim(self, **kw: Any) -> list[Claimed]:
        claimed = super().claim(**kw)
        for msg in claimed:
            withhold(self.outer, msg.submission_id)
        return claimed


def test_consent_revoked_while_waiting_in_a_batch_is_never_sent(store: Store, relay_store: RelayStore,
                                                                clock: FixedClock) -> None:
    first, second = enqueue(store, "c1"), enqueue(store, "c2")
    transport = MockTransport()
    stats = relay(RevokeAfterClaimStore(relay_store, store), transport, clock).run_once()
    assert (stats.claimed, stats.delivered, stats.fenced) == (2, 0, 2)
    assert transport.sent == []
    assert row(store, first).state == row(store, second).state == "withheld"


def test_a_taken_over_claim_is_not_sent(store: Store, relay_store: RelayStore,
                                        clock: FixedClock) -> None:
    enqueue(store, "c1")
    [stale] = relay_store.claim(owner="slow", now=clock.now(), lease_seconds=1, limit=10)
    clock.advance(seconds=2)
    [fresh] = relay_store.claim(owner="w2", now=clock.now(), lease_seconds=60, limit=10)
    assert not relay_store.still_claimed(stale) and relay_store.still_claimed(fresh)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2.0), (2, 4.0), (5, 32.0), (7, 60.0), (5000, 60.0)])
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, base=2.0, cap=60.0, rand=lambda: 1.0) == ceiling
    assert backoff_delay(attempt, base=2.0, cap=60.0, rand=lambda: 0.0) == 0.0


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, base=2.0, cap=60.0, rand=lambda: 1.0)


def test_crashing_worker_attempts_count_toward_dead_letter(store: Store, relay_store: RelayStore, clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    for _ in range(3):  # three workers die holding the message
        relay_store.claim(owner="doomed", now=clock.now(), lease_seconds=60, limit=10)
        clock.advance(seconds=61)
    transport = MockTransport()
    assert relay(relay_store, transport, clock, settings=replace(SETTINGS, max_attempts=3)).run_once().dead == 1
    assert transport.sent == [] and row(store, key).state == "dead"


@given(attempt=st.integers(min_value=1, max_value=10_000), base=st.floats(min_value=0.01, max_value=60),
       cap=st.floats(min_value=0.01, max_value=86_400), r=st.floats(min_value=0, max_value=1))
def test_backoff_stays_within_full_jitter_bounds(attempt: int, base: float, cap: float, r: float) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, rand=lambda: r)
    assert 0 <= delay <= cap
    if attempt <= 60:
        assert delay <= base * 2 ** (attempt - 1)
    ceiling = backoff_delay(attempt, base=base, cap=cap, rand=lambda: 1.0)
    assert backoff_delay(attempt + 1, base=base, cap=cap, rand=lambda: 1.0) >= ceiling  # never shrinks


class AwayOnceStore(RelayStore):
    """The database is unreachable for the first claim, then back."""

    def __init__(self, inner: RelayStore) -> None:
        super().__init__(inner.store, recipients=inner.lookup)
        self.claims = 0

    def claim(self, **kw: Any) -> list[Claimed]:
        self.claims += 1
        if self.claims == 1:
            raise errors.StoreUnavailable()
        return super().claim(**kw)


def test_the_loop_survives_a_failing_pass_and_stops_on_request(store: Store, relay_store: RelayStore,
                                                               clock: FixedClock) -> None:
    key = enqueue(store, "c1")
    stop = threading.Event()
    passes = run_loop(relay(AwayOnceStore(relay_store), MockTransport(), clock), stop=stop, poll_interval=0.01,
                      max_passes=3)
    assert passes == 3 and row(store, key).state == "delivered"
    stop.set()
    assert run_loop(relay(relay_store, MockTransport(), clock), stop=stop, poll_interval=0.01) == 0


def test_registry_recipient_carries_its_server_trust_anchors(store: Store) -> None:
    from stores import register

    register(store, recipients=[
        RecipientRecord("1280", "Socialnämnden i Malmö", mode="push", endpoint="https://intyg.malmo.example/inbox",
                        ca_bundle="/etc/lisn/malmo-ca.pem"),
        RecipientRecord("0380", "Socialnämnden i Uppsala", mode="push", endpoint="https://intyg.uppsala.example/inbox")])
    lookup = RelayStore(store)
    malmo, uppsala = lookup.recipient("1280"), lookup.recipient("0380")
    assert malmo is not None and malmo.ca_bundle == "/etc/lisn/malmo-ca.pem"
    assert uppsala is not None and uppsala.ca_bundle is None
    assert lookup.recipient("9999") is None


def test_an_open_circuit_skips_one_recipient_and_not_the_others(store: Store, relay_store: RelayStore,
                                                                 clock: FixedClock) -> None:
    down = [enqueue(store, f"down{i}", "0180") for i in range(5)]
    fine = [enqueue(store, f"ok{i}", "1480") for i in range(5)]
    healthy = {"up": False}

    def handler(env: Envelope) -> Receipt:
        if env.idempotency_key in down and not healthy["up"]:
            return Receipt(Outcome.RETRY, 503, "HTTP 503 without a readable receipt")
        return Receipt(Outcome.ACCEPTED, 201)
    transport = MockTransport(handler)
    settings = replace(SETTINGS, max_attempts=0, breaker_failures=2, breaker_cooldown=300.0, per_recipient=1)
    r = relay(relay_store, transport, clock, settings=settings)
    for _ in range(3):
        r.run_once()
        clock.advance(seconds=5)
    assert all(row(store, k).state == "delivered" for k in fine)
    assert sum(e.idempotency_key in down for e in transport.sent) == 2  # then the circuit opened
    assert all("circuit open until" in (row(store, k).last_error or "") for k in down)
    assert all(row(store, k).next_attempt_at == START + timedelta(seconds=300) for k in down)
    # Half-open after the cool-down: one more failure opens it again at once.
    clock.advance(seconds=300)
    r.run_once()
    assert sum(e.idempotency_key in down for e in transport.sent) == 3
    # An answer closes it: everything waiting goes.
    clock.advance(seconds=300)
    healthy["up"] = True
    r.run_once()
    assert all(row(store, k).state == "delivered" for k in down)
