"""Every flow of the use-case layer, without Flask, on each store: in memory, SQLite and PostgreSQL.

The same test runs on all three (the ``store`` fixture), so the in-memory store is held to what
the databases do. Each rule has its passing and its failing case.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flow_helpers import World, consent, example, outbox, raw, status, task_of, world

from adapter import errors
from adapter.flows import consents, operate, pull, reads
from adapter.flows.ports import Store
from adapter.flows.submit import submit


def audit_actions(w: World) -> list[tuple[str, str]]:
    if hasattr(w.store, "audit_log"):
        return [(e.action, e.outcome) for e in w.store.audit_log]
    import sqlalchemy as sa

    with w.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(sa.text("SELECT action, outcome FROM audit_log ORDER BY seq"))]


# -- submit ---------------------------------------------------------------------------------------

def test_a_consented_certificate_is_queued_in_the_same_transaction(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert not isinstance(receipt, errors.AdapterError)
    assert status(task_of(receipt)) == "consent-ok"
    assert outbox(w) == [("certificate", "0180", "pending")]
    assert audit_actions(w) == [("submit", "accepted")]


def test_without_consent_it_waits_and_a_consent_releases_it(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    assert status(task_of(receipt)) == "awaiting-consent"  # type: ignore[arg-type]
    assert outbox(w) == []
    stored = w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert not isinstance(stored, errors.AdapterError) and stored["meta"]["versionId"] == "1"
    assert outbox(w) == [("certificate", "0180", "pending")]
    task = w.run("ehr", lambda ctx: reads.read_task(task_of(receipt)["id"], ctx))  # type: ignore[arg-type]
    assert status(task) == "consent-ok"  # type: ignore[arg-type]


def test_a_consent_that_starts_tomorrow_waits(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    tomorrow = (w.clock.now() + timedelta(days=1)).date().isoformat()
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent(start=tomorrow)), ctx))
    assert outbox(w) == []
    with w.tx() as tx:
        [row] = tx.submissions_of("urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d")
        assert row.status == "awaiting-consent"
        assert tx.latest_decision(row.id).reason_id == "LISN_CONSENT_NOT_YET_VALID"  # type: ignore[union-attr]


def test_a_foreign_care_unit_is_refused_and_the_refusal_is_audited(w: World) -> None:
    refused = w.run("other-ehr", lambda ctx: submit(raw(example()), ctx))
    assert isinstance(refused, errors.Forbidden) and refused.message_id == "LISN_SENDER_CARE_UNIT"
    assert errors.status_for(refused) == 403
    assert outbox(w) == [] and audit_actions(w) == [("submit", "forbidden")]


def test_unreadable_input_raises_and_stores_nothing(w: World) -> None:
    with pytest.raises(errors.InputRejected):
        w.run("ehr", lambda ctx: submit(b"[1, 2", ctx))
    assert audit_actions(w) == [] and outbox(w) == []


def test_an_identical_repeat_gets_the_first_answer_a_changed_one_a_conflict(w: World) -> None:
    first = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    again = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert again == first
    changed = example()
    changed["entry"][1]["resource"]["authored"] = "2026-11-22"
    conflict = w.run("ehr", lambda ctx: submit(raw(changed), ctx))
    assert isinstance(conflict, errors.Conflict) and errors.status_for(conflict) == 409
    assert audit_actions(w) == [("submit", "accepted"), ("submit-repeat", "replayed"), ("submit", "conflict")]
    assert outbox(w) == [("certificate", "0180", "pending")]


def test_an_invalid_certificate_is_refused_with_its_task_and_stores_nothing(w: World) -> None:
    bad = example()
    bad["entry"][1]["resource"]["status"] = "no-such-status"
    refused = w.run("ehr", lambda ctx: submit(raw(bad), ctx))
    assert isinstance(refused, errors.ValidationFailed) and errors.status_for(refused) == 422
    [task] = refused.outcome["contained"]
    assert [s["type"]["coding"][0]["code"] for s in task["output"]] == ["received", "rejected"]
    with w.tx() as tx:
        assert tx.submissions_of("urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d") == []


def test_a_failure_in_a_step_rolls_everything_back(store: Store) -> None:
    def broken(xml: bytes) -> bytes:
        raise RuntimeError("the signing device is gone")

    w = world(store, sign=broken)
    with pytest.raises(RuntimeError):
        w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    with w.tx() as tx:
        assert tx.submissions_of("urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d") == []
    assert outbox(w) == [] and audit_actions(w) == []


# -- revoke, replace, withdraw ------------------------------------------------------------------------

def _consent_id(w: World) -> str:
    with w.tx() as tx:
        [found] = tx.consents_of(("http://electronichealth.se/identifier/personnummer", "191212121212"))
        return found.id


def test_a_revoked_consent_withholds_and_a_new_one_releases_again(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    revoked = w.run("ehr", lambda ctx: consents.revoke_consent(_consent_id(w), ctx))
    assert revoked["status"] == "inactive"  # type: ignore[index]
    assert outbox(w) == [("certificate", "0180", "withheld")]
    renewed = consent(end="2027-12-31")
    w.run("ehr", lambda ctx: consents.register_consent(raw(renewed), ctx))
    assert outbox(w) == [("certificate", "0180", "pending")]


def test_another_care_unit_may_not_revoke(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    refused = w.run("other-ehr", lambda ctx: consents.revoke_consent(_consent_id(w), ctx))
    assert isinstance(refused, errors.NotFound) and refused.message_id == "LISN_CONSENT_NOT_FOUND"  # as unknown
    assert outbox(w) == [("certificate", "0180", "pending")]


def test_a_withdrawal_before_its_certificate_is_retryable(w: World) -> None:
    early = w.run("ehr", lambda ctx: submit(raw(example("withdrawal")), ctx))
    assert isinstance(early, errors.RetryLater) and early.message_id == "LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    assert errors.http_status(early) == errors.HttpStatus(503, retry_after=60)
    assert audit_actions(w) == [("withdraw", "retry-later")]


def test_a_withdrawal_cancels_what_never_left(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    w.run("ehr", lambda ctx: submit(raw(example("withdrawal")), ctx))
    assert outbox(w) == [("certificate", "0180", "withdrawn")]  # the recipient never saw it: nothing to send


def test_a_withdrawal_follows_a_certificate_that_may_have_left(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    with w.tx() as tx:
        tx.claim(owner="w1", now=w.clock.now(), lease_seconds=60, limit=10)  # a worker took it: it may be out
    w.run("ehr", lambda ctx: submit(raw(example("withdrawal")), ctx))
    assert outbox(w) == [("certificate", "0180", "pending"), ("withdrawal", "0180", "pending")]


def test_a_replacement_goes_to_every_recipient_of_the_original(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    w.run("ehr", lambda ctx: submit(raw(example("replacement")), ctx))
    assert outbox(w) == [("certificate", "0180", "pending"), ("replacement", "0180", "pending")]


# -- reads ------------------------------------------------------------------------------------------

def test_a_municipality_sees_a_task_only_once_consent_released_it(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    task_id = task_of(receipt)["id"]  # type: ignore[arg-type]
    hidden = w.run("stockholm", lambda ctx: reads.read_task(task_id, ctx))
    assert isinstance(hidden, errors.NotFound)
    assert isinstance(w.run("goteborg", lambda ctx: reads.read_task(task_id, ctx)), errors.NotFound)
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert status(w.run("stockholm", lambda ctx: reads.read_task(task_id, ctx))) == "consent-ok"  # type: ignore[arg-type]


def test_consent_search_filters_what_a_client_may_not_see(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    mine = w.run("ehr", lambda ctx: reads.search_consents("191212121212", ctx))
    theirs = w.run("other-ehr", lambda ctx: reads.search_consents("191212121212", ctx))
    assert (mine["total"], theirs["total"]) == (1, 0)  # type: ignore[index]
    assert audit_actions(w)[-2:] == [("consent-search", "ok"), ("consent-search", "filtered")]


# -- pull ---------------------------------------------------------------------------------------------

def test_pull_list_fetch_acknowledge_only_for_the_addressee(store: Store) -> None:
    w = world(store, mode_0180="pull")
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    listing = w.run("stockholm", pull.list_available)
    [item] = listing["certificates"]
    assert w.run("goteborg", pull.list_available)["certificates"] == []
    assert isinstance(w.run("goteborg", lambda ctx: pull.fetch(item["id"], ctx)), errors.NotFound)
    fetched = w.run("stockholm", lambda ctx: pull.fetch(item["id"], ctx))
    assert isinstance(fetched, pull.Pulled) and fetched.document.startswith(b"<?xml")
    assert w.run("stockholm", lambda ctx: pull.acknowledge(item["id"], ctx)) == {"id": item["id"],
                                                                                 "state": "acknowledged"}
    assert w.run("stockholm", lambda ctx: pull.acknowledge(item["id"], ctx))["state"] == "acknowledged"  # type: ignore[index]
    assert w.run("stockholm", pull.list_available)["certificates"] == []
    assert [a for a in audit_actions(w) if a[0].startswith("delivery")] == [
        ("delivery-list", "ok"), ("delivery-list", "ok"), ("delivery-fetch", "not-found"), ("delivery-fetch", "ok"),
        ("delivery-acknowledge", "acknowledged"), ("delivery-acknowledge", "acknowledged"), ("delivery-list", "ok")]


def test_a_withheld_message_cannot_be_acknowledged(store: Store) -> None:
    w = world(store, mode_0180="pull")
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [item] = w.run("stockholm", pull.list_available)["certificates"]
    w.run("ehr", lambda ctx: consents.revoke_consent(_consent_id(w), ctx))
    refused = w.run("stockholm", lambda ctx: pull.acknowledge(item["id"], ctx))
    assert isinstance(refused, errors.Conflict) and refused.message_id == "LISN_DELIVERY_NOT_AVAILABLE"


# -- operate ------------------------------------------------------------------------------------------

def test_dead_letter_retry_and_reprocess(w: World) -> None:
    receipt = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [message] = w.run("admin", operate.queue_list)["messages"]
    assert w.run("admin", lambda ctx: operate.dead_letter(message["id"], "wrong endpoint", ctx)) == "dead"
    assert w.run("admin", lambda ctx: operate.dead_letter("no-such-key", "x", ctx)) is None
    assert outbox(w) == [("certificate", "0180", "dead")]
    assert w.run("admin", lambda ctx: operate.retry(message["id"], ctx)) == "pending"
    w.run("admin", lambda ctx: operate.dead_letter(message["id"], "rejected: schema", ctx))
    submission = task_of(receipt)["id"]  # type: ignore[arg-type]
    done = w.run("admin", lambda ctx: operate.reprocess(submission, ctx))
    assert done == {"submission": submission, "valid": True, "requeued": [message["id"]], "refused": [],
                    "dryRun": False}
    assert outbox(w) == [("certificate", "0180", "pending")]
    assert isinstance(w.run("admin", lambda ctx: operate.reprocess("no-such-id", ctx)), errors.NotFound)
