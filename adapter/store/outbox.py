"""The transactional outbox in SQL: messages, their conditional updates, claims and receipts.

"Accepted" means committed together with its outbox row: the use cases queue a document in
the transaction that records the consent decision, and a relay delivers later. Which state
follows which is decided by the use cases (``adapter.flows``); this module only runs the
statements, each atomic.

Claiming (:func:`claim`):

* SQLite: one claimer at a time. SQLAlchemy silently drops ``FOR UPDATE SKIP LOCKED``
  there, so the claim runs in a ``BEGIN IMMEDIATE`` transaction (the database write
  lock) and gives the claimed rows a lease (``lease_until``).
* PostgreSQL: several workers claim at once with ``SELECT ... FOR UPDATE SKIP LOCKED``;
  each row goes to exactly one of them.

Either way a claim sets a fresh ``claim_token`` and increments ``attempts``; every later
write names the token (:attr:`adapter.flows.ports.Match.claim`), so a worker whose lease
expired (and whose message was taken over) cannot mark a row it no longer owns. A stalled
claim is claimable again only once ``lease_until`` has passed, never before.

Per recipient, messages of one certificate go in order: a withdrawal or replacement is
not claimed while an earlier message of the same certificate to the same municipality
is still pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from adapter.flows.ports import PENDING, Attempt, Claim, Match, MessageChanges, OutboxMessage
from adapter.store.models import OutboxRow, ReceiptRow

_OUTBOX = cast(Table, OutboxRow.__table__)
_INSERT = insert(_OUTBOX)


def seconds(moment: datetime) -> float:
    """The outbox's stored form of an instant: POSIX seconds."""
    return moment.timestamp()


def instant(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def enqueue(session: Session, *, key: str, submission_id: str, certificate_id: str, kommunkod: str, kind: str,
            document: bytes, replaces: str | None, at: datetime, care_unit: str | None = None) -> OutboxMessage:
    """Queue one message (pending, due now) and return it as stored."""
    now = seconds(at)
    values: dict[str, Any] = {
        "idempotency_key": key, "submission_id": submission_id, "certificate_id": certificate_id,
        "replaces": replaces, "care_unit_hsa": care_unit, "kommunkod": kommunkod, "kind": kind,
        "document": document, "state": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
        "updated_at": now}
    result = session.connection().execute(_INSERT, values)
    row_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return OutboxMessage(id=row_id, key=key, submission_id=submission_id, certificate_id=certificate_id,
                         kommunkod=kommunkod, kind=kind, state=PENDING, attempts=0, document=document,
                         created_at=instant(now), next_attempt_at=instant(now), replaces=replaces,
                         care_unit=care_unit)


_EQUAL = (("key", "idempotency_key"), ("submission_id", "submission_id"), ("certificate_id", "certificate_id"),
          ("care_unit", "care_unit_hsa"), ("kommunkod", "kommunkod"))
_STATEMENTS: dict[tuple[Any, ...], Any] = {}
"""The statements of :func:`messages` and :func:`update_messages`, built once per shape of a
match (which fields it gives); the values are parameters (``m_<field>``)."""


def _shape(match: Match) -> tuple[Any, ...]:
    return (*(getattr(match, field) is not None for field, _ in _EQUAL), match.states is not None,
            match.kinds is not None, match.never_sent, match.claim is not None, match.unleased_at is not None,
            match.due_before is not None)


def _where(shape: tuple[Any, ...]) -> list[Any]:
    """The WHERE of a match of this shape, its values as parameters (:func:`_params`)."""
    o = _OUTBOX.c
    given = dict(zip(("states", "kinds", "never_sent", "claim", "unleased_at", "due_before"), shape[len(_EQUAL):],
                     strict=True))
    found = [o[column] == bindparam(f"m_{field}") for (field, column), present in zip(_EQUAL, shape, strict=False)
             if present]
    if given["states"]:
        found.append(o.state.in_(bindparam("m_states", expanding=True)))
    if given["kinds"]:
        found.append(o.kind.in_(bindparam("m_kinds", expanding=True)))
    if given["never_sent"]:
        found.append(o.attempts == 0)
    if given["claim"]:
        found += [o.id == bindparam("m_claim_id"), o.claim_token == bindparam("m_claim_token")]
    if given["unleased_at"]:
        found.append(or_(o.lease_until.is_(None), o.lease_until <= bindparam("m_unleased_at")))
    if given["due_before"]:
        found.append(o.next_attempt_at < bindparam("m_due_before"))
    return found


def _params(match: Match) -> dict[str, Any]:
    values: dict[str, Any] = {f"m_{field}": getattr(match, field) for field, _ in _EQUAL
                              if getattr(match, field) is not None}
    if match.states is not None:
        values["m_states"] = list(match.states)
    if match.kinds is not None:
        values["m_kinds"] = list(match.kinds)
    if match.claim is not None:
        values["m_claim_id"], values["m_claim_token"] = match.claim
    if match.unleased_at is not None:
        values["m_unleased_at"] = seconds(match.unleased_at)
    if match.due_before is not None:
        values["m_due_before"] = seconds(match.due_before)
    return values


def messages(session: Session, match: Match, limit: int | None = None) -> list[OutboxMessage]:
    shape = ("select", _shape(match), limit is not None)
    query = _STATEMENTS.get(shape)
    if query is None:
        query = select(_OUTBOX).where(*_where(shape[1])).order_by(_OUTBOX.c.id)
        if limit is not None:
            query = query.limit(bindparam("m_limit", type_=Integer))
        _STATEMENTS[shape] = query
    params = _params(match)
    if limit is not None:
        params["m_limit"] = limit
    return [message(r) for r in session.connection().execute(query, params)]


def message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id, key=row.idempotency_key, submission_id=row.submission_id, certificate_id=row.certificate_id,
        kommunkod=row.kommunkod, kind=row.kind, state=row.state, attempts=row.attempts, document=row.document,
        created_at=instant(row.created_at), next_attempt_at=instant(row.next_attempt_at), replaces=row.replaces,
        last_error=row.last_error, lease_owner=row.lease_owner, care_unit=row.care_unit_hsa,
        delivered_at=instant(row.delivered_at) if row.delivered_at is not None else None,
        acknowledged_at=instant(row.acknowledged_at) if row.acknowledged_at is not None else None)


