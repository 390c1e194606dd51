"""The steps of :mod:`adapter.pipeline` that read or write stored state.

Each function is one step; the pipeline lists them in order. They run in the caller's
session (one transaction per request) and never commit themselves.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from adapter import errors, messages
from adapter.consent import CertificateFacts, Decision, decide_consent, inline_references, patient_identifier
from adapter.errors import OperationOutcome
from adapter.fhir import identifiers as ids
from adapter.fhir.parse import parse_json
from adapter.fhir.registry import Registry
from adapter.fhir.submission import Submission
from adapter.issues import Issues
from adapter.settings import Settings
from adapter.store import audit, consents, recipients, submissions
from adapter.store.clients import ClientInfo
from adapter.store.models import StatusEvent, stamp
from adapter.store.models import Submission as SubmissionRow
from adapter.store.task import build_task, receipt_bundle

Resource = dict[str, Any]
Answer = tuple[OperationOutcome, "Resource | None"]
KIND_BY_EVENT = {"certificate": "certificate", "certificate-replacement": "replacement",
                 "certificate-withdrawal": "withdrawal"}
XML_STATUS_BY_KIND = {"certificate": "original", "replacement": "replacing", "withdrawal": "withdrawn"}
PURPOSE = "ekonomiskt-bistand"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Stages:
    """The pure stages the flow calls (injected, so tests and tools can replace them)."""

    validate: Callable[[Resource, Registry], OperationOutcome]
    map_export: Callable[[bytes, str, dict[str, str]], Resource]
    """``(export, format, side inputs) -> submission Bundle``."""
    render: Callable[..., bytes]
    sign: Callable[[bytes], bytes]


@dataclass(frozen=True)
class Context:
    """Everything one request's flow needs, passed down explicitly."""

    session: Session
    settings: Settings
    registry: Registry
    client: ClientInfo
    stages: Stages
    clock: Clock = field(default_factory=SystemClock)
    end_user: str | None = None
    base_url: str = ""


# -- helpers -----------------------------------------------------------------------------

def record(ctx: Context, *, action: str, outcome: str, patient: str | None = None,
           certificate: str | None = None) -> None:
    audit.record(ctx.session, actor=ctx.client.name, end_user=ctx.end_user, action=action, patient=patient,
                 certificate=certificate, outcome=outcome, purpose=PURPOSE, at=ctx.clock.now())


def refuse(ctx: Context, oo: OperationOutcome, *, action: str, patient: str | None,
           certificate: str | None = None, outcome: str = "forbidden") -> Answer:
    record(ctx, action=action, outcome=outcome, patient=patient, certificate=certificate)
    return oo, None


