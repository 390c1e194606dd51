"""May this document leave for this recipient now? The one decision, made at the moment it leaves.

Every path by which a document leaves the service asks :func:`may_leave` in the transaction that
lets it go, on the state as it is then (never on a state an earlier decision left behind):

* the relay, just before a push (:meth:`adapter.flows.relay.RelayStore.still_claimed`);
* a pull fetch, a pull listing and an acknowledgement (:mod:`adapter.flows.pull`);
* the operator's ``queue retry`` and ``reprocess`` (:mod:`adapter.flows.operate`);
* queueing: a certificate, a replacement or correction to each recipient of the original, and a
  withheld message released again (:func:`adapter.flows.release.enqueue`).

The rule (the table in docs/delivery.md):

1. a message goes only to its own recipient (pull: the caller's kommunkod);
2. a withdrawal always may go: it follows the certificate wherever it went; so may a
   consent-withdrawn notice (``consent-revoked``: it tells a recipient that may hold the
   certificate that it must not be used, and discloses nothing new);
3. a certificate or replacement whose certificate was withdrawn may not go (state ``withdrawn``);
4. otherwise the patient's consent decides, for *this* recipient (its kommunkod), on the consents
   in scope of the submission: those whose ``Consent.organization`` names the care unit that
   issued it (:func:`in_scope`). A consent of another care unit or care provider counts for
   nothing here. Refused: ``withheld`` (or ``uncertain`` when it may already have arrived).

A message without a submission (an outbox filled by hand: the queue's own tests and tools; the
service never queues one) has no patient to decide on and may go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from adapter.consent import CertificateFacts, Decision, decide_consent
from adapter.consent.references import reference_identifier
from adapter.fhir import identifiers as ids
from adapter.flows.ports import WITHDRAWN, WITHHELD, Resource, SubmissionRecord, Tx

ALLOWED = "LISN_LEAVE_ALLOWED"
WITHDRAWAL = "LISN_LEAVE_WITHDRAWAL"
NOTICE = "LISN_LEAVE_NOTICE"
NOTICE_KIND = "consent-revoked"
"""The outbox kind of a consent-withdrawn notice (``adapter.outbound.notice``)."""
NO_SUBMISSION = "LISN_LEAVE_NO_SUBMISSION"
NOT_ADDRESSED = "LISN_LEAVE_NOT_ADDRESSED"
CERTIFICATE_WITHDRAWN = "LISN_LEAVE_WITHDRAWN"


class Leaving(Protocol):
    """What the decision needs of a message (an outbox row, or the relay's claim)."""

    @property
    def submission_id(self) -> str: ...

    @property
    def kommunkod(self) -> str: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class Verdict:
    """May it go? With the reason (a message id: a consent reason or one of this module's) and, when
    refused, the outbox state the message takes (``None``: leave it as it is)."""

    allowed: bool
    reason_id: str
    hold: str | None = None
    consent_id: str | None = None


def may_leave(message: Leaving, tx: Tx, now: datetime, *, to: str | None = None) -> Verdict:
    """The one decision: may ``message`` leave for its recipient (for ``to``, when a caller asks) now?"""
    if to is not None and to != message.kommunkod:
        return Verdict(False, NOT_ADDRESSED)
    if message.kind == "withdrawal":
        return Verdict(True, WITHDRAWAL)
    if message.kind == NOTICE_KIND:
        return Verdict(True, NOTICE)
    row = tx.submission(message.submission_id)
    if row is None:
        return Verdict(True, NO_SUBMISSION)
    if withdrawn(row.certificate_id, row.care_unit_hsa, tx):
        return Verdict(False, CERTIFICATE_WITHDRAWN, WITHDRAWN)
    decision = consent_decision(row, message.kommunkod, tx, now)
    if not decision.permitted:
        return Verdict(False, decision.reason_id, WITHHELD, decision.consent_id)
    return Verdict(True, ALLOWED, consent_id=decision.consent_id)


def consent_decision(row: SubmissionRecord, kommunkod: str, tx: Tx, now: datetime) -> Decision:
    """The consent decision for ``row``'s certificate to ``kommunkod`` on the consents in its scope."""
    patient = (row.patient_system or "", row.patient_value or "")
    facts = CertificateFacts(certificate_id=row.certificate_id or "", patient_system=patient[0],
                             patient_value=patient[1], kommunkod=kommunkod)
    scoped = [c.resource for c in tx.consents_of(patient) if in_scope(c.resource, row)]
    return decide_consent(facts, scoped, now)


def in_scope(consent: Resource, row: SubmissionRecord) -> bool:
    """A consent counts for a submission only when it names the issuing care unit in ``Consent.organization``
    (the discloser: only a client registered for every care unit it names may register or revoke it)."""
    return bool(row.care_unit_hsa) and row.care_unit_hsa in care_units(consent)


def care_units(consent: Resource) -> set[str]:
    """The HSA-ids a Consent names in ``Consent.organization``: who discloses under it."""
    units = set()
    for org in consent.get("organization") or []:
        found = reference_identifier(consent, org, ids.HSA_ID)
        if found:
            units.add(found["value"])
    return units


def withdrawn(certificate_id: str | None, care_unit: str | None, tx: Tx) -> bool:
    """Has the issuing care unit withdrawn this certificate (an accepted withdrawal of its own)?"""
    return any(r.accepted_key and r.event == "certificate-withdrawal"
               for r in tx.submissions_of(certificate_id or "", care_unit or ""))