def update_messages(session: Session, match: Match, changes: MessageChanges, at: datetime) -> int:
    """One UPDATE: on both databases it re-checks its WHERE after waiting for a concurrent claim."""
    values: dict[str, Any] = {k: seconds(v) if isinstance(v, datetime) else v for k, v in changes.items()}
    shape = ("update", _shape(match), tuple(sorted(values)))
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _STATEMENTS[shape] = (
            update(_OUTBOX).where(*_where(shape[1]))
            .values(claim_token=None, lease_until=None, updated_at=bindparam("c_updated_at"),
                    **{k: bindparam(f"c_{k}", type_=_OUTBOX.c[k].type) for k in shape[2]}))
    params = {**_params(match), "c_updated_at": seconds(at), **{f"c_{k}": v for k, v in values.items()}}
    return int(session.connection().execute(statement, params).rowcount)


def claim(session: Session, *, owner: str, now: datetime, lease_seconds: float, limit: int,
          exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claim]:
    """Claim due messages (see the module docstring); runs in the caller's transaction.

    ``exclude``: kommunkoder not to take (an open circuit, a recipient busy in this worker);
    ``per_recipient``: at most this many to one recipient (the candidates are over-fetched and
    thinned here, so one recipient's backlog does not fill the batch)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        _begin_immediate(session)
    fetch = limit if per_recipient is None else limit * 4
    rows = session.execute(_claimable(seconds(now), fetch, skip_locked=not sqlite, exclude=exclude)).all()
    taken: dict[str, int] = {}
    ids: list[int] = []
    for row_id, kommunkod in rows:
        if len(ids) >= limit:
            break
        if per_recipient is not None and taken.get(kommunkod, 0) >= per_recipient:
            continue
        taken[kommunkod] = taken.get(kommunkod, 0) + 1
        ids.append(row_id)
    return [_take(session, row_id, owner, seconds(now) + lease_seconds) for row_id in ids]


def _take(session: Session, row_id: int, owner: str, until: float) -> Claim:
    token = str(uuid.uuid4())
    o = OutboxRow
    session.execute(update(o).where(o.id == row_id).values(
        lease_owner=owner, lease_until=until, claim_token=token, attempts=o.attempts + 1)
        .execution_options(synchronize_session=False))
    row = session.execute(select(o.__table__).where(o.id == row_id)).one()
    return Claim(id=row.id, token=token, attempts=row.attempts, key=row.idempotency_key,
                 submission_id=row.submission_id, certificate_id=row.certificate_id,
                 kommunkod=row.kommunkod, kind=row.kind, document=row.document)


def _begin_immediate(session: Session) -> None:
    # The project's engine (adapter.store.db.make_engine) already begins every SQLite
    # transaction IMMEDIATE; a plain engine does not, so take the write lock here.
    conn = session.connection()
    if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _claimable(now: float, limit: int, *, skip_locked: bool, exclude: Collection[str] = ()) -> Any:
    o = OutboxRow
    earlier = aliased(OutboxRow)
    # A follow-up waits for an earlier pending message of its certificate: of the same certificate,
    # of the one it replaces, or a replacement of it (so a withdrawal of the original never
    # overtakes the replacement queued before it, whatever the number of lanes).
    blocked = exists().where(
        earlier.kommunkod == o.kommunkod, earlier.id < o.id, earlier.state == PENDING,
        earlier.care_unit_hsa.is_not_distinct_from(o.care_unit_hsa),
        or_(earlier.certificate_id == o.certificate_id,
            and_(o.replaces.is_not(None), earlier.certificate_id == o.replaces),
            earlier.replaces == o.certificate_id))
    query = (select(o.id, o.kommunkod)
             .where(o.state == PENDING, o.next_attempt_at <= now,
                    or_(o.lease_until.is_(None), o.lease_until <= now), ~blocked,
                    *([o.kommunkod.not_in(list(exclude))] if exclude else []))
             .order_by(o.next_attempt_at, o.id).limit(limit))
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=o.__table__)
    return query


def add_attempt(session: Session, message_id: int, attempt: Attempt) -> None:
    session.add(ReceiptRow(outbox_id=message_id, attempt=attempt.attempt, at=seconds(attempt.at),
                           outcome=attempt.outcome, http_status=attempt.http_status, reason=attempt.reason,
                           body=attempt.body))
    session.flush()


def attempts(session: Session, key: str) -> list[Attempt]:
    rows = session.scalars(select(ReceiptRow).join(OutboxRow, ReceiptRow.outbox_id == OutboxRow.id)
                           .where(OutboxRow.idempotency_key == key).order_by(ReceiptRow.id))
    return [Attempt(attempt=r.attempt, at=instant(r.at), outcome=r.outcome, http_status=r.http_status,
                    reason=r.reason, body=r.body) for r in rows]


def counts(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(select(OutboxRow.state, OutboxRow.kommunkod, func.count())
                           .group_by(OutboxRow.state, OutboxRow.kommunkod)
                           .order_by(OutboxRow.state, OutboxRow.kommunkod))
    return [(s, k, int(n)) for s, k, n in rows]
