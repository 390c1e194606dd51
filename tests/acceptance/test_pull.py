"""Pull: a municipality lists, fetches (signed XML) and acknowledges what is addressed to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acceptance_helpers import DATA, Harness, example, harness, without_consent
from sqlalchemy import func, select

from adapter import errors
from adapter.signing import verify_document
from adapter.store.models import AuditRow, OutboxRow
from adapter.store.sql import SqlStore


@pytest.fixture()
def service(tmp_path: Path) -> Harness:
    h = harness(tmp_path, {"0180": None, "1480": None})
    assert h.call("ehr", "POST", "/fhir/$process-message", example("Bundle-lisn-example-submission")).status_code == 200
    return h


def audit_rows(h: Harness, action: str) -> list[tuple[str, str | None]]:
    with SqlStore(h.engine).session() as session:
        return [(r.outcome, r.patient) for r in session.scalars(select(AuditRow).where(AuditRow.action == action))]


def submission_of(h: Harness) -> str:
    with SqlStore(h.engine).session() as session:
        return str(session.scalar(select(OutboxRow.submission_id)))


def message_id(oo: dict) -> str | None:
    return errors.message_id_of(oo["issue"][0])


def test_list_fetch_acknowledge(service: Harness) -> None:
    listed = service.call("0180", "GET", "/municipal/certificates").get_json()
    [item] = listed["certificates"]
    assert (listed["kommunkod"], item["kind"], item["certificateId"]) == \
        ("0180", "certificate", "urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d")
    doc = service.call("0180", "GET", f"/municipal/certificates/{item['id']}")
    assert doc.status_code == 200 and doc.content_type == "application/xml"
    assert verify_document(doc.data, trust=[service.trust.read_bytes()]).ok
    # Not acknowledged yet: still listed (a crash after the fetch loses nothing).
    assert len(service.call("0180", "GET", "/municipal/certificates").get_json()["certificates"]) == 1
    ack = service.call("0180", "POST", f"/municipal/certificates/{item['id']}/$acknowledge")
    assert (ack.status_code, ack.get_json()["state"]) == (200, "acknowledged")
    again = service.call("0180", "POST", f"/municipal/certificates/{item['id']}/$acknowledge")
    assert (again.status_code, again.get_json()["state"]) == (200, "acknowledged")
    assert service.call("0180", "GET", "/municipal/certificates").get_json()["certificates"] == []
    assert audit_rows(service, "delivery-fetch") == [("ok", "191212121212")]
    assert [o for o, _ in audit_rows(service, "delivery-acknowledge")] == ["acknowledged", "acknowledged"]
    task = service.call("ehr", "GET", f"/fhir/Task/{submission_of(service)}").get_json()
    assert task["businessStatus"]["coding"][0]["code"] == "acknowledged", task


def test_another_municipality_sees_nothing(service: Harness) -> None:
    [item] = service.call("0180", "GET", "/municipal/certificates").get_json()["certificates"]
    assert service.call("1480", "GET", "/municipal/certificates").get_json()["certificates"] == []
    for method, path in (("GET", f"/municipal/certificates/{item['id']}"),
                         ("POST", f"/municipal/certificates/{item['id']}/$acknowledge")):
        resp = service.call("1480", method, path)
        assert (resp.status_code, message_id(resp.get_json())) == (404, "LISN_DELIVERY_NOT_ADDRESSED")
    assert audit_rows(service, "delivery-fetch") == [("not-found", None)]
    assert len(service.call("0180", "GET", "/municipal/certificates").get_json()["certificates"]) == 1


def test_only_municipalities_may_pull(service: Harness) -> None:
    resp = service.call("ehr", "GET", "/municipal/certificates")
    assert (resp.status_code, message_id(resp.get_json())) == (403, "LISN_ROLE_FORBIDDEN")
    anonymous = service.app.test_client().get("/municipal/certificates")
    assert anonymous.status_code == 401


def test_revoked_consent_takes_it_off_the_list(tmp_path: Path) -> None:
    h = harness(tmp_path, {"0180": None})
    bundle = without_consent(example("Bundle-lisn-example-submission"))
    assert h.call("ehr", "POST", "/fhir/$process-message", bundle).status_code == 200
    assert h.call("0180", "GET", "/municipal/certificates").get_json()["certificates"] == []
    consent = json.loads((DATA / "Consent-standalone.json").read_text(encoding="utf-8"))
    assert h.call("ehr", "POST", "/fhir/Consent", consent).status_code == 201
    assert len(h.call("0180", "GET", "/municipal/certificates").get_json()["certificates"]) == 1
    h.revoke_all()
    assert h.call("0180", "GET", "/municipal/certificates").get_json()["certificates"] == []


def test_a_listing_writes_one_audit_row(service: Harness) -> None:
    service.call("0180", "GET", "/municipal/certificates")
    with SqlStore(service.engine).session() as session:
        assert session.scalar(select(func.count()).select_from(AuditRow)
                              .where(AuditRow.action == "delivery-list")) == 1


def test_a_withheld_message_cannot_be_acknowledged(service: Harness) -> None:
    [item] = service.call("0180", "GET", "/municipal/certificates").get_json()["certificates"]
    service.revoke_all()
    resp = service.call("0180", "POST", f"/municipal/certificates/{item['id']}/$acknowledge")
    assert (resp.status_code, message_id(resp.get_json())) == (409, "LISN_DELIVERY_NOT_AVAILABLE")


def test_a_municipality_client_without_kommunkod_is_refused(service: Harness) -> None:
    from adapter.store import clients

    svc = service.app.extensions["lisn"]
    with svc.store.session() as session:
        _, token = clients.add_client(session, name="nowhere", role="municipality", pepper=svc.pepper)
    service.tokens["nowhere"] = token
    resp = service.call("nowhere", "GET", "/municipal/certificates")
    assert (resp.status_code, message_id(resp.get_json())) == (403, "LISN_DELIVERY_NO_KOMMUNKOD")
