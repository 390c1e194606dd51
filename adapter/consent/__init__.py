"""Consent: may this certificate be disclosed to this socialnämnd now?

Takes: the certificate's facts (id, patient, recipient kommunkod), the patient's Consent resources, and the time.
Gives: a decision (permit / deny / no-consent) with its reason and the consent it rests on.
No IO, no Flask, no database.

See DESIGN §2 ("nothing is delivered without a valid consent") and FHIR R4 Consent
(https://hl7.org/fhir/R4/consent.html), provision rules in §2.13.6.
"""

from adapter.consent.decision import CertificateFacts, Decision, decide_consent
from adapter.consent.references import inline_references, patient_identifier

__all__ = ["CertificateFacts", "Decision", "decide_consent", "inline_references", "patient_identifier"]
