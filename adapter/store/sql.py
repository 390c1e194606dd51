"""The use cases' :class:`~adapter.flows.ports.Store` on SQLAlchemy (SQLite or PostgreSQL).

One :meth:`SqlStore.transaction` is one database transaction (a ``Session``). Errors of the
database become the port's: a lost or unreachable database is
:class:`~adapter.errors.StoreUnavailable` (nothing was committed, so the caller may try again),
a race lost to a concurrent transaction is :class:`~adapter.flows.ports.WriteConflict`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from adapter import errors
from adapter.clock import parse_stamp, stamp
from adapter.flows.ports import (
    Attempt,
    AuditEvent,
    Claim,
    ClientInfo,
    ConsentRecord,
    DecisionRecord,
    Match,
    MessageChanges,
    OutboxMessage,
    RecipientRecord,
    Resource,
    StatisticsChanges,
    StatisticsRecord,
    StatusStep,
    SubmissionRecord,
    WriteConflict,
)
from adapter.store import audit, clients, outbox, statistics
from adapter.store.batch import Batch
from adapter.store.db import session_factory
from adapter.store.models import ConsentRow, DecisionRow, RecipientRow, StatusRow, SubmissionRow


class SqlStore:
    """The store on one engine."""

    def __init__(self, engine: Engine, *, seal: audit.AuditSeal | None = None) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = session_factory(engine)
        audit.listen_for_checkpoints(self.sessions)
        self.seal = seal
        """The audit key and checkpoint file; without one, writing an audit row is an error."""
        self._request: ContextVar[_Checkout | None] = ContextVar(f"lisn-request-{id(self)}", default=None)

    @contextmanager
    def request(self) -> Iterator[None]:
        """One connection for every transaction of one request (authentication and the use case):
        checked out on the first transaction, returned when the request ends. A pool checkout
        costs a round trip of its own on PostgreSQL (``pool_pre_ping``) and its reset; a request
        made one to three of them. Between its transactions the connection is idle (no
        transaction open); while the request waits for its body it may go back to the pool
        (:meth:`idle`). Nested requests share the outer one's connection."""
        if self._request.get() is not None:
            yield
            return
        checkout = _Checkout()
        token = self._request.set(checkout)
        try:
            yield
        finally:
            try:
                self._request.reset(token)
            except ValueError:  # ended in another context than it began in
                self._request.set(None)
            checkout.close()

    def idle(self) -> None:
        """The request waits for something other than the database (its body, up to
        ``body_read_seconds``): it gives its connection back to the pool when the pool's size is
        used up, so that a worker with more threads than its pool holds never has its requests wait
        on others' uploads (the next transaction checks one out again). Below that size it keeps
        it: no other request is short of one, and a checkout costs a round trip."""
        checkout = self._request.get()
        if checkout is None or checkout.conn is None:
            return
        pool = self.engine.pool
        size = getattr(pool, "size", None)
        if callable(size) and pool.checkedout() >= size():  # type: ignore[attr-defined]
            checkout.close()

    def _session(self) -> Session:
        checkout = self._request.get()
        if checkout is None:
            return self.sessions()
        return self.sessions(bind=checkout.connection(self.engine))

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        try:
            with self._session() as session, session.begin():
                tx = SqlTx(session, self.seal)
                yield tx
                tx.flush()
        except IntegrityError as exc:
            raise WriteConflict(transient=False) from exc
        except (OperationalError, InterfaceError) as exc:
            if _lost_race(exc):
                raise WriteConflict(transient=True) from exc
            raise errors.StoreUnavailable() from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise errors.StoreUnavailable() from exc
            raise
        except PoolTimeout as exc:  # no connection within pool_timeout: busy, nothing done, try again
            raise errors.StoreUnavailable() from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A plain session in one transaction, for administration (clients, recipients, audit chain)."""
        with self.sessions() as session, session.begin():
            yield session


class _Checkout:
    """The connection of one request (:meth:`SqlStore.request`), checked out on first use."""

    def __init__(self) -> None:
        self.conn: Connection | None = None

    def connection(self, engine: Engine) -> Connection:
        if self.conn is not None and (self.conn.invalidated or self.conn.closed):
            self.close()  # lost with its database: the next transaction gets a fresh one
        if self.conn is None:
            self.conn = engine.connect()
        return self.conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def _lost_race(exc: DBAPIError) -> bool:
    # PostgreSQL serialization failure / deadlock; SQLite "database is locked" after the busy timeout.
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc.orig)


_SUB = cast(Table, SubmissionRow.__table__)
_STATUS = cast(Table, StatusRow.__table__)
_DECISION = cast(Table, DecisionRow.__table__)
_CONSENT = cast(Table, ConsentRow.__table__)
# Built once (SQLAlchemy then compiles each once and keeps it): parameters name the values.
_SUB_BY_ID = select(_SUB).where(_SUB.c.id == bindparam("sid"))
_CONSENT_BY_ID = select(_CONSENT).where(_CONSENT.c.id == bindparam("cid"))
_CONSENTS_OF_VALUE = select(_CONSENT).where(_CONSENT.c.patient_value == bindparam("value")).order_by(
    _CONSENT.c.created_at)
_IDS_OF_CERTIFICATE = select(_SUB.c.id).where(_SUB.c.certificate_id == bindparam("cert")).order_by(
    _SUB.c.received_at)
_IDS_OF_CERTIFICATE_AT = select(_SUB.c.id).where(
    _SUB.c.certificate_id == bindparam("cert"), _SUB.c.care_unit_hsa == bindparam("unit")).order_by(_SUB.c.received_at)
_SUBS_BY_IDS = select(_SUB).where(_SUB.c.id.in_(bindparam("ids", expanding=True)))
_UPDATE_CONSENT = update(_CONSENT).where(_CONSENT.c.id == bindparam("cid"))
_INSERT_SUB = insert(_SUB)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_INSERT_LOCKED: dict[tuple[str, ...], Any] = {}
"""``INSERT INTO submissions ... SELECT ... FROM (SELECT pg_advisory_xact_lock(:lock_key))``, by columns."""
_RECIPIENTS = cast(Table, RecipientRow.__table__)
_RECIPIENT = select(_RECIPIENTS).where(_RECIPIENTS.c.kommunkod == bindparam("kommunkod"))


@dataclass
class _Known:
    """What one transaction holds of its own reads and writes (records are frozen: replaced, never changed)."""

    submissions: dict[str, SubmissionRecord] = field(default_factory=dict)
    """Every submission read or written, as it stands in this transaction (a raw body, Bundle and
    receipt of tens of KB are decoded once)."""
    created: dict[str, tuple[list[StatusStep], list[DecisionRecord]]] = field(default_factory=dict)
    """Submissions inserted by this transaction: their whole history and decisions (a new id has no other)."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Status rows not written yet."""
    statuses: dict[str, str] = field(default_factory=dict)
    """Current statuses not written yet."""
    locked: set[str] = field(default_factory=set)
    """Patients (values) whose lock this transaction holds."""
    consents: dict[str, list[ConsentRecord]] = field(default_factory=dict)
    """The Consents of locked patients, oldest first."""
    statistics: dict[str, StatisticsRecord] = field(default_factory=dict)
    """Statistics rows added and not written yet (with the changes made to them since)."""
    queued: dict[str, OutboxMessage] = field(default_factory=dict)
    """Messages this transaction queued, by key, while no update or claim may have changed them."""
    outbox_unchanged: bool = True
    """No update or claim of the outbox in this transaction yet: the messages of a submission it
    created are exactly those in :attr:`queued` (nothing else can know the new id)."""
    audits: list[AuditEvent] = field(default_factory=list)
    """Audit rows not appended yet (appended at commit: :meth:`SqlTx.flush`)."""


