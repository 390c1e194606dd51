"""The transactional outbox and its receipts (issue 7).

"Accepted" means committed together with its outbox row: the service calls
:func:`enqueue_delivery` inside the transaction that records the consent decision,
and a relay delivers later. A crash anywhere loses nothing, because a row leaves
``pending`` only on a recipient's positive receipt (or a pull acknowledgement).

Claiming (:class:`SqlOutboxStore`):

* SQLite: one claimer at a time. SQLAlchemy silently drops ``FOR UPDATE SKIP LOCKED``
  there, so the claim runs in a ``BEGIN IMMEDIATE`` transaction (the database write
  lock) and gives the claimed rows a lease (``lease_until``).
* PostgreSQL: several workers claim at once with ``SELECT ... FOR UPDATE SKIP LOCKED``;
  each row goes to exactly one of them.

Either way a claim sets a fresh ``claim_token`` and increments ``attempts``; every later
write is ``WHERE claim_token = :token AND state = 'pending'``, so a worker whose lease
expired (and whose message was taken over) cannot mark a row it no longer owns. A
stalled claim is claimable again only once ``lease_until`` has passed, never before.

Per recipient, messages of one certificate go in order: a withdrawal or replacement is
not claimed while an earlier message of the same certificate to the same municipality
is still pending.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import (Float, ForeignKey, Index, Integer, LargeBinary, String, Text, and_, exists,
                        func, or_, select, update)
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from adapter.delivery.model import Claimed, Kind, Receipt, Recipient, State
from adapter.store.db import Base

# States from which a message can still reach its recipient.
LIVE = (State.PENDING.value, State.AVAILABLE.value)
RECEIVED = (State.DELIVERED.value, State.ACKNOWLEDGED.value)


class OutboxMessage(Base):
    """One signed document for one recipient. Times are POSIX seconds (UTC), comparable in SQL."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_claim", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    submission_id: Mapped[str] = mapped_column(String(80), index=True)
    certificate_id: Mapped[str] = mapped_column(String(80), index=True)
    replaces: Mapped[str | None] = mapped_column(String(80))
    kommunkod: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=State.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[float | None] = mapped_column(Float)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    acknowledged_at: Mapped[float | None] = mapped_column(Float)


class DeliveryReceipt(Base):
    """One row per attempt: what the recipient answered (or why there was no answer)."""

    __tablename__ = "delivery_receipt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)


def _status(session: Session, submission_id: str, status: str, reason: str, at: float) -> None:
    """Record a step on the submission's Task history (the service's ``add_status``).

    Skipped when the submission row does not exist (a queue filled by hand or by a test)."""
    from adapter.store.models import Submission
    from adapter.store.submissions import add_status

    if session.get(Submission, submission_id) is not None:
        add_status(session, submission_id, status, reason, datetime.fromtimestamp(at, timezone.utc))


# -- called by the service, inside its transaction -----------------------------------------

def enqueue_delivery(session: Session, *, submission_id: str, certificate_id: str, kommunkod: str,
                     kind: str, document: bytes, idempotency_key: str, replaces: str | None = None,
                     now: float | None = None) -> None:
    """Queue ``document`` for ``kommunkod``. The same key twice is a no-op, except that a
    message withheld by a revoked consent is released again (a new consent permits it)."""
    at = time.time() if now is None else now
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key))
    if existing is not None:
        if existing.state == State.WITHHELD.value:
            existing.state, existing.next_attempt_at, existing.updated_at = State.PENDING.value, at, at
        return
    Kind(kind)  # a programmer error, not user input: fail loudly on an unknown kind
    session.add(OutboxMessage(
        idempotency_key=idempotency_key, submission_id=submission_id, certificate_id=certificate_id,
        replaces=replaces, kommunkod=kommunkod, kind=kind, document=document,
        state=State.PENDING.value, attempts=0, next_attempt_at=at, created_at=at, updated_at=at))
    session.flush()


def withhold(session: Session, *, submission_id: str, now: float | None = None) -> int:
    """Consent revoked: everything of the submission not yet delivered is withheld. Returns the count.

    A message a worker is pushing right now may still arrive; its receipt is then refused by
    the fence (state is no longer pending) and it stays withheld here (see docs/delivery.md)."""
    at = time.time() if now is None else now
    count = _rowcount(session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.submission_id == submission_id, OutboxMessage.state.in_(LIVE))
        .values(state=State.WITHHELD.value, claim_token=None, lease_until=None, updated_at=at,
                last_error="consent revoked")
        .execution_options(synchronize_session=False)))
    if count:
        _status(session, submission_id, "withheld", f"{count} delivery(ies) withheld", at)
    return count


