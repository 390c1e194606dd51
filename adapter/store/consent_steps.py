"""The consent steps of :mod:`adapter.pipeline`: parse, authorise, store, revoke, answer.

A Consent registered on its own must identify its patient (``patient.identifier`` or a
contained Patient) and its recipient socialnämnd (``provision.actor.reference.identifier``
with the kommunkod system, or a contained Organization): there is no Bundle to resolve
references in. A sender registers consents only for its own care units, named in
``Consent.organization`` (by HSA-id).
"""

from __future__ import annotations

from typing import Any

from adapter import errors, messages
from adapter.consent import patient_identifier
from adapter.consent.references import reference_identifier
from adapter.fhir import identifiers as ids
from adapter.fhir.parse import parse_json
from adapter.issues import Issues
from adapter.store import consents
from adapter.store.flow import Answer, Context, record, refuse
from adapter.store.models import ConsentRecord

Resource = dict[str, Any]


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


def _care_units(consent: Resource) -> set[str]:
    units = set()
    for org in consent.get("organization") or []:
        found = reference_identifier(consent, org, ids.HSA_ID)
        if found:
            units.add(found["value"])
    return units


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
    client = ctx.client
    return client.role == "admin" or (client.role == "sender" and bool(_care_units(consent) & set(client.care_units)))


def may_read(row: ConsentRecord, ctx: Context) -> bool:
    client = ctx.client
    if client.role == "municipality":
        return client.kommunkod in _kommunkoder(row.resource)
    return may_write(row.resource, ctx) or (client.role == "sender" and row.client_id == client.id)


def authorise_consent_write(consent: Resource, patient: tuple[str, str], ctx: Context) -> Answer | None:
    if may_write(consent, ctx):
        return None
    mid = "LISN_CONSENT_FORBIDDEN"
    return refuse(ctx, errors.forbidden(messages.bilingual(mid), message_id=mid), action="consent-write",
                  patient=patient[1])


def store_consent(consent: Resource, patient: tuple[str, str], ctx: Context) -> ConsentRecord:
    row, _ = consents.save_consent(ctx.session, consent, patient=patient, at=ctx.clock.now(),
                                   client_id=ctx.client.id)
    return row


def find_consent(consent_id: str, ctx: Context) -> ConsentRecord:
    row = consents.get_consent(ctx.session, consent_id)
    if row is None:
        raise errors.NotFound(messages.bilingual("LISN_CONSENT_NOT_FOUND"), message_id="LISN_CONSENT_NOT_FOUND")
    return row


def consent_patient(row: ConsentRecord) -> tuple[str, str]:
    return row.patient_system, row.patient_value


def deactivate(row: ConsentRecord, ctx: Context) -> None:
    consents.set_status(row, "inactive", ctx.clock.now())


def consent_answer(row: ConsentRecord, patient: tuple[str, str], ctx: Context, *, action: str,
                   created: bool = False) -> Answer:
    record(ctx, action=action, outcome="created" if created else "ok", patient=patient[1])
    return errors.outcome([]), row.resource