class SqlTx:
    """:class:`adapter.flows.ports.Tx` in one session.

    The statements are SQLAlchemy Core on the session's connection (no ORM unit of work on the
    submission path). What this transaction has read or written it keeps, so that no step reads it
    back (see :class:`_Known`); writes the database would only see at commit are batched:

    * status steps, the current status and the acceptance of a submission, consent decisions,
      new Consents, statistics rows (with the changes made to them in the same transaction) and
      audit rows are held back (:class:`adapter.store.batch.Batch`) and written together: before
      any statement that reads them, and at commit (:meth:`flush`, which
      :meth:`SqlStore.transaction` calls), on PostgreSQL in one statement;
    * the audit rows of the transaction are appended at commit: the chain's head is locked then
      (``SELECT ... FOR UPDATE``) and the rows and the new head go in the batch, so the head, the
      one row every transaction that writes needs, is held only for the end of the transaction;
    * the Consents of a patient whose lock this transaction holds (:meth:`lock_patient`) are read
      once: nothing else can change them until it ends (every transaction that writes a patient's
      Consents takes the same lock before it commits; on SQLite every transaction runs alone).
    """

    def __init__(self, session: Session, seal: audit.AuditSeal | None = None) -> None:
        self.session = session
        self.seal = seal
        self.known = _Known()
        self.batch = Batch()
        self.statements = 0
        """Batched statements sent (for tests)."""
        self.together: bool | None = None
        """Batched writes in one statement (None: wherever the database can; tests compare both)."""
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The session's connection (its transaction): Core statements run on it."""
        if self._conn is None:
            self._conn = self.session.connection()
        return self._conn

    def flush(self) -> None:
        """Write everything held back, the audit rows too (at commit)."""
        self._hold_audits()
        self._write_held()

    def _holds(self, table: str) -> bool:
        """Whether a write to ``table`` is held back."""
        known = self.known
        return bool({"submission_status": known.steps, "submissions": known.statuses,
                     "certificate_statistics": known.statistics}.get(table)) or (
            table in self.batch.inserts or table in self.batch.updates)

    def _write_held(self, *reading: str) -> None:
        """Write what is held back (all of it), when a write to a table in ``reading`` is (before a
        read that must see it; all at commit): audit rows stay held until commit."""
        if reading and not any(self._holds(t) for t in reading):
            return
        for step in self.known.steps:
            self.batch.insert(_STATUS, step)
        self.known.steps = []
        for submission_id, status in self.known.statuses.items():
            self.batch.update(_SUB, {"id": submission_id}, {"status": status})
        self.known.statuses = {}
        if self.known.statistics:
            rows, items = statistics.rows_of(self.known.statistics.values())
            for row in rows:
                self.batch.insert(statistics.ROWS, row)
            for item in items:
                self.batch.insert(statistics.ITEMS, item)
            self.known.statistics = {}
        if self.batch:
            self.statements += self.batch.send(self.conn, together=self.together)

    def _hold_audits(self) -> None:
        if not self.known.audits:
            return
        events, self.known.audits = self.known.audits, []
        seq, prev = audit.lock_head(self.conn)
        entries = audit.chain(self.seal, seq, prev, events)
        for entry in entries:
            self.batch.insert(audit.LOG, audit.row_values(entry))
        self.batch.update(audit.HEAD, {"id": audit.HEAD_ID}, {"seq": entries[-1].seq, "hash": entries[-1].hash})
        assert self.seal is not None  # audit.chain refused it otherwise
        audit.checkpoint_on_commit(self.session, self.seal, entries[-1].seq, entries[-1].hash)

    # -- submissions ---------------------------------------------------------------------------
    def submission(self, submission_id: str) -> SubmissionRecord | None:
        found = self.known.submissions.get(submission_id)
        if found is not None:
            return found
        row = self.conn.execute(_SUB_BY_ID, {"sid": submission_id}).first()
        return self._keep(row) if row is not None else None

    def submissions_of(self, certificate_id: str, care_unit: str | None = None) -> list[SubmissionRecord]:
        # No flush: a submission whose status is not written yet is held, and held ones are answered as held.
        # The ids first: the rows this transaction holds are not read again (body, Bundle, receipt).
        if care_unit is None:
            ids = list(self.conn.execute(_IDS_OF_CERTIFICATE, {"cert": certificate_id}).scalars())
        else:
            ids = list(self.conn.execute(_IDS_OF_CERTIFICATE_AT, {"cert": certificate_id, "unit": care_unit}).scalars())
        known = self.known.submissions
        missing = [i for i in ids if i not in known]
        if missing:
            for row in self.conn.execute(_SUBS_BY_IDS, {"ids": missing}):
                self._keep(row)
        return [known[i] for i in ids if i in known]

    def waiting(self, patient: tuple[str, str], statuses: tuple[str, ...]) -> list[SubmissionRecord]:
        self._write_held("submissions")  # the query asks for the current status and the acceptance
        s = _SUB.c
        rows = self.conn.execute(select(_SUB).where(
            s.patient_system == patient[0], s.patient_value == patient[1], s.accepted_key.is_not(None),
            s.status.in_(statuses)).order_by(s.received_at))
        return [self.known.submissions.get(r.id) or _submission(r) for r in rows]

    def add_submission(self, record: SubmissionRecord, *, lock_patient: bool = False) -> None:
        values = _fields(record)
        values["received_at"] = received = stamp(record.received_at)
        values["response_status"] = 0
        patient = record.patient_value
        if (lock_patient and patient and patient not in self.known.locked
                and self.conn.dialect.name == "postgresql"):
            # The lock and the row in one statement (the lock taken first: see lock_patient).
            self.conn.execute(_insert_locked(tuple(values)), {**values, "lock_key": patient_lock_key(patient)})
            self.known.locked.add(patient)
        else:
            if lock_patient and patient:
                self.lock_patient(patient)
            self.conn.execute(_INSERT_SUB, values)
        # As the row reads back: its time as stored; the Bundle is the one given (never copied).
        self.known.submissions[record.id] = replace(record, received_at=parse_stamp(received))
        self.known.created[record.id] = ([], [])

    def accept(self, submission_id: str, *, accepted_key: str, response: Resource) -> None:
        row = self._row(submission_id)
        # Written with the batch (its unique key: a concurrent twin fails there, WriteConflict).
        self.batch.update(_SUB, {"id": submission_id},
                          {"accepted_key": accepted_key, "response": response, "response_status": 200})
        self.known.submissions[submission_id] = replace(row, accepted_key=accepted_key, response=response)

    def add_step(self, submission_id: str, step: StatusStep) -> None:
        row = self._row(submission_id)
        at = stamp(step.at)
        self.known.steps.append({"submission_id": submission_id, "status": step.status, "reason": step.reason,
                                 "reason_id": step.reason_id, "at": at})
        self.known.statuses[submission_id] = step.status
        self.known.submissions[submission_id] = replace(row, status=step.status)
        created = self.known.created.get(submission_id)
        if created is not None:
            created[0].append(StatusStep(step.status, parse_stamp(at), reason=step.reason, reason_id=step.reason_id))

    def history(self, submission_id: str) -> list[StatusStep]:
        created = self.known.created.get(submission_id)
        if created is not None:  # created in this transaction: its whole history is here
            return list(created[0])
        self._write_held("submission_status")
        st = _STATUS.c
        rows = self.conn.execute(select(st.status, st.at, st.reason, st.reason_id)
                                 .where(st.submission_id == submission_id).order_by(st.id))
        return [StatusStep(r.status, parse_stamp(r.at), reason=r.reason, reason_id=r.reason_id) for r in rows]

    def add_decision(self, submission_id: str, decision: DecisionRecord) -> None:
        at = stamp(decision.decided_at)
        self.batch.insert(_DECISION, {
            "submission_id": submission_id, "decision": decision.decision, "reason_id": decision.reason_id,
            "reason": decision.reason, "consent_id": decision.consent_id, "decided_at": at})
        created = self.known.created.get(submission_id)
        if created is not None:
            created[1].append(replace(decision, decided_at=parse_stamp(at)))

    def latest_decision(self, submission_id: str) -> DecisionRecord | None:
        created = self.known.created.get(submission_id)
        if created is not None:
            return created[1][-1] if created[1] else None
        self._write_held("consent_decisions")
        d = _DECISION.c
        row = self.conn.execute(select(d.decision, d.reason_id, d.reason, d.consent_id, d.decided_at)
                                .where(d.submission_id == submission_id).order_by(d.id.desc()).limit(1)).first()
        if row is None:
            return None
        return DecisionRecord(row.decision, row.reason_id, row.reason, row.consent_id, parse_stamp(row.decided_at))

    def ever_permitted(self, submission_id: str) -> bool:
        created = self.known.created.get(submission_id)
        if created is not None:
            return any(d.decision == "permit" for d in created[1])
        self._write_held("consent_decisions")
        d = _DECISION.c
        return self.conn.execute(select(d.id).where(
            d.submission_id == submission_id, d.decision == "permit").limit(1)).first() is not None

    def lock_patient(self, patient_value: str) -> None:
        """A PostgreSQL advisory lock until commit. Without it a submission and a consent for the same
        patient, committed by two workers at once, could each miss the other (READ COMMITTED) and
        leave a consented certificate waiting. SQLite needs nothing: every transaction there starts
        with BEGIN IMMEDIATE and so runs alone. Either way, the patient's Consents are read once
        from here on (see the class docstring)."""
        if patient_value in self.known.locked:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_LOCK, {"key": patient_lock_key(patient_value)})
        self.known.locked.add(patient_value)

    def _keep(self, row: Row[Any]) -> SubmissionRecord:
        # A submission this transaction already holds stays as it holds it (its own changes included).
        found = self.known.submissions.get(row.id)
        if found is None:
            found = self.known.submissions[row.id] = _submission(row)
        return found

    def _row(self, submission_id: str) -> SubmissionRecord:
        row = self.submission(submission_id)
        if row is None:
            raise LookupError(f"no submission {submission_id}")
        return row

    # -- consents ------------------------------------------------------------------------------
    def consent(self, consent_id: str) -> ConsentRecord | None:
        self._write_held("consents")
        row = self.conn.execute(_CONSENT_BY_ID, {"cid": consent_id}).first()
        return _consent(row) if row is not None else None

    def consents_of(self, patient: tuple[str, str]) -> list[ConsentRecord]:
        held = self._held_consents(patient[1])
        if held is not None:
            return [c for c in held if c.patient_system == patient[0]]
        self._write_held("consents")
        c = _CONSENT.c
        rows = self.conn.execute(select(_CONSENT).where(c.patient_system == patient[0], c.patient_value == patient[1])
                                 .order_by(c.created_at))
        return [_consent(r) for r in rows]

    def consent_with_hash(self, patient_value: str, content_hash: str) -> ConsentRecord | None:
        held = self._held_consents(patient_value)
        if held is not None:
            return next((c for c in held if c.content_hash == content_hash), None)
        self._write_held("consents")
        c = _CONSENT.c
        row = self.conn.execute(select(_CONSENT).where(c.patient_value == patient_value,
                                                       c.content_hash == content_hash)).first()
        return _consent(row) if row is not None else None

    def add_consent(self, record: ConsentRecord) -> None:
        values = _fields(record)
        values.update(created_at=(created := stamp(record.created_at)), updated_at=(updated := stamp(record.updated_at)))
        self.batch.insert(_CONSENT, values)
        held = self.known.consents.get(record.patient_value)
        if held is not None:
            stored = replace(record, created_at=parse_stamp(created), updated_at=parse_stamp(updated))
            bisect.insort_right(held, stored, key=lambda c: c.created_at)

    def update_consent(self, record: ConsentRecord) -> None:
        updated_at = stamp(record.updated_at)
        self._write_held("consents")  # the Consent may be held back still
        changed = self.conn.execute(_UPDATE_CONSENT, {"cid": record.id, "status": record.status,
                                                      "resource": record.resource, "updated_at": updated_at})
        if not changed.rowcount:
            raise LookupError(f"no consent {record.id}")
        held = self.known.consents.get(record.patient_value)
        if held is not None:
            for i, c in enumerate(held):
                if c.id == record.id:
                    held[i] = replace(c, status=record.status, resource=record.resource,
                                      updated_at=parse_stamp(updated_at))

    def _held_consents(self, patient_value: str) -> list[ConsentRecord] | None:
        """The Consents of a patient locked by this transaction, oldest first (read on first use);
        None for a patient it has not locked."""
        if patient_value not in self.known.locked:
            return None
        held = self.known.consents.get(patient_value)
        if held is None:
            self._write_held("consents")
            rows = self.conn.execute(_CONSENTS_OF_VALUE, {"value": patient_value})
            held = self.known.consents[patient_value] = [_consent(r) for r in rows]
        return held

    # -- registry, clients, audit ----------------------------------------------------------------
    def recipient(self, kommunkod: str) -> RecipientRecord | None:
        row = self.conn.execute(_RECIPIENT, {"kommunkod": kommunkod}).first()
        if row is None:
            return None
        return RecipientRecord(kommunkod=row.kommunkod, name=row.name, mode=row.delivery_mode,
                               endpoint=row.endpoint_url, client_cert=row.mtls_cert_path,
                               client_key=row.mtls_key_path, ca_bundle=row.ca_bundle_path,
                               max_attempts=row.max_attempts, active=row.active)

    def client_by_token(self, token: str, pepper: bytes) -> ClientInfo | None:
        return clients.by_token(self.session, token, pepper)

    def client_by_certificate(self, fingerprint: str) -> ClientInfo | None:
        return clients.by_certificate(self.session, fingerprint)

    def audit(self, event: AuditEvent) -> None:
        # Appended at commit, in order (flush); refused at once without a key, as before.
        if self.seal is None:
            audit.chain(None, 0, audit.GENESIS, [])
        self.known.audits.append(event)

    # -- the outbox ------------------------------------------------------------------------------
    def enqueue(self, *, key: str, submission_id: str, certificate_id: str, kommunkod: str, kind: str,
                document: bytes, replaces: str | None, at: datetime, care_unit: str | None = None) -> None:
        queued = outbox.enqueue(self.session, key=key, submission_id=submission_id, certificate_id=certificate_id,
                                kommunkod=kommunkod, kind=kind, document=document, replaces=replaces, at=at,
                                care_unit=care_unit)
        self.known.queued[key] = queued

    def messages(self, match: Match, *, limit: int | None = None) -> list[OutboxMessage]:
        # A message queued by this transaction and not changed since, asked for by its key: as queued.
        if match.key is not None and match.key in self.known.queued and limit is None and match == Match(key=match.key):
            return [self.known.queued[match.key]]
        # The messages of a submission this transaction created: only it can have queued them.
        if (match.submission_id in self.known.created and self.known.outbox_unchanged
                and _plain(match)):
            found = [m for m in self.known.queued.values() if _matches(m, match)]
            found.sort(key=lambda m: m.id)
            return found[:limit] if limit is not None else found
        return outbox.messages(self.session, match, limit)

    def update_messages(self, match: Match, changes: MessageChanges, *, at: datetime) -> int:
        self.known.queued.clear()
        self.known.outbox_unchanged = False
        return outbox.update_messages(self.session, match, changes, at)

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claim]:
        self.known.queued.clear()
        self.known.outbox_unchanged = False
        return outbox.claim(self.session, owner=owner, now=now, lease_seconds=lease_seconds, limit=limit,
                            exclude=exclude, per_recipient=per_recipient)

    def add_attempt(self, message_id: int, attempt: Attempt) -> None:
        outbox.add_attempt(self.session, message_id, attempt)

    def attempts(self, key: str) -> list[Attempt]:
        return outbox.attempts(self.session, key)

    def counts(self) -> list[tuple[str, str, int]]:
        return outbox.counts(self.session)

    # -- statistics --------------------------------------------------------------------------------
    def add_statistics(self, record: StatisticsRecord) -> None:
        # Written at commit (or before a tally), with every change made to it until then.
        if record.submission_id in self.known.statistics:  # the database refuses the twin, as at once
            self._write_held("certificate_statistics")
            statistics.add(self.session, record)
            return
        self.known.statistics[record.submission_id] = record

    def update_statistics(self, submission_id: str, changes: StatisticsChanges) -> int:
        pending = self.known.statistics.get(submission_id)
        if pending is None:
            return statistics.update_row(self.session, submission_id, changes)
        if not changes or ("delivery_days" in changes and pending.delivery_days is not None):
            return 0  # as the UPDATE: the delivery fields are written once
        self.known.statistics[submission_id] = replace(pending, **changes)
        return 1

    def tally_statistics(self, dimensions: tuple[str, ...], *, months: tuple[str | None, str | None] = (None, None)
                         ) -> list[tuple[tuple[str, ...], int]]:
        self._write_held("certificate_statistics")
        return statistics.tally(self.session, dimensions, months)