def recipients_of(session: Session, certificate_id: str) -> list[str]:
    """Kommunkoder that received, or are about to receive, ``certificate_id`` (withdrawals aside)."""
    rows = session.scalars(
        select(OutboxMessage.kommunkod).distinct()
        .where(OutboxMessage.certificate_id == certificate_id,
               OutboxMessage.kind != Kind.WITHDRAWAL.value,
               OutboxMessage.state.in_(LIVE + RECEIVED)))
    return sorted(rows)


def withdraw_unsent(session: Session, *, certificate_id: str, kommunkod: str, now: float | None = None) -> bool:
    """Cancel a pending message of ``certificate_id`` that no worker ever handed to the network.

    True when cancelled (the recipient never saw it, so no withdrawal needs to go there).
    ``attempts = 0`` is the proof: a claim increments it before any push. Atomic on both
    databases: the UPDATE re-checks its WHERE after waiting for a concurrent claim."""
    at = time.time() if now is None else now
    count = _rowcount(session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.certificate_id == certificate_id, OutboxMessage.kommunkod == kommunkod,
               OutboxMessage.kind != Kind.WITHDRAWAL.value, OutboxMessage.state == State.PENDING.value,
               OutboxMessage.attempts == 0)
        .values(state=State.WITHDRAWN.value, updated_at=at, last_error="withdrawn before delivery")
        .execution_options(synchronize_session=False)))
    return bool(count)


def delivery_status(session: Session, submission_id: str) -> list[dict[str, Any]]:
    """Per recipient and kind: state, attempts, last error and times (for the submission's Task)."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.submission_id == submission_id)
                           .order_by(OutboxMessage.id))
    return [_summary(r) for r in rows]


def _summary(row: OutboxMessage) -> dict[str, Any]:
    return {"id": row.idempotency_key, "kommunkod": row.kommunkod, "kind": row.kind, "state": row.state,
            "attempts": row.attempts, "lastError": row.last_error, "certificateId": row.certificate_id,
            "submissionId": row.submission_id, "createdAt": row.created_at,
            "deliveredAt": row.delivered_at, "acknowledgedAt": row.acknowledged_at,
            "nextAttemptAt": row.next_attempt_at if row.state == State.PENDING.value else None}


# -- pull ------------------------------------------------------------------------------------

def list_for_pull(session: Session, kommunkod: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Messages addressed to ``kommunkod`` that are not yet acknowledged (nor withheld or dead)."""
    rows = session.scalars(select(OutboxMessage)
                           .where(OutboxMessage.kommunkod == kommunkod, OutboxMessage.state.in_(LIVE))
                           .order_by(OutboxMessage.id).limit(limit))
    return [_summary(r) for r in rows]


def fetch_for_pull(session: Session, kommunkod: str, message_id: str) -> OutboxMessage | None:
    """The message ``message_id`` (its idempotency key) if it is addressed to ``kommunkod``."""
    return session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == message_id,
                                                      OutboxMessage.kommunkod == kommunkod))


def acknowledge(session: Session, kommunkod: str, message_id: str, *, now: float | None = None) -> str | None:
    """Mark a pulled message acknowledged. Returns the resulting state, None when not found.

    Idempotent: acknowledging twice answers ``acknowledged`` again. A withheld or dead
    message cannot be acknowledged (its state is returned unchanged)."""
    at = time.time() if now is None else now
    row = fetch_for_pull(session, kommunkod, message_id)
    if row is None:
        return None
    if row.state in LIVE:
        row.state, row.acknowledged_at, row.updated_at = State.ACKNOWLEDGED.value, at, at
        row.claim_token, row.lease_until = None, None
        _status(session, row.submission_id, "acknowledged", f"acknowledged by {kommunkod}", at)
    return row.state


# -- administration ----------------------------------------------------------------------------

def queue_counts(session: Session) -> list[tuple[str, str, int]]:
    """(state, kommunkod, count), for ``adapter queue list``."""
    rows = session.execute(select(OutboxMessage.state, OutboxMessage.kommunkod, func.count())
                           .group_by(OutboxMessage.state, OutboxMessage.kommunkod)
                           .order_by(OutboxMessage.state, OutboxMessage.kommunkod))
    return [(s, k, int(n)) for s, k, n in rows]


