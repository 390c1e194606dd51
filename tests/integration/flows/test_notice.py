"""Lost receipt, then revocation: the municipality is told the consent is withdrawn (issue 12 item 6).

A revocation that finds a certificate ``uncertain`` (pushed without a receipt, or fetched without an
acknowledgement: the municipality may hold it) queues one signed consent-withdrawn notice to that
recipient alone; the relay pushes it (or the municipality pulls it) under the same rules as any
message. Nothing is queued when the certificate was delivered with a receipt (the municipality
received it lawfully, under a consent valid then) or never left. On memory, SQLite and PostgreSQL
(``store`` fixture); the last test runs the real signer and the reference receiver.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

from flow_helpers import World, consent, example, raw, status, task_of, world
from lxml import etree

from adapter.delivery.model import Envelope, Outcome, Receipt
from adapter.delivery.relay import Relay
from adapter.flows import consents, pull, reads
from adapter.flows.ports import Match, Store
from adapter.flows.relay import RelayStore
from adapter.flows.submit import submit
from adapter.outbound.notice import NAMESPACE, ROOT
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document
from adapter.testing import MockTransport

PATIENT = ("http://electronichealth.se/identifier/personnummer", "191212121212")
CERT = "3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d"
OTHER_CERT = "0b7e1a52-2c55-4c1e-9d8b-5a1e2f3c4d5e"
NOTICE = "consent-revoked"


def outbox(w: World, **match: Any) -> list[tuple[str, str, str, str]]:
    with w.tx() as tx:
        return [(m.kind, m.certificate_id.removeprefix("urn:uuid:"), m.kommunkod, m.state)
                for m in tx.messages(Match(**match))]


def notices(w: World) -> list[tuple[str, str, str, str]]:
    return outbox(w, kinds=(NOTICE,))


def revoke_all(w: World) -> None:
    with w.tx() as tx:
        ids = [c.id for c in tx.consents_of(PATIENT)]
    for cid in ids:
        w.run("admin", lambda ctx, cid=cid: consents.revoke_consent(cid, ctx))


def relay(w: World, transport: MockTransport) -> Relay:
    return Relay(RelayStore(w.store, clock=w.clock), transport, settings=w.service.settings.delivery,
                 owner="w1", clock=w.clock, rand=lambda: 0.0)


def lost(env: Envelope) -> Receipt:
    """The municipality stored it; its answer never came."""
    return Receipt(Outcome.RETRY, None, "read timeout")


def other_certificate() -> dict[str, Any]:
    other = copy.deepcopy(example(consent=False))
    other["entry"][1]["resource"]["identifier"]["value"] = f"urn:uuid:{OTHER_CERT}"
    return other


def task(w: World, receipt: Any) -> dict[str, Any]:
    found = w.run("admin", lambda ctx: reads.read_task(task_of(receipt)["id"], ctx))
    assert isinstance(found, dict)
    return found


def read_notice(document: bytes) -> dict[str, str]:
    root = etree.fromstring(document)
    assert etree.QName(root).text == f"{{{NAMESPACE}}}{ROOT}"
    return {etree.QName(child).localname: child.text or "" for child in root}


def test_revocation_after_a_lost_receipt_tells_that_recipient_and_only_it(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(w, MockTransport(lost)).run_once()  # certificate 1: pushed, receipt lost
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent(end="2027-12-31")), ctx))
    w.run("ehr", lambda ctx: submit(raw(other_certificate()), ctx))  # certificate 2: never left
    revoked_at = w.clock.now()
    revoke_all(w)
    assert sorted(outbox(w, kinds=("certificate",))) == [("certificate", OTHER_CERT, "0180", "withheld"),
                                                        ("certificate", CERT, "0180", "uncertain")]
    assert notices(w) == [(NOTICE, CERT, "0180", "pending")]  # not for the certificate that never left

    transport = MockTransport()
    relay(w, transport).run_once()
    [sent] = transport.sent
    assert sent.kind == NOTICE and sent.certificate_id.removeprefix("urn:uuid:") == CERT
    said = read_notice(sent.document)
    assert said["intygsId"] == CERT and said["kommunkod"] == "0180"
    assert said["aterkallatTidpunkt"] == revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert b"191212121212" not in sent.document  # nothing about the patient beyond the certificate id
    assert notices(w) == [(NOTICE, CERT, "0180", "delivered")]
    found = task(w, receipt)  # told; the Task still says what the municipality may hold
    assert status(found) == "delivery-uncertain" and found["status"] == "on-hold"
    relay(w, MockTransport()).run_once()
    assert notices(w) == [(NOTICE, CERT, "0180", "delivered")]  # delivered once


def test_no_notice_when_delivered_with_a_receipt(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(w, MockTransport()).run_once()
    revoke_all(w)
    assert outbox(w) == [("certificate", CERT, "0180", "delivered")]  # received lawfully: nothing to tell


def test_no_notice_when_it_never_left(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    revoke_all(w)
    assert outbox(w) == [("certificate", CERT, "0180", "withheld")]


def test_revoking_twice_queues_one_notice(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(w, MockTransport(lost)).run_once()
    revoke_all(w)
    revoke_all(w)
    assert notices(w) == [(NOTICE, CERT, "0180", "pending")]


def test_a_new_consent_recalls_a_notice_that_never_left_and_a_new_revocation_queues_it_again(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(w, MockTransport(lost)).run_once()
    revoke_all(w)
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent(end="2027-12-31")), ctx))
    assert outbox(w, kinds=("certificate",)) == [("certificate", CERT, "0180", "pending")]
    assert notices(w) == [(NOTICE, CERT, "0180", "withdrawn")]  # recalled: the consent holds again
    revoke_all(w)
    assert notices(w) == [(NOTICE, CERT, "0180", "pending")]  # one notice, queued again


def test_a_pull_municipality_lists_fetches_and_acknowledges_the_notice(store: Store) -> None:
    pw = world(store, mode_0180="pull")
    receipt = pw.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(pw, MockTransport()).run_once()
    [cert_key] = [c["id"] for c in pw.run("stockholm", pull.list_available)["certificates"]]
    assert isinstance(pw.run("stockholm", lambda ctx: pull.fetch(cert_key, ctx)), pull.Pulled)  # fetched, no ack
    revoke_all(pw)
    relay(pw, MockTransport()).run_once()  # a pull recipient's notice becomes available
    [listed] = pw.run("stockholm", pull.list_available)["certificates"]
    assert listed["kind"] == NOTICE and listed["certificateId"].removeprefix("urn:uuid:") == CERT
    assert pw.run("goteborg", pull.list_available)["certificates"] == []  # that recipient only
    fetched = pw.run("stockholm", lambda ctx: pull.fetch(listed["id"], ctx))
    assert isinstance(fetched, pull.Pulled) and read_notice(fetched.document)["intygsId"] == CERT
    assert pw.run("stockholm", lambda ctx: pull.acknowledge(listed["id"], ctx)) == {"id": listed["id"],
                                                                                   "state": "acknowledged"}
    assert status(task(pw, receipt)) == "delivery-uncertain"


# -- real signatures, the reference receiver -------------------------------------------------------

def _receiver() -> Any:
    path = Path(__file__).resolve().parents[3] / "examples" / "receiver" / "receiver.py"
    spec = importlib.util.spec_from_file_location("lisn_reference_receiver_notice", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_reference_receiver_marks_the_certificate_not_to_be_used(store: Store, tmp_path: Path) -> None:
    keys = init_dev_keys(tmp_path / "keys", algorithm="ecdsa")
    key, chain = load_key(keys.key), load_certificates(keys.cert)
    signed = world(store, sign=lambda xml: sign_document(xml, key=key, cert_chain=chain, algorithm="ecdsa-sha256"))
    rx = _receiver()
    inbox = rx.Inbox(tmp_path / "receiver.db", rx.adapter_verifier([keys.ca]), kommunkod="0180")
    answers: list[int] = []

    def to_receiver(env: Envelope, *, lose: bool = False) -> Receipt:
        code, body = inbox.receive(env.idempotency_key, {"X-LISN-Certificate-Id": env.certificate_id,
                                                         "X-LISN-Kind": env.kind}, env.document)
        answers.append(code)
        if lose:
            return Receipt(Outcome.RETRY, None, "read timeout")
        assert body["status"] == "accepted", body
        return Receipt(Outcome.ACCEPTED, code, "", f'{{"idempotencyKey": "{env.idempotency_key}", '
                                                   f'"status": "accepted"}}')

    signed.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(signed, MockTransport(lambda env: to_receiver(env, lose=True))).run_once()
    assert inbox.certificate(CERT)["state"] == "active"  # it holds it; the adapter does not know
    revoke_all(signed)
    relay(signed, MockTransport(to_receiver)).run_once()
    found = inbox.certificate(CERT)
    assert found["state"] == "consent-withdrawn" and found["received"]
    assert found["consentWithdrawnAt"].startswith(signed.clock.now().strftime("%Y-%m-%dT%H:%M"))
    # The same notice again (a lost receipt, a retry) changes nothing and answers the first receipt.
    with signed.tx() as tx:
        [notice] = tx.messages(Match(kinds=(NOTICE,)))
    code, body = inbox.receive(notice.key, {}, notice.document)
    assert code == 200 and body.get("duplicate") is True
    assert inbox.certificate(CERT)["state"] == "consent-withdrawn"
    # The certificate stored once (its retries after the lost receipts were duplicates), the notice once.
    assert answers[0] == 201 and set(answers[1:-1]) <= {200} and answers[-1] == 201


def test_a_dead_lettered_notice_can_be_retried_after_the_revocation(w: World) -> None:
    """A notice always may leave: the operator's retry is not refused by the revoked consent."""
    from adapter.flows import operate

    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(w, MockTransport(lost)).run_once()
    revoke_all(w)
    with w.tx() as tx:
        [notice] = tx.messages(Match(kinds=(NOTICE,)))
    w.run("admin", lambda ctx: operate.dead_letter(notice.key, "endpoint gone", ctx))
    assert w.run("admin", lambda ctx: operate.retry(notice.key, ctx)) == "pending"
    with w.tx() as tx:  # the certificate itself stays refused
        [cert] = tx.messages(Match(kinds=("certificate",)))
    refused = w.run("admin", lambda ctx: operate.retry(cert.key, ctx))
    assert refused != "pending"
