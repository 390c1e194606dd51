"""The store on both databases: migrations match the models, the audit chain holds under concurrency."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from service_helpers import Api

from adapter.store import audit
from adapter.store.db import session_factory, transaction
from adapter.store.models import Base


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrations_are_at_head(engine: sa.Engine) -> None:
    from alembic.script import ScriptDirectory

    from adapter.store import migrate

    heads = set(ScriptDirectory.from_config(migrate.alembic_config(engine)).get_heads())
    assert "0005_issuer_scope" in heads  # the newest revision on this branch (others may follow it)
    assert migrate.current(engine) == heads


def test_concurrent_appends_never_fork_the_chain(api: Api) -> None:
    factory = session_factory(api.engine)
    seal = api.app.extensions["lisn"].store.seal
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with transaction(factory) as session:
                    audit.record(session, seal, actor=f"worker-{n}", action="task-read", outcome="ok",
                                 patient="191212121212", certificate=str(i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    with transaction(factory) as session:
        assert audit.verify(session, seal) == (40, None)


def test_patient_lock_serialises_consent_work(api: Api) -> None:
    import hashlib

    import pytest

    if api.engine.dialect.name != "postgresql":
        pytest.skip("SQLite transactions already run one at a time (BEGIN IMMEDIATE)")
    svc = api.app.extensions["lisn"]
    key = int.from_bytes(hashlib.sha256(b"lisn-patient:191212121212").digest()[:8], "big", signed=True)
    with svc.store.transaction() as tx:
        tx.lock_patient("191212121212")
        with api.engine.connect() as other:
            assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar() is False
            assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key + 1}).scalar() is True
            other.rollback()
    with api.engine.connect() as other:
        assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar() is True
        other.rollback()


def test_identical_submissions_at_once_are_stored_once(api: Api) -> None:
    import json
    from concurrent.futures import ThreadPoolExecutor

    from service_helpers import FHIR, example

    body = json.dumps(example()).encode()
    headers = {"Authorization": f"Bearer {api.tokens['ehr']}", "Content-Type": FHIR}

    def post(_: int) -> tuple[int, bytes]:
        r = api.app.test_client().post("/fhir/$process-message", data=body, headers=headers)
        return r.status_code, r.data

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(post, range(6)))
    assert {status for status, _ in results} == {200}
    assert len({data for _, data in results}) == 1
    assert api.counts()["submissions"] == 1 and api.counts()["outbox"] == 1
    assert sorted(a["action"] for a in api.audit_rows()) == ["submit"] + ["submit-repeat"] * 5
