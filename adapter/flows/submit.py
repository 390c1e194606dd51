"""Receive a certificate message (``$process-message``): a certificate, a replacement or a withdrawal.

:func:`submit` is the list of steps (DESIGN §4); the steps follow it in order. The work is
done by the stages (``adapter.inbound``, ``adapter.validation``) and by
:mod:`adapter.flows.release` (consent decision, release, withdrawal).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import cast

from adapter import errors, messages
from adapter.errors import OperationOutcome
from adapter.fhir.parse import parse_json
from adapter.fhir.submission import XML_STATUS_BY_EVENT, Submission
from adapter.flows import consents, release, stats
from adapter.flows.context import Context, Resource, Result, audit, refuse
from adapter.flows.ports import StatusStep, SubmissionRecord
from adapter.flows.task import build_task, receipt_bundle
from adapter.issues import Issues


def submit(raw: bytes, ctx: Context, *, fmt: str = "fhir-json", inputs: dict[str, str] | None = None) -> Result:
    """Receive a certificate message: parse, authorise, validate, decide consent, release."""
    # Step: parse the input (FHIR JSON, or an EHR export through the inbound mapping and its side inputs)
    bundle = parse_submission(raw, fmt, ctx, inputs or {})
    sub = Submission(bundle)
    # Step: a sender submits only for its own care units
    if (refused := authorise_sender(sub, ctx)) is not None:
        return refused
    # Step: the same certificate again: the first answer (it was valid then), or a conflict
    if (earlier := replay_or_conflict(sub, bundle, ctx)) is not None:
        return earlier
    # Step: validate against the LISN template and profiles; a rejection stores nothing
    oo = validate_submission(bundle, ctx)
    if errors.has_errors(oo):
        return reject(sub, oo, ctx)
    # Step: a withdrawal before its certificate is refused, retryably
    if (early := release.withdrawal_precondition(sub, ctx)) is not None:
        return early
    # Step: a replacement comes from the care unit that issued the original, for the same patient
    if (other := release.replacement_precondition(sub, ctx)) is not None:
        return other
    # Step: consents inside it name only this sender's care units (their scope)
    inlined = consents.bundle_consents(sub)
    if (foreign := consents.bundle_consents_precondition(sub, inlined, ctx)) is not None:
        return foreign
    # Step: store as received and validated
    row = store_received(sub, raw, bundle, fmt, ctx)
    # Step: keep its de-identified statistics row, in this same transaction
    stats.record_receipt(row, ctx)
    # Step: a withdrawal goes wherever its certificate went
    if sub.event == "certificate-withdrawal":
        release.withdraw(row, ctx)
        return accept(row, sub, oo, ctx)
    # Step: register the consents that came with it, then decide
    consents.store_bundle_consents(row, inlined, ctx)
    decision = release.decide(row, ctx)
    # Step: permitted: render, sign and queue for delivery in this same transaction
    if decision.permitted:
        release.release(row, ctx)
    # Step: audit and answer with a receipt that identifies the submission
    return accept(row, sub, oo, ctx)


def content_hash(bundle: Resource) -> str:
    text = json.dumps(bundle, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def patient_value(sub: Submission) -> str | None:
    found = sub.patient_identifier
    return found[1] if found else None


def parse_bundle(raw: bytes, fmt: str, ctx: Context, inputs: dict[str, str] | None = None) -> Resource:
    """The Bundle of FHIR JSON, or of an EHR export through its inbound mapping (with its side inputs)."""
    if fmt == "fhir-json":
        return cast(Resource, parse_json(raw, ctx.settings.limits))  # checked to be a Bundle by the caller
    return ctx.stages.map_export(raw, fmt, inputs or {})


def parse_submission(raw: bytes, fmt: str, ctx: Context, inputs: dict[str, str] | None = None) -> Resource:
    """The submission Bundle, from FHIR JSON or from an EHR export; refuses anything that is not one."""
    bundle = parse_bundle(raw, fmt, ctx, inputs)
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
    issues.check(sub.event in XML_STATUS_BY_EVENT, "LISN_SUBMISSION_UNKNOWN_EVENT",
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


def authorise_sender(sub: Submission, ctx: Context) -> errors.AdapterError | None:
    """A sender submits only for the care units it is registered for."""
    if ctx.client.role == "sender" and sub.care_unit_hsa in ctx.client.care_units:
        return None
    mid = "LISN_SENDER_CARE_UNIT"
    error = errors.Forbidden(messages.bilingual(mid, care_unit=sub.care_unit_hsa), message_id=mid)
    return refuse(ctx, error, action="submit", patient=patient_value(sub), certificate=sub.certificate_id)


def replay_or_conflict(sub: Submission, bundle: Resource, ctx: Context) -> Result | None:
    """The first answer for an identical resubmission; 409 for different content under the same id.

    A certificate is known by its issuing care unit and its id together: another care unit's
    certificate under the same id is another certificate, so its existence changes nothing here and
    the answer is the one for an id never seen (issue 13)."""
    earlier = next((r for r in ctx.tx.submissions_of(sub.certificate_id or "", sub.care_unit_hsa or "")
                    if r.accepted_key and r.event == sub.event), None)
    if earlier is None:
        return None
    if earlier.content_hash == content_hash(bundle) and earlier.response is not None:
        audit(ctx, action="submit-repeat", outcome="replayed", patient=earlier.patient_value,
              certificate=earlier.certificate_id)
        return earlier.response
    mid = "LISN_SUBMISSION_CONFLICT"
    error = errors.Conflict(messages.bilingual(mid, certificate=sub.certificate_id, task=earlier.id), message_id=mid)
    return refuse(ctx, error, action="submit", patient=earlier.patient_value, certificate=sub.certificate_id,
                  outcome="conflict")


def validate_submission(bundle: Resource, ctx: Context) -> OperationOutcome:
    """The validator's outcome plus the service's own rule: the recipient must be registered."""
    oo = ctx.stages.validate(bundle, ctx.registry)
    sub = Submission(bundle)
    issues = Issues()
    issues.check(ctx.tx.recipient(sub.kommunkod or "") is not None,
                 "LISN_RECIPIENT_UNKNOWN", expression="Bundle.entry[0].resource.destination[0].receiver",
                 code="business-rule", kommunkod=sub.kommunkod)
    found = [i for i in oo.get("issue", []) if errors.message_id_of(i) != "ALL_OK"] + issues.items
    return errors.outcome(found)


def _first_error(oo: OperationOutcome) -> tuple[str | None, str]:
    for iss in oo.get("issue", []):
        if iss.get("severity") in ("error", "fatal"):
            return errors.message_id_of(iss), (iss.get("details") or {}).get("text", "")
    return None, ""


def reject(sub: Submission, oo: OperationOutcome, ctx: Context) -> errors.ValidationFailed:
    """A certificate that breaks a rule changes nothing (DESIGN §5): the answer is the outcome, with
    the Task it would have had (received, then rejected with the reason) contained for the record."""
    reason_id, reason = _first_error(oo)
    now = ctx.clock.now()
    patient = sub.patient_identifier or (None, None)
    row = SubmissionRecord(id=str(uuid.uuid4()), certificate_id=sub.certificate_id, event=sub.event,
                           kommunkod=sub.kommunkod, care_unit_hsa=sub.care_unit_hsa, patient_system=patient[0],
                           patient_value=patient[1], status="rejected", received_at=now)
    steps = [StatusStep("received", now), StatusStep("rejected", now, reason=reason, reason_id=reason_id)]
    return errors.ValidationFailed(outcome=dict(oo, contained=[build_task(row, steps)]))


def store_received(sub: Submission, raw: bytes, bundle: Resource, fmt: str, ctx: Context) -> SubmissionRecord:
    patient = sub.patient_identifier or (None, None)
    row = SubmissionRecord(
        id=str(uuid.uuid4()), certificate_id=sub.certificate_id, content_hash=content_hash(bundle),
        event=sub.event, replaces=sub.replaces, kommunkod=sub.kommunkod, care_unit_hsa=sub.care_unit_hsa,
        patient_system=patient[0], patient_value=patient[1], source_format=fmt, raw=raw, bundle=bundle,
        status="received", client_id=ctx.client.id, received_at=ctx.clock.now())
    ctx.tx.add_submission(row, lock_patient=True)  # the patient's lock first (Tx.lock_patient)
    ctx.tx.add_step(row.id, StatusStep("received", ctx.clock.now()))
    ctx.tx.add_step(row.id, StatusStep("validated", ctx.clock.now()))
    return row


def accepted_key(row: SubmissionRecord) -> str:
    """At most one accepted submission per event of a certificate, and a certificate is its care unit
    and its id together (the id hashed: the key stays within its column whatever the id's length)."""
    digest = hashlib.sha256((row.certificate_id or "").encode()).hexdigest()
    return f"{row.event}|{row.care_unit_hsa or ''}|{digest}"


def accept(row: SubmissionRecord, sub: Submission, oo: OperationOutcome, ctx: Context) -> Resource:
    """Audit, and answer with the receipt (kept: an identical resubmission gets it again)."""
    current = ctx.tx.submission(row.id) or row
    task = build_task(current, ctx.tx.history(row.id), decision=ctx.tx.latest_decision(row.id))
    answer = receipt_bundle(request_header=sub.header, task=task, outcome=oo, base_url=ctx.base_url,
                            now=ctx.clock.now(), message_id=str(uuid.uuid4()))
    ctx.tx.accept(row.id, accepted_key=accepted_key(row), response=answer)
    audit(ctx, action="submit", outcome="accepted", patient=row.patient_value, certificate=row.certificate_id)
    return answer