def list_messages(session: Session, *, state: str | None = None, kommunkod: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    query = select(OutboxMessage).order_by(OutboxMessage.id).limit(limit)
    if state:
        query = query.where(OutboxMessage.state == state)
    if kommunkod:
        query = query.where(OutboxMessage.kommunkod == kommunkod)
    return [_summary(r) for r in session.scalars(query)]


def retry(session: Session, message_id: str, *, now: float | None = None) -> str | None:
    """Put a dead-lettered (or pending) message back to pending with a fresh attempt budget."""
    at = time.time() if now is None else now
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == message_id))
    if row is None:
        return None
    if row.state in (State.DEAD.value, State.PENDING.value):
        row.state, row.attempts, row.next_attempt_at, row.updated_at = State.PENDING.value, 0, at, at
        row.claim_token, row.lease_until, row.lease_owner = None, None, None
    return row.state


def dead_letter(session: Session, message_id: str, *, reason: str, now: float | None = None) -> str | None:
    """Stop trying a pending message (an operator's decision, with its reason)."""
    at = time.time() if now is None else now
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == message_id))
    if row is None:
        return None
    if row.state in LIVE:
        row.state, row.last_error, row.updated_at = State.DEAD.value, f"operator: {reason}", at
        row.claim_token, row.lease_until = None, None
        _status(session, row.submission_id, "dead-lettered", row.last_error, at)
    return row.state


def requeue_reprocessed(session: Session, *, submission_id: str, documents: dict[str, bytes],
                        now: float | None = None) -> list[str]:
    """Give the dead-lettered messages of a submission a freshly derived document and a new budget.

    ``documents`` maps a kind to its new signed document. Only dead letters are touched: a
    pending message may be in flight, and a delivered one is the recipient's record. The key
    stays (the recipient never stored a rejected document). Returns the keys re-queued."""
    at = time.time() if now is None else now
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.submission_id == submission_id,
                                                            OutboxMessage.state == State.DEAD.value)))
    done = []
    for row in rows:
        if row.kind in documents:
            row.document, row.state, row.attempts = documents[row.kind], State.PENDING.value, 0
            row.next_attempt_at, row.updated_at, row.last_error = at, at, "reprocessed"
            row.claim_token, row.lease_until, row.lease_owner = None, None, None
            done.append(row.idempotency_key)
    if done:
        _status(session, submission_id, "reprocessed", f"{len(done)} delivery(ies) re-queued", at)
    return done


def receipts_of(session: Session, message_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(DeliveryReceipt).join(OutboxMessage)
                           .where(OutboxMessage.idempotency_key == message_id).order_by(DeliveryReceipt.id))
    return [{"attempt": r.attempt, "at": r.at, "outcome": r.outcome, "httpStatus": r.http_status,
             "reason": r.reason} for r in rows]


# -- the relay's Store port --------------------------------------------------------------------

