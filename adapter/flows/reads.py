"""Reads of patient data: Tasks and Consents, each authorised and audit-logged.

A sender sees what its care units sent (Tasks) or registered (Consents); a municipality
sees what is addressed to its kommunkod; an administrator sees everything. Every read of
patient data, and every refused attempt, writes exactly one audit row.
"""

from __future__ import annotations

from adapter import errors, messages
from adapter.fhir import identifiers as ids
from adapter.flows.consents import may_read
from adapter.flows.context import Context, Resource, Result, audit, refuse
from adapter.flows.ports import SubmissionRecord
from adapter.flows.task import build_task


def read_task(submission_id: str, ctx: Context) -> Result:
    row = ctx.tx.submission(submission_id)
    if row is None:
        raise _not_found("LISN_TASK_NOT_FOUND")
    if not _may_see(row, ctx):
        # Another tenant's Task is answered as one that does not exist (a 403 would say it does:
        # issue 13); the refusal is audited as such.
        return refuse(ctx, _not_found("LISN_TASK_NOT_FOUND"), action="task-read", patient=row.patient_value,
                      certificate=row.certificate_id)
    if ctx.client.role == "municipality" and not _released(row, ctx):
        # Answered like an unknown id (returned, not raised, so that the audit row commits).
        return refuse(ctx, _not_found("LISN_TASK_NOT_FOUND"), action="task-read", patient=row.patient_value,
                      certificate=row.certificate_id, outcome="not-released")
    audit(ctx, action="task-read", outcome="ok", patient=row.patient_value, certificate=row.certificate_id)
    return build_task(row, ctx.tx.history(row.id), decision=ctx.tx.latest_decision(row.id))


def search_tasks(focus: str, ctx: Context) -> Result:
    """Tasks of one certificate (``focus`` is its identifier, with or without ``urn:uuid:``)."""
    cert = focus.split("|")[-1]
    found = ctx.tx.submissions_of(cert) or ctx.tx.submissions_of(f"urn:uuid:{cert}")
    # Filtered, not refused: a 403 would tell the caller that another tenant holds this certificate,
    # so another tenant's certificate is answered exactly as one that does not exist (issue 13).
    rows = [r for r in found if _may_see(r, ctx) and (ctx.client.role != "municipality" or _released(r, ctx))]
    audit(ctx, action="task-search", outcome="ok" if len(rows) == len(found) else "filtered",
          patient=found[0].patient_value if found else None, certificate=found[0].certificate_id if found else cert)
    tasks = [build_task(r, ctx.tx.history(r.id), decision=ctx.tx.latest_decision(r.id)) for r in rows]
    return searchset(tasks, ctx, "Task")


def read_consent(consent_id: str, ctx: Context) -> Result:
    row = ctx.tx.consent(consent_id)
    if row is None:
        raise _not_found("LISN_CONSENT_NOT_FOUND")
    if not may_read(row, ctx):
        return refuse(ctx, _not_found("LISN_CONSENT_NOT_FOUND"), action="consent-read", patient=row.patient_value)
    audit(ctx, action="consent-read", outcome="ok", patient=row.patient_value)
    return row.resource


def search_consents(patient: str, ctx: Context) -> Result:
    """Consents of one patient (``patient`` is ``system|value`` or a bare personnummer) that this client may see."""
    system, _, value = patient.rpartition("|")
    systems = [ids.normalise_system(system)] if system else [ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER]
    rows = [r for s in systems for r in ctx.tx.consents_of((s or "", value))]
    # Filtered, not refused: a 403 would tell a client that this patient has consents elsewhere.
    visible = [r for r in rows if may_read(r, ctx)]
    audit(ctx, action="consent-search", outcome="ok" if len(visible) == len(rows) else "filtered", patient=value)
    return searchset([r.resource for r in visible], ctx, "Consent")


def searchset(resources: list[Resource], ctx: Context, rtype: str) -> Resource:
    """A searchset Bundle; without matches it has no ``entry`` (FHIR JSON has no empty arrays)."""
    bundle: Resource = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [{"fullUrl": f"{ctx.base_url}/{rtype}/{r['id']}", "resource": r,
                            "search": {"mode": "match"}} for r in resources]
    return bundle


def _released(row: SubmissionRecord, ctx: Context) -> bool:
    """Has the patient's consent ever let this certificate go? Before that a municipality is not even
    told it exists (a withdrawal is visible: it only follows what was delivered)."""
    return row.event == "certificate-withdrawal" or ctx.tx.ever_permitted(row.id)


def _may_see(row: SubmissionRecord, ctx: Context) -> bool:
    client = ctx.client
    if client.role == "municipality":
        return row.kommunkod == client.kommunkod
    if client.role == "sender":
        return row.care_unit_hsa in client.care_units
    return client.role == "admin"


def _not_found(mid: str = "LISN_NOT_FOUND") -> errors.NotFound:
    return errors.NotFound(messages.bilingual(mid), message_id=mid)
