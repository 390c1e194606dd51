"""What one transaction of a store keeps and batches answers as if every write had gone at once.

The SQL store (``adapter.store.sql.SqlTx``) keeps what a transaction read and wrote, writes some
things only before a read that sees them or at commit, and reads a locked patient's Consents once.
Each store (memory, SQLite, PostgreSQL) must answer these the same; the SQL ones are also held to
the statements they send.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.flows.ports import (
    ConsentRecord,
    Match,
    StatisticsRecord,
    StatusStep,
    Store,
    SubmissionRecord,
    WriteConflict,
)
from adapter.store.sql import SqlStore

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
PATIENT = ("http://electronichealth.se/identifier/personnummer", "191212121212")


def submission(sid: str, *, status: str = "received") -> SubmissionRecord:
    return SubmissionRecord(id=sid, certificate_id=f"cert-{sid}", event="certificate", kommunkod="0180",
                            care_unit_hsa="SE2321000016-15CQ", patient_system=PATIENT[0], patient_value=PATIENT[1],
                            status=status, received_at=NOW, content_hash="h", raw=b"{}", bundle={"resourceType": "Bundle"})


def statistics(sid: str) -> StatisticsRecord:
    return StatisticsRecord(submission_id=sid, sex="female", age_band="40-49", kommunkod="0180", region="01",
                            care_provider="SE2321000016-1AAA", month="2026-11", template_version="1.1",
                            diagnosis_chapter="F", work_capacity="nedsatt", activity_band="0", prognosis="okand",
                            debut_days=3, debut_band="0-30", replacement=False,
                            activities={"arbete": "delvis"}, measures=("a", "b"))


def consent(cid: str, *, at: datetime = NOW, status: str = "active") -> ConsentRecord:
    return ConsentRecord(id=cid, patient_system=PATIENT[0], patient_value=PATIENT[1], status=status,
                         content_hash=f"hash-{cid}", resource={"resourceType": "Consent", "id": cid, "status": status},
                         created_at=at, updated_at=at)


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store sends meanwhile (none for the memory store)."""
    sent: list[str] = []
    if not isinstance(store, SqlStore):
        yield sent
        return

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)


