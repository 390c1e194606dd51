"""The audit log over HTTP: one row per patient-data action, an intact chain, no patient data in logs."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from service_helpers import Api, data, example

from adapter.flows.access import cert_fingerprint
from adapter.signing.keys import make_ca, new_key
from adapter.store import audit
from adapter.store.clients import add_client


def _verify(api: Api) -> tuple[int, Any]:
    svc = api.app.extensions["lisn"]
    with svc.store.session() as session:
        return audit.verify(session, svc.store.seal)


def test_each_patient_data_action_writes_exactly_one_row(api: Api) -> None:
    actions = [
        lambda: api.submit_example(example(without_consent=True)),
        lambda: api.post("/fhir/Consent", data("consent-0180.json")),
        lambda: api.get("/fhir/Task?focus=urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d", who="stockholm"),
        lambda: api.get("/fhir/Consent?patient=191212121212"),
    ]
    expected = [("submit", 200), ("consent-create", 201), ("task-search", 200), ("consent-search", 200)]
    for action, (name, status) in zip(actions, expected):
        before = len(api.audit_rows())
        assert action().status_code == status
        rows = api.audit_rows()
        assert len(rows) == before + 1 and rows[-1]["action"] == name
        assert rows[-1]["patient"] == "191212121212" and rows[-1]["purpose"] == "ekonomiskt-bistand"
    cid = api.audit_rows() and api.get("/fhir/Consent?patient=191212121212").json["entry"][0]["resource"]["id"]
    count = len(api.audit_rows())
    assert api.post(f"/fhir/Consent/{cid}/$revoke", b"", content_type=None).status_code == 200
    assert [r["action"] for r in api.audit_rows()[count:]] == ["consent-revoke"]
    assert _verify(api) == (len(api.audit_rows()), None)


def test_reads_that_touch_no_patient_write_no_row(api: Api) -> None:
    api.get("/fhir/metadata", who=None)
    api.get("/fhir/Questionnaire?url=https://lisn.se/fhir/Questionnaire/lisn", who=None)
    api.post("/fhir/Bundle/$validate", example())
    assert api.audit_rows() == []


def test_end_user_is_recorded(api: Api) -> None:
    api.post("/fhir/$process-message", example(), **{"X-LISN-End-User": "SE2321000016-1003"})
    assert api.audit_rows()[0]["end_user"] == "SE2321000016-1003"


def test_edited_or_removed_row_is_detected(api: Api) -> None:
    api.submit_example()
    api.get("/fhir/Task?focus=urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d")
    api.get("/fhir/Task?focus=urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d")
    assert _verify(api) == (3, None)
    with api.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2"))
    assert _verify(api)[1] == audit.ChainProblem(2, "row was changed (MAC mismatch)")
    with api.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    assert _verify(api)[1].seq == 2


def test_no_patient_data_in_application_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.submit_example(example(without_consent=True))
    cid = api.post("/fhir/Consent", data("consent-0180.json")).json["id"]
    api.get("/fhir/Consent?patient=191212121212")
    api.post(f"/fhir/Consent/{cid}/$revoke", b"", content_type=None)
    bad = example()
    bad["entry"][2]["resource"]["identifier"][0]["value"] = "191212121213"
    api.submit_example(bad)
    api.post("/fhir/$process-message", b"{broken 191212121212")
    text = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    for secret in ("191212121212", "191212121213", "Tolvansson", "Tolvan"):
        assert secret not in text


def test_client_certificate_only_from_a_trusted_proxy(api: Api) -> None:
    key = new_key("rsa")
    cert = make_ca(key, name="LISN test client")
    pem = cert.public_bytes(Encoding.PEM).decode()
    svc = api.app.extensions["lisn"]
    with svc.store.session() as session:
        add_client(session, name="cert-ehr", role="sender", pepper=svc.pepper, care_units=("SE2321000016-15CQ",),
                   cert_sha256=cert_fingerprint(cert.public_bytes(Encoding.DER)))
    from dataclasses import replace

    svc.settings = replace(svc.settings, service=replace(svc.settings.service, trusted_proxies=("10.0.0.1",)))
    headers = {"X-SSL-Client-Cert": quote(pem), "Content-Type": "application/fhir+json"}
    raw = api.client.post("/fhir/$process-message", json=example(), headers=headers,
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert raw.status_code == 200, raw.json
    untrusted = api.client.post("/fhir/$process-message", json=example(), headers=headers,
                                environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert untrusted.status_code == 401
    garbage = api.client.post("/fhir/$process-message", json=example(),
                              headers=dict(headers, **{"X-SSL-Client-Cert": "not-a-cert"}),
                              environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert garbage.status_code == 401
    assert isinstance(cert, x509.Certificate)
