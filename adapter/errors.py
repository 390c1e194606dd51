"""The error model: one exception tree, one OperationOutcome shape, one status table.

Every error the adapter reports to a user is a FHIR R4 ``OperationOutcome``
(https://hl7.org/fhir/R4/operationoutcome.html) whose issues carry a stable
message id (extension ``operationoutcome-message-id``, and as ``details.coding`` in the
package's CodeSystem ``lisn-message-id``), a text in one language (:mod:`adapter.messages`) and
an ``expression`` that points at the element concerned.

Exception tree, with the HTTP status each answers (the table :data:`HTTP`)::

    AdapterError                        (.outcome: the OperationOutcome to answer with)   500
     ├── InputRejected (ValueError)     malformed, oversize or hostile input                400
     │    ├── PayloadTooLarge           larger than the configured limit                    413
     │    ├── UnsupportedMediaType      a content type or charset we do not read            415
     │    └── RequestTimeout            the body did not arrive within its deadline         408
     ├── MappingError                   an EHR export could not be mapped                   422
     ├── ValidationFailed               the certificate breaks a rule                       422
     ├── TransformError                 municipal XML could not be produced (a bug)         500
     ├── SigningError                   signing or signature verification failed            422
     ├── Unauthenticated                no client, or an unknown one                        401
     ├── Forbidden                      this client may not do this                         403
     ├── NotFound                                                                           404
     ├── Conflict                       conflicts with the stored state                     409
     └── RetryLater                     not possible yet; the same request later may succeed 503, Retry-After 60
          └── StoreUnavailable          the database cannot be reached; nothing was stored  503, Retry-After 5

A use case that refuses a request *returns* the error instead of raising it, so that the audit
row of the refusal commits; either way the face answers ``status_for(error)``. Unknown
exceptions become a 500 whose diagnostics never carry patient data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from adapter import messages

MESSAGE_ID_URL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"

OperationOutcome = dict[str, Any]

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
    coded_as: str | None = None,
) -> dict[str, Any]:
    """Build one ``OperationOutcome.issue``.

    ``details.coding`` names the message in the package's CodeSystem ``lisn-message-id``:
    ``message_id`` itself, or ``coded_as`` when the id is not a code of it (a profile
    constraint's ``url#key`` is coded as the message whose text it uses, ``LISN_INVARIANT``).
    """
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
    code_id = coded_as or message_id
    out["details"] = ({"coding": [{"system": messages.SYSTEM, "code": code_id}], "text": text}
                      if code_id else {"text": text})
    if diagnostics:
        out["diagnostics"] = diagnostics
    if expression is not None:
        out["expression"] = [expression] if isinstance(expression, str) else list(expression)
    return out


def outcome(issues: Iterable[Mapping[str, Any]]) -> OperationOutcome:
    """Wrap issues in an OperationOutcome; an empty list gets the customary 'all OK' issue."""
    items = [dict(i) for i in issues]
    if not items:
        items = [issue("information", "informational", messages.text("ALL_OK"), message_id="ALL_OK")]
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


def server_error(message_id: str = "LISN_INTERNAL") -> OperationOutcome:
    # Never carries exception text: it may contain patient data.
    return _single("fatal", "exception", messages.text(message_id), None, message_id)


class AdapterError(Exception):
    """The adapter could not complete the request."""

    code = "processing"
    message_id = "LISN_ERROR"

    def __init__(self, message: str | None = None, *, outcome: OperationOutcome | None = None,
                 expression: str | None = None, message_id: str | None = None) -> None:
        self.message_id = message_id or self.message_id
        text = message or messages.text(self.message_id)
        super().__init__(text)
        self.outcome: OperationOutcome = outcome or _single(
            "error", self.code, text, expression, self.message_id)


class InputRejected(AdapterError, ValueError):
    """The input could not be read: it is malformed, too large or not allowed."""

    code = "invalid"
    message_id = "LISN_INPUT_REJECTED"


class PayloadTooLarge(InputRejected):
    """The input is larger than the configured limit."""

    code = "too-costly"
    message_id = "LISN_TOO_LARGE"


class UnsupportedMediaType(InputRejected):
    """The content type is not supported."""

    code = "not-supported"
    message_id = "LISN_UNSUPPORTED_MEDIA_TYPE"


class MappingError(AdapterError):
    """The EHR export could not be mapped to the certificate."""

    code = "invalid"
    message_id = "LISN_MAPPING_FAILED"


class ValidationFailed(AdapterError):
    """The certificate does not conform to its template and profiles."""

    code = "invalid"
    message_id = "LISN_VALIDATION_FAILED"


class TransformError(AdapterError):
    """The municipal XML could not be produced (a bug in a mapping or schema)."""

    code = "exception"
    message_id = "LISN_TRANSFORM_FAILED"


class SigningError(AdapterError):
    """The document could not be signed, or its signature could not be verified."""

    code = "security"
    message_id = "LISN_SIGNATURE_INVALID"


class NotFound(AdapterError):
    """The resource does not exist."""

    code = "not-found"
    message_id = "LISN_NOT_FOUND"


class Forbidden(AdapterError):
    """The client is not allowed to do this."""

    code = "forbidden"
    message_id = "LISN_FORBIDDEN"


class Unauthenticated(AdapterError):
    """The client is not authenticated."""

    code = "login"
    message_id = "LISN_UNAUTHENTICATED"


class Conflict(AdapterError):
    """The request conflicts with the stored state."""

    code = "conflict"
    message_id = "LISN_CONFLICT"


class RetryLater(AdapterError):
    """The request cannot be carried out yet; the same request later may succeed."""

    code = "transient"
    message_id = "LISN_RETRY_LATER"


class StoreUnavailable(RetryLater):
    """The database cannot be reached; nothing was stored."""

    message_id = "LISN_STORE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(messages.bilingual(self.message_id))


def to_outcome(exc: BaseException) -> OperationOutcome:
    """Normalise any exception into an OperationOutcome (unknown ones say nothing of their text)."""
    if isinstance(exc, AdapterError):
        return exc.outcome
    return server_error()


class RequestTimeout(InputRejected):
    """The request body did not arrive in time."""

    code = "timeout"
    message_id = "LISN_BODY_TIMEOUT"


@dataclass(frozen=True)
class HttpStatus:
    """What an error answers over HTTP."""

    code: int
    retry_after: int | None = None
    """Seconds a client should wait before trying again (the ``Retry-After`` header)."""


# The one table from error to HTTP status (the most specific class found in an error's MRO wins).
# A database blip passes in seconds; a certificate that has not arrived yet takes longer.
HTTP: dict[type[AdapterError], HttpStatus] = {
    AdapterError: HttpStatus(500),
    InputRejected: HttpStatus(400),
    PayloadTooLarge: HttpStatus(413),
    UnsupportedMediaType: HttpStatus(415),
    RequestTimeout: HttpStatus(408),
    MappingError: HttpStatus(422),
    ValidationFailed: HttpStatus(422),
    TransformError: HttpStatus(500),
    SigningError: HttpStatus(422),
    Unauthenticated: HttpStatus(401),
    Forbidden: HttpStatus(403),
    NotFound: HttpStatus(404),
    Conflict: HttpStatus(409),
    RetryLater: HttpStatus(503, retry_after=60),
    StoreUnavailable: HttpStatus(503, retry_after=5),
}


def http_status(exc: AdapterError) -> HttpStatus:
    """The row of :data:`HTTP` for ``exc``."""
    return next(HTTP[c] for c in type(exc).__mro__ if c in HTTP)


def status_for(exc: AdapterError) -> int:
    """The HTTP status the service answers ``exc`` with."""
    return http_status(exc).code


def where(exc: BaseException) -> str:
    """An exception for the log without its text (which may carry patient data): its type, the
    types of its causes, and the last code locations it passed through (folder/file:line function),
    innermost first."""
    import traceback

    chain, seen = [], set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        chain.append(found)
        found = found.__cause__ or found.__context__
    parts = []
    for each in chain:
        frames = traceback.extract_tb(each.__traceback__)[-6:]
        places = " < ".join(f"{'/'.join(f.filename.split('/')[-2:])}:{f.lineno} {f.name}" for f in reversed(frames))
        parts.append(f"{type(each).__name__}" + (f" at {places}" if places else ""))
    return " caused by ".join(parts)
