"""The error model: one exception tree, one OperationOutcome shape, one status map.

Every error the adapter reports to a user is a FHIR R4 ``OperationOutcome``
(https://hl7.org/fhir/R4/operationoutcome.html) whose issues carry a stable
message id (extension ``operationoutcome-message-id``) and an ``expression``
that points at the element concerned.

Exception tree::

    AdapterError                    (.outcome: the OperationOutcome to answer with)
     ├── InputRejected (ValueError) malformed, oversize or hostile input; 400/413/415
     ├── MappingError               an EHR export could not be mapped; 422
     ├── ValidationFailed           the certificate breaks a rule; 422
     ├── ConsentDenied              no consent permits the disclosure; 403
     ├── TransformError             municipal XML could not be produced; 500 (a bug)
     ├── SigningError               signing or signature verification failed
     ├── DeliveryError              a recipient could not be reached or refused
     ├── NotFound                   404
     ├── Forbidden                  403
     └── Conflict                   409

Unknown exceptions become a 500 whose diagnostics never carry patient data.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, cast

MESSAGE_ID_URL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"

OperationOutcome = dict[str, Any]

_SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


def issue(
    severity: str,
    code: str,
    text: str,
    *,
    expression: str | Iterable[str] | None = None,
    message_id: str | None = None,
    diagnostics: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> dict[str, Any]:
    """Build one ``OperationOutcome.issue``."""
    out: dict[str, Any] = {}
    ext: list[dict[str, Any]] = []
    if message_id:
        ext.append({"url": MESSAGE_ID_URL, "valueString": message_id})
    if line is not None:
        ext.append({"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line",
                    "valueInteger": line})
    if column is not None:
        ext.append({"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col",
                    "valueInteger": column})
    if ext:
        out["extension"] = ext
    out["severity"] = severity
    out["code"] = code
    out["details"] = {"text": text}
    if diagnostics:
        out["diagnostics"] = diagnostics
    if expression is not None:
        out["expression"] = [expression] if isinstance(expression, str) else list(expression)
    return out


def outcome(issues: Iterable[Mapping[str, Any]]) -> OperationOutcome:
    """Wrap issues in an OperationOutcome; an empty list gets the customary 'all OK' issue."""
    items = [dict(i) for i in issues]
    if not items:
        items = [issue("information", "informational", "Inga fel hittades. (No issues found.)",
                       message_id="ALL_OK")]
    return {"resourceType": "OperationOutcome", "issue": items}


def has_errors(oo: Mapping[str, Any]) -> bool:
    """True when any issue is of severity error or fatal."""
    return any(i.get("severity") in ("error", "fatal") for i in oo.get("issue", []))


def message_id_of(iss: Mapping[str, Any]) -> str | None:
    for ext in iss.get("extension", []):
        if ext.get("url") == MESSAGE_ID_URL:
            return cast("str | None", ext.get("valueString"))
    return None


def _single(severity: str, code: str, text: str, expression: str | None, message_id: str) -> OperationOutcome:
    return outcome([issue(severity, code, text, expression=expression, message_id=message_id)])


def bad_request(text: str, expression: str | None = None, message_id: str = "LISN_BAD_REQUEST") -> OperationOutcome:
    return _single("error", "invalid", text, expression, message_id)


def not_found(text: str = "Resursen finns inte. (Not found.)", message_id: str = "LISN_NOT_FOUND") -> OperationOutcome:
    return _single("error", "not-found", text, None, message_id)


def forbidden(text: str = "Åtkomst nekas. (Forbidden.)", message_id: str = "LISN_FORBIDDEN") -> OperationOutcome:
    return _single("error", "forbidden", text, None, message_id)


def conflict(text: str, message_id: str = "LISN_CONFLICT") -> OperationOutcome:
    return _single("error", "conflict", text, None, message_id)


def gone(text: str, message_id: str = "LISN_GONE") -> OperationOutcome:
    return _single("error", "deleted", text, None, message_id)


def too_large(text: str = "Förfrågan är för stor. (Request body too large.)",
              message_id: str = "LISN_TOO_LARGE") -> OperationOutcome:
    return _single("error", "too-costly", text, None, message_id)


def server_error(message_id: str = "LISN_INTERNAL") -> OperationOutcome:
    # Never carries exception text: it may contain patient data.
    return _single("fatal", "exception", "Ett internt fel uppstod. (Internal error.)", None, message_id)


class AdapterError(Exception):
    """The adapter could not complete the request."""

    status = 500
    code = "processing"
    message_id = "LISN_ERROR"

    def __init__(self, message: str | None = None, *, outcome: OperationOutcome | None = None,
                 expression: str | None = None, message_id: str | None = None) -> None:
        text = message or (self.__doc__ or "").strip()
        super().__init__(text)
        self.message_id = message_id or self.message_id
        self.outcome: OperationOutcome = outcome or _single(
            "error", self.code, text, expression, self.message_id)


class InputRejected(AdapterError, ValueError):
    """The input could not be read: it is malformed, too large or not allowed."""

    status = 400
    code = "invalid"
    message_id = "LISN_INPUT_REJECTED"


class PayloadTooLarge(InputRejected):
    """The input is larger than the configured limit."""

    status = 413
    code = "too-costly"
    message_id = "LISN_TOO_LARGE"


class UnsupportedMediaType(InputRejected):
    """The content type is not supported."""

    status = 415
    code = "not-supported"
    message_id = "LISN_UNSUPPORTED_MEDIA_TYPE"


class MappingError(AdapterError):
    """The EHR export could not be mapped to the certificate."""

    status = 422
    code = "invalid"
    message_id = "LISN_MAPPING_FAILED"


class ValidationFailed(AdapterError):
    """The certificate does not conform to its template and profiles."""

    status = 422
    code = "invalid"
    message_id = "LISN_VALIDATION_FAILED"


class ConsentDenied(AdapterError):
    """No valid consent permits disclosure to this recipient."""

    status = 403
    code = "forbidden"
    message_id = "LISN_CONSENT_DENIED"


class TransformError(AdapterError):
    """The municipal XML could not be produced (a bug in a mapping or schema)."""

    status = 500
    code = "exception"
    message_id = "LISN_TRANSFORM_FAILED"


class SigningError(AdapterError):
    """The document could not be signed, or its signature could not be verified."""

    status = 422
    code = "security"
    message_id = "LISN_SIGNATURE_INVALID"


class DeliveryError(AdapterError):
    """The recipient could not be reached or refused the certificate."""

    status = 502
    code = "transient"
    message_id = "LISN_DELIVERY_FAILED"


class NotFound(AdapterError):
    """The resource does not exist."""

    status = 404
    code = "not-found"
    message_id = "LISN_NOT_FOUND"


class Forbidden(AdapterError):
    """The client is not allowed to do this."""

    status = 403
    code = "forbidden"
    message_id = "LISN_FORBIDDEN"


class Unauthenticated(AdapterError):
    """The client is not authenticated."""

    status = 401
    code = "login"
    message_id = "LISN_UNAUTHENTICATED"


class Conflict(AdapterError):
    """The request conflicts with the stored state."""

    status = 409
    code = "conflict"
    message_id = "LISN_CONFLICT"


def to_outcome(exc: BaseException) -> OperationOutcome:
    """Normalise any exception into an OperationOutcome (unknown ones say nothing of their text)."""
    if isinstance(exc, AdapterError):
        return exc.outcome
    return server_error()


_STATUS_BY_CODE = {
    "invalid": 400, "structure": 400, "required": 400, "value": 400, "invariant": 400,
    "security": 403, "login": 401, "unknown": 401, "forbidden": 403, "suppressed": 403,
    "processing": 422, "not-supported": 415, "duplicate": 409, "multiple-matches": 412,
    "not-found": 404, "deleted": 410, "too-long": 413, "code-invalid": 422, "extension": 422,
    "too-costly": 413, "business-rule": 422, "conflict": 409, "transient": 503, "lock-error": 503,
    "no-store": 503, "exception": 500, "timeout": 504, "incomplete": 422, "throttled": 429,
    "informational": 200,
}


def status_for(oo: Mapping[str, Any]) -> int:
    """The HTTP status for an OperationOutcome: 200 when it has no error, else by its first error's code."""
    for iss in sorted(oo.get("issue", []), key=lambda i: _SEVERITY_ORDER.get(i.get("severity", ""), 9)):
        if iss.get("severity") in ("error", "fatal"):
            return _STATUS_BY_CODE.get(iss.get("code", ""), 400)
    return 200