class SqlOutboxStore:
    """:class:`adapter.delivery.model.Store` on SQLAlchemy; see the module docstring for claiming."""

    def __init__(self, engine: Engine, *, recipients: Callable[[str], Recipient | None]) -> None:
        self.engine = engine
        self.recipients = recipients

    def recipient(self, kommunkod: str) -> Recipient | None:
        return self.recipients(kommunkod)

    def claim(self, *, owner: str, now: float, lease_seconds: float, limit: int) -> list[Claimed]:
        with self.engine.connect() as conn:
            conn.begin()
            if conn.dialect.name == "sqlite":
                _begin_immediate(conn)
            ids = list(conn.scalars(_claimable(now, limit, skip_locked=conn.dialect.name != "sqlite")))
            claimed = [self._take(conn, row_id, owner, now + lease_seconds) for row_id in ids]
            conn.commit()
        return claimed

    def _take(self, conn: Connection, row_id: int, owner: str, until: float) -> Claimed:
        token = str(uuid.uuid4())
        o = OutboxMessage
        conn.execute(update(o).where(o.id == row_id).values(
            lease_owner=owner, lease_until=until, claim_token=token, attempts=o.attempts + 1))
        row = conn.execute(select(o.__table__).where(o.id == row_id)).one()
        return Claimed(id=row.id, token=token, attempts=row.attempts, idempotency_key=row.idempotency_key,
                       submission_id=row.submission_id, certificate_id=row.certificate_id,
                       kommunkod=row.kommunkod, kind=row.kind, document=row.document)

    def still_claimed(self, msg: Claimed) -> bool:
        with self.engine.connect() as conn:
            o = OutboxMessage
            found = conn.execute(select(o.id).where(o.id == msg.id, o.claim_token == msg.token,
                                                    o.state == State.PENDING.value)).first()
        return found is not None

    def mark_delivered(self, msg: Claimed, receipt: Receipt, *, now: float) -> bool:
        return self._finish(msg, receipt, now, "delivered", state=State.DELIVERED.value,
                            delivered_at=now, last_error=None)

    def mark_available(self, msg: Claimed, *, now: float) -> bool:
        return self._finish(msg, None, now, None, state=State.AVAILABLE.value)

    def mark_retry(self, msg: Claimed, receipt: Receipt, *, now: float, next_at: float) -> bool:
        return self._finish(msg, receipt, now, None, next_attempt_at=next_at, last_error=receipt.reason)

    def mark_dead(self, msg: Claimed, receipt: Receipt, *, now: float) -> bool:
        return self._finish(msg, receipt, now, "dead-lettered", state=State.DEAD.value,
                            last_error=receipt.reason)

    def _finish(self, msg: Claimed, receipt: Receipt | None, now: float, status: str | None,
                **values: Any) -> bool:
        with Session(self.engine) as session, session.begin():
            written = _rowcount(session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id, OutboxMessage.claim_token == msg.token,
                       OutboxMessage.state == State.PENDING.value)
                .values(claim_token=None, lease_until=None, updated_at=now, **values)
                .execution_options(synchronize_session=False))) == 1
            if receipt is not None:
                session.add(DeliveryReceipt(outbox_id=msg.id, attempt=msg.attempts, at=now,
                                            outcome=receipt.outcome.value, http_status=receipt.status,
                                            reason=receipt.reason or None, body=receipt.body or None))
            if written and status:
                detail = f"{msg.kind} to {msg.kommunkod}, attempt {msg.attempts}" + (
                    f": {receipt.reason}" if receipt is not None and receipt.reason else "")
                _status(session, msg.submission_id, status, detail, now)
        return written


def _rowcount(result: Any) -> int:
    # Session.execute is typed as Result; an UPDATE gives a CursorResult, which has rowcount.
    return int(cast(CursorResult[Any], result).rowcount)


def _begin_immediate(conn: Connection) -> None:
    # The project's engine (adapter.store.db.make_engine) already begins every SQLite
    # transaction IMMEDIATE; a plain engine does not, so take the write lock here.
    if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _claimable(now: float, limit: int, *, skip_locked: bool) -> Any:
    o = OutboxMessage
    earlier = aliased(OutboxMessage)
    # A withdrawal or replacement waits for an earlier pending message of its certificate.
    blocked = exists().where(
        earlier.kommunkod == o.kommunkod, earlier.id < o.id, earlier.state == State.PENDING.value,
        or_(earlier.certificate_id == o.certificate_id,
            and_(o.replaces.is_not(None), earlier.certificate_id == o.replaces)))
    query = (select(o.id)
             .where(o.state == State.PENDING.value, o.next_attempt_at <= now,
                    or_(o.lease_until.is_(None), o.lease_until <= now), ~blocked)
             .order_by(o.next_attempt_at, o.id).limit(limit))
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=o.__table__)
    return query


def registry_recipients(engine: Engine) -> Callable[[str], Recipient | None]:
    """A recipient lookup on the service's recipient registry (``adapter recipient add``)."""
    from adapter.store.models import Recipient as RecipientRow

    def lookup(kommunkod: str) -> Recipient | None:
        with Session(engine) as session:
            row = session.get(RecipientRow, kommunkod)
            if row is None or not row.active:
                return None
            return Recipient(kommunkod=row.kommunkod, mode=row.delivery_mode, endpoint=row.endpoint_url,
                             client_cert=row.mtls_cert_path, client_key=row.mtls_key_path,
                             ca_bundle=row.ca_bundle_path, max_attempts=row.max_attempts)
    return lookup


def static_recipients(recipients: Iterable[Recipient]) -> Callable[[str], Recipient | None]:
    """A recipient lookup from a fixed list (``adapter worker --recipients FILE``, tests)."""
    table = {r.kommunkod: r for r in recipients}
    return table.get
