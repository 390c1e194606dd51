"""The outbox part of the store port, on each store: the in-memory store answers as the databases do."""

from __future__ import annotations

import pytest
from delivery_helpers import CARE_UNIT, START, enqueue, row, withhold

from adapter.delivery import State, idempotency_key
from adapter.flows import ports
from adapter.flows.ports import Match, Store, WriteConflict


def test_idempotency_key_is_stable_and_distinct_per_recipient_and_kind() -> None:
    cert = "3f6b7a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    unit = "SE2321000016-15CQ"
    assert idempotency_key(cert, "0180", care_unit=unit) == idempotency_key(f"urn:uuid:{cert}", "0180", "certificate",
                                                                            care_unit=unit)
    keys = {idempotency_key(cert, k, kind, care_unit=u) for k in ("0180", "1480") for kind in ("certificate", "withdrawal")
            for u in (unit, "SE2321000016-9ZZZ")}
    assert len(keys) == 8  # another care unit's certificate under the same id is another certificate


def test_the_port_names_the_relay_states() -> None:
    assert {s.value for s in State} == {ports.PENDING, ports.AVAILABLE, ports.DELIVERED, ports.ACKNOWLEDGED,
                                        ports.WITHHELD, ports.DEAD, ports.WITHDRAWN, ports.UNCERTAIN}


def test_a_key_is_queued_once(store: Store) -> None:
    enqueue(store, "c1")
    with pytest.raises(WriteConflict):
        enqueue(store, "c1")
    with store.transaction() as tx:
        assert len(tx.messages(Match())) == 1


def test_messages_match_on_every_given_field(store: Store) -> None:
    a = enqueue(store, "c1", "0180")
    b = enqueue(store, "c1", "1480")
    c = enqueue(store, "c1", "0180", kind="withdrawal")
    d = enqueue(store, "c2", "0180", submission="s2")
    with store.transaction() as tx:
        def keys(**match: object) -> list[str]:
            return [m.key for m in tx.messages(Match(**match))]  # type: ignore[arg-type]
        assert keys() == [a, b, c, d]
        assert keys(certificate_id="c1", kommunkod="0180") == [a, c]
        assert keys(kinds=("certificate",)) == [a, b, d]
        assert keys(submission_id="s2") == [d]
        assert keys(key=b) == [b]
        assert keys(states=("dead",)) == []
        assert [m.key for m in tx.messages(Match(), limit=2)] == [a, b]


def test_an_update_changes_only_what_matches_and_counts_it(store: Store) -> None:
    key = enqueue(store, "c1")
    enqueue(store, "c2")
    assert withhold(store, "sub-c1") == 1
    assert withhold(store, "sub-c1") == 0  # no longer live
    assert row(store, key).state == "withheld"
    assert (row(store, key).last_error or "").startswith("LISN_CONSENT_INACTIVE")
    assert row(store, idempotency_key("c2", "0180", care_unit=CARE_UNIT)).state == "pending"


def test_never_sent_and_the_claim_fence(store: Store) -> None:
    key = enqueue(store, "c1")
    enqueue(store, "c2")
    with store.transaction() as tx:
        claimed = tx.claim(owner="w1", now=START, lease_seconds=60, limit=1)
        assert [c.key for c in claimed] == [key] and claimed[0].attempts == 1
        assert tx.update_messages(Match(key=key, never_sent=True), {"state": "withdrawn"}, at=START) == 0
        wrong = Match(claim=(claimed[0].id, "not-the-token"))
        assert tx.update_messages(wrong, {"state": "delivered"}, at=START) == 0
        right = Match(claim=(claimed[0].id, claimed[0].token), states=("pending",))
        assert tx.update_messages(right, {"state": "delivered", "delivered_at": START}, at=START) == 1
        # The fence is released by any update: the same token fences nothing afterwards.
        assert tx.update_messages(right, {"state": "dead"}, at=START) == 0
    assert (row(store, key).state, row(store, key).delivered_at, row(store, key).lease_owner) == \
        ("delivered", START, "w1")


def test_counts_by_state_and_recipient(store: Store) -> None:
    enqueue(store, "c1", "0180")
    enqueue(store, "c2", "0180")
    enqueue(store, "c3", "1480")
    withhold(store, "sub-c3")
    with store.transaction() as tx:
        assert tx.counts() == [("pending", "0180", 2), ("withheld", "1480", 1)]


def test_a_rolled_back_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.enqueue(key="k", submission_id="s", certificate_id="c", kommunkod="0180", kind="certificate",
                   document=b"<x/>", replaces=None, at=START)
        raise RuntimeError("crash before commit")
    with store.transaction() as tx:
        assert tx.messages(Match()) == []
