"""Issue 12, items 1-6: the consent holds on every path a document leaves by (``adapter.flows.permit``).

Each test is a path that let a certificate out without a permitting consent, or a state that did
not tell the truth, before the one decision existed; on every store (memory, SQLite, PostgreSQL).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from flow_helpers import World, consent, example, outbox, raw, status, task_of, with_kommunkod, world

from adapter import errors
from adapter.delivery.model import Envelope, Outcome, Receipt
from adapter.delivery.relay import Relay
from adapter.flows import consents, operate, pull, reads
from adapter.flows.ports import Match, Store
from adapter.flows.relay import RelayStore
from adapter.flows.submit import submit
from adapter.testing import MockTransport

PATIENT = ("http://electronichealth.se/identifier/personnummer", "191212121212")
OTHER_UNIT = "SE2321000016-9ZZZ"


def keys(w: World) -> list[str]:
    with w.tx() as tx:
        return [m.key for m in tx.messages(Match())]


def audit_rows(w: World) -> list[tuple[str, str]]:
    if hasattr(w.store, "audit_log"):
        return [(e.action, e.outcome) for e in w.store.audit_log]
    import sqlalchemy as sa

    with w.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(sa.text("SELECT action, outcome FROM audit_log ORDER BY seq"))]


def consent_ids(w: World) -> list[str]:
    with w.tx() as tx:
        return [c.id for c in tx.consents_of(PATIENT)]


def revoke_all(w: World) -> None:
    for cid in consent_ids(w):
        w.run("admin", lambda ctx, cid=cid: consents.revoke_consent(cid, ctx))


def relay(w: World, transport: MockTransport) -> Relay:
    return Relay(RelayStore(w.store, clock=w.clock), transport, settings=w.service.settings.delivery,
                 owner="w1", clock=w.clock, rand=lambda: 0.0)


def task(w: World, receipt: Any) -> dict[str, Any]:
    found = w.run("admin", lambda ctx: reads.read_task(task_of(receipt)["id"], ctx))
    assert isinstance(found, dict)
    return found


def with_care_unit(bundle: dict[str, Any], hsa: str) -> dict[str, Any]:
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        res = entry["resource"]
        if res.get("id") == "lisn-example-vardenhet":
            res["identifier"][0]["value"] = hsa
    return changed


def consent_for(kommunkod: str = "0180", unit: str = "SE2321000016-15CQ") -> dict[str, Any]:
    found = consent()
    found["provision"]["actor"][0]["reference"]["identifier"]["value"] = kommunkod
    found["organization"][0]["identifier"]["value"] = unit
    return found


# -- 1. operator retry and reprocess after revocation ------------------------------------------------

def test_retry_of_a_dead_letter_after_revocation_is_refused(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(w)
    w.run("admin", lambda ctx: operate.dead_letter(key, "endpoint gone", ctx))
    revoke_all(w)
    refused = w.run("admin", lambda ctx: operate.retry(key, ctx))
    assert isinstance(refused, errors.Conflict) and refused.message_id == "LISN_DELIVERY_REFUSED"
    assert errors.status_for(refused) == 409
    assert outbox(w) == [("certificate", "0180", "dead")]
    assert ("queue-retry", "refused") in audit_rows(w)


def test_reprocess_after_revocation_requeues_nothing(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(w)
    w.run("admin", lambda ctx: operate.dead_letter(key, "rejected: schema", ctx))
    revoke_all(w)
    done = w.run("admin", lambda ctx: operate.reprocess(task_of(receipt)["id"], ctx))
    assert isinstance(done, dict) and (done["requeued"], done["refused"]) == ([], [key])
    assert outbox(w) == [("certificate", "0180", "dead")]
    # The passing case: with a consent again, the same retry goes.
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent(end="2027-12-31")), ctx))
    assert w.run("admin", lambda ctx: operate.retry(key, ctx)) == "pending"


def test_the_relay_holds_a_message_whose_consent_went_while_it_was_pending(w: World) -> None:
    """A pending message the revocation did not reach (a dead-lettered submission retried by hand
    before the revocation): the relay asks just before the push, and holds it."""
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(w)
    w.run("admin", lambda ctx: operate.dead_letter(key, "endpoint gone", ctx))
    assert w.run("admin", lambda ctx: operate.retry(key, ctx)) == "pending"
    with w.tx() as tx:  # the consent is set inactive behind the flows' back: only the leave-time check is left
        [c] = tx.consents_of(PATIENT)
        tx.update_consent(dataclasses.replace(c, status="inactive", resource=dict(c.resource, status="inactive")))
    transport = MockTransport()
    relay(w, transport).run_once()
    assert transport.sent == []
    assert outbox(w) == [("certificate", "0180", "withheld")]
    assert status(task(w, receipt)) == "withheld"


# -- 2. pull of withheld, dead, withdrawn ---------------------------------------------------------------

@pytest.fixture
def pw(store: Store) -> World:
    return world(store, mode_0180="pull")


def test_a_revoked_certificate_cannot_be_fetched(pw: World) -> None:
    pw.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(pw, MockTransport()).run_once()
    [key] = keys(pw)
    assert isinstance(pw.run("stockholm", lambda ctx: pull.fetch(key, ctx)), pull.Pulled)  # the passing case
    revoke_all(pw)
    refused = pw.run("stockholm", lambda ctx: pull.fetch(key, ctx))
    unknown = pw.run("stockholm", lambda ctx: pull.fetch("no-such-key", ctx))
    assert isinstance(refused, errors.NotFound) and isinstance(unknown, errors.NotFound)
    assert refused.message_id == unknown.message_id and errors.status_for(refused) == errors.status_for(unknown) == 404
    assert [a for a in audit_rows(pw) if a[0] == "delivery-fetch"] == [
        ("delivery-fetch", "ok"), ("delivery-fetch", "refused"), ("delivery-fetch", "not-found")]
    # Only the consent-withdrawn notice is listed (it was fetched, so the municipality may hold it).
    assert [c["kind"] for c in pw.run("stockholm", pull.list_available)["certificates"]] == ["consent-revoked"]


def test_a_dead_or_withdrawn_message_cannot_be_fetched(pw: World) -> None:
    pw.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(pw)
    pw.run("admin", lambda ctx: operate.dead_letter(key, "rejected", ctx))
    assert isinstance(pw.run("stockholm", lambda ctx: pull.fetch(key, ctx)), errors.NotFound)
    assert isinstance(pw.run("stockholm", lambda ctx: pull.acknowledge(key, ctx)), errors.Conflict)
    assert pw.run("admin", lambda ctx: operate.retry(key, ctx)) == "pending"
    pw.run("ehr", lambda ctx: submit(raw(example("withdrawal")), ctx))
    assert outbox(pw)[0][2] == "withdrawn"
    assert isinstance(pw.run("stockholm", lambda ctx: pull.fetch(key, ctx)), errors.NotFound)


def test_a_push_recipient_cannot_pull_what_was_withheld(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(w)
    revoke_all(w)
    assert isinstance(w.run("stockholm", lambda ctx: pull.fetch(key, ctx)), errors.NotFound)


# -- 3. replacements --------------------------------------------------------------------------------

def test_a_replacement_from_another_care_unit_never_reaches_the_original(w: World) -> None:
    """Issue 13: ``replaces`` names a certificate of the sender's own care unit; another unit's
    certificate under that id is not it (tests/integration/flows/test_issuer_scope.py)."""
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    foreign = with_care_unit(example("replacement"), OTHER_UNIT)
    answer = w.run("other-ehr", lambda ctx: submit(raw(foreign), ctx))
    assert not isinstance(answer, errors.AdapterError), answer
    with w.tx() as tx:
        original = [(m.kind, m.kommunkod, m.state) for m in tx.messages(Match(care_unit="SE2321000016-15CQ"))]
    assert original == [("certificate", "0180", "pending")]


def test_a_replacement_for_another_patient_is_refused(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    other = example("replacement")
    for entry in other["entry"]:
        if entry["resource"]["resourceType"] in ("Patient", "Consent"):
            res = entry["resource"]
            ident = res["identifier"][0] if res["resourceType"] == "Patient" else res["patient"].get("identifier")
            if ident:
                ident["value"] = "201212121212"
    refused = w.run("ehr", lambda ctx: submit(raw(other), ctx))
    assert isinstance(refused, errors.ValidationFailed), refused
    assert refused.message_id == "LISN_REPLACEMENT_OTHER_PATIENT"
    assert outbox(w) == [("certificate", "0180", "pending")]


def test_a_replacement_is_decided_for_every_recipient(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))  # the original to 0180, consent for 0180
    relay(w, MockTransport()).run_once()  # delivered: 0180 is a recipient of the original
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent_for("1480")), ctx))
    with w.tx() as tx:  # the one that came with the certificate (both were made at the same instant)
        [for_0180] = [c.id for c in tx.consents_of(PATIENT) if c.submission_id is not None]
    w.run("ehr", lambda ctx: consents.revoke_consent(for_0180, ctx))  # 0180 no longer permitted
    replacement = with_kommunkod(example("replacement", consent=False), "1480")
    receipt = w.run("ehr", lambda ctx: submit(raw(replacement), ctx))
    assert not isinstance(receipt, errors.AdapterError), receipt
    assert sorted(outbox(w, kinds=("replacement",))) == [("replacement", "0180", "withheld"),
                                                        ("replacement", "1480", "pending")]


# -- 4. consent scope -------------------------------------------------------------------------------

def test_a_consent_of_another_care_unit_releases_nothing(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    theirs = w.run("other-ehr", lambda ctx: consents.register_consent(raw(consent_for(unit=OTHER_UNIT)), ctx))
    assert not isinstance(theirs, errors.AdapterError)  # their consent, for their certificates
    assert outbox(w) == []
    mine = w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert not isinstance(mine, errors.AdapterError)
    assert outbox(w) == [("certificate", "0180", "pending")]


def test_a_consent_naming_another_care_unit_too_is_refused(w: World) -> None:
    both = consent_for(unit=OTHER_UNIT)
    both["organization"].append({"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-15CQ"}})
    refused = w.run("other-ehr", lambda ctx: consents.register_consent(raw(both), ctx))
    assert isinstance(refused, errors.Forbidden) and refused.message_id == "LISN_CONSENT_FORBIDDEN"
    assert consent_ids(w) == []


def test_the_task_shows_the_consent_scope_and_the_consent_it_rests_on(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    inputs = {i["type"]["coding"][0]["code"]: i for i in task(w, receipt)["input"]}
    assert inputs["consent-scope"]["valueIdentifier"]["value"] == "SE2321000016-15CQ"
    assert inputs["consent"]["valueReference"]["reference"] == f"Consent/{consent_ids(w)[0]}"


# -- 5. an identical Consent after revocation -----------------------------------------------------

def test_reposting_a_revoked_consent_answers_409(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    first = w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert not isinstance(first, errors.AdapterError)
    w.run("ehr", lambda ctx: consents.revoke_consent(first["id"], ctx))
    again = w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert isinstance(again, errors.Conflict) and again.message_id == "LISN_CONSENT_REVOKED_REPOST"
    assert errors.status_for(again) == 409
    assert outbox(w) == [("certificate", "0180", "withheld")]
    # A new consent (another dateTime) is a genuine re-consent.
    renewed = consent()
    renewed["dateTime"] = "2026-12-01T10:00:00+01:00"
    assert not isinstance(w.run("ehr", lambda ctx: consents.register_consent(raw(renewed), ctx)), errors.AdapterError)
    assert outbox(w) == [("certificate", "0180", "pending")]


# -- 6. lost receipt, then revocation -------------------------------------------------------------

def test_a_lost_receipt_then_revocation_says_delivery_uncertain(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))

    def stored_then_lost(env: Envelope) -> Receipt:  # the municipality stored it; the answer never came
        return Receipt(Outcome.RETRY, None, "read timeout")

    relay(w, MockTransport(stored_then_lost)).run_once()
    revoke_all(w)
    assert outbox(w, kinds=("certificate",)) == [("certificate", "0180", "uncertain")]
    found = task(w, receipt)
    assert status(found) == "delivery-uncertain" and found["status"] == "on-hold"
    # A certificate that never left is withheld, not uncertain (the failing case of the distinction).
    other = copy.deepcopy(example(consent=False))
    other["entry"][1]["resource"]["identifier"]["value"] = "urn:uuid:0b7e1a52-2c55-4c1e-9d8b-5a1e2f3c4d5e"
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent(end="2027-12-31")), ctx))
    w.run("ehr", lambda ctx: submit(raw(other), ctx))
    revoke_all(w)
    assert sorted(s for _, _, s in outbox(w, kinds=("certificate",))) == ["uncertain", "withheld"]


def test_a_fetched_unacknowledged_message_is_uncertain_after_revocation(pw: World) -> None:
    pw.run("ehr", lambda ctx: submit(raw(example()), ctx))
    relay(pw, MockTransport()).run_once()
    [key] = keys(pw)
    assert isinstance(pw.run("stockholm", lambda ctx: pull.fetch(key, ctx)), pull.Pulled)
    revoke_all(pw)
    assert outbox(pw, kinds=("certificate",)) == [("certificate", "0180", "uncertain")]


# -- the decision itself --------------------------------------------------------------------------

def test_may_leave_reads_the_current_state(w: World) -> None:
    from adapter.flows import permit

    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    with w.tx() as tx:
        [message] = tx.messages(Match())
        assert permit.may_leave(message, tx, w.clock.now()).allowed
        assert permit.may_leave(message, tx, w.clock.now(), to="1480").reason_id == permit.NOT_ADDRESSED
    revoke_all(w)
    with w.tx() as tx:
        [message] = tx.messages(Match())
        verdict = permit.may_leave(message, tx, w.clock.now())
        assert (verdict.allowed, verdict.hold, verdict.reason_id) == (False, "withheld", "LISN_CONSENT_INACTIVE")


def test_the_retry_command_refuses_with_an_outcome_and_exit_1(sqlite_engine: Any, tmp_path: Any) -> None:
    from click.testing import CliRunner
    from stores import empty

    from adapter.cli import cli
    from adapter.store.audit import AuditSeal
    from adapter.store.sql import SqlStore

    empty(sqlite_engine)
    w = world(SqlStore(sqlite_engine, seal=AuditSeal(key=b"permit-tests-audit-key-32-bytes-long",
                                                      checkpoints=tmp_path / "audit-checkpoints.jsonl")))
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [key] = keys(w)
    w.run("admin", lambda ctx: operate.dead_letter(key, "endpoint gone", ctx))
    revoke_all(w)
    runner = CliRunner(env={"ADAPTER_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False)})
    result = runner.invoke(cli, ["queue", "retry", key])
    assert result.exit_code == 1, result.output
    assert "[LISN_DELIVERY_REFUSED]" in result.output and "Traceback" not in result.output
    assert outbox(w) == [("certificate", "0180", "dead")]
