"""The use cases' :class:`~adapter.flows.ports.Store` on SQLAlchemy (SQLite or PostgreSQL).

One :meth:`SqlStore.transaction` is one database transaction (a ``Session``). Errors of the
database become the port's: a lost or unreachable database is
:class:`~adapter.errors.StoreUnavailable` (nothing was committed, so the caller may try again),
a race lost to a concurrent transaction is :class:`~adapter.flows.ports.WriteConflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
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
from adapter.store.db import session_factory
from adapter.store.models import ConsentRow, DecisionRow, RecipientRow, StatusRow, SubmissionRow


class SqlStore:
    """The store on one engine."""

    def __init__(self, engine: Engine, *, seal: audit.AuditSeal | None = None) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = session_factory(engine)
        self.seal = seal
        """The audit key and checkpoint file; without one, writing an audit row is an error."""

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        try:
            with self.sessions() as session, session.begin():
                yield SqlTx(session, self.seal)
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

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A plain session in one transaction, for administration (clients, recipients, audit chain)."""
        with self.sessions() as session, session.begin():
            yield session


def _lost_race(exc: DBAPIError) -> bool:
    # PostgreSQL serialization failure / deadlock; SQLite "database is locked" after the busy timeout.
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc.orig)


class SqlTx:
    """:class:`adapter.flows.ports.Tx` in one session."""

    def __init__(self, session: Session, seal: audit.AuditSeal | None = None) -> None:
        self.session = session
        self.seal = seal
        # The session's identity map holds rows weakly: a submission row nobody references is
        # dropped after its flush, and the next step of the same transaction would load it again
        # (raw body, Bundle and receipt: tens of KB decoded each time). Kept here until the end.
        self._submissions: dict[str, SubmissionRow] = {}

    # -- submissions ---------------------------------------------------------------------------
    def submission(self, submission_id: str) -> SubmissionRecord | None:
        row = self._get_submission(submission_id)
        return _submission(row) if row is not None else None

    def submissions_of(self, certificate_id: str, care_unit: str | None = None) -> list[SubmissionRecord]:
        s = SubmissionRow
        scope = [s.care_unit_hsa == care_unit] if care_unit is not None else []
        rows = self.session.scalars(select(s).where(s.certificate_id == certificate_id, *scope)
                                    .order_by(s.received_at))
        return [_submission(self._keep(r)) for r in rows]

    def waiting(self, patient: tuple[str, str], statuses: tuple[str, ...]) -> list[SubmissionRecord]:
        s = SubmissionRow
        rows = self.session.scalars(select(s).where(
            s.patient_system == patient[0], s.patient_value == patient[1], s.accepted_key.is_not(None),
            s.status.in_(statuses)).order_by(s.received_at))
        return [_submission(r) for r in rows]

    def add_submission(self, record: SubmissionRecord) -> None:
        values = _fields(record)
        values["received_at"] = stamp(record.received_at)
        self.session.add(self._keep(SubmissionRow(**values)))
        self.session.flush()

    def accept(self, submission_id: str, *, accepted_key: str, response: Resource) -> None:
        row = self._row(submission_id)
        row.accepted_key, row.response, row.response_status = accepted_key, response, 200
        self.session.flush()  # the unique key: a concurrent twin fails here (WriteConflict)

    def add_step(self, submission_id: str, step: StatusStep) -> None:
        row = self._row(submission_id)
        self.session.add(StatusRow(submission_id=submission_id, status=step.status, reason=step.reason,
                                   reason_id=step.reason_id, at=stamp(step.at)))
        row.status = step.status
        self.session.flush()

    def history(self, submission_id: str) -> list[StatusStep]:
        rows = self.session.scalars(select(StatusRow).where(StatusRow.submission_id == submission_id)
                                    .order_by(StatusRow.id))
        return [StatusStep(r.status, parse_stamp(r.at), reason=r.reason, reason_id=r.reason_id) for r in rows]

    def add_decision(self, submission_id: str, decision: DecisionRecord) -> None:
        self.session.add(DecisionRow(submission_id=submission_id, decision=decision.decision,
                                     reason_id=decision.reason_id, reason=decision.reason,
                                     consent_id=decision.consent_id, decided_at=stamp(decision.decided_at)))
        self.session.flush()

    def latest_decision(self, submission_id: str) -> DecisionRecord | None:
        row = self.session.scalars(select(DecisionRow).where(DecisionRow.submission_id == submission_id)
                                   .order_by(DecisionRow.id.desc()).limit(1)).first()
        if row is None:
            return None
        return DecisionRecord(row.decision, row.reason_id, row.reason, row.consent_id, parse_stamp(row.decided_at))

    def ever_permitted(self, submission_id: str) -> bool:
        return self.session.execute(select(DecisionRow.id).where(
            DecisionRow.submission_id == submission_id, DecisionRow.decision == "permit").limit(1)).first() is not None

    def lock_patient(self, patient_value: str) -> None:
        """A PostgreSQL advisory lock until commit. Without it a submission and a consent for the same
        patient, committed by two workers at once, could each miss the other (READ COMMITTED) and
        leave a consented certificate waiting. SQLite needs nothing: every transaction there starts
        with BEGIN IMMEDIATE and so runs alone."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": patient_lock_key(patient_value)})

    def _get_submission(self, submission_id: str) -> SubmissionRow | None:
        row = self._submissions.get(submission_id) or self.session.get(SubmissionRow, submission_id)
        return self._keep(row) if row is not None else None

    def _keep(self, row: SubmissionRow) -> SubmissionRow:
        self._submissions[row.id] = row
        return row

    def _row(self, submission_id: str) -> SubmissionRow:
        row = self._get_submission(submission_id)
        if row is None:
            raise LookupError(f"no submission {submission_id}")
        return row

    # -- consents ------------------------------------------------------------------------------
    def consent(self, consent_id: str) -> ConsentRecord | None:
        row = self.session.get(ConsentRow, consent_id)
        return _consent(row) if row is not None else None

    def consents_of(self, patient: tuple[str, str]) -> list[ConsentRecord]:
        rows = self.session.scalars(select(ConsentRow).where(
            ConsentRow.patient_system == patient[0], ConsentRow.patient_value == patient[1])
            .order_by(ConsentRow.created_at))
        return [_consent(r) for r in rows]

    def consent_with_hash(self, patient_value: str, content_hash: str) -> ConsentRecord | None:
        row = self.session.scalars(select(ConsentRow).where(
            ConsentRow.patient_value == patient_value, ConsentRow.content_hash == content_hash)).first()
        return _consent(row) if row is not None else None

    def add_consent(self, record: ConsentRecord) -> None:
        values = _fields(record)
        values.update(created_at=stamp(record.created_at), updated_at=stamp(record.updated_at))
        self.session.add(ConsentRow(**values))
        self.session.flush()

    def update_consent(self, record: ConsentRecord) -> None:
        row = self.session.get(ConsentRow, record.id)
        if row is None:
            raise LookupError(f"no consent {record.id}")
        row.status, row.resource, row.updated_at = record.status, record.resource, stamp(record.updated_at)
        self.session.flush()

    # -- registry, clients, audit ----------------------------------------------------------------
    def recipient(self, kommunkod: str) -> RecipientRecord | None:
        row = self.session.get(RecipientRow, kommunkod)
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
        audit.record(self.session, self.seal, actor=event.actor, end_user=event.end_user, action=event.action,
                     patient=event.patient, certificate=event.certificate, outcome=event.outcome,
                     purpose=event.purpose, at=event.at)

    # -- the outbox ------------------------------------------------------------------------------
    def enqueue(self, *, key: str, submission_id: str, certificate_id: str, kommunkod: str, kind: str,
                document: bytes, replaces: str | None, at: datetime, care_unit: str | None = None) -> None:
        outbox.enqueue(self.session, key=key, submission_id=submission_id, certificate_id=certificate_id,
                       kommunkod=kommunkod, kind=kind, document=document, replaces=replaces, at=at,
                       care_unit=care_unit)

    def messages(self, match: Match, *, limit: int | None = None) -> list[OutboxMessage]:
        return outbox.messages(self.session, match, limit)

    def update_messages(self, match: Match, changes: MessageChanges, *, at: datetime) -> int:
        return outbox.update_messages(self.session, match, changes, at)

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claim]:
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
        statistics.add(self.session, record)

    def update_statistics(self, submission_id: str, changes: StatisticsChanges) -> int:
        return statistics.update_row(self.session, submission_id, changes)

    def tally_statistics(self, dimensions: tuple[str, ...], *, months: tuple[str | None, str | None] = (None, None)
                         ) -> list[tuple[tuple[str, ...], int]]:
        return statistics.tally(self.session, dimensions, months)


def _fields(record: object) -> dict[str, object]:
    """A record's fields by name. Not ``dataclasses.asdict``: that deep-copies the Bundle and the
    resources, which the row only stores."""
    return {f.name: getattr(record, f.name) for f in fields(record)}  # type: ignore[arg-type]


def patient_lock_key(patient_value: str) -> int:
    """The advisory lock key of one patient (64 bits of a SHA-256)."""
    return int.from_bytes(hashlib.sha256(f"lisn-patient:{patient_value}".encode()).digest()[:8], "big", signed=True)


def _submission(row: SubmissionRow) -> SubmissionRecord:
    return SubmissionRecord(
        id=row.id, certificate_id=row.certificate_id, event=row.event, kommunkod=row.kommunkod,
        care_unit_hsa=row.care_unit_hsa, patient_system=row.patient_system, patient_value=row.patient_value,
        status=row.status, received_at=parse_stamp(row.received_at), replaces=row.replaces,
        content_hash=row.content_hash, source_format=row.source_format, raw=row.raw, bundle=row.bundle,
        client_id=row.client_id, accepted_key=row.accepted_key, response=row.response)


def _consent(row: ConsentRow) -> ConsentRecord:
    return ConsentRecord(id=row.id, patient_system=row.patient_system, patient_value=row.patient_value,
                         status=row.status, content_hash=row.content_hash, resource=row.resource,
                         created_at=parse_stamp(row.created_at), updated_at=parse_stamp(row.updated_at),
                         client_id=row.client_id, submission_id=row.submission_id)
