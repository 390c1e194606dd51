"""Submissions, their status history and their consent decisions.

The status history is append-only; a submission's ``status`` column mirrors its latest
step. :func:`add_status` is the one entry point for every stage that moves a submission
(the delivery adds delivered, acknowledged, withheld, withdrawn, dead-lettered).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapter.store.models import ConsentDecisionRecord, StatusEvent, Submission, stamp

WAITING = "awaiting-consent"


def add_status(session: Session, submission_id: str, status: str, reason: str | None = None,
               at: datetime | None = None, *, reason_id: str | None = None) -> StatusEvent:
    """Append a step to the submission's history and make it the current status."""
    event = StatusEvent(submission_id=submission_id, status=status, reason=reason, reason_id=reason_id,
                        at=stamp(at or datetime.now(timezone.utc)))
    session.add(event)
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise LookupError(f"no submission {submission_id}")
    sub.status = status
    session.flush()
    return event


def history(session: Session, submission_id: str) -> list[StatusEvent]:
    return list(session.execute(select(StatusEvent).where(StatusEvent.submission_id == submission_id)
                                .order_by(StatusEvent.id)).scalars())


def get_submission(session: Session, submission_id: str) -> Submission | None:
    return session.get(Submission, submission_id)


def by_certificate(session: Session, certificate_id: str) -> list[Submission]:
    return list(session.execute(select(Submission).where(Submission.certificate_id == certificate_id)
                                .order_by(Submission.received_at)).scalars())


def waiting_for_patient(session: Session, system: str, value: str, statuses: tuple[str, ...]) -> list[Submission]:
    """Accepted submissions of a patient whose current status is one of ``statuses``."""
    return list(session.execute(
        select(Submission).where(Submission.patient_system == system, Submission.patient_value == value,
                                 Submission.accepted_key.is_not(None), Submission.status.in_(statuses))
        .order_by(Submission.received_at)).scalars())


def record_decision(session: Session, *, submission_id: str, decision: str, reason_id: str, reason: str,
                    consent_id: str | None, at: datetime) -> ConsentDecisionRecord:
    row = ConsentDecisionRecord(submission_id=submission_id, decision=decision, reason_id=reason_id,
                                reason=reason, consent_id=consent_id, decided_at=stamp(at))
    session.add(row)
    session.flush()
    return row


def latest_decision(session: Session, submission_id: str) -> ConsentDecisionRecord | None:
    return session.execute(select(ConsentDecisionRecord).where(
        ConsentDecisionRecord.submission_id == submission_id).order_by(
        ConsentDecisionRecord.id.desc()).limit(1)).scalar_one_or_none()