def _plain(match: Match) -> bool:
    """A match :func:`_matches` answers as the query would (no claim, lease, due time or attempts)."""
    return (match.claim is None and match.unleased_at is None and match.due_before is None
            and not match.never_sent)


def _matches(message: OutboxMessage, match: Match) -> bool:
    """``message`` (as queued: pending, never sent) against a :func:`_plain` match, as outbox.messages' WHERE."""
    return all(value is None or have == value for have, value in (
        (message.key, match.key), (message.submission_id, match.submission_id),
        (message.certificate_id, match.certificate_id), (message.care_unit, match.care_unit),
        (message.kommunkod, match.kommunkod))) and (
        match.states is None or message.state in match.states) and (
        match.kinds is None or message.kind in match.kinds)


def _insert_locked(columns: tuple[str, ...]) -> Any:
    found = _INSERT_LOCKED.get(columns)
    if found is None:
        lock = select(func.pg_advisory_xact_lock(bindparam("lock_key")).label("locked")).subquery("patient_lock")
        values = select(*[bindparam(c, type_=_SUB.c[c].type) for c in columns]).select_from(lock)
        found = _INSERT_LOCKED[columns] = insert(_SUB).from_select(list(columns), values)
    return found


def _fields(record: object) -> dict[str, object]:
    """A record's fields by name. Not ``dataclasses.asdict``: that deep-copies the Bundle and the
    resources, which the row only stores."""
    return {f.name: getattr(record, f.name) for f in fields(record)}  # type: ignore[arg-type]


def patient_lock_key(patient_value: str) -> int:
    """The advisory lock key of one patient (64 bits of a SHA-256)."""
    return int.from_bytes(hashlib.sha256(f"lisn-patient:{patient_value}".encode()).digest()[:8], "big", signed=True)


def _submission(row: Row[Any]) -> SubmissionRecord:
    return SubmissionRecord(
        id=row.id, certificate_id=row.certificate_id, event=row.event, kommunkod=row.kommunkod,
        care_unit_hsa=row.care_unit_hsa, patient_system=row.patient_system, patient_value=row.patient_value,
        status=row.status, received_at=parse_stamp(row.received_at), replaces=row.replaces,
        content_hash=row.content_hash, source_format=row.source_format, raw=row.raw, bundle=row.bundle,
        client_id=row.client_id, accepted_key=row.accepted_key, response=row.response)


def _consent(row: Row[Any]) -> ConsentRecord:
    return ConsentRecord(id=row.id, patient_system=row.patient_system, patient_value=row.patient_value,
                         status=row.status, content_hash=row.content_hash, resource=row.resource,
                         created_at=parse_stamp(row.created_at), updated_at=parse_stamp(row.updated_at),
                         client_id=row.client_id, submission_id=row.submission_id)
