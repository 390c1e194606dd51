"""The statistics row of issue 19 on each store (memory, SQLite, PostgreSQL): written with the
certificate in its transaction, updated by consent decisions, delivery, replacement and
withdrawal, read only by the statistics role, and free of anything that names the person."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flow_helpers import World, consent, example, raw, world
from stores import register

from adapter import errors
from adapter.flows import consents, pull, stats
from adapter.flows.ports import Store
from adapter.flows.submit import submit
from adapter.testing import MemoryStore

CERTIFICATE = "urn:uuid:3f2a9c1e-7b4d-4e8a-9c6f-2d1e0b9a8c7d"


@pytest.fixture
def w(store: Store) -> World:
    found = world(store)
    [(client, _)] = register(store, clients=[{"name": "scb", "role": "statistics"}]).values()
    found.clients["scb"] = client
    return found


def tally(w: World, *dims: str) -> list[tuple[tuple[str, ...], int]]:
    with w.tx() as tx:
        return sorted(tx.tally_statistics(dims))


def stored_rows(w: World) -> list[dict[str, Any]]:
    if isinstance(w.store, MemoryStore):
        return [dataclasses.asdict(r) for r in w.store.state.statistics.values()]
    import sqlalchemy as sa

    with w.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM certificate_statistics"))]
        rows += [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM certificate_statistics_item"))]
        return rows


def test_an_accepted_certificate_gets_its_row_in_the_same_transaction(w: World) -> None:
    assert tally(w, "sex") == []
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert tally(w, "sex", "age_band", "kommunkod", "region") == [(("male", "65-", "0180", "01"), 1)]
    assert tally(w, "diagnosis_chapter", "work_capacity", "template_version", "month") == [
        (("V", "nedsatt-75", "1.0", "2026-11"), 1)]
    assert tally(w, "consent", "status", "replacement", "debut_band") == [(("released", "current", "nej", "0-30"), 1)]
    assert tally(w, "activity:sprak", "activity:utbildning", "measure:sip", "measure:ingen") == [
        (("fullt", "ej-bedomd", "ja", "nej"), 1)]


def test_a_rolled_back_submission_leaves_no_row(store: Store) -> None:
    def broken(xml: bytes) -> bytes:
        raise RuntimeError("the signing device is gone")

    w = world(store, sign=broken)
    with pytest.raises(RuntimeError):
        w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert tally(w, "sex") == []


def test_a_rejected_certificate_leaves_no_row(w: World) -> None:
    bad = example()
    bad["entry"][1]["resource"]["item"] = []
    assert isinstance(w.run("ehr", lambda ctx: submit(raw(bad), ctx)), errors.ValidationFailed)
    assert tally(w, "sex") == []


def _consent_id(w: World) -> str:
    with w.tx() as tx:
        [found] = tx.consents_of(("http://electronichealth.se/identifier/personnummer", "191212121212"))
        return found.id


def test_the_consent_outcome_follows_the_decisions(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example(consent=False)), ctx))
    assert tally(w, "consent") == [(("withheld",), 1)]
    w.run("ehr", lambda ctx: consents.register_consent(raw(consent()), ctx))
    assert tally(w, "consent") == [(("released",), 1)]
    w.run("ehr", lambda ctx: consents.revoke_consent(_consent_id(w), ctx))
    assert tally(w, "consent") == [(("revoked",), 1)]


def test_a_replacement_marks_the_original_and_a_withdrawal_marks_the_certificate(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    w.run("ehr", lambda ctx: submit(raw(example("replacement")), ctx))
    assert tally(w, "status", "replacement") == [(("current", "ja"), 1), (("replaced", "nej"), 1)]
    other = world(MemoryStore())  # a withdrawal has no row of its own; its certificate is marked
    other.run("ehr", lambda ctx: submit(raw(example()), ctx))
    other.run("ehr", lambda ctx: submit(raw(example("withdrawal")), ctx))
    assert tally(other, "status") == [(("withdrawn",), 1)]


def test_delivery_records_the_days_from_signing_once(store: Store) -> None:
    w = world(store, mode_0180="pull")
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert tally(w, "delivery_band") == [(("okand",), 1)]
    [item] = w.run("stockholm", pull.list_available)["certificates"]
    w.clock.advance(days=1)
    w.run("stockholm", lambda ctx: pull.acknowledge(item["id"], ctx))
    # Signed 2026-09-14, acknowledged 2026-11-24: 71 days.
    with w.tx() as tx:
        assert tx.update_statistics("nobody", {"consent": "released"}) == 0
        [row] = list(tx.submissions_of(CERTIFICATE))
        assert tx.update_statistics(row.id, {"delivery_days": 1, "delivery_band": "0-30"}) == 0  # first one kept
    assert tally(w, "delivery_band") == [(("31-90",), 1)]
    assert [r["delivery_days"] for r in stored_rows(w) if "delivery_days" in r] == [71]


def test_the_row_names_nobody(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    text = repr(stored_rows(w))
    for secret in ("191212121212", "Tolvan", "2026-09-14", "2026-08-20", CERTIFICATE, "Medelsvår", "SE2321000016-15CQ"):
        assert secret not in text


def test_only_the_statistics_and_admin_roles_read_and_each_read_is_audited(w: World) -> None:
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    query = stats.Query(by=("sex",))
    refused = w.run("ehr", lambda ctx: stats.statistics_table(query, ctx))
    assert isinstance(refused, errors.Forbidden) and refused.message_id == "LISN_STATS_ROLE"
    table = w.run("scb", lambda ctx: stats.statistics_table(query, ctx))
    assert not isinstance(table, errors.AdapterError)
    assert [(c.key, c.count, c.suppressed) for c in table.cells] == [(("male",), None, "primary")]
    assert table.total.count is None  # one certificate: even the total is hidden
    assert not isinstance(w.run("admin", lambda ctx: stats.statistics_table(query, ctx)), errors.AdapterError)
    actions = [(e.action, e.outcome, e.actor) for e in _audit(w) if e.action == "statistics-read"]
    assert actions == [("statistics-read", "forbidden", "ehr"), ("statistics-read", "ok", "scb"),
                       ("statistics-read", "ok", "admin")]


def test_a_bad_query_names_what_is_wrong(w: World) -> None:
    for query, mid in ((stats.Query(by=("shoe-size",)), "LISN_STATS_DIMENSION"),
                       (stats.Query(by=("sex",) * 5), "LISN_STATS_TOO_MANY"),
                       (stats.Query(month_from="2026-13"), "LISN_STATS_MONTH")):
        with pytest.raises(errors.InputRejected) as caught:
            w.run("scb", lambda ctx, q=query: stats.statistics_table(q, ctx))
        assert caught.value.message_id == mid


def _audit(w: World) -> list[Any]:
    if isinstance(w.store, MemoryStore):
        return w.store.audit_log
    import sqlalchemy as sa

    with w.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(sa.text("SELECT action, outcome, actor FROM audit_log ORDER BY seq")))


def test_a_push_delivery_records_the_days_from_signing(store: Store) -> None:
    from adapter.delivery.relay import Relay
    from adapter.flows.relay import RelayStore
    from adapter.settings import DeliverySettings
    from adapter.testing import MockTransport, accept_all

    w = world(store)  # 0180 takes pushes
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    w.clock.advance(days=2)
    relay = Relay(RelayStore(w.store), MockTransport(accept_all), settings=DeliverySettings(), owner="w1",
                  clock=w.clock, rand=lambda: 0.5)
    assert relay.run_once().delivered == 1
    # Signed 2026-09-14, delivered 2026-11-25: 72 days.
    assert [r["delivery_days"] for r in stored_rows(w) if "delivery_days" in r] == [72]
