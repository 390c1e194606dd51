"""Who is calling: an API token, or a client certificate's fingerprint (from a trusted proxy).

A token is looked up by its HMAC under the server's pepper (constant-time compare, in the
store); a certificate by the SHA-256 of its DER encoding. Either way an unknown or inactive
client is refused the same (401), so a caller learns nothing about which part was wrong.
"""

from __future__ import annotations

import hashlib

from adapter import errors, messages
from adapter.flows.context import Service, in_transaction
from adapter.flows.ports import ClientInfo


def cert_fingerprint(der: bytes) -> str:
    """The identity of a client certificate: the SHA-256 of its DER encoding, hex."""
    return hashlib.sha256(der).hexdigest()


def authenticate(service: Service, *, token: str | None = None, fingerprint: str | None = None) -> ClientInfo:
    """The client owning ``token`` (else the certificate ``fingerprint``); Unauthenticated otherwise."""
    # Through the same retry as a use case: a lock timeout here is a 503, not a 500.
    if token is not None:
        found = in_transaction(service.store, lambda tx: tx.client_by_token(token, service.pepper))
    else:
        found = in_transaction(service.store, lambda tx: tx.client_by_certificate(fingerprint or ""))
    if found is None:
        raise unauthenticated("LISN_AUTH_INVALID")
    return found


def unauthenticated(mid: str) -> errors.Unauthenticated:
    return errors.Unauthenticated(messages.bilingual(mid), message_id=mid)
