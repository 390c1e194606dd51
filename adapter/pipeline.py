"""The flow of one submission, one consent registration and one revocation, step by step.

Each function is the list of steps (DESIGN §4); the work is done by the stages
(``adapter.inbound``, ``adapter.validation``, ``adapter.consent``, ``adapter.outbound``,
``adapter.signing``) and by ``adapter.store``. Every function runs inside the caller's
transaction and returns ``(outcome, resource)``: the view answers ``status_for(outcome)``
with the resource, or with the outcome when it has errors. Refusals that concern a patient
(a foreign care unit, a conflict) are returned, not raised, so that their audit row commits.
"""

from __future__ import annotations

from typing import Any

from adapter import errors
from adapter.errors import OperationOutcome
from adapter.fhir.submission import Submission
from adapter.store import consent_steps, flow
from adapter.store.flow import Context, Stages

__all__ = ["Context", "Stages", "register_consent", "revoke_consent", "submit"]

Resource = dict[str, Any]
Answer = tuple[OperationOutcome, "Resource | None"]


def submit(raw: bytes, ctx: Context, *, fmt: str = "fhir-json", inputs: dict[str, str] | None = None) -> Answer:
    """Receive a certificate message: parse, authorise, validate, decide consent, release."""
    # Step: parse the input (FHIR JSON, or an EHR export through the inbound mapping and its side inputs)
    bundle = flow.parse_submission(raw, fmt, ctx, inputs or {})
    sub = Submission(bundle)
    # Step: a sender submits only for its own care units
    if (refused := flow.authorise_sender(sub, ctx)) is not None:
        return refused
    # Step: the same certificate again: the first answer (it was valid then), or a conflict
    if (earlier := flow.replay_or_conflict(sub, bundle, ctx)) is not None:
        return earlier
    # Step: validate against the LISN template and profiles; a rejection stores nothing
    oo = flow.validate_submission(bundle, ctx)
    if errors.has_errors(oo):
        return flow.reject(sub, bundle, oo, ctx)
    # Step: a withdrawal before its certificate is refused, retryably
    if (early := flow.withdrawal_precondition(sub, ctx)) is not None:
        return early
    # Step: store as received and validated
    row = flow.store_received(sub, raw, bundle, fmt, ctx)
    # Step: a withdrawal goes wherever its certificate went
    if sub.event == "certificate-withdrawal":
        return flow.withdraw(row, sub, oo, ctx)
    # Step: register the consents that came with it, then decide
    flow.store_bundle_consents(row, sub, ctx)
    decision = flow.decide(row, ctx)
    # Step: permitted: render, sign and queue for delivery in this same transaction
    if decision.permitted:
        flow.release(row, ctx)
    # Step: audit and answer with a receipt that identifies the submission
    return flow.accept(row, sub, oo, ctx)


def register_consent(raw: bytes, ctx: Context) -> Answer:
    """Register a patient's Consent; what waits for it is released."""
    # Step: parse and check the Consent on its own
    consent, patient = consent_steps.parse_consent(raw, ctx)
    # Step: a sender registers consents only for its own care units
    if (refused := consent_steps.authorise_consent_write(consent, patient, ctx)) is not None:
        return refused
    # Step: store it (an identical Consent is stored once)
    record = consent_steps.store_consent(consent, patient, ctx)
    # Step: decide again for everything of this patient that waits
    flow.redecide_patient(patient, ctx, reason="consent registered")
    return consent_steps.consent_answer(record, patient, ctx, action="consent-create", created=True)


def revoke_consent(consent_id: str, ctx: Context) -> Answer:
    """Revoke a Consent: what is not yet delivered on its strength is withheld."""
    # Step: find it and check that this client may change it
    record = consent_steps.find_consent(consent_id, ctx)
    if (refused := consent_steps.authorise_consent_write(record.resource, consent_steps.consent_patient(record), ctx)) is not None:
        return refused
    # Step: mark it inactive
    consent_steps.deactivate(record, ctx)
    # Step: decide again; what is no longer permitted is withheld
    flow.redecide_patient(consent_steps.consent_patient(record), ctx, reason="consent revoked")
    return consent_steps.consent_answer(record, consent_steps.consent_patient(record), ctx, action="consent-revoke")
