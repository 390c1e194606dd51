"""Migration ``0005_issuer_scope`` (issue 13): stored accepted keys take the care unit in, outbox
messages take their certificate's care unit, and a certificate accepted before the upgrade is
still replayed (not queued twice, not a conflict) after it. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flow_helpers import example, raw, world
from test_stats_migration import engine, fill  # noqa: F401 - the fixture, shared

from adapter.flows.submit import submit
from adapter.store import migrate
from adapter.store.audit import AuditSeal
from adapter.store.sql import SqlStore


def keys(engine: sa.Engine) -> tuple[list[Any], list[Any]]:  # noqa: F811
    with engine.connect() as conn:
        accepted = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, accepted_key FROM submissions WHERE accepted_key IS NOT NULL ORDER BY id"))]
        outbox = [tuple(r) for r in conn.execute(sa.text(
            "SELECT idempotency_key, care_unit_hsa FROM outbox ORDER BY id"))]
    return accepted, outbox


def test_the_upgrade_scopes_what_was_stored_before(engine: sa.Engine, tmp_path: Any) -> None:  # noqa: F811
    seal = AuditSeal(key=b"scope-tests-audit-key-32-bytes-long", checkpoints=tmp_path / "checkpoints.jsonl")
    w = world(SqlStore(engine, seal=seal), mode_0180="pull")
    fill(w)
    written = keys(engine)
    assert written[0] and all(k.split("|")[1] == "SE2321000016-15CQ" for _, k in written[0])
    assert written[1] and {unit for _, unit in written[1]} == {"SE2321000016-15CQ"}
    migrate.downgrade(engine, "0004_stats")
    with engine.connect() as conn:
        old = [k for (k,) in conn.execute(sa.text("SELECT accepted_key FROM submissions WHERE accepted_key IS NOT NULL"))]
    assert old and all(k.count("|") == 1 for k in old)  # the keys of before: event|certificate id
    migrate.upgrade(engine)
    assert keys(engine) == written
    # A certificate accepted before the upgrade, sent again: its first answer, nothing queued twice.
    with engine.connect() as conn:
        queued = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    first = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    again = w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    assert again == first and not isinstance(first, Exception)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() == queued
