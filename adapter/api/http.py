"""Request bodies and FHIR responses: size limits that hold for chunked bodies, content types.

Werkzeug hands a chunked body to the application as an unbounded stream (and with
``MAX_CONTENT_LENGTH`` set it would cut it at the limit). The body is therefore read here,
up to limit + 1 bytes: one byte more than allowed is the proof of an oversize body, whatever
the framing. The rest is drained (up to a bound) so that the client reads the 413 instead
of a connection reset.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from adapter import errors, messages

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (FHIR_JSON, "application/json")
XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml")
_CHUNK = 64 * 1024
# FHIR ids (R4 §2.1.0.9: [A-Za-z0-9\-\.]{1,64}); search values: identifiers and URIs, never control characters.
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9\-.:/|_]{1,256}")
_DRAIN_LIMIT = 8 * 1024 * 1024


def _too_large(limit: int) -> errors.PayloadTooLarge:
    mid = "LISN_BODY_TOO_LARGE"
    return errors.PayloadTooLarge(messages.bilingual(mid, limit=limit), message_id=mid)


def _drain(stream: Any) -> None:
    drained = 0
    try:
        while drained < _DRAIN_LIMIT and (chunk := stream.read(_CHUNK)):
            drained += len(chunk)
    except (OSError, ValueError, RequestEntityTooLarge):
        pass


def _idle() -> None:
    """The body may take long to arrive: the request's database connection may go back meanwhile
    (``SqlStore.idle``; registered by ``adapter.api._register_connection``)."""
    idle = current_app.extensions.get("lisn-idle")
    if idle is not None:
        idle()


def read_body(limit: int, deadline_seconds: float | None = None) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes, chunked or not; 408 when it
    has not all arrived within ``deadline_seconds``; 400 when its framing is broken."""
    if request.content_length is not None and request.content_length > limit:
        _drain(request.stream)
        raise _too_large(limit)
    _idle()
    parts: list[bytes] = []
    total = 0
    with _deadline(deadline_seconds) as remaining:
        try:
            while (chunk := (remaining(), request.stream.read(min(_CHUNK, limit + 1 - total)))[1]):
                parts.append(chunk)
                total += len(chunk)
                if total > limit:
                    _drain(request.stream)
                    raise _too_large(limit)
        except RequestEntityTooLarge:
            raise _too_large(limit) from None
        except errors.AdapterError:
            raise
        except TimeoutError:
            mid = "LISN_BODY_TIMEOUT"
            raise errors.RequestTimeout(messages.bilingual(mid, seconds=f"{deadline_seconds:g}"),
                                        message_id=mid) from None
        except Exception as exc:
            if not _broken_framing(exc):
                raise
            mid = "LISN_BODY_MALFORMED"
            raise errors.InputRejected(messages.bilingual(mid), message_id=mid) from None
    return b"".join(parts)


def _broken_framing(exc: Exception) -> bool:
    """A body the server cannot read: a malformed chunk size or terminator, a connection that broke.
    Werkzeug says so with OSError or ValueError, gunicorn with its own ``gunicorn.http.errors``."""
    return isinstance(exc, (OSError, ValueError)) or type(exc).__module__ == "gunicorn.http.errors"


@contextmanager
def _deadline(seconds: float | None) -> Iterator[Callable[[], None]]:
    """Bound the time the whole body may take: before each read the client socket's timeout is set
    to what is left (gunicorn and the embedded server both hand the socket to the app), so a
    client sending one byte at a time cannot hold a worker thread past the deadline."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if not seconds or sock is None or not hasattr(sock, "settimeout"):
        yield lambda: None
        return
    end = time.monotonic() + seconds
    before = sock.gettimeout()

    def remaining() -> None:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)

    try:
        yield remaining
    finally:
        with suppress(OSError):
            sock.settimeout(before)


def require_content_type(allowed: Iterable[str]) -> str:
    """The request's media type if it is one of ``allowed`` (UTF-8 only), else 415."""
    allowed = tuple(allowed)
    mimetype = request.mimetype
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if mimetype not in allowed or charset not in ("utf-8", "utf8"):
        mid = "LISN_CONTENT_TYPE"
        got = request.headers.get("Content-Type", "-")[:100]
        raise errors.UnsupportedMediaType(messages.bilingual(mid, got=got, expected=", ".join(allowed)),
                                          message_id=mid)
    return mimetype


def fhir_response(resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    headers = dict(headers or {})
    if resource.get("resourceType") == "OperationOutcome":  # its texts are in the request's language
        headers.setdefault("Content-Language", messages.current_lang())
    return Response(body, status=status, content_type=f"{FHIR_JSON}; charset=utf-8", headers=headers)


def error_response(exc: errors.AdapterError) -> Response:
    """An error as HTTP: its outcome, with the status and ``Retry-After`` of the one table (``errors.HTTP``)."""
    row = errors.http_status(exc)
    headers = {}
    if row.retry_after is not None:
        headers["Retry-After"] = str(row.retry_after)
    if row.code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if row.code in (408, 413) or exc.message_id == "LISN_BODY_MALFORMED":
        headers["Connection"] = "close"  # the rest of the body is not read (or cannot be)
    return fhir_response(exc.outcome, row.code, headers)


def answer(result: dict[str, Any] | errors.AdapterError, *, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """A use case's result as HTTP: the resource, or the refusal it returned."""
    if isinstance(result, errors.AdapterError):
        return error_response(result)
    return fhir_response(result, status, headers)


def checked(value: str, *, what: str, search: bool = False) -> str:
    """``value`` when it can be an id (or a search value); else 400. Keeps NUL bytes and the like
    away from the database, which would refuse them with an error of its own."""
    if not (_TOKEN if search else _ID).fullmatch(value):
        mid = "LISN_PARAM_INVALID"
        raise errors.InputRejected(messages.bilingual(mid, param=what), message_id=mid)
    return value
