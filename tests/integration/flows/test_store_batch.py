"""The writes a SQL transaction holds back and sends at commit (``adapter.store.batch``).

On PostgreSQL they go in one ``WITH ... INSERT/UPDATE`` statement; on SQLite (and with
``together=False``) one statement per part. Both must leave exactly the rows the separate
statements of before left: every table, every column. The same transaction is run both ways on
the same database and the tables compared; a part the one statement dropped (or wrote twice, or
wrote differently) fails the comparison.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from test_store_transaction import NOW, PATIENT, consent, statements, statistics, submission

from adapter.flows.ports import AuditEvent, DecisionRecord, Match, StatusStep, Store, WriteConflict
from adapter.store import audit
from adapter.store.batch import ORDER
from adapter.store.models import Base
from adapter.store.sql import SqlStore, patient_lock_key

SKIP_COLUMNS = {"id"}
"""Autoincrement ids differ between the two runs (the sequences go on); every other column is compared."""


def _sql(store: Store) -> SqlStore:
    if not isinstance(store, SqlStore):
        pytest.skip("the SQL stores' batch")
    return store


def _one_submission(store: SqlStore, sid: str, *, together: bool | None) -> int:
    """A submission's transaction, every kind of held write in it; returns the batched statements sent."""
    with store.transaction() as tx:
        tx.together = together
        tx.add_submission(submission(sid), lock_patient=True)
        tx.add_step(sid, StatusStep("received", NOW))
        tx.add_step(sid, StatusStep("validated", NOW, reason="ok", reason_id="LISN_OK"))
        tx.add_statistics(statistics(sid))
        tx.update_statistics(sid, {"consent": "ja"})
        tx.add_consent(consent(f"c-{sid}"))
        tx.add_decision(sid, DecisionRecord("permit", "LISN_CONSENT_PERMIT", "ok", f"c-{sid}", NOW))
        tx.add_step(sid, StatusStep("consent-ok", NOW))
        tx.enqueue(key=f"k-{sid}", submission_id=sid, certificate_id=f"cert-{sid}", kommunkod="0180",
                   kind="certificate", document=b"<xml/>", replaces=None, at=NOW, care_unit="SE2321000016-15CQ")
        tx.accept(sid, accepted_key=f"certificate|x|{sid}", response={"resourceType": "Bundle", "id": sid})
        for action in ("submit", "submit-extra"):
            tx.audit(AuditEvent(at=NOW, actor="journal", action=action, outcome="accepted",
                                patient=PATIENT[1], certificate=f"cert-{sid}", purpose="test"))
    return tx.statements  # counted by the commit