def content_hash(bundle: Resource) -> str:
    text = json.dumps(bundle, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _patient_value(sub: Submission) -> str | None:
    found = sub.patient_identifier
    return found[1] if found else None


# -- submission steps ----------------------------------------------------------------------

def parse_submission(raw: bytes, fmt: str, ctx: Context, inputs: dict[str, str] | None = None) -> Resource:
    """The submission Bundle, from FHIR JSON or from an EHR export; refuses anything that is not one."""
    bundle = (parse_json(raw, ctx.settings.limits) if fmt == "fhir-json"
              else ctx.stages.map_export(raw, fmt, inputs or {}))
    issues = Issues()
    if not (isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle"):
        issues.add("LISN_SUBMISSION_NOT_BUNDLE", expression="resourceType")
    elif bundle.get("type") != "message":
        issues.add("LISN_SUBMISSION_NOT_MESSAGE", expression="Bundle.type")
    else:
        _essentials(Submission(bundle), issues)
    if issues.has_errors:
        raise errors.InputRejected(outcome=issues.outcome(), message_id="LISN_SUBMISSION_UNUSABLE")
    return bundle


def _essentials(sub: Submission, issues: Issues) -> None:
    """What the service itself needs before it can authorise and store (the validator says the rest)."""
    issues.check(sub.header is not None, "LISN_SUBMISSION_NO_HEADER", expression="Bundle.entry[0].resource")
    issues.check(sub.certificate_id, "LISN_SUBMISSION_NO_CERTIFICATE_ID",
                 expression="Bundle.entry.resource.ofType(QuestionnaireResponse).identifier")
    issues.check(sub.patient_identifier, "LISN_SUBMISSION_NO_PATIENT",
                 expression="Bundle.entry.resource.ofType(Patient).identifier")
    issues.check(sub.care_unit_hsa, "LISN_SUBMISSION_NO_CARE_UNIT",
                 expression="Bundle.entry.resource.ofType(Organization).identifier")
    issues.check(sub.kommunkod, "LISN_SUBMISSION_NO_RECIPIENT",
                 expression="Bundle.entry[0].resource.destination.receiver")
    issues.check(sub.event in KIND_BY_EVENT, "LISN_SUBMISSION_UNKNOWN_EVENT",
                 expression="Bundle.entry[0].resource.eventCoding")
    # Longer than any valid value, and longer than the columns that keep them.
    for value, limit, where in ((sub.certificate_id, 200, "QuestionnaireResponse.identifier"),
                                (sub.replaces, 200, "QuestionnaireResponse.extension"),
                                (sub.care_unit_hsa, 64, "Organization.identifier"),
                                ((sub.patient_identifier or ("", ""))[1], 20, "Patient.identifier"),
                                (sub.kommunkod, 4, "Organization.identifier")):
        issues.check(len(value or "") <= limit, "LISN_SUBMISSION_VALUE_TOO_LONG",
                     expression=f"Bundle.entry.resource.ofType({where.split('.')[0]}).{where.split('.')[1]}",
                     limit=limit)


def authorise_sender(sub: Submission, ctx: Context) -> Answer | None:
    """A sender submits only for the care units it is registered for."""
    if ctx.client.role == "sender" and sub.care_unit_hsa in ctx.client.care_units:
        return None
    oo = errors.forbidden(messages.bilingual("LISN_SENDER_CARE_UNIT", care_unit=sub.care_unit_hsa),
                          message_id="LISN_SENDER_CARE_UNIT")
    return refuse(ctx, oo, action="submit", patient=_patient_value(sub), certificate=sub.certificate_id)


def replay_or_conflict(sub: Submission, bundle: Resource, ctx: Context) -> Answer | None:
    """The first answer for an identical resubmission; 409 for different content under the same id."""
    earlier = next((r for r in submissions.by_certificate(ctx.session, sub.certificate_id or "")
                    if r.accepted_key and r.event == sub.event), None)
    if earlier is None:
        return None
    if earlier.content_hash == content_hash(bundle) and earlier.response is not None:
        record(ctx, action="submit-repeat", outcome="replayed", patient=earlier.patient_value,
               certificate=earlier.certificate_id)
        return errors.outcome([]), earlier.response
    mid = "LISN_SUBMISSION_CONFLICT"
    oo = errors.conflict(messages.bilingual(mid, certificate=sub.certificate_id, task=earlier.id), message_id=mid)
    return refuse(ctx, oo, action="submit", patient=earlier.patient_value, certificate=sub.certificate_id,
                  outcome="conflict")


def validate_submission(bundle: Resource, ctx: Context) -> OperationOutcome:
    """The validator's outcome plus the service's own rule: the recipient must be registered."""
    oo = ctx.stages.validate(bundle, ctx.registry)
    sub = Submission(bundle)
    issues = Issues()
    issues.check(recipients.get_recipient(ctx.session, sub.kommunkod or "") is not None,
                 "LISN_RECIPIENT_UNKNOWN", expression="Bundle.entry[0].resource.destination[0].receiver",
                 code="business-rule", kommunkod=sub.kommunkod)
    found = [i for i in oo.get("issue", []) if errors.message_id_of(i) != "ALL_OK"] + issues.items
    return errors.outcome(found)


def lock_patient(ctx: Context, patient_value: str | None) -> None:
    """Serialise the consent work of one patient until commit (PostgreSQL advisory lock).

    Without it a submission and a consent for the same patient, committed by two workers at once,
    could each miss the other (READ COMMITTED) and leave a consented certificate waiting. SQLite
    needs nothing: every transaction there starts with BEGIN IMMEDIATE and so runs alone."""
    if patient_value and ctx.session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"lisn-patient:{patient_value}".encode()).digest()[:8], "big", signed=True)
        ctx.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def store_received(sub: Submission, raw: bytes, bundle: Resource, fmt: str, ctx: Context) -> SubmissionRow:
    patient = sub.patient_identifier or (None, None)
    lock_patient(ctx, patient[1])
    row = SubmissionRow(
        id=str(uuid.uuid4()), certificate_id=sub.certificate_id, content_hash=content_hash(bundle),
        event=sub.event, replaces=sub.replaces, kommunkod=sub.kommunkod, care_unit_hsa=sub.care_unit_hsa,
        patient_system=patient[0], patient_value=patient[1], source_format=fmt, raw=raw, bundle=bundle,
        status="received", client_id=ctx.client.id, received_at=stamp(ctx.clock.now()))
    ctx.session.add(row)
    ctx.session.flush()
    submissions.add_status(ctx.session, row.id, "received", at=ctx.clock.now())
    submissions.add_status(ctx.session, row.id, "validated", at=ctx.clock.now())
    return row


