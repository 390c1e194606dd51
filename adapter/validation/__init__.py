"""Validation: QuestionnaireResponses against their Questionnaire, resources against the profiles.

Takes: a FHIR resource (parsed JSON) and a conformance Registry.
Gives: an OperationOutcome listing every issue, in a deterministic order.
No IO, no Flask, no database.
"""

from adapter import native  # noqa: F401 - first: it checks a compiled build before any compiled module loads
from adapter.validation.entry import read_resource, validate, validate_bytes, validate_into, validate_read

__all__ = ["read_resource", "validate", "validate_bytes", "validate_into", "validate_read"]
