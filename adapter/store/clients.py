"""API clients: registration, tokens (stored only as an HMAC) and certificate identities.

A token is ``lisn_<prefix>_<secret>``: the prefix finds the row, the HMAC-SHA256 of the
whole token under the server's pepper is compared in constant time. Tokens carry 256
random bits, so a keyed fast hash is enough (a slow hash protects guessable passwords,
not random keys); the pepper keeps a stolen database from being used to test tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.orm import Session

from adapter.clock import stamp
from adapter.flows.ports import ClientInfo
from adapter.store.models import ClientRow

ROLES = ("sender", "municipality", "admin", "statistics")


_CLIENTS = cast(Table, ClientRow.__table__)
_BY_PREFIX = select(_CLIENTS).where(_CLIENTS.c.token_prefix == bindparam("prefix"))


def client_info(row: ClientRow | Row[Any]) -> ClientInfo:
    return ClientInfo(row.id, row.name, row.role, tuple(row.care_units or ()), row.kommunkod)


def token_hash(token: str, pepper: bytes) -> str:
    return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def add_client(session: Session, *, name: str, role: str, pepper: bytes, care_units: tuple[str, ...] = (),
               kommunkod: str | None = None, cert_sha256: str | None = None) -> tuple[ClientInfo, str]:
    """Register a client; returns it and its token (shown once, stored only hashed)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    prefix = secrets.token_hex(4)
    token = f"lisn_{prefix}_{secrets.token_urlsafe(32)}"
    row = ClientRow(id=str(uuid.uuid4()), name=name, role=role, care_units=list(care_units), kommunkod=kommunkod,
                 token_prefix=prefix, token_hash=token_hash(token, pepper), cert_sha256=cert_sha256,
                 active=True, created_at=stamp(datetime.now(UTC)))
    session.add(row)
    session.flush()
    return client_info(row), token


def rotate_token(session: Session, *, name: str, pepper: bytes) -> str | None:
    """A new token for client ``name`` (the old one stops working); None when there is no such client."""
    row = session.execute(select(ClientRow).where(ClientRow.name == name)).scalar_one_or_none()
    if row is None:
        return None
    prefix = secrets.token_hex(4)
    token = f"lisn_{prefix}_{secrets.token_urlsafe(32)}"
    row.token_prefix, row.token_hash = prefix, token_hash(token, pepper)
    return token


def disable(session: Session, *, name: str, certificate_only: bool = False) -> ClientInfo | None:
    """Switch client ``name`` off (its token and certificate stop working at the next request), or
    with ``certificate_only`` forget only its certificate identity; None when there is no such client."""
    row = session.execute(select(ClientRow).where(ClientRow.name == name)).scalar_one_or_none()
    if row is None:
        return None
    if certificate_only:
        row.cert_sha256 = None
    else:
        row.active = False
    session.flush()
    return client_info(row)


def by_token(session: Session, token: str, pepper: bytes) -> ClientInfo | None:
    """The active client owning ``token``, or None (same work whether the prefix exists or not)."""
    parts = token.split("_", 2)  # the secret part may itself contain "_"
    prefix = parts[1] if len(parts) == 3 and parts[0] == "lisn" else ""
    # Core, not the ORM: this runs before every request (changes pending in the session first, as autoflush).
    session.flush()
    row = session.connection().execute(_BY_PREFIX, {"prefix": prefix}).one_or_none()
    expected = row.token_hash if row is not None and row.token_hash else "0" * 64
    ok = hmac.compare_digest(expected, token_hash(token, pepper))
    return client_info(row) if ok and row is not None and row.active else None


def by_certificate(session: Session, fingerprint: str) -> ClientInfo | None:
    row = session.execute(select(ClientRow).where(ClientRow.cert_sha256 == fingerprint)).scalar_one_or_none()
    return client_info(row) if row is not None and row.active else None


def list_clients(session: Session) -> list[ClientInfo]:
    return [client_info(r) for r in session.execute(select(ClientRow).order_by(ClientRow.name)).scalars()]