def _first_error(oo: OperationOutcome) -> tuple[str | None, str]:
    for iss in oo.get("issue", []):
        if iss.get("severity") in ("error", "fatal"):
            return errors.message_id_of(iss), (iss.get("details") or {}).get("text", "")
    return None, ""


def reject(sub: Submission, bundle: Resource, oo: OperationOutcome, ctx: Context) -> Answer:
    """A certificate that breaks a rule changes nothing (DESIGN §5): the answer is the outcome, with
    the Task it would have had (received, then rejected with the reason) contained for the record."""
    reason_id, reason = _first_error(oo)
    now = stamp(ctx.clock.now())
    patient = sub.patient_identifier or (None, None)
    row = SubmissionRow(id=str(uuid.uuid4()), certificate_id=sub.certificate_id, event=sub.event,
                        kommunkod=sub.kommunkod, care_unit_hsa=sub.care_unit_hsa, patient_system=patient[0],
                        patient_value=patient[1], status="rejected", received_at=now)
    steps = [StatusEvent(status="received", at=now),
             StatusEvent(status="rejected", reason=reason, reason_id=reason_id, at=now)]
    return dict(oo, contained=[build_task(row, steps)]), None


def accept(row: SubmissionRow, sub: Submission, oo: OperationOutcome, ctx: Context) -> Answer:
    row.accepted_key = f"{row.event}|{row.certificate_id}"
    task = build_task(row, submissions.history(ctx.session, row.id))
    answer = receipt_bundle(request_header=sub.header, task=task, outcome=oo, base_url=ctx.base_url,
                            now=ctx.clock.now(), message_id=str(uuid.uuid4()))
    row.response, row.response_status = answer, 200
    record(ctx, action="submit", outcome="accepted", patient=row.patient_value, certificate=row.certificate_id)
    return oo, answer


def store_bundle_consents(row: SubmissionRow, sub: Submission, ctx: Context) -> None:
    """Consents inside the submission are registered like any other (references made self-contained)."""
    for consent in sub.consents:
        inlined = inline_references(consent, sub.resolve)
        ident = patient_identifier(inlined)
        if ident:
            consents.save_consent(ctx.session, inlined, patient=(ident["system"], ident["value"]),
                                  at=ctx.clock.now(), client_id=ctx.client.id, submission_id=row.id)


def decide(row: SubmissionRow, ctx: Context, *, previous: str | None = None) -> Decision:
    """Decide on the patient's stored consents; store the decision, and a step when it changed."""
    facts = CertificateFacts(certificate_id=row.certificate_id or "", patient_system=row.patient_system or "",
                             patient_value=row.patient_value or "", kommunkod=row.kommunkod or "")
    stored = consents.for_patient(ctx.session, facts.patient_system, facts.patient_value)
    decision = decide_consent(facts, [c.resource for c in stored], ctx.clock.now())
    reason = messages.bilingual(decision.reason_id)
    submissions.record_decision(ctx.session, submission_id=row.id, decision=decision.decision,
                                reason_id=decision.reason_id, reason=reason, consent_id=decision.consent_id,
                                at=ctx.clock.now())
    if decision.decision == previous:
        return decision
    step = "consent-ok" if decision.permitted else "awaiting-consent"
    submissions.add_status(ctx.session, row.id, step, reason, ctx.clock.now(), reason_id=decision.reason_id)
    return decision


# -- release, withdrawal ---------------------------------------------------------------------

def _document(bundle: Resource, kind: str, replaces: str | None, ctx: Context) -> bytes:
    xml = ctx.stages.render(bundle, registry=ctx.registry, status=XML_STATUS_BY_KIND[kind], replaces=replaces)
    return ctx.stages.sign(xml)


