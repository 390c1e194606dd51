"""DESIGN §3 rules that belong to profiles but not to FHIRPath: the template's activation date.

A response authored before its LISN template's ``effectivePeriod.start`` answers a
template that was not yet in force (LISN_TEMPLATE_NOT_ACTIVE). This is an error for our own
templates only: for any other Questionnaire the HL7 validators, and the Questionnaire
validator here, say so as a warning, and the HL7 corpus expects that. Unknown versions and
older major versions are the Questionnaire validator's concern, not this module's.
"""

from __future__ import annotations

from typing import Any

from adapter.fhir.identifiers import CANONICAL_BASE
from adapter.fhir.registry import Registry
from adapter.issues import Issues

_LISN = f"{CANONICAL_BASE}/Questionnaire/"


def check_template_active(resource: dict[str, Any], registry: Registry, issues: Issues, *, path: str) -> None:
    """Error when a QuestionnaireResponse is authored before its template's activation date."""
    if resource.get("resourceType") != "QuestionnaireResponse":
        return
    canonical, authored = resource.get("questionnaire"), resource.get("authored")
    if not isinstance(canonical, str) or not isinstance(authored, str) or not canonical.startswith(_LISN):
        return
    questionnaire = registry.resolve(canonical, "Questionnaire") or {}
    period = questionnaire.get("effectivePeriod")
    start = period.get("start") if isinstance(period, dict) else None
    if not isinstance(start, str):
        return
    # Compare at the precision both carry (date part): ISO dates order as text.
    width = min(len(start), len(authored), 10)
    issues.check(authored[:width] >= start[:width], "LISN_TEMPLATE_NOT_ACTIVE", expression=f"{path}.authored",
                 code="business-rule", questionnaire=canonical, start=start[:10])
