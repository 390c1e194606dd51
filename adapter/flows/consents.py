"""Register and revoke a patient's Consent; who may write and read which Consent.

A Consent registered on its own must identify its patient (``patient.identifier`` or a
contained Patient) and its recipient socialnämnd (``provision.actor.reference.identifier``
with the kommunkod system, or a contained Organization): there is no Bundle to resolve
references in. A sender registers consents only for its own care units, named in
``Consent.organization`` (by HSA-id). What waits for a consent is decided again at once
(:func:`adapter.flows.release.redecide_patient`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace

from adapter import errors, messages
from adapter.clock import fhir_instant
from adapter.consent import inline_references, patient_identifier
from adapter.consent.references import reference_identifier
from adapter.fhir import identifiers as ids
from adapter.fhir.parse import parse_json
from adapter.fhir.submission import Submission
from adapter.flows.context import Context, Resource, Result, audit, refuse
from adapter.flows.permit import care_units
from adapter.flows.ports import ConsentRecord, SubmissionRecord
from adapter.flows.release import redecide_patient
from adapter.issues import Issues


def register_consent(raw: bytes, ctx: Context) -> Result:
    """Register a patient's Consent; what waits for it is released."""
    # Step: parse and check the Consent on its own
    consent, patient = parse_consent(raw, ctx)
    # Step: a sender registers consents only for its own care units
    if (refused := authorise_write(consent, patient, ctx)) is not None:
        return refused
    # Step: store it (an identical Consent is stored once; a revoked one is not registered again)
    record = save(consent, patient, ctx)
    if record.status != "active" and consent.get("status") == "active":
        mid = "LISN_CONSENT_REVOKED_REPOST"
        return refuse(ctx, errors.Conflict(messages.bilingual(mid), message_id=mid), action="consent-create",
                      patient=patient[1], outcome="revoked")
    # Step: decide again for everything of this patient that waits
    redecide_patient(patient, ctx)
    audit(ctx, action="consent-create", outcome="created", patient=patient[1])
    return record.resource


def revoke_consent(consent_id: str, ctx: Context) -> Result:
    """Revoke a Consent: what is not yet delivered on its strength is withheld."""
    # Step: find it and check that this client may change it
    record = find(consent_id, ctx)
    patient = (record.patient_system, record.patient_value)
    if not may_read(record, ctx):
        # A Consent this client cannot see is answered as one that does not exist (issue 13).
        mid = "LISN_CONSENT_NOT_FOUND"
        return refuse(ctx, errors.NotFound(messages.bilingual(mid), message_id=mid), action="consent-revoke",
                      patient=patient[1])
    if (refused := authorise_write(record.resource, patient, ctx)) is not None:
        return refused
    # Step: mark it inactive
    revoked = set_status(record, "inactive", ctx)
    # Step: decide again; what is no longer permitted is withheld
    redecide_patient(patient, ctx)
    audit(ctx, action="consent-revoke", outcome="ok", patient=patient[1])
    return revoked.resource


def parse_consent(raw: bytes, ctx: Context) -> tuple[Resource, tuple[str, str]]:
    """The Consent and its patient's identifier; InputRejected/ValidationFailed otherwise."""
    consent = parse_json(raw, ctx.settings.limits)
    if not (isinstance(consent, dict) and consent.get("resourceType") == "Consent"):
        mid = "LISN_CONSENT_NOT_CONSENT"
        raise errors.InputRejected(messages.bilingual(mid), message_id=mid, expression="resourceType")
    issues = Issues()
    ident = patient_identifier(consent)
    issues.check(ident, "LISN_CONSENT_PATIENT_UNIDENTIFIED", expression="Consent.patient")
    issues.check(isinstance(consent.get("provision"), dict), "LISN_CONSENT_PROVISION_MISSING",
                 expression="Consent.provision")
    oo = ctx.stages.validate(consent, ctx.registry)
    found = [i for i in oo.get("issue", []) if i.get("severity") in ("error", "fatal")] + issues.items
    if any(i.get("severity") in ("error", "fatal") for i in found):
        raise errors.ValidationFailed(outcome=errors.outcome(found))
    assert ident is not None
    return consent, (ident["system"], ident["value"])


# -- who may write and read a Consent --------------------------------------------------------------

