"""The audit log's seal (issue 13): a keyed MAC per row and signed checkpoints outside the database.

Each attack is run as an attacker would, with SQL alone (or SQL plus the key), through the real
SQL store on a SQLite file. Every SQL-only attack is also run (:func:`_attack`) on a copy of the
same log in the *old* form (an unkeyed SHA-256 chain whose head sits in the same database, no
checkpoint), where the old `adapter audit verify` logic (:func:`_unkeyed_verdict`) calls it
intact: the attack works once the protection is removed, so the test's failure is the protection's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapter.flows.ports import AuditEvent
from adapter.store import audit, migrate
from adapter.store.db import make_engine
from adapter.store.sql import SqlStore

KEY = b"0123456789abcdef0123456789abcdef"
FIELDS = ("seq", "at", "actor", "end_user", "action", "patient", "certificate", "outcome", "purpose", "prev_hash")
VICTIM = "191212121212"


@pytest.fixture
def seal(tmp_path: Path) -> audit.AuditSeal:
    return audit.AuditSeal(key=KEY, checkpoints=tmp_path / "elsewhere" / "audit-checkpoints.jsonl")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}")
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: sa.Engine, seal: audit.AuditSeal) -> SqlStore:
    return SqlStore(engine, seal=seal)


def _actions(store: SqlStore, n: int) -> None:
    """n requests, each its own committed transaction (as the service runs them)."""
    for i in range(n):
        with store.transaction() as tx:
            tx.audit(AuditEvent(at=datetime(2026, 12, 3, 12, i, tzinfo=UTC), actor="ehr", action="task-read",
                                outcome="ok", patient=VICTIM if i % 2 else "191010101010"))


def _verify(store: SqlStore) -> tuple[int, audit.ChainProblem | None]:
    assert store.seal is not None
    with store.session() as session:
        return audit.verify(session, store.seal)


def _unkeyed_verdict(engine: sa.Engine) -> bool:
    """What the pre-issue-13 `adapter audit verify` said: True for "intact" (unkeyed SHA-256 chain,
    head in the same database, no checkpoint)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
        head = conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    prev, seq = "0" * 64, 0
    for row in rows:
        body = json.dumps([row[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
        if row["seq"] != seq + 1 or row["prev_hash"] != prev or hashlib.sha256(body.encode()).hexdigest() != row["hash"]:
            return False
        prev, seq = row["hash"], row["seq"]
    return (head.seq, head.hash) == (seq, prev)


def _rechain_unkeyed(conn: sa.Connection) -> None:
    """The attacker's short script: re-number and re-hash every row, then fix the head (SQL only)."""
    rows = conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
    conn.execute(sa.text("DELETE FROM audit_log"))
    prev = "0" * 64
    for seq, row in enumerate(rows, 1):
        values = {**row, "seq": seq, "prev_hash": prev}
        body = json.dumps([values[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
        values["hash"] = prev = hashlib.sha256(body.encode()).hexdigest()
        conn.execute(sa.text("INSERT INTO audit_log VALUES (:seq, :at, :actor, :end_user, :action, :patient, "
                             ":certificate, :outcome, :purpose, :prev_hash, :hash)"), values)
    conn.execute(sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": len(rows), "h": prev})


def _attack(engine: sa.Engine, statements: Callable[[sa.Connection], None]) -> None:
    """Run ``statements`` on a copy of the log turned into the old unkeyed form (the old verify must
    call the result intact), then on the real database."""
    path = engine.url.database
    assert path is not None
    src, dst = sqlite3.connect(path), sqlite3.connect(path + ".old-scheme")
    src.backup(dst)
    src.close()
    dst.close()
    old = make_engine(f"sqlite:///{path}.old-scheme")
    with old.begin() as conn:
        _rechain_unkeyed(conn)
    assert _unkeyed_verdict(old)
    with old.begin() as conn:
        statements(conn)
    assert _unkeyed_verdict(old), "against the old scheme the attack goes unnoticed"
    old.dispose()
    with engine.begin() as conn:
        statements(conn)


def test_each_commit_writes_a_signed_checkpoint_outside_the_database(store: SqlStore, seal: audit.AuditSeal) -> None:
    _actions(store, 3)
    lines = [json.loads(x) for x in seal.checkpoints.read_text().splitlines()]
    assert [c["seq"] for c in lines] == [1, 2, 3]
    assert _verify(store) == (3, None)
    assert seal.checkpoints.stat().st_mode & 0o777 == 0o600


def test_a_rolled_back_transaction_writes_no_checkpoint(store: SqlStore, seal: audit.AuditSeal) -> None:
    _actions(store, 1)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.audit(AuditEvent(at=datetime(2026, 12, 3, tzinfo=UTC), actor="ehr", action="submit", outcome="ok"))
        raise RuntimeError("the action failed")
    assert len(seal.checkpoints.read_text().splitlines()) == 1
    assert _verify(store) == (1, None)


def test_truncation_with_sql_alone_is_detected(store: SqlStore, engine: sa.Engine) -> None:
    _actions(store, 6)

    def truncate(conn: sa.Connection) -> None:  # two statements: cut the last rows, move the head back
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq > 4"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)"))

    _attack(engine, truncate)
    count, problem = _verify(store)
    assert problem == audit.ChainProblem(5, "rows 5..6 are gone: a checkpoint says the log reached row 6 (truncated)")


def test_emptying_the_log_is_detected(store: SqlStore, engine: sa.Engine) -> None:
    _actions(store, 2)

    def empty(conn: sa.Connection) -> None:
        conn.execute(sa.text("DELETE FROM audit_log"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})

    _attack(engine, empty)
    assert _verify(store)[1] == audit.ChainProblem(1, "rows 1..2 are gone: a checkpoint says the log reached "
                                                      "row 2 (truncated)")


def test_erasing_one_patients_history_by_rechaining_is_detected(store: SqlStore, engine: sa.Engine) -> None:
    _actions(store, 6)

    def erase(conn: sa.Connection) -> None:
        conn.execute(sa.text("DELETE FROM audit_log WHERE patient = :p"), {"p": VICTIM})
        _rechain_unkeyed(conn)

    _attack(engine, erase)
    count, problem = _verify(store)
    assert problem == audit.ChainProblem(1, "row was changed (MAC mismatch)")
    with store.session() as session, pytest.raises(ValueError, match="keyed already"):
        audit.rekey(session, store.seal)  # type: ignore[arg-type] # the forgery cannot be blessed either


def test_forged_row_appended_without_the_key_is_detected(store: SqlStore, engine: sa.Engine) -> None:
    _actions(store, 2)

    def forge(conn: sa.Connection) -> None:
        head = conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
        values = {"seq": 3, "at": "2026-12-03T13:00:00.000000Z", "actor": "municipality-0180", "end_user": None,
                  "action": "task-read", "patient": VICTIM, "certificate": None, "outcome": "ok",
                  "purpose": "ekonomiskt-bistand", "prev_hash": head.hash}
        body = json.dumps([values[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
        values["hash"] = hashlib.sha256(body.encode()).hexdigest()
        conn.execute(sa.text("INSERT INTO audit_log VALUES (:seq, :at, :actor, :end_user, :action, :patient, "
                             ":certificate, :outcome, :purpose, :prev_hash, :hash)"), values)
        conn.execute(sa.text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": values["hash"]})

    _attack(engine, forge)
    assert _verify(store)[1] == audit.ChainProblem(3, "row was changed (MAC mismatch)")


def test_rechaining_with_the_key_is_caught_by_the_checkpoints(store: SqlStore, engine: sa.Engine,
                                                              seal: audit.AuditSeal) -> None:
    """Database plus key: the rows can be re-computed, but the checkpoint file (out of reach) still
    holds the old heads."""
    _actions(store, 4)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    with store.session() as session:
        prev = audit.GENESIS
        rows = list(session.execute(sa.select(audit.AuditRow).order_by(audit.AuditRow.seq)).scalars())
        for row in rows:
            session.delete(row)
        session.flush()
        for n, row in enumerate(rows, 1):
            fresh = audit.AuditRow(**{f: getattr(row, f) for f in FIELDS})
            fresh.seq, fresh.prev_hash = n, prev
            fresh.hash = prev = audit.row_hash(fresh, KEY)
            session.add(fresh)
        head = session.get(audit.AuditHeadRow, audit.HEAD_ID)
        assert head is not None
        head.seq, head.hash = len(rows), prev
    count, problem = _verify(store)
    assert problem is not None and "checkpoint" in problem.problem


def test_a_checkpoint_not_signed_with_the_key_is_refused(store: SqlStore, seal: audit.AuditSeal) -> None:
    _actions(store, 1)
    line = json.loads(seal.checkpoints.read_text())
    line["seq"] = 0  # "the log was empty": would excuse a truncation
    seal.checkpoints.write_text(json.dumps(line) + "\n")
    assert _verify(store)[1] == audit.ChainProblem(0, "checkpoint line 1 is not signed with the audit key")


def test_rows_without_any_checkpoint_are_not_called_intact(store: SqlStore, seal: audit.AuditSeal) -> None:
    _actions(store, 2)
    seal.checkpoints.unlink()
    problem = _verify(store)[1]
    assert problem is not None and problem.problem.startswith("no checkpoint")


def test_the_wrong_key_verifies_nothing(store: SqlStore, engine: sa.Engine, seal: audit.AuditSeal) -> None:
    _actions(store, 2)
    other = SqlStore(engine, seal=audit.AuditSeal(key=b"x" * 32, checkpoints=seal.checkpoints))
    assert _verify(other)[1] == audit.ChainProblem(0, "checkpoint line 1 is not signed with the audit key")


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        audit.AuditSeal(key=b"short", checkpoints=tmp_path / "c")
    (tmp_path / "k").write_bytes(b"short\n")
    with pytest.raises(ValueError):
        audit.load_key(tmp_path / "k")


def test_an_unkeyed_log_is_upgraded_by_rekey(store: SqlStore, engine: sa.Engine, seal: audit.AuditSeal) -> None:
    """The upgrade path: a log written by the unkeyed chain verifies after `adapter audit rekey`."""
    _actions(store, 3)
    seal.checkpoints.unlink()
    with engine.begin() as conn:
        _rechain_unkeyed(conn)  # exactly what the old code wrote
    problem = _verify(store)[1]
    assert problem is not None and "adapter audit rekey" in problem.problem
    with store.session() as session:
        assert audit.rekey(session, seal) == 3
    assert _verify(store) == (3, None)
    with store.session() as session, pytest.raises(ValueError, match="keyed already"):
        audit.rekey(session, seal)


def test_rekey_refuses_a_broken_unkeyed_chain(store: SqlStore, engine: sa.Engine, seal: audit.AuditSeal) -> None:
    _actions(store, 3)
    seal.checkpoints.unlink()
    with engine.begin() as conn:
        _rechain_unkeyed(conn)
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    with store.session() as session, pytest.raises(ValueError, match="row 2"):
        audit.rekey(session, seal)
