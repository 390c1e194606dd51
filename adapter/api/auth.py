"""Who is calling: API tokens, or a client certificate forwarded by a trusted reverse proxy.

``Authorization: Bearer <token>`` is looked up by its HMAC (constant-time compare). A
client certificate is believed only when the request comes straight from one of the
configured trusted proxies (``ADAPTER_SERVICE_TRUSTED_PROXIES``) in the configured header
(PEM, URL-encoded, as nginx's ``$ssl_client_escaped_cert``); from anywhere else the header
is ignored, so a client cannot claim a certificate it does not hold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import g, request

from adapter import errors, messages
from adapter.api.service import service
from adapter.flows.access import authenticate as authenticate_client
from adapter.flows.access import cert_fingerprint, unauthenticated
from adapter.flows.ports import ClientInfo

F = TypeVar("F", bound=Callable[..., Any])
END_USER_HEADER = "X-LISN-End-User"


def _certificate_fingerprint() -> str | None:
    svc = service()
    header = request.headers.get(svc.settings.service.client_cert_header)
    if not header or request.remote_addr not in svc.settings.service.trusted_proxies:
        return None
    try:
        cert = x509.load_pem_x509_certificate(unquote(header).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise unauthenticated("LISN_AUTH_INVALID") from None
    return cert_fingerprint(cert.public_bytes(Encoding.DER))


def authenticate() -> ClientInfo:
    """The calling client; raises Unauthenticated (401) when there is none or it is not known."""
    auth = request.headers.get("Authorization", "")
    fingerprint = _certificate_fingerprint()
    if not auth and fingerprint is None:
        raise unauthenticated("LISN_AUTH_REQUIRED")
    if not auth:
        return authenticate_client(service(), fingerprint=fingerprint)
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        raise unauthenticated("LISN_AUTH_INVALID")
    return authenticate_client(service(), token=token.strip())


def current_client() -> ClientInfo:
    """The authenticated client of this request (authenticating on first use)."""
    if "lisn_client" not in g:
        g.lisn_client = authenticate()
    return cast(ClientInfo, g.lisn_client)


def end_user() -> str | None:
    """The person acting through the client system, if it says (kept in the audit log only)."""
    value = request.headers.get(END_USER_HEADER, "").strip()
    return value[:200] or None


def require_role(*roles: str) -> Callable[[F], F]:
    """Only clients with one of ``roles`` may call the view (401 without a client, 403 with another role)."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client = current_client()
            if client.role not in roles:
                mid = "LISN_ROLE_FORBIDDEN"
                raise errors.Forbidden(messages.bilingual(mid, role=" | ".join(roles)), message_id=mid)
            return view(*args, **kwargs)
        return cast(F, wrapper)
    return decorate