def test_a_status_written_later_is_what_the_same_transaction_reads(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_submission(submission("s1"))
        tx.accept("s1", accepted_key="certificate|x|1", response={"resourceType": "Bundle"})
        tx.add_step("s1", StatusStep("received", NOW))
        tx.add_step("s1", StatusStep("awaiting-consent", NOW + timedelta(seconds=1), reason="r", reason_id="LISN_X"))
        assert [r.id for r in tx.waiting(PATIENT, ("awaiting-consent",))] == ["s1"]
        assert tx.waiting(PATIENT, ("received",)) == []
        assert [s.status for s in tx.history("s1")] == ["received", "awaiting-consent"]
        found = tx.submission("s1")
        assert found is not None and found.status == "awaiting-consent" and found.accepted_key == "certificate|x|1"
    with store.transaction() as tx:  # as committed, read back from the database
        tx.add_step("s1", StatusStep("consent-ok", NOW + timedelta(seconds=2)))
        history = tx.history("s1")
        assert [(s.status, s.at, s.reason, s.reason_id) for s in history] == [
            ("received", NOW, None, None), ("awaiting-consent", NOW + timedelta(seconds=1), "r", "LISN_X"),
            ("consent-ok", NOW + timedelta(seconds=2), None, None)]
        assert [r.id for r in tx.waiting(PATIENT, ("consent-ok",))] == ["s1"]
        [again] = tx.submissions_of("cert-s1")
        assert again.status == "consent-ok" and again.received_at == NOW and again.bundle == {"resourceType": "Bundle"}
    with store.transaction() as tx:
        found = tx.submission("s1")
        assert found is not None and found.status == "consent-ok" and found.response == {"resourceType": "Bundle"}


def test_a_statistics_row_takes_the_changes_of_its_own_transaction(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_statistics(statistics("s1"))
        assert tx.update_statistics("s1", {"consent": "released"}) == 1
        assert tx.update_statistics("s1", {"delivery_days": 4, "delivery_band": "0-30"}) == 1
        assert tx.update_statistics("s1", {"delivery_days": 9, "delivery_band": "0-30"}) == 0  # the first one kept
        assert tx.update_statistics("s1", {}) == 0
        assert tx.update_statistics("nobody", {"consent": "released"}) == 0
        assert tx.tally_statistics(("consent", "delivery_band", "activity:arbete", "measure:b")) == [
            (("released", "0-30", "delvis", "ja"), 1)]
        tx.add_statistics(statistics("s2"))  # written only at commit
    with store.transaction() as tx:
        assert sorted(tx.tally_statistics(("consent",))) == [(("okand",), 1), (("released",), 1)]
        assert tx.update_statistics("s1", {"delivery_days": 7, "delivery_band": "0-30"}) == 0
        assert tx.update_statistics("s2", {"status": "withdrawn"}) == 1
    with store.transaction() as tx:
        assert sorted(tx.tally_statistics(("status",))) == [(("current",), 1), (("withdrawn",), 1)]


def test_a_statistics_row_twice_is_refused_and_nothing_stays(store: Store) -> None:
    with pytest.raises(WriteConflict), store.transaction() as tx:
        tx.add_statistics(statistics("s1"))
        tx.add_statistics(statistics("s1"))
    with store.transaction() as tx:
        assert tx.tally_statistics(("month",)) == []


def test_a_queued_message_reads_back_and_changes_with_an_update(store: Store) -> None:
    with store.transaction() as tx:
        tx.enqueue(key="k1", submission_id="s1", certificate_id="c1", kommunkod="0180", kind="certificate",
                   document=b"<x/>", replaces=None, at=NOW, care_unit="SE2321000016-15CQ")
        [queued] = tx.messages(Match(key="k1"))
        assert (queued.state, queued.attempts, queued.document, queued.created_at, queued.care_unit) == (
            "pending", 0, b"<x/>", NOW, "SE2321000016-15CQ")
        assert tx.update_messages(Match(key="k1"), {"state": "withheld", "last_error": "why"}, at=NOW) == 1
        [held] = tx.messages(Match(key="k1"))
        assert (held.state, held.last_error) == ("withheld", "why")
    with store.transaction() as tx:
        [again] = tx.messages(Match(key="k1"))
        assert again == held


def test_a_locked_patients_consents_are_read_once_and_follow_the_transactions_writes(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_consent(consent("c1"))
    with store.transaction() as tx, statements(store) as sent:
        tx.lock_patient(PATIENT[1])
        assert [c.id for c in tx.consents_of(PATIENT)] == ["c1"]
        assert tx.consent_with_hash(PATIENT[1], "hash-c1") is not None
        tx.add_consent(consent("c2", at=NOW + timedelta(seconds=1)))
        tx.add_consent(consent("c0", at=NOW - timedelta(seconds=1)))
        assert [c.id for c in tx.consents_of(PATIENT)] == ["c0", "c1", "c2"]
        [first] = [c for c in tx.consents_of(PATIENT) if c.id == "c1"]
        tx.update_consent(replace(first, status="inactive", resource=dict(first.resource, status="inactive"),
                                  updated_at=NOW + timedelta(minutes=1)))
        assert [c.status for c in tx.consents_of(PATIENT)] == ["active", "inactive", "active"]
        assert tx.consents_of((PATIENT[0], "191212121213")) == []
        assert tx.consent_with_hash(PATIENT[1], "hash-c2") is not None
        assert tx.consent_with_hash(PATIENT[1], "no such hash") is None
    reads = [s for s in sent if s.startswith("SELECT") and "FROM consents" in s]
    assert len(reads) == (0 if not isinstance(store, SqlStore) else 2)  # this patient once, the other once
    with store.transaction() as tx:
        stored = {c.id: (c.status, c.created_at, c.updated_at) for c in tx.consents_of(PATIENT)}
        assert stored == {"c0": ("active", NOW - timedelta(seconds=1), NOW - timedelta(seconds=1)),
                          "c1": ("inactive", NOW, NOW + timedelta(minutes=1)),
                          "c2": ("active", NOW + timedelta(seconds=1), NOW + timedelta(seconds=1))}


def test_an_unlocked_patients_consents_are_read_each_time(store: Store) -> None:
    """Without the patient's lock another transaction may commit a Consent meanwhile: read again."""
    with store.transaction() as tx:
        tx.add_consent(consent("c1"))
    with store.transaction() as tx, statements(store) as sent:
        tx.consents_of(PATIENT)
        tx.consents_of(PATIENT)
    reads = [s for s in sent if s.startswith("SELECT") and "FROM consents" in s]
    assert len(reads) == (0 if not isinstance(store, SqlStore) else 2)


def test_a_new_submission_is_not_read_back(store: Store) -> None:
    """A submission its transaction created: its row, history and decisions come from what it wrote."""
    if not isinstance(store, SqlStore):
        pytest.skip("statements: the SQL stores")
    from adapter.flows.ports import DecisionRecord

    with store.transaction() as tx, statements(store) as sent:
        tx.add_submission(submission("s1"))
        tx.add_step("s1", StatusStep("received", NOW))
        tx.add_decision("s1", DecisionRecord("permit", "LISN_CONSENT_PERMIT", "ok", None, NOW))
        for _ in range(3):
            assert tx.submission("s1") is not None
            assert [s.status for s in tx.history("s1")] == ["received"]
            latest = tx.latest_decision("s1")
            assert latest is not None and latest.decision == "permit" and latest.decided_at == NOW
            assert tx.ever_permitted("s1")
            assert [r.id for r in tx.submissions_of("cert-s1")] == ["s1"]
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 3 and all(s.startswith("SELECT submissions.id FROM") for s in reads), reads
