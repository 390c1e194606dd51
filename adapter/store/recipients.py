"""The recipient registry: each socialnämnd by kommunkod, with its delivery settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapter.store.models import RecipientRow

MODES = ("push", "pull")


def add_recipient(session: Session, *, kommunkod: str, name: str, organisationsnummer: str | None = None,
                  delivery_mode: str = "pull", endpoint_url: str | None = None,
                  mtls_cert_path: str | None = None, mtls_key_path: str | None = None,
                  ca_bundle_path: str | None = None, max_attempts: int | None = None) -> RecipientRow:
    """Register or update the socialnämnd of ``kommunkod``."""
    if not (len(kommunkod) == 4 and kommunkod.isdigit()):
        raise ValueError("kommunkod must be four digits")
    if delivery_mode not in MODES:
        raise ValueError(f"delivery mode must be one of {MODES}")
    if delivery_mode == "push" and not endpoint_url:
        raise ValueError("push delivery needs an endpoint URL")
    row = session.get(RecipientRow, kommunkod) or RecipientRow(kommunkod=kommunkod)
    row.name, row.organisationsnummer, row.delivery_mode = name, organisationsnummer, delivery_mode
    row.endpoint_url, row.mtls_cert_path, row.mtls_key_path = endpoint_url, mtls_cert_path, mtls_key_path
    row.ca_bundle_path, row.max_attempts, row.active = ca_bundle_path, max_attempts, True
    session.add(row)
    session.flush()
    return row


def get_recipient(session: Session, kommunkod: str) -> RecipientRow | None:
    return session.get(RecipientRow, kommunkod)


def list_recipients(session: Session) -> list[RecipientRow]:
    return list(session.execute(select(RecipientRow).order_by(RecipientRow.kommunkod)).scalars())