def _tables(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a submission writes, without autoincrement ids, in a stable order."""
    out = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.c if not (c.name in SKIP_COLUMNS and isinstance(c.type, sa.Integer))]
            rows = conn.execute(sa.select(*columns)).all()
            out[table.name] = sorted(tuple(repr(v) for v in r) for r in rows)
    return out


@pytest.mark.parametrize("separately", [False, True], ids=["as-the-database-does", "one-per-part"])
def test_the_batch_writes_what_separate_statements_write(store: Store, separately: bool) -> None:
    sql = _sql(store)
    sent = _one_submission(sql, "s1", together=False if separately else None)
    batched = _tables(sql)
    # Every table a batch writes got its rows (a dropped part would leave one empty).
    for name in ORDER:
        assert batched[name], f"nothing written to {name}"
    from stores import empty

    empty(sql.engine)
    _one_submission(sql, "s1", together=False)
    assert _tables(sql) == batched
    postgres = sql.engine.dialect.name == "postgresql"
    assert sent == (1 if postgres and not separately else len(ORDER))  # one part per table


def test_the_batched_audit_rows_extend_the_chain_and_verify(store: Store) -> None:
    sql = _sql(store)
    _one_submission(sql, "s1", together=None)
    _one_submission(sql, "s2", together=None)
    with sql.session() as session:
        assert sql.seal is not None
        count, problem = audit.verify(session, sql.seal)
    assert (count, problem) == (4, None)
    checkpoints, bad = audit.read_checkpoints(sql.seal)
    assert bad is None and [seq for seq, _ in checkpoints] == [2, 4]


def test_a_submission_sends_its_held_writes_at_commit_in_one_statement(store: Store) -> None:
    sql = _sql(store)
    with statements(sql) as sent:
        _one_submission(sql, "s1", together=None)
    writes = [s for s in sent if not s.startswith(("SELECT", "BEGIN"))]
    if sql.engine.dialect.name == "postgresql":
        # The submission with its lock, the outbox row (its id is read back), then everything else at once.
        assert len(writes) == 3, writes
        assert writes[0].startswith("INSERT INTO submissions") and "pg_advisory_xact_lock" in writes[0]
        assert writes[2].startswith("WITH w0 AS (INSERT INTO consents")
        for name in ORDER:
            assert f"INTO {name} " in writes[2] or f"UPDATE {name} " in writes[2], name
    locks = [s for s in sent if "FOR UPDATE" in s]
    assert len(locks) == (1 if sql.engine.dialect.name == "postgresql" else 0)  # the audit head, once


def test_a_held_write_is_written_before_a_read_that_sees_it(store: Store) -> None:
    """Reads in the same transaction see the held writes: the batch goes first."""
    sql = _sql(store)
    with sql.transaction() as tx:
        tx.add_submission(submission("s1"))
    with sql.transaction() as tx:
        tx.add_consent(consent("c1"))
        found = tx.consent("c1")
        assert found is not None and found.id == "c1"
        tx.add_decision("s1", DecisionRecord("deny", "LISN_CONSENT_NONE", "none", "c1", NOW))
        latest = tx.latest_decision("s1")
        assert latest is not None and latest.consent_id == "c1"
        tx.add_step("s1", StatusStep("awaiting-consent", NOW))
        assert [s.status for s in tx.history("s1")] == ["awaiting-consent"]
        tx.accept("s1", accepted_key="k1", response={"resourceType": "Bundle"})
        assert [r.id for r in tx.waiting(PATIENT, ("awaiting-consent",))] == ["s1"]


def test_an_accepted_key_taken_is_a_conflict_at_commit(store: Store) -> None:
    sql = _sql(store)
    with sql.transaction() as tx:
        tx.add_submission(submission("s1"))
        tx.add_submission(submission("s2"))
        tx.accept("s1", accepted_key="same", response={"resourceType": "Bundle"})
    with pytest.raises(WriteConflict) as raised, sql.transaction() as tx:
        tx.add_step("s2", StatusStep("validated", NOW))
        tx.accept("s2", accepted_key="same", response={"resourceType": "Bundle"})
        tx.audit(AuditEvent(at=NOW, actor="journal", action="submit", outcome="accepted"))
    assert not raised.value.transient
    with sql.transaction() as tx:  # nothing of the refused transaction stayed: its status, its audit row
        assert [s.status for s in tx.history("s2")] == []
    with sql.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(audit.LOG)).scalar() == 0


def test_the_lock_and_the_insert_in_one_statement_take_the_patients_lock(store: Store) -> None:
    sql = _sql(store)
    if sql.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks: PostgreSQL")
    with sql.transaction() as tx:
        tx.add_submission(submission("s1"), lock_patient=True)
        with sql.engine.connect() as other:
            taken = other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"),
                                  {"k": patient_lock_key(PATIENT[1])}).scalar()
            other.rollback()
        assert taken is False
        with statements(sql) as sent:
            tx.lock_patient(PATIENT[1])  # held already: nothing sent
        assert sent == []
    assert tx.submission("s1") is not None


MATCHES = [Match(submission_id="s1"), Match(submission_id="s1", kommunkod="0180", kinds=("certificate",)),
           Match(submission_id="s1", kommunkod="0181"), Match(submission_id="s1", states=("pending",)),
           Match(submission_id="s1", states=("withheld",)), Match(submission_id="s1", care_unit="SE2321000016-15CQ"),
           Match(submission_id="s1", certificate_id="cert-s1", kinds=("withdrawal",)),
           Match(submission_id="s1", key="k2")]


@pytest.mark.parametrize("match", MATCHES, ids=range(len(MATCHES)))
def test_a_new_submissions_messages_are_answered_as_the_outbox_would(store: Store, match: Match) -> None:
    """Without a query (nothing else can know the new id), and the same as the query."""
    sql = _sql(store)
    from adapter.store import outbox

    with sql.transaction() as tx:
        tx.add_submission(submission("s1"))
        for key, kommunkod in (("k2", "0181"), ("k1", "0180")):
            tx.enqueue(key=key, submission_id="s1", certificate_id="cert-s1", kommunkod=kommunkod,
                       kind="certificate", document=b"<xml/>", replaces=None, at=NOW, care_unit="SE2321000016-15CQ")
        with statements(sql) as sent:
            answered = tx.messages(match)
        assert sent == []
        assert answered == outbox.messages(tx.session, match)
        tx.update_messages(Match(key="k1"), {"state": "withheld"}, at=NOW)
        with statements(sql) as sent:  # changed since: the query again
            assert tx.messages(match) == outbox.messages(tx.session, match)
        assert sent


def test_one_request_one_connection(store: Store) -> None:
    sql = _sql(store)
    checkouts: list[int] = []

    def checkout(*_: Any) -> None:
        checkouts.append(1)

    sa.event.listen(sql.engine, "checkout", checkout)
    try:
        with sql.request():
            with sql.transaction() as tx:
                first = tx.conn.connection.dbapi_connection
            with sql.transaction() as tx:
                assert tx.conn.connection.dbapi_connection is first
            with sql.request(), sql.transaction() as tx:  # nested: the same
                assert tx.conn.connection.dbapi_connection is first
        assert sql.engine.pool.checkedout() == 0  # given back when the request ends
        with sql.transaction() as tx:  # outside a request: a checkout of its own, as before
            tx.submission("none")
    finally:
        sa.event.remove(sql.engine, "checkout", checkout)
    assert len(checkouts) == 2


def test_the_outbox_statements_built_once_take_each_calls_values(store: Store) -> None:
    """Matches of one shape share a statement: the values are its parameters, never the first call's."""
    sql = _sql(store)
    with sql.transaction() as tx:
        tx.add_submission(submission("s1"))
    with sql.transaction() as tx:
        for key, kommunkod in (("k1", "0180"), ("k2", "0181"), ("k3", "0182")):
            tx.enqueue(key=key, submission_id="s1", certificate_id="cert-s1", kommunkod=kommunkod,
                       kind="certificate", document=b"<xml/>", replaces=None, at=NOW, care_unit="SE2321000016-15CQ")
    with sql.transaction() as tx:
        assert [m.key for m in tx.messages(Match(kommunkod="0181"))] == ["k2"]
        assert [m.key for m in tx.messages(Match(kommunkod="0182"))] == ["k3"]
        assert tx.update_messages(Match(key="k1", states=("pending",)), {"state": "withheld"}, at=NOW) == 1
        assert tx.update_messages(Match(key="k2", states=("pending", "withheld")), {"state": "dead"}, at=NOW) == 1
        assert tx.update_messages(Match(key="k3", states=("withheld",)), {"state": "dead"}, at=NOW) == 0
        assert [m.key for m in tx.messages(Match(submission_id="s1", states=("pending",)))] == ["k3"]
        assert [m.key for m in tx.messages(Match(submission_id="s1", states=("withheld", "dead")))] == ["k1", "k2"]
        assert [m.key for m in tx.messages(Match(submission_id="s1"), limit=1)] == ["k1"]
        assert [m.key for m in tx.messages(Match(submission_id="s1"), limit=2)] == ["k1", "k2"]
