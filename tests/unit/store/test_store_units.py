"""Store pieces on a throw-away SQLite file: tokens, audit chain, recipients, status history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from adapter.store import audit, clients, migrate, recipients
from adapter.store.db import make_engine, session_factory, transaction
from adapter.store.models import ClientRow

PEPPER = b"test-pepper"
KEY = b"k" * 32


@pytest.fixture
def seal(tmp_path: Path) -> audit.AuditSeal:
    return audit.AuditSeal(key=KEY, checkpoints=tmp_path / "outside" / "checkpoints.jsonl")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    with transaction(session_factory(engine)) as s:
        yield s


def test_token_is_stored_only_as_hmac(session: Session) -> None:
    info, token = clients.add_client(session, name="ehr", role="sender", pepper=PEPPER, care_units=("SE1",))
    row = session.get(ClientRow, info.id)
    assert row is not None and token not in (row.token_hash, row.token_prefix)
    assert row.token_hash == clients.token_hash(token, PEPPER)
    assert clients.by_token(session, token, PEPPER) == info
    assert clients.by_token(session, token, b"other pepper") is None
    assert clients.by_token(session, token + "x", PEPPER) is None
    assert clients.by_token(session, "garbage", PEPPER) is None


def test_rotated_token_replaces_the_old(session: Session) -> None:
    _, old = clients.add_client(session, name="ehr", role="sender", pepper=PEPPER, care_units=("SE1",))
    new = clients.rotate_token(session, name="ehr", pepper=PEPPER)
    assert new and clients.by_token(session, new, PEPPER) and clients.by_token(session, old, PEPPER) is None
    assert clients.rotate_token(session, name="nobody", pepper=PEPPER) is None


def test_unknown_role_is_refused(session: Session) -> None:
    with pytest.raises(ValueError):
        clients.add_client(session, name="x", role="root", pepper=PEPPER)


@pytest.mark.parametrize(("kwargs", "ok"), [
    ({"kommunkod": "0180", "name": "Stockholm"}, True),
    ({"kommunkod": "180", "name": "Stockholm"}, False),
    ({"kommunkod": "0180", "name": "S", "delivery_mode": "push"}, False),
    ({"kommunkod": "0180", "name": "S", "delivery_mode": "push", "endpoint_url": "https://x"}, True),
    ({"kommunkod": "0180", "name": "S", "delivery_mode": "fax"}, False),
])
def test_recipient_rules(session: Session, kwargs: dict[str, str], ok: bool) -> None:
    if ok:
        assert recipients.add_recipient(session, **kwargs).kommunkod == "0180"
    else:
        with pytest.raises(ValueError):
            recipients.add_recipient(session, **kwargs)


def _fill(session: Session, n: int, seal: audit.AuditSeal) -> None:
    for i in range(n):
        audit.record(session, seal, actor="ehr", action="submit", outcome="accepted",
                     patient=f"19121212121{i % 10}", at=datetime(2026, 11, 23, 12, i, tzinfo=UTC))
    # What the service does after every commit (here the session is still open).
    last = session.get(audit.AuditRow, n)
    assert last is not None
    audit.write_checkpoint(seal, n, last.hash)


def test_intact_chain_verifies(session: Session, seal: audit.AuditSeal) -> None:
    _fill(session, 5, seal)
    assert audit.verify(session, seal) == (5, None)
    assert [r.seq for r in audit.extract(session, patient="191212121212")] == [3]


@pytest.mark.parametrize(("tamper", "seq", "problem"), [
    ("UPDATE audit_log SET outcome = 'rejected' WHERE seq = 3", 3, "row was changed (MAC mismatch)"),
    ("UPDATE audit_log SET hash = 'x' WHERE seq = 3", 3, "row was changed (MAC mismatch)"),
    ("DELETE FROM audit_log WHERE seq = 2", 2, "row 2 is missing (next is 3)"),
    ("DELETE FROM audit_log WHERE seq = 1", 1, "row 1 is missing (next is 2)"),
    ("DELETE FROM audit_log WHERE seq = 5", 5, "the chain's end does not match its head (rows removed at the end)"),
    ("UPDATE audit_log SET prev_hash = hash WHERE seq = 4", 4, "prev_hash does not match the previous row"),
])
def test_tampering_is_detected(session: Session, seal: audit.AuditSeal, tamper: str, seq: int,
                               problem: str) -> None:
    _fill(session, 5, seal)
    session.execute(sa.text(tamper))
    assert audit.verify(session, seal)[1] == audit.ChainProblem(seq, problem)


def test_rehashed_edit_still_breaks_the_next_link(session: Session, seal: audit.AuditSeal) -> None:
    _fill(session, 3, seal)
    row = session.get(audit.AuditRow, 2)
    assert row is not None
    row.actor = "mallory"
    row.hash = audit.row_hash(row, seal.key)  # a forger who holds the key and recomputes the edited row
    session.flush()
    assert audit.verify(session, seal)[1] == audit.ChainProblem(3, "prev_hash does not match the previous row")
