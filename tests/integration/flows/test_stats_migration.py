"""Migration ``0004_stats``: the tables match the models, and the back-fill writes for the
certificates already stored the rows that receipt, consent and delivery would have written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flow_helpers import World, example, raw, world

from adapter.flows import consents, pull
from adapter.flows.submit import submit
from adapter.store import migrate
from adapter.store.db import make_engine
from adapter.store.models import Base
from adapter.store.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        found = make_engine(f"sqlite:///{tmp_path / 'adapter.db'}")
        migrate.upgrade(found)
        yield found
        found.dispose()
        return
    url = request.getfixturevalue("pg_url")
    schema = f"t_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    found = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    migrate.upgrade(found)
    yield found
    found.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def snapshot(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM certificate_statistics ORDER BY submission_id"))]
        rows += [tuple(r)[1:] for r in conn.execute(sa.text(
            "SELECT * FROM certificate_statistics_item ORDER BY submission_id, kind, code"))]
    return rows


def fill(w: World) -> None:
    """A delivered certificate, its replacement, a withdrawn one, and a consent revoked at the end."""
    w.run("ehr", lambda ctx: submit(raw(example()), ctx))
    [item] = w.run("stockholm", pull.list_available)["certificates"]
    w.clock.advance(days=3)
    w.run("stockholm", lambda ctx: pull.acknowledge(item["id"], ctx))
    w.run("ehr", lambda ctx: submit(raw(example("replacement")), ctx))
    waiting = example()
    waiting["entry"][1]["resource"]["identifier"]["value"] = "urn:uuid:0d6a3f7e-1111-4c2b-9a55-000000000001"
    w.run("ehr", lambda ctx: submit(raw(waiting), ctx))
    withdrawn = example()
    withdrawn["entry"][1]["resource"]["identifier"]["value"] = "urn:uuid:0d6a3f7e-1111-4c2b-9a55-000000000002"
    w.run("ehr", lambda ctx: submit(raw(withdrawn), ctx))
    cancel = example("withdrawal")
    cancel["entry"][1]["resource"]["identifier"]["value"] = "urn:uuid:0d6a3f7e-1111-4c2b-9a55-000000000002"
    w.run("ehr", lambda ctx: submit(raw(cancel), ctx))
    with w.tx() as tx:
        found = tx.consents_of(("http://electronichealth.se/identifier/personnummer", "191212121212"))
    for each in found:
        w.run("ehr", lambda ctx, c=each: consents.revoke_consent(c.id, ctx))


def test_the_models_and_the_migrations_agree(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "statistic" in repr(d)] == []


def test_the_back_fill_writes_what_receipt_wrote(engine: sa.Engine, tmp_path: Any) -> None:
    from adapter.store.audit import AuditSeal

    seal = AuditSeal(key=b"stats-tests-audit-key-32-bytes-long", checkpoints=tmp_path / "checkpoints.jsonl")
    w = world(SqlStore(engine, seal=seal), mode_0180="pull")
    fill(w)
    written = snapshot(engine)
    assert len([r for r in written if len(r) > 6]) == 4  # four certificates (the withdrawal itself has none)
    statuses = sorted((r[-3], r[-2]) for r in written if len(r) > 6)
    assert statuses == [("released", "replaced"), ("released", "withdrawn"), ("revoked", "current"),
                        ("revoked", "current")]
    migrate.downgrade(engine, "0003_recipient_ca_bundle")
    migrate.upgrade(engine)
    assert snapshot(engine) == written