def _kommunkoder(consent: Resource) -> set[str]:
    found = set()
    stack = [consent.get("provision")]
    while stack:
        provision = stack.pop()
        if isinstance(provision, dict):
            for actor in provision.get("actor") or []:
                ident = reference_identifier(consent, (actor or {}).get("reference"), ids.KOMMUNKOD)
                if ident:
                    found.add(ident["value"])
            stack.extend(provision.get("provision") or [])
    return found


def may_write(consent: Resource, ctx: Context) -> bool:
    """The scope of a Consent is the care units it names in ``Consent.organization`` (the discloser:
    it releases only their certificates, ``flows.permit.in_scope``). A sender registers or revokes
    it only when it is registered for every one of them."""
    client = ctx.client
    units = care_units(consent)
    return client.role == "admin" or (client.role == "sender" and bool(units) and units <= set(client.care_units))


def may_read(row: ConsentRecord, ctx: Context) -> bool:
    client = ctx.client
    if client.role == "municipality":
        return client.kommunkod in _kommunkoder(row.resource)
    return may_write(row.resource, ctx) or (client.role == "sender" and row.client_id == client.id)


def authorise_write(consent: Resource, patient: tuple[str, str], ctx: Context) -> errors.AdapterError | None:
    if may_write(consent, ctx):
        return None
    mid = "LISN_CONSENT_FORBIDDEN"
    return refuse(ctx, errors.Forbidden(messages.bilingual(mid), message_id=mid), action="consent-write",
                  patient=patient[1])


# -- stored Consents (the server assigns ids; an identical Consent is stored once) -----------------

def content_hash(resource: Resource) -> str:
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def save(resource: Resource, patient: tuple[str, str], ctx: Context, *,
         submission_id: str | None = None) -> ConsentRecord:
    """Store a Consent (with a new server id) unless the same one is already stored."""
    digest = content_hash(resource)
    found = ctx.tx.consent_with_hash(patient[1], digest)
    if found is not None:
        return found
    cid, now = str(uuid.uuid4()), ctx.clock.now()
    stored = dict(resource, id=cid)
    stored["meta"] = {"versionId": "1", "lastUpdated": fhir_instant(now)}
    record = ConsentRecord(id=cid, patient_system=patient[0], patient_value=patient[1],
                           status=str(resource.get("status")), content_hash=digest, resource=stored,
                           client_id=ctx.client.id, submission_id=submission_id, created_at=now, updated_at=now)
    ctx.tx.add_consent(record)
    return record


def bundle_consents(sub: Submission) -> list[Resource]:
    """The Consents inside a submission, each a copy with its references made self-contained."""
    return [inline_references(consent, sub.resolve) for consent in sub.consents]


def bundle_consents_precondition(sub: Submission, inlined: list[Resource], ctx: Context) -> errors.AdapterError | None:
    """A Consent inside a submission (``inlined``: :func:`bundle_consents`) is held to the same scope
    rule as one registered on its own."""
    for consent in inlined:
        if not may_write(consent, ctx):
            mid = "LISN_CONSENT_FORBIDDEN"
            found = sub.patient_identifier
            return refuse(ctx, errors.Forbidden(messages.bilingual(mid), message_id=mid), action="submit",
                          patient=found[1] if found else None, certificate=sub.certificate_id)
    return None


def store_bundle_consents(row: SubmissionRecord, inlined: list[Resource], ctx: Context) -> None:
    """Consents inside a submission (``inlined``: :func:`bundle_consents`) are registered like any other."""
    for consent in inlined:
        ident = patient_identifier(consent)
        if ident:
            save(consent, (ident["system"], ident["value"]), ctx, submission_id=row.id)


def find(consent_id: str, ctx: Context) -> ConsentRecord:
    record = ctx.tx.consent(consent_id)
    if record is None:
        raise errors.NotFound(messages.bilingual("LISN_CONSENT_NOT_FOUND"), message_id="LISN_CONSENT_NOT_FOUND")
    return record


def set_status(record: ConsentRecord, status: str, ctx: Context) -> ConsentRecord:
    """Change the Consent's status (``inactive`` on revocation); the resource follows."""
    now = ctx.clock.now()
    version = int((record.resource.get("meta") or {}).get("versionId", "1")) + 1
    resource = dict(record.resource, status=status, meta={"versionId": str(version), "lastUpdated": fhir_instant(now)})
    changed = replace(record, status=status, resource=resource, updated_at=now)
    ctx.tx.update_consent(changed)
    return changed
