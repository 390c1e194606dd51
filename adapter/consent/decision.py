"""The consent decision: a pure function of (certificate, consents, time).

A certificate may go to a socialnämnd only when an active Consent of the same patient
has a ``permit`` provision whose period covers now, whose actor is that socialnämnd
(by kommunkod), whose purpose is economic assistance and, when it names data, names
this certificate. A ``deny`` provision that applies (top level or nested) wins over any
permit (FHIR R4 Consent §2.13.6: nested provisions are exceptions to their parent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapter import messages
from adapter.consent.references import patient_identifier, reference_identifier
from adapter.fhir import identifiers as ids

Resource = dict[str, Any]

PURPOSE_SYSTEM = f"{ids.CANONICAL_BASE}/CodeSystem/lisn-purpose"
PURPOSE_CODE = "ekonomiskt-bistand"
# Date-only periods are meant in Swedish local time: "until 14 September" includes that whole day.
_LOCAL = ZoneInfo("Europe/Stockholm")

PERMIT, DENY, NO_CONSENT = "permit", "deny", "no-consent"

# The checks in order; a consent that fails a later check was "nearer" to permitting,
# so its reason is the one reported when nothing permits.
_ORDER = ["LISN_CONSENT_OTHER_PATIENT", "LISN_CONSENT_INACTIVE", "LISN_CONSENT_NO_PERMIT",
          "LISN_CONSENT_OTHER_RECIPIENT", "LISN_CONSENT_PURPOSE", "LISN_CONSENT_NOT_YET_VALID",
          "LISN_CONSENT_EXPIRED", "LISN_CONSENT_DATA_SCOPE"]


@dataclass(frozen=True)
class CertificateFacts:
    """What the decision needs to know about the certificate."""

    certificate_id: str
    patient_system: str
    patient_value: str
    kommunkod: str


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide_consent`."""

    decision: str
    """``permit``, ``deny`` or ``no-consent``."""
    reason_id: str
    """Message id of the reason (texts in ``adapter/messages/consent.json``)."""
    consent_id: str | None = None
    """Id of the Consent the decision rests on, if any."""

    @property
    def permitted(self) -> bool:
        return self.decision == PERMIT

    def reason(self, lang: str = "sv") -> str:
        return messages.text(self.reason_id, lang)


def _instant(value: Any, *, end: bool) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime.combine(day, time.min, _LOCAL)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_LOCAL)


def _period_reason(provision: Resource, now: datetime) -> str | None:
    period = provision.get("period") or {}
    start = _instant(period.get("start"), end=False)
    stop = _instant(period.get("end"), end=True)
    if start is not None and now < start:
        return "LISN_CONSENT_NOT_YET_VALID"
    if stop is not None and now >= stop:
        return "LISN_CONSENT_EXPIRED"
    return None


def _names_recipient(consent: Resource, provision: Resource, kommunkod: str) -> bool:
    for actor in provision.get("actor") or []:
        ident = reference_identifier(consent, (actor or {}).get("reference"), ids.KOMMUNKOD)
        if ident and ident["value"] == kommunkod:
            return True
    return False


def _has_purpose(provision: Resource) -> bool:
    return any(isinstance(p, dict) and p.get("system") == PURPOSE_SYSTEM and p.get("code") == PURPOSE_CODE
               for p in provision.get("purpose") or [])


def _names_certificate(provision: Resource, certificate_id: str) -> bool:
    for data in provision.get("data") or []:
        ref = (data or {}).get("reference") or {}
        ident = ref.get("identifier") or {}
        if ident.get("value") == certificate_id or ref.get("reference") == certificate_id:
            return True
    return False


def _permit_reason(consent: Resource, facts: CertificateFacts, now: datetime) -> str | None:
    """None when the top provision permits this disclosure, else the first failing check."""
    provision = consent.get("provision")
    if not isinstance(provision, dict) or provision.get("type") != "permit":
        return "LISN_CONSENT_NO_PERMIT"
    if not _names_recipient(consent, provision, facts.kommunkod):
        return "LISN_CONSENT_OTHER_RECIPIENT"
    if not _has_purpose(provision):
        return "LISN_CONSENT_PURPOSE"
    period = _period_reason(provision, now)
    if period:
        return period
    if provision.get("data") and not _names_certificate(provision, facts.certificate_id):
        return "LISN_CONSENT_DATA_SCOPE"
    return None


def _deny_applies(consent: Resource, provision: Resource, facts: CertificateFacts, now: datetime) -> bool:
    """A deny provision applies when each restriction it states (actor, purpose, data, period) matches."""
    if provision.get("type") != "deny" or _period_reason(provision, now):
        return False
    if provision.get("actor") and not _names_recipient(consent, provision, facts.kommunkod):
        return False
    if provision.get("purpose") and not _has_purpose(provision):
        return False
    return not provision.get("data") or _names_certificate(provision, facts.certificate_id)


def _denies(consent: Resource, facts: CertificateFacts, now: datetime) -> bool:
    stack = [consent.get("provision")]
    while stack:
        provision = stack.pop()
        if isinstance(provision, dict):
            if _deny_applies(consent, provision, facts, now):
                return True
            stack.extend(provision.get("provision") or [])
    return False


def _same_patient(consent: Resource, facts: CertificateFacts) -> bool:
    ident = patient_identifier(consent)
    return bool(ident) and ident == {"system": facts.patient_system, "value": facts.patient_value}


def decide_consent(facts: CertificateFacts, consents: Iterable[Resource], now: datetime) -> Decision:
    """Decide whether ``facts``' certificate may be disclosed to its socialnämnd at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    relevant: list[Resource] = []
    failures: list[tuple[int, str, str | None]] = []
    for consent in consents:
        reason = _screen(consent, facts)
        if reason:
            failures.append((_ORDER.index(reason), reason, consent.get("id")))
        else:
            relevant.append(consent)
    for consent in relevant:
        if _denies(consent, facts, now):
            return Decision(DENY, "LISN_CONSENT_DENY_PROVISION", consent.get("id"))
    for consent in relevant:
        reason = _permit_reason(consent, facts, now)
        if reason is None:
            return Decision(PERMIT, "LISN_CONSENT_PERMIT", consent.get("id"))
        failures.append((_ORDER.index(reason), reason, consent.get("id")))
    return _no_consent(failures)


def _screen(consent: Resource, facts: CertificateFacts) -> str | None:
    if not _same_patient(consent, facts):
        return "LISN_CONSENT_OTHER_PATIENT"
    if consent.get("status") != "active":
        return "LISN_CONSENT_INACTIVE"
    return None


def _no_consent(failures: Sequence[tuple[int, str, str | None]]) -> Decision:
    if not failures:
        return Decision(NO_CONSENT, "LISN_CONSENT_NONE")
    _, reason, consent_id = max(failures, key=lambda f: f[0])
    return Decision(NO_CONSENT, reason, consent_id)
