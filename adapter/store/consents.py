"""Stored Consent resources. The server assigns ids; an identical Consent is stored once."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapter.store.models import ConsentRecord, stamp


def content_hash(resource: dict[str, Any]) -> str:
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def save_consent(session: Session, resource: dict[str, Any], *, patient: tuple[str, str], at: datetime,
                 client_id: str | None = None, submission_id: str | None = None) -> tuple[ConsentRecord, bool]:
    """Store a Consent (with a new server id) unless the same one is already stored; (row, created)."""
    digest = content_hash(resource)
    found = session.execute(select(ConsentRecord).where(
        ConsentRecord.patient_value == patient[1], ConsentRecord.content_hash == digest)).scalars().first()
    if found is not None:
        return found, False
    cid = str(uuid.uuid4())
    stored = dict(resource, id=cid)
    stored["meta"] = {"versionId": "1", "lastUpdated": _fhir_instant(at)}
    row = ConsentRecord(id=cid, patient_system=patient[0], patient_value=patient[1],
                        status=str(resource.get("status")), content_hash=digest, resource=stored,
                        client_id=client_id, submission_id=submission_id, created_at=stamp(at),
                        updated_at=stamp(at))
    session.add(row)
    session.flush()
    return row, True


def get_consent(session: Session, consent_id: str) -> ConsentRecord | None:
    return session.get(ConsentRecord, consent_id)


def for_patient(session: Session, system: str, value: str) -> list[ConsentRecord]:
    return list(session.execute(select(ConsentRecord).where(
        ConsentRecord.patient_system == system, ConsentRecord.patient_value == value)
        .order_by(ConsentRecord.created_at)).scalars())


def set_status(row: ConsentRecord, status: str, at: datetime) -> None:
    """Change the Consent's status (e.g. ``inactive`` on revocation); the resource follows."""
    version = int((row.resource.get("meta") or {}).get("versionId", "1")) + 1
    row.resource = dict(row.resource, status=status,
                        meta={"versionId": str(version), "lastUpdated": _fhir_instant(at)})
    row.status, row.updated_at = status, stamp(at)


def _fhir_instant(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
