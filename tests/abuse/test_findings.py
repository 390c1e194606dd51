"""Defects the evidence runs found in other areas, kept as regression tests.

An unfixed one is ``xfail(strict=True)``: when it is fixed the test passes, strict turns that
into a failure, and whoever fixed it removes the mark. Fixed so far: tokens whose random part
contains "_" (``clients.by_token`` split on every "_"; about half of all tokens never worked).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from adapter.store import clients, migrate
from adapter.store.db import make_engine, session_factory, transaction


def test_every_issued_token_authenticates(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    migrate.upgrade(engine)
    pepper = b"p" * 32
    try:
        with transaction(session_factory(engine)) as session:
            issued = [clients.add_client(session, name=f"c{i}", role="sender", pepper=pepper)[1] for i in range(40)]
        with transaction(session_factory(engine)) as session:
            refused = [t for t in issued if _lookup(session, t, pepper) is None]
    finally:
        engine.dispose()
    assert refused == []


def _lookup(session: Session, token: str, pepper: bytes) -> object:
    return clients.by_token(session, token, pepper)


def test_sender_can_revoke_the_consent_it_submitted(instance: Any) -> None:
    from bench import certificates

    headers = {"Authorization": f"Bearer {instance.token}", "Accept": "application/fhir+json"}
    raw = certificates.to_bytes(certificates.with_certificate_id(certificates.example()))
    with instance.app.test_client() as client:
        sent = client.post("/fhir/$process-message", data=raw,
                           headers={**headers, "Content-Type": "application/fhir+json"})
        assert sent.status_code == 200, sent.get_data(as_text=True)[:300]
        found = client.get("/fhir/Consent?patient=191212121212", headers=headers).get_json()
        consent_id = found["entry"][0]["resource"]["id"]
        revoked = client.post(f"/fhir/Consent/{consent_id}/$revoke", headers=headers)
    assert revoked.status_code == 200, revoked.get_json()
