"""Helpers shared by the delivery tests (imported by name: the tests folder is not a package)."""

from __future__ import annotations

from datetime import UTC, datetime

from adapter.delivery import Recipient, idempotency_key
from adapter.fhir.registry import Registry
from adapter.flows import context, release
from adapter.flows.context import Service, Stages
from adapter.flows.ports import Match, OutboxMessage, Store
from adapter.settings import Settings
from adapter.testing import FixedClock

START = datetime(2026, 11, 23, 9, 20, tzinfo=UTC)  # a fixed "now" for the clock
CARE_UNIT = "SE2321000016-15CQ"  # the example's vårdenhet: keys name the issuing care unit
OPERATOR = context.ClientInfo(id="", name="test", role="admin")

RECIPIENTS = [
    Recipient(kommunkod="0180", mode="push", endpoint="https://stockholm.example/inbox"),
    Recipient(kommunkod="1480", mode="push", endpoint="https://goteborg.example/inbox", max_attempts=2),
    Recipient(kommunkod="1280", mode="pull"),
]


def enqueue(store: Store, cert: str, kommunkod: str = "0180", *, kind: str = "certificate",
            submission: str | None = None, at: datetime = START, replaces: str | None = None) -> str:
    key = idempotency_key(cert, kommunkod, kind, care_unit=CARE_UNIT)
    with store.transaction() as tx:
        tx.enqueue(key=key, submission_id=submission or f"sub-{cert}", certificate_id=cert, kommunkod=kommunkod,
                   kind=kind, document=f"<doc id='{cert}'/>".encode(), replaces=replaces, at=at,
                   care_unit=CARE_UNIT)
    return key


def row(store: Store, key: str) -> OutboxMessage:
    with store.transaction() as tx:
        [found] = tx.messages(Match(key=key))
    return found


def withhold(store: Store, submission_id: str, clock: FixedClock | None = None) -> int:
    """What a revoked consent does (``adapter.flows.release.withhold``)."""
    def unused(*_: object, **__: object) -> bytes:
        raise AssertionError("no stage is called")

    service = Service(settings=Settings(), store=store, registry=Registry(), clock=clock or FixedClock(START),
                      stages=Stages(validate=unused, map_export=unused, render=unused, sign=unused))
    return context.run(service, OPERATOR, lambda ctx: release.withhold(submission_id, ctx))
