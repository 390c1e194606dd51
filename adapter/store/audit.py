"""The audit log: one append-only row per read or write of patient data, hash-chained.

Each row holds the hash of the previous row and a SHA-256 over its own fields and that
hash, so an edited row breaks its own hash and a removed row breaks the sequence or the
link. The chain's end is kept in the single ``audit_head`` row; appending locks it
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions already hold the one
write lock), so two workers can never fork the chain. :func:`record` runs in the
caller's session, i.e. in the same transaction as the action it records.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import String, select
from sqlalchemy.orm import Session

from adapter.clock import stamp
from adapter.store.models import AuditHeadRow, AuditRow

GENESIS = "0" * 64
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
HEAD_ID = 1
_FIELDS = ("seq", "at", "actor", "end_user", "action", "patient", "certificate", "outcome", "purpose",
           "prev_hash")


def row_hash(entry: AuditRow) -> str:
    body = json.dumps([getattr(entry, f) for f in _FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(session: Session, *, actor: str, action: str, outcome: str, end_user: str | None = None,
           patient: str | None = None, certificate: str | None = None, purpose: str | None = None,
           at: datetime | None = None) -> AuditRow:
    """Append one audit row in ``session``'s transaction and return it."""
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).with_for_update()).scalar_one()
    entry = AuditRow(seq=head.seq + 1, at=stamp(at or datetime.now(UTC)), actor=_fit("actor", actor),
                       end_user=_fit("end_user", end_user), action=action, patient=_fit("patient", patient),
                       certificate=_fit("certificate", certificate), outcome=outcome, purpose=purpose,
                       prev_hash=head.hash)
    entry.hash = row_hash(entry)
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


def _fit(column: str, value: str | None) -> str | None:
    """A refused request may carry an over-long value; the row is still written, the value clipped
    (a "…" marks it) rather than the database refusing it (PostgreSQL enforces lengths)."""
    if value is None:
        return None
    # Neither PostgreSQL text nor UTF-8 holds NUL or a lone surrogate: replaced, never refused.
    value = _CONTROL.sub("\ufffd", value.encode("utf-8", "replace").decode("utf-8"))
    limit = cast(String, AuditRow.__table__.c[column].type).length  # every clipped column is a String
    return value if limit is None or len(value) <= limit else value[:limit - 1] + "…"


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain breaks: the row (sequence number) and what is wrong with it."""

    seq: int
    problem: str


def verify(session: Session) -> tuple[int, ChainProblem | None]:
    """Check the whole chain; returns (rows checked, the first problem or None)."""
    # Streamed in batches (a server-side cursor on PostgreSQL), closed even when a problem ends the walk.
    result = session.execute(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=1000))
    try:
        return _walk(session, result.scalars())
    finally:
        result.close()


def _walk(session: Session, rows: Iterable[AuditRow]) -> tuple[int, ChainProblem | None]:
    expected_seq, prev, count = 1, GENESIS, 0
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            return count, ChainProblem(expected_seq, f"row {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != prev:
            return count, ChainProblem(entry.seq, "prev_hash does not match the previous row")
        if row_hash(entry) != entry.hash:
            return count, ChainProblem(entry.seq, "row was changed (hash mismatch)")
        expected_seq, prev = entry.seq + 1, entry.hash
    head = session.get(AuditHeadRow, HEAD_ID)
    if head is None or head.seq != expected_seq - 1 or head.hash != prev:
        return count, ChainProblem(expected_seq, "the chain's end does not match its head (rows removed at the end)")
    return count, None


def extract(session: Session, *, patient: str) -> list[AuditRow]:
    """Every audit row about one patient (personnummer or samordningsnummer), oldest first."""
    return list(session.execute(
        select(AuditRow).where(AuditRow.patient == patient).order_by(AuditRow.seq)).scalars())


def as_dict(entry: AuditRow) -> dict[str, object]:
    return {f: getattr(entry, f) for f in (*_FIELDS, "hash")}
