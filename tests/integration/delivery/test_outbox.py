"""The outbox queries the service and the pull API call (issue 7, items 1, 3, 4, 5)."""

from __future__ import annotations

from delivery_helpers import START, enqueue, row
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapter.delivery import idempotency_key
from adapter.store import outbox
from adapter.store.db import transaction



def count(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return int(session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) or 0)


def test_idempotency_key_is_stable_and_distinct_per_recipient_and_kind() -> None:
    cert = "3f6b7a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert idempotency_key(cert, "0180") == idempotency_key(f"urn:uuid:{cert}", "0180", "certificate")
    keys = {idempotency_key(cert, k, kind) for k in ("0180", "1480") for kind in ("certificate", "withdrawal")}
    assert len(keys) == 4


def test_enqueue_twice_is_a_no_op(factory: sessionmaker[Session]) -> None:
    enqueue(factory, "c1")
    enqueue(factory, "c1")
    assert count(factory) == 1
    enqueue(factory, "c1", "1480")
    assert count(factory) == 2


def test_withhold_then_enqueue_again_releases(factory: sessionmaker[Session]) -> None:
    key = enqueue(factory, "c1")
    with transaction(factory) as session:
        assert outbox.withhold(session, submission_id="sub-c1", now=START) == 1
    assert row(factory, key).state == "withheld"
    with transaction(factory) as session:
        assert outbox.withhold(session, submission_id="sub-c1", now=START) == 0
    enqueue(factory, "c1")
    assert row(factory, key).state == "pending"
    assert count(factory) == 1


def test_withhold_leaves_delivered_alone(factory: sessionmaker[Session]) -> None:
    key = enqueue(factory, "c1")
    with transaction(factory) as session:
        session.scalar(select(outbox.OutboxMessage)).state = "delivered"
    with transaction(factory) as session:
        assert outbox.withhold(session, submission_id="sub-c1") == 0
    assert row(factory, key).state == "delivered"


def test_recipients_of_lists_every_live_or_received_recipient(factory: sessionmaker[Session]) -> None:
    enqueue(factory, "c1", "0180")
    enqueue(factory, "c1", "1480")
    enqueue(factory, "c1", "1280")
    enqueue(factory, "c1", "0180", kind="withdrawal")
    with transaction(factory) as session:
        outbox.withhold(session, submission_id="other")  # another submission: no effect
        assert outbox.recipients_of(session, "c1") == ["0180", "1280", "1480"]
        assert outbox.recipients_of(session, "c2") == []


def test_withdraw_unsent_cancels_only_never_claimed(factory: sessionmaker[Session]) -> None:
    key = enqueue(factory, "c1", "0180")
    with transaction(factory) as session:
        assert outbox.withdraw_unsent(session, certificate_id="c1", kommunkod="0180")
    assert row(factory, key).state == "withdrawn"
    key2 = enqueue(factory, "c2", "0180")
    with transaction(factory) as session:
        session.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.idempotency_key == key2)).attempts = 1
    with transaction(factory) as session:
        assert not outbox.withdraw_unsent(session, certificate_id="c2", kommunkod="0180")
    assert row(factory, key2).state == "pending"


def test_pull_lists_until_acknowledged_and_ack_is_idempotent(factory: sessionmaker[Session]) -> None:
    key = enqueue(factory, "c1", "1280")
    enqueue(factory, "c2", "0180")
    with transaction(factory) as session:
        assert [m["id"] for m in outbox.list_for_pull(session, "1280")] == [key]
        assert outbox.fetch_for_pull(session, "0180", key) is None  # not theirs
        assert outbox.acknowledge(session, "0180", key) is None
        assert outbox.acknowledge(session, "1280", key, now=START + 5) == "acknowledged"
        assert outbox.acknowledge(session, "1280", key) == "acknowledged"
        assert outbox.list_for_pull(session, "1280") == []
    assert row(factory, key).acknowledged_at == START + 5


def test_admin_retry_and_dead_letter(factory: sessionmaker[Session]) -> None:
    key = enqueue(factory, "c1")
    with transaction(factory) as session:
        assert outbox.dead_letter(session, key, reason="wrong endpoint") == "dead"
        assert outbox.dead_letter(session, "nope", reason="x") is None
    assert row(factory, key).last_error == "operator: wrong endpoint"
    with transaction(factory) as session:
        assert [c for c in outbox.queue_counts(session)] == [("dead", "0180", 1)]
        assert outbox.retry(session, key, now=START + 9) == "pending"
        assert outbox.retry(session, "nope") is None
    again = row(factory, key)
    assert (again.state, again.attempts, again.next_attempt_at) == ("pending", 0, START + 9)


def test_delivery_status_reports_attempts_and_error(factory: sessionmaker[Session]) -> None:
    enqueue(factory, "c1", "0180")
    with transaction(factory) as session:
        [status] = outbox.delivery_status(session, "sub-c1")
    assert (status["kommunkod"], status["state"], status["attempts"], status["lastError"]) == \
        ("0180", "pending", 0, None)