def release(row: SubmissionRow, ctx: Context) -> int:
    """Render, sign and queue the certificate (a replacement also to every receiver of the original)."""
    from adapter.delivery.keys import idempotency_key
    from adapter.store import outbox

    kind = KIND_BY_EVENT[row.event or "certificate"]
    targets = {row.kommunkod or ""}
    if kind == "replacement" and row.replaces:
        targets.update(outbox.recipients_of(ctx.session, row.replaces))
    document = _document(row.bundle or {}, kind, row.replaces, ctx)
    for kommunkod in sorted(targets):
        outbox.enqueue_delivery(ctx.session, submission_id=row.id, certificate_id=row.certificate_id or "",
                                kommunkod=kommunkod, kind=kind, document=document,
                                idempotency_key=idempotency_key(row.certificate_id or "", kommunkod, kind),
                                replaces=row.replaces, now=ctx.clock.now().timestamp())
    return len(targets)


def withdrawal_precondition(sub: Submission, ctx: Context) -> Answer | None:
    """A withdrawal that arrives before its certificate is refused with a retryable error."""
    if sub.event != "certificate-withdrawal":
        return None
    original = _original(sub.certificate_id, ctx)
    if original is not None and original.care_unit_hsa != sub.care_unit_hsa:
        mid = "LISN_WITHDRAWAL_OTHER_CARE_UNIT"  # only the issuing care unit withdraws its certificate
        return refuse(ctx, errors.forbidden(messages.bilingual(mid), message_id=mid), action="withdraw",
                      patient=original.patient_value, certificate=sub.certificate_id)
    if original is not None:
        return None
    mid = "LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    oo = errors.outcome([errors.issue("error", "transient", messages.bilingual(mid), message_id=mid,
                                      expression="Bundle.entry.resource.ofType(QuestionnaireResponse).identifier")])
    return refuse(ctx, oo, action="withdraw", patient=_patient_value(sub), certificate=sub.certificate_id,
                  outcome="retry-later")


def _original(certificate_id: str | None, ctx: Context) -> SubmissionRow | None:
    for row in submissions.by_certificate(ctx.session, certificate_id or ""):
        if row.accepted_key and row.event in ("certificate", "certificate-replacement"):
            return row
    return None


def withdraw(row: SubmissionRow, sub: Submission, oo: OperationOutcome, ctx: Context) -> Answer:
    """Cancel what never left; send a signed withdrawal wherever the certificate went or is going."""
    from adapter.delivery.keys import idempotency_key
    from adapter.store import outbox

    original = _original(row.certificate_id, ctx)
    cert = row.certificate_id or ""
    document: bytes | None = None
    for kommunkod in outbox.recipients_of(ctx.session, cert):
        if outbox.withdraw_unsent(ctx.session, certificate_id=cert, kommunkod=kommunkod,
                                  now=ctx.clock.now().timestamp()):
            continue
        document = document or _document(row.bundle or {}, "withdrawal", None, ctx)
        outbox.enqueue_delivery(ctx.session, submission_id=row.id, certificate_id=cert, kommunkod=kommunkod,
                                kind="withdrawal", document=document,
                                idempotency_key=idempotency_key(cert, kommunkod, "withdrawal"),
                                now=ctx.clock.now().timestamp())
    if original is not None:
        submissions.add_status(ctx.session, original.id, "withdrawn", messages.bilingual("LISN_WITHDRAWN"),
                               ctx.clock.now(), reason_id="LISN_WITHDRAWN")
    submissions.add_status(ctx.session, row.id, "released", messages.bilingual("LISN_WITHDRAWAL_QUEUED"),
                           ctx.clock.now(), reason_id="LISN_WITHDRAWAL_QUEUED")
    return accept(row, sub, oo, ctx)


def redecide_patient(patient: tuple[str, str], ctx: Context, *, reason: str) -> None:
    """Decide again for each waiting or undelivered submission of the patient; release or withhold."""
    from adapter.store import outbox

    lock_patient(ctx, patient[1])
    rows = submissions.waiting_for_patient(ctx.session, patient[0], patient[1],
                                           ("awaiting-consent", "consent-ok", "released", "withheld"))
    for row in rows:
        if row.event == "certificate-withdrawal":
            continue
        before = submissions.latest_decision(ctx.session, row.id)
        was_permitted = before is not None and before.decision == "permit"
        decision = decide(row, ctx, previous=before.decision if before else None)
        if decision.permitted and not was_permitted:
            release(row, ctx)
        elif was_permitted and not decision.permitted:
            outbox.withhold(ctx.session, submission_id=row.id, now=ctx.clock.now().timestamp())
