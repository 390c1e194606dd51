"""Reads of patient data for the API: Tasks and Consents, each authorised and audit-logged.

A sender sees what its care units sent (Tasks) or registered (Consents); a municipality
sees what is addressed to its kommunkod; an administrator sees everything. Every read of
patient data, and every refused attempt, writes exactly one audit row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapter import errors, messages
from adapter.errors import OperationOutcome
from adapter.fhir import identifiers as ids
from adapter.store import consents, submissions
from adapter.store.consent_steps import may_read
from adapter.store.flow import Answer, Context, record, refuse
from adapter.store.models import ConsentDecisionRecord, Submission
from adapter.store.task import build_task

Resource = dict[str, Any]


def _released(row: Submission, ctx: Context) -> bool:
    """Has the patient's consent ever let this certificate go? Before that a municipality is not even
    told it exists (a withdrawal is visible: it only follows what was delivered)."""
    if row.event == "certificate-withdrawal":
        return True
    return ctx.session.execute(select(ConsentDecisionRecord.id).where(
        ConsentDecisionRecord.submission_id == row.id, ConsentDecisionRecord.decision == "permit")
        .limit(1)).first() is not None


def _may_see(row: Submission, ctx: Context) -> bool:
    client = ctx.client
    if client.role == "municipality":
        return row.kommunkod == client.kommunkod
    if client.role == "sender":
        return row.care_unit_hsa in client.care_units
    return client.role == "admin"


def _forbidden(ctx: Context, *, action: str, patient: str | None, certificate: str | None = None) -> Answer:
    return refuse(ctx, errors.forbidden(), action=action, patient=patient, certificate=certificate)


def _not_found(mid: str = "LISN_NOT_FOUND") -> errors.NotFound:
    return errors.NotFound(messages.bilingual(mid), message_id=mid)


def read_task(submission_id: str, ctx: Context) -> Answer:
    row = submissions.get_submission(ctx.session, submission_id)
    if row is None:
        raise _not_found("LISN_TASK_NOT_FOUND")
    if not _may_see(row, ctx):
        return _forbidden(ctx, action="task-read", patient=row.patient_value, certificate=row.certificate_id)
    if ctx.client.role == "municipality" and not _released(row, ctx):
        # Answered like an unknown id (returned, not raised, so that the audit row commits).
        return refuse(ctx, _not_found("LISN_TASK_NOT_FOUND").outcome, action="task-read", patient=row.patient_value,
                      certificate=row.certificate_id, outcome="not-released")
    record(ctx, action="task-read", outcome="ok", patient=row.patient_value, certificate=row.certificate_id)
    return errors.outcome([]), build_task(row, submissions.history(ctx.session, row.id))


def search_tasks(focus: str, ctx: Context) -> Answer:
    """Tasks of one certificate (``focus`` is its identifier, with or without ``urn:uuid:``)."""
    cert = focus.split("|")[-1]
    rows = submissions.by_certificate(ctx.session, cert) or submissions.by_certificate(ctx.session, f"urn:uuid:{cert}")
    if any(not _may_see(r, ctx) for r in rows):
        return _forbidden(ctx, action="task-search", patient=rows[0].patient_value, certificate=rows[0].certificate_id)
    if ctx.client.role == "municipality":
        rows = [r for r in rows if _released(r, ctx)]
    record(ctx, action="task-search", outcome="ok", patient=rows[0].patient_value if rows else None,
           certificate=rows[0].certificate_id if rows else cert)
    tasks = [build_task(r, submissions.history(ctx.session, r.id)) for r in rows]
    return errors.outcome([]), searchset(tasks, ctx, "Task")


def read_consent(consent_id: str, ctx: Context) -> Answer:
    row = consents.get_consent(ctx.session, consent_id)
    if row is None:
        raise _not_found("LISN_CONSENT_NOT_FOUND")
    if not may_read(row, ctx):
        return _forbidden(ctx, action="consent-read", patient=row.patient_value)
    record(ctx, action="consent-read", outcome="ok", patient=row.patient_value)
    return errors.outcome([]), row.resource


def search_consents(patient: str, ctx: Context) -> Answer:
    """Consents of one patient (``patient`` is ``system|value`` or a bare personnummer) that this client may see."""
    system, _, value = patient.rpartition("|")
    systems = [ids.normalise_system(system)] if system else [ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER]
    rows = [r for s in systems for r in consents.for_patient(ctx.session, s or "", value)]
    # Filtered, not refused: a 403 would tell a client that this patient has consents elsewhere.
    visible = [r for r in rows if may_read(r, ctx)]
    record(ctx, action="consent-search", outcome="ok" if len(visible) == len(rows) else "filtered", patient=value)
    return errors.outcome([]), searchset([r.resource for r in visible], ctx, "Consent")


def searchset(resources: list[Resource], ctx: Context, rtype: str) -> Resource:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{ctx.base_url}/{rtype}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


__all__ = ["OperationOutcome", "read_consent", "read_task", "search_consents", "search_tasks"]
